"""Encoder vs decoder: the same sentence through a bidirectional encoder (full
attention_pattern) and a causal decoder (lower-triangular), side by side."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.encoder_decoder import future_share
from ui.cache import shared
from ui.errors import guard
from ui.fig_attention import md_token, pattern_heatmap, token_labels
from ui.i18n import t
from ui.models import ENCODER, attention_cap_note, get_trace, short_model_name
from ui.widgets import LINKED, keep_in_range, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.encoder_decoder"))
st.markdown(t("encoder_decoder.intro"))
with notice():
    st.markdown(t("encoder_decoder.notice"))


@shared
def share_all_heads(model: str, text: str, _trace) -> float:
    """Mean share of attention on later tokens over every layer and head."""
    return future_share(_trace.attention_pattern)


def side(trace, prefix: str, heading: str) -> None:
    """One model's column: its layer/head controls, its heatmap, the numbers."""
    st.subheader(heading)
    attention_cap_note(trace)
    n = trace.attention_kept
    labels = token_labels(trace.token_texts[:n])
    keep_in_range(f"{prefix}_layer", range(trace.n_layers), 0)
    keep_in_range(f"{prefix}_head", range(trace.n_heads), 0)
    c1, c2 = st.columns(2)
    layer = c1.slider(t("common.layer"), 0, trace.n_layers - 1, key=f"{prefix}_layer")
    head = c2.slider(t("common.head"), 0, trace.n_heads - 1, key=f"{prefix}_head")
    pattern = trace.attention_pattern[layer, head]           # query key
    chart(pattern_heatmap(
        pattern, labels, dict(x_title=t("attention.key"), y_title=t("attention.query"),
                              color_title=t("attention.weight")), causal=trace.causal,
        height=min(640, max(360, 120 + 24 * n))), width="stretch",
        key=f"{prefix}_chart")
    st.markdown(t("encoder_decoder.future_share", head=future_share(pattern),
                  all=share_all_heads(trace.model_name, trace.text, trace),
                  layers=trace.n_layers, heads=trace.n_heads))
    special = [md_token(tok.text) for tok in trace.tokens if tok.special]
    st.caption(t("encoder_decoder.special", tokens=", ".join(special)) if special
               else t("encoder_decoder.no_special"))


text = st.text_area(t("common.text"), value=t("encoder_decoder.default_text"),
                    key="encoder_decoder.text", **LINKED, height=80)
left, right = st.columns(2, gap="large")
with left, guard():
    enc = get_trace(text, name=ENCODER)
    if enc is not None:
        side(enc, "encoder_decoder.enc", t("encoder_decoder.encoder"))
with right, guard():
    dec = get_trace(text)
    if dec is not None:
        name = short_model_name()
        side(dec, "encoder_decoder.dec", t("encoder_decoder.decoder", name=name))
        if dec.causal:
            st.caption(t("encoder_decoder.mask_note"))

st.subheader(t("encoder_decoder.table_title"))
st.markdown(t("encoder_decoder.table"))
st.subheader(t("encoder_decoder.why_title"))
st.markdown(t("encoder_decoder.why"))
