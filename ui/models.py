"""Models are loaded once per process and traces are cached by (model, text):
a widget that does not change the text never re-runs the model."""
from __future__ import annotations

import streamlit as st

import llm_core
from llm_core.errors import XRayError
from llm_core.models import EMBEDDED, smollm2_cache_path
from ui.errors import show_error
from ui.i18n import t

MODEL_KEY = "shared.model"
ENCODER = "minilm"
# Pages trace at most this many tokens (announced when a text is cut): a trace of
# the model's full 4,096 would hold a 2-core CPU for a minute while others wait.
PAGE_MAX_TOKENS = 1024


def model_name() -> str:
    """The decoder chosen in the sidebar (default: the embedded SmolLM2)."""
    return st.session_state.get(MODEL_KEY) or llm_core.DEFAULT_MODEL


@st.cache_resource(show_spinner=False)
def _load(name: str):
    return llm_core.load_model(name)


def get_handle(name: str | None = None):
    """The model handle, or None after showing why it could not be loaded."""
    name = name or model_name()
    first_time = name == "smollm2" and not (smollm2_cache_path() / "config.json").exists()
    label = t("loading.convert") if first_time else t("loading.model", name=EMBEDDED.get(name, name))
    try:
        with st.spinner(label):
            return _load(name)
    except XRayError as err:
        show_error(err)
        return None


def encoder():
    return get_handle(ENCODER)


@st.cache_resource(max_entries=24, show_spinner=False)
def _trace(name: str, text: str, max_tokens: int | None):
    return _load(name).trace(text, max_tokens=max_tokens)


def get_trace(text: str, name: str | None = None, max_tokens: int | None = PAGE_MAX_TOKENS):
    """The cached Trace of `text`, or None after showing a message (empty text,
    model unavailable …). Announces truncation and the attention cap."""
    name = name or model_name()
    if get_handle(name) is None:
        return None
    try:
        with st.spinner(t("loading.trace")):
            trace = _trace(name, text, max_tokens)
    except XRayError as err:
        show_error(err)
        return None
    if trace.truncated_from:
        st.info(t("common.truncated", n=trace.truncated_from, kept=trace.n_tokens), icon="✂️")
    return trace


def attention_cap_note(trace) -> None:
    if trace.attention_truncated:
        st.caption(t("common.attention_cap", kept=trace.attention_kept, n=trace.n_tokens))
