"""Small helpers the pages share for their widgets (no figures, no model calls)."""
from __future__ import annotations

import streamlit as st


def keep_in_range(key: str, options, default) -> None:
    """A value left from another text or model must not break the widget: one
    outside `options` is replaced by `default` before the widget is drawn."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


# Widgets whose value a link carries and a page change keeps: the value lives in
# the URL (its key is the query parameter's name), so a teacher prepares links
# before class and a student sends exactly what they see. Streamlit drops a URL
# value the widget cannot take (?temperature=abc, a layer past the last); app.py
# says so (ui.links.announce_dropped).
LINKED = dict(bind="query-params", persist_state="session")
