"""The whole pipeline (concept 20): one sentence through every stage, each with
a real figure from the model."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.pipeline import pipeline
from llm_core.model.limits import MAX_CHARS
from llm_core.model.tokens import is_piece, without_part
from ui import fig_pipeline as fig
from ui.cache import FIGURE_BYTES, shared
from ui.chips import chips_html
from ui.errors import guard
from ui.i18n import lang, t
from ui.models import (attention_cap_note, get_handle, get_trace, model_label, model_name,
                       speaks_the_class_language)
from ui.widgets import LINKED
from ui.export import chart
from ui.pages import inside_app, link

inside_app()   # first: see ui/pages.py

st.title("🔬 " + t("pipeline.title"))
st.markdown(t("pipeline.intro"))

PRESETS = ["The capital of France is", "The cat sat on the", "大语言模型是一个巨大的", "我有一只小猫，它喜欢"]
st.session_state.setdefault("pipeline.text", PRESETS[3] if speaks_the_class_language() else PRESETS[0])
preset = st.pills(t("pipeline.presets"), PRESETS, key="pipeline.preset")
if preset and st.session_state.get("pipeline.last_preset") != preset:
    st.session_state["pipeline.text"] = preset
    st.session_state["pipeline.last_preset"] = preset
text = st.text_area(t("common.text"), key="pipeline.text", **LINKED, height=80,
                    max_chars=MAX_CHARS, help=t("pipeline.text_help"))


@shared(sizeof=lambda v: 5 * FIGURE_BYTES)
def overview(model: str, text: str, n_tokens: int, language: str, _handle, _trace):
    """The pipeline's numbers and its five figures, built once per text and language:
    a class on the same preset, or a widget elsewhere on the page, reuses them."""
    p = pipeline(_handle, _trace)
    return p, {
        "embed": fig.embedding_heatmap(p, dict(title=t("pipeline.vectors_fig"), x_label=t("pipeline.dimension"),
                                            y_label=t("common.token"), value_label=t("pipeline.value"))),
        "attn": fig.attention_heatmap(p, dict(title=t("pipeline.attention_fig", layer=_trace.n_layers - 1),
                                           x_label=t("pipeline.key"), y_label=t("pipeline.query"),
                                           value_label=t("pipeline.weight"))),
        "resid": fig.residual_heatmap(p, dict(title=t("pipeline.residual_fig"), x_label=t("common.layer"),
                                           y_label=t("common.token"), value_label="‖x‖")),
        "sim": fig.similarity_line(p, dict(title=t("pipeline.similarity_fig"), x_label=t("common.layer"),
                                        y_label=t("pipeline.cosine"))),
        "next": fig.candidates_bar(p, dict(title=t("pipeline.predict_fig"), x_label=t("common.probability"))),
    }


with guard():
    handle = get_handle()
    trace = get_trace(text) if handle is not None else None
    if trace is not None:
        p, figs = overview(model_name(), trace.text, trace.n_tokens, lang(), handle, trace)
        st.caption(t("pipeline.model_line", model=model_label(),
                     layers=trace.n_layers, heads=trace.n_heads, d=p.d_model))

        st.header("① " + t("pipeline.tokens_title"))
        st.markdown(t("pipeline.tokens_text", n_chars=len(trace.text), n_tokens=trace.n_tokens))
        st.html(chips_html(trace.tokens, source_text=trace.text))
        link("tokens", t("pipeline.more_tokens"), "🧩")

        if p.shown_from:
            st.caption(t("pipeline.shown_last", n=len(p.token_texts), total=trace.n_tokens))
        st.header("② " + t("pipeline.vectors_title"))
        st.markdown(t("pipeline.vectors_text", d=p.d_model, shown=p.embedding_strip.shape[1]))
        chart(figs["embed"], key="pipeline.fig_embed")
        link("embeddings", t("pipeline.more_embeddings"), "🧭")

        st.header("③ " + t("pipeline.layers_title"))
        st.markdown(t("pipeline.layers_text", layers=trace.n_layers))
        left, right = st.columns(2)
        with left:
            attention_cap_note(trace)
            chart(figs["attn"], key="pipeline.fig_attn")
        with right:
            chart(figs["resid"], key="pipeline.fig_resid")
            chart(figs["sim"], key="pipeline.fig_sim")
        link("attention", t("pipeline.more_attention"), "👀")

        st.header("④ " + t("pipeline.predict_title"))
        st.markdown(t("pipeline.predict_text", vocab=f"{handle.arch.token_embedding_matrix().shape[0]:,}",
                      entropy=p.entropy))
        chart(figs["next"], key="pipeline.fig_next")
        link("next_token", t("pipeline.more_next"), "🎲")

        st.header("⑤ " + t("pipeline.sample_title"))
        st.markdown(t("pipeline.sample_text"))
        st.code(trace.text + without_part(p.chosen), language=None, wrap_lines=True)
        if is_piece(p.chosen):
            st.caption(t("common.pieces_note"))
        link("generate", t("pipeline.more_generate"), "✍️")
