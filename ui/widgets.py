"""Small helpers the pages share for their widgets (no figures, no model calls)."""
from __future__ import annotations

import streamlit as st

from llm_core.embeddings import pick_tokens
from llm_core.model.limits import CHIPS, PICK_TOKENS
from ui.chips import chips_html
from ui.errors import guard
from ui.export import presenting
from ui.i18n import t


def keep_in_range(key: str, options, default) -> None:
    """A value left from another text or model must not break the widget: one
    outside `options` is replaced by `default` before the widget is drawn. On a
    first visit a link's value for the widget (a lesson step's preset) is the one
    kept, when it is one of the options."""
    if key not in st.session_state and key in st.query_params:
        st.session_state[key] = next((o for o in options if str(o) == st.query_params[key]), default)
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def example_picker(label: str, examples, fill, *, key: str, default=None, **widget):
    """A select of the lesson's examples that fills the page's boxes: `fill(k)`
    gives {state key: value} for example k. The boxes are filled when the choice
    changes and on the first visit with `default` (unless a link already filled
    one: then the picker shows the example the boxes hold, if they hold one);
    what a student typed afterwards stays. Returns the chosen example."""
    def load():
        chosen = st.session_state.get(key)
        if chosen is not None:
            st.session_state.update(fill(chosen))

    # A first visit is told by the boxes, not by the picker: Streamlit forgets the
    # picker's own state on a page change, while the boxes (linked) keep theirs.
    if default is not None and not any(k in st.session_state for k in fill(default)):
        st.session_state[key] = default
        load()
    elif key not in st.session_state:   # a link (or the last visit) filled the boxes: their example
        held = next((k for k in examples if all(st.session_state.get(box, value) == value
                                                for box, value in fill(k).items())), None)
        if held is not None:
            st.session_state[key] = held
    return st.selectbox(label, list(examples), key=key, on_change=load, **widget)


# Widgets whose value a link carries and a page change keeps: the value lives in
# the URL (its key is the query parameter's name), so a teacher prepares links
# before class and a student sends exactly what they see. Streamlit drops a URL
# value the widget cannot take (?temperature=abc, a layer past the last); app.py
# says so (ui.links.announce_dropped).
LINKED = dict(bind="query-params", persist_state="session")


def whole_number(label: str, low: int, high: int, default: int, *, key: str, where=st, **widget) -> int:
    """A box for a whole number in [low, high]: a text box, checked here. (A
    browser can send Streamlit's integer box a NaN or an infinity, which breaks
    every later run of that session before the page's own code runs; text cannot.)
    Anything else is told in the user's language and `default` is used."""
    st.session_state.setdefault(key, str(default))
    text = where.text_input(label, key=key, max_chars=len(str(high)) + 2, **widget)
    try:
        value = int(text.strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        where.warning(t("common.bad_whole_number", low=low, high=high, default=default), icon="🔢")
        return default
    return value


def finite(value: float, default: float) -> float:
    """A float box's value, or `default` for a NaN or an infinity a browser sent."""
    return value if value == value and abs(value) != float("inf") else default


def option_labels(prefix: str, options):
    """format_func for a radio or select: option k reads t(prefix + k). A dict's
    .get, so the label is right even when Streamlit calls it outside this run."""
    return {k: t(f"{prefix}{k}") for k in options}.get


def token_picker(handle, vocab: int) -> int | None:
    """The embeddings lesson's token choice: by typed text (one of its tokens) or
    by id. The id, or None while the text has no token."""
    by = st.radio(t("embeddings.pick_by"), ["text", "id"], horizontal=True, key="embeddings.pick_by",
                  format_func=option_labels("embeddings.by_", ("text", "id")))
    token_id = None
    if by == "text":
        left, right = st.columns([3, 2])
        text = left.text_input(t("embeddings.token_text"), value="king", key="embeddings.token_text")
        space_before = right.checkbox(t("embeddings.space_before"), value=True, key="embeddings.space_before")
        with guard():
            tokens = pick_tokens(handle, (" " if space_before and not text.startswith(" ") else "") + text)
            if tokens:
                pick = st.selectbox(t("embeddings.which_token"), range(len(tokens)), key="embeddings.which",
                                    format_func=lambda i: f"{i + 1}. “{tokens[i].text}” · ID {tokens[i].id}")
                token_id = tokens[min(pick or 0, len(tokens) - 1)].id
    else:
        token_id = whole_number(t("embeddings.token_id"), 0, vocab - 1, 1_000, key="embeddings.token_id")
    return token_id


def notice():
    """The lesson's "What to notice" box: open for a student, folded in presenter
    mode, where the projector's height goes to the question and the first figure."""
    return st.expander(t("common.what_to_notice"), expanded=not presenting())


def token_chips(tokens, **kw) -> None:
    """A row of token chips (ui.chips), the first CHIPS of them: a longer row is
    cut, and the cut is said (every token is still counted)."""
    st.html(chips_html(tokens[:CHIPS], **kw))
    if len(tokens) > CHIPS:
        st.caption(t("tokens.chips_capped", shown=CHIPS, n=len(tokens)))


def pick_one(label: str, options: list, *, key: str, prefer=None, **kw):
    """A selectbox of at most PICK_TOKENS options (a long text's words), opening
    on the one `prefer` ranks highest (else the first); a cut list is said."""
    offered = options[:PICK_TOKENS]
    first = offered.index(max(offered, key=prefer)) if prefer else 0
    choice = st.selectbox(label, offered, index=first, key=key, **kw)
    if len(options) > PICK_TOKENS:
        st.caption(t("common.picker_capped", n=PICK_TOKENS))
    return choice
