"""Models are loaded once per process (llm_core keeps them) and traces are
shared by (model, text) between sessions, in caches bounded in bytes that
expire: a widget that does not change the text never re-runs the model, thirty
students on one preset share one trace, and memory comes back after class."""
from __future__ import annotations

import streamlit as st

import llm_core
from llm_core.model.errors import XRayError
from llm_core.model.limits import PAGE_MAX_TOKENS
from llm_core.model.caches import LAYER_DETAILS, TRACES
from llm_core.model.convert import smollm2_cache_path
from llm_core.model.word_space import load_word_vectors, loaded_word_space, model_word_space
from llm_core.model.languages import speaks_chinese
from llm_core.model.registry import EMBEDDED, is_loaded, local_models
from ui.errors import show_error
from ui.i18n import has, lang, t
from ui.markdown import md_escape
from ui.pages import DRAWING, session_id

MODEL_KEY = "shared.model"
ENCODER = "minilm"
# Texts shorter than this trace in well under a second (~100 tokens: 0.2 s on two
# cores), so they get no spinner: each spinner starts a timer thread, which with a
# class on the server costs more than the trace.
SPINNER_FROM_LENGTH = 400   # a shorter text traces in a fraction of a second


def model_name() -> str:
    """The decoder chosen in the sidebar (default: the embedded SmolLM2)."""
    return st.session_state.get(MODEL_KEY) or llm_core.DEFAULT_MODEL


def short_model_name(name: str | None = None) -> str:
    """The model as a sentence names it: "SmolLM2-135M-Instruct", not its whole label."""
    name = name or model_name()
    return EMBEDDED.get(name, name).split(" (")[0]


def model_label(name: str | None = None) -> str:
    """The model as the sidebar lists it, in the user's language."""
    name = name or model_name()
    if name in EMBEDDED:
        return t(f"sidebar.model_{name}")
    offer = next((o for o in local_models() if o.name == name and o.usable), None)
    if offer is None:
        return name
    return t("sidebar.model_local", name=name, arch=offer.architecture,
             millions=f"{offer.parameters / 1e6:,.0f}")


def decoder_choices() -> list[str]:
    """The decoders the sidebar offers: the embedded one, then every usable
    decoder of the server's model folder (LLM_XRAY_MODELS)."""
    return ["smollm2"] + [o.name for o in local_models() if o.usable and o.kind == "decoder"]


def unusable_models() -> list[str]:
    """Why each model of the server's folder that cannot be used is not offered,
    in the user's language."""
    return [t(f"errors.local_{o.reason}", name=md_escape(o.name), arch=md_escape(o.architecture),
              **{k: md_escape(str(v)) for k, v in o.facts.items()})
            for o in local_models() if not o.usable]


def get_handle(name: str | None = None):
    """The model handle, or None after showing why it could not be loaded."""
    name = name or model_name()
    if is_loaded(name):  # no spinner: it costs a timer thread on every rerun
        return llm_core.load_model(name)
    try:
        first_time = (name == "smollm2" and not is_loaded(name)
                      and not (smollm2_cache_path() / "config.json").exists())
        label = (t("loading.convert") if first_time
                 else t("loading.model", name=md_escape(model_label(name))))
        with st.spinner(label):
            return llm_core.load_model(name)
    except XRayError as err:
        show_error(err)
        return None


def decoder_or_stop():
    """The sidebar's decoder; otherwise the reason is shown and the page ends."""
    handle = get_handle()
    if handle is None:
        st.stop()
    if handle.kind != "decoder":
        st.warning(t("errors.needs_decoder"))
        st.stop()
    return handle


def encoder():
    return get_handle(ENCODER)


def get_trace(text: str, name: str | None = None, max_tokens: int | None = PAGE_MAX_TOKENS):
    """The shared Trace of `text`, or None after showing a message (empty text,
    model unavailable …). Announces truncation and the attention cap."""
    name = name or model_name()
    handle = get_handle(name)
    if handle is None:
        return None
    key = (name, text, max_tokens)
    who = session_id()

    def make():
        return handle.trace(text, max_tokens=max_tokens, caller=who)
    try:
        trace = TRACES.peek(key)
        if trace is None:   # no drawing turn is held while a trace is waited for (a second text)
            DRAWING.give()
        if trace is None and len(text) < SPINNER_FROM_LENGTH:   # a fraction of a second: no spinner
            trace = TRACES.get(key, make)
        elif trace is None:
            with st.spinner(t("loading.trace")):
                trace = TRACES.get(key, make)
    except XRayError as err:
        show_error(err)
        return None
    DRAWING.take()   # the page is drawn from here on: a few at a time (ui/pages.py)
    if trace.truncated_from:
        st.info(t("common.truncated", n=trace.truncated_from, kept=trace.n_tokens), icon="✂️")
    return trace


def get_traces(texts: list[str], name: str | None = None,
               max_tokens: int | None = PAGE_MAX_TOKENS) -> list:
    """`get_trace` of several texts, the ones not yet cached traced together (in
    one batch with the class's, not one after another); None for a text that
    cannot be traced (its message shown)."""
    name = name or model_name()
    handle = get_handle(name)
    if handle is None:
        return [None] * len(texts)
    keys = [(name, text, max_tokens) for text in texts]
    todo = [i for i, key in enumerate(keys) if TRACES.peek(key) is None]
    traceable = []
    for i in todo:                       # a bad text is told once and left out
        try:
            handle.encode(texts[i], max_tokens=max_tokens)
            traceable.append(i)
        except XRayError:
            pass
    if len(traceable) > 1:
        DRAWING.give()
        with st.spinner(t("loading.trace")):
            try:
                made = handle.trace_many([texts[i] for i in traceable], max_tokens=max_tokens,
                                         caller=session_id())
            except XRayError as err:
                show_error(err)
                made = []
            for i, trace in zip(traceable, made):
                TRACES.get(keys[i], lambda trace=trace: trace)
    return [get_trace(text, name, max_tokens) for text in texts]


def layer_detail(handle, trace, layer: int):
    """Every step of one layer of `trace`, shared like the trace itself."""
    key = (trace.model_name, trace.text, trace.n_tokens, int(layer))
    return LAYER_DETAILS.get(key, lambda: handle.layer_detail(trace, layer))


def attention_cap_note(trace) -> None:
    if trace.attention_truncated:
        st.caption(t("common.attention_cap", kept=trace.attention_kept, n=trace.n_tokens))


def word_space(kind: str, handle):
    """"glove" (the classic word vectors) or "model" (the decoder's own one-token
    words): shared by every session (llm_core/model/caches.py, WORD_SPACES), loaded
    again only after nobody asked for a while."""
    loaded = loaded_word_space(None if kind == "glove" else handle)
    if loaded is not None:   # no spinner: each one starts a timer thread (a page asks ~5 times a run)
        return loaded
    spinner = t("embeddings.loading_glove") if kind == "glove" else t("loading.model", name=model_name())
    with st.spinner(spinner):
        return load_word_vectors() if kind == "glove" else model_word_space(handle)


def speaks_the_class_language(name: str | None = None) -> bool:
    """A Chinese class with a model that speaks Chinese (measured when it was loaded:
    llm_core.model.languages), so the pages may open on Chinese examples."""
    name = name or model_name()
    return lang() == "zh" and is_loaded(name) and speaks_chinese(llm_core.load_model(name))


def native_example(key: str) -> str:
    """A page's example text: its Chinese one (`key` + "_native") for a Chinese class
    whose model speaks Chinese, else the lesson's example (English: the embedded
    decoder gives 法国的首都是 → 巴黎 a few per cent)."""
    if has(key + "_native") and speaks_the_class_language():
        return t(key + "_native")
    return t(key)
