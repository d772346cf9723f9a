"""Small helpers the pages share for their widgets (no figures, no model calls)."""
from __future__ import annotations

import streamlit as st


def keep_in_range(key: str, options, default) -> None:
    """A value left from another text or model must not break the widget: one
    outside `options` is replaced by `default` before the widget is drawn."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default
