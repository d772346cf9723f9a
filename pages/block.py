"""Concept 10: the transformer block — the MLP (前馈网络), the residual stream (残差),
and the norms."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.block import histogram, mlp_shape, norm_demo, residual_stats
from llm_core.model.limits import BOX_CHARS
from ui import fig_block
from ui.cache import FIGURE_BYTES, shared
from ui.errors import guard
from ui.fig_common import code_label, token_label
from ui.i18n import t
from ui.models import encoder, get_handle, get_trace, layer_detail, short_model_name
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.block"))
with notice():
    st.markdown(t("block.notice"))


def panel(handle_, shape, colour):
    """(title, steps, colour) of one MLP for the figure; hashable, so it caches."""
    gated = "mlp_gate" in dict(shape.matrices)
    middle = ([("step_gate", shape.d_mlp), ("step_up", shape.d_mlp),
               ("step_act_swiglu", shape.d_mlp)] if gated else
              [("step_up", shape.d_mlp), ("step_act_gelu", shape.d_mlp)])
    steps = [("step_in", shape.d_model)] + middle + [("step_out", shape.d_model)]
    title = t("block.mlp_panel", model=short_model_name(handle_.name), kind=shape.kind,
              d=shape.d_model, d_mlp=shape.d_mlp)
    return title, tuple((t(f"block.{key}"), width) for key, width in steps), colour


@shared
def act_histogram(model: str, text: str, layer: int, which: str, _handle, _trace):
    """Histogram of one layer's MLP activations (keyed by model, text, layer)."""
    detail = layer_detail(_handle, _trace, layer)
    return histogram(getattr(detail, which))


@shared
def shape_of(model: str, _handle):
    return mlp_shape(_handle)


@shared(sizeof=lambda _fig: FIGURE_BYTES)
def shapes_figure(panels: tuple, y_title: str):
    """The same for every text and layer: built once per model pair and language."""
    return fig_block.mlp_shapes(panels, dict(y_title=y_title))


text = st.text_area(t("common.text"), value=t("block.default_text"), key="block.text", **LINKED,
                    max_chars=BOX_CHARS)
handle = get_handle()
trace = get_trace(text) if handle is not None else None
if trace is None:
    st.stop()

col_layer, col_token = st.columns([2, 1])
layer = col_layer.slider(t("common.layer"), 0, trace.n_layers - 1, min(3, trace.n_layers - 1),
                         key="block.layer", **LINKED)
# labels are made here, not inside format_func: that may run outside this script run
token_labels = {-1: t("block.token_median")} | {
    i: t("block.token_option", i=i, text=token_label(tok, 16, escape=False))
    for i, tok in enumerate(trace.token_texts)}
token = col_token.selectbox(t("block.token"), list(token_labels), key="block.token",
                            format_func=token_labels.get)
token = token if token is not None and token < trace.n_tokens else -1

# --- the MLP: its shape, against the classic one -----------------------------
st.subheader(t("block.mlp_header"))
dec = shape_of(handle.name, handle)
enc_handle = encoder()
enc = shape_of(enc_handle.name, enc_handle) if enc_handle is not None else None
swiglu = "mlp_gate" in dict(dec.matrices)

panels = (panel(handle, dec, fig_block.DECODER_COLOUR),) + (
    (panel(enc_handle, enc, fig_block.ENCODER_COLOUR),) if enc is not None else ())
chart(shapes_figure(panels, t("block.mlp_y")), key="block.fig_mlp")
if enc is not None:
    st.markdown(t("block.mlp_classic", model=short_model_name(enc_handle.name), d=enc.d_model,
                  d_mlp=enc.d_mlp, ratio=enc.ratio, params=enc.parameters))
dec_args = dict(model=short_model_name(handle.name), kind=dec.kind, d=dec.d_model, d_mlp=dec.d_mlp,
                ratio=dec.ratio, params=dec.parameters, four_x=4 * dec.d_model,
                swiglu=3 * dec.d_model * dec.d_mlp, classic=2 * dec.d_model * 4 * dec.d_model)
st.markdown(t("block.mlp_swiglu" if swiglu else "block.mlp_other", **dec_args))

# --- the activations of this layer -------------------------------------------
st.subheader(t("block.act_header", layer=layer))
kind = "swiglu" if swiglu else "gelu"
col_which, col_log = st.columns([3, 1])
which_labels = {w: t(f"block.act_{w[4:]}_{kind}") for w in ("mlp_post", "mlp_pre")}
which = col_which.radio(t("block.act_which"), list(which_labels), horizontal=True,
                        key="block.activation", format_func=which_labels.get)
log_y = col_log.toggle(t("block.act_log"), value=True, key="block.act_log")
with guard():
    hist = act_histogram(handle.name, trace.text, layer, which, handle, trace)
    kept = min(trace.attention_kept, trace.n_tokens)
    chart(fig_block.activation_histogram(
        hist, dict(title=t("block.act_title", n=hist.n, tokens=kept, width=hist.n // kept),
                   x_title=t("block.act_x"), y_title=t("block.act_y")), log_y=log_y), key="block.fig_act")
    st.markdown(t("block.act_stats", near=hist.near_zero, max=hist.max_abs, mean=hist.mean,
                  std=hist.std))
    if kept < trace.n_tokens:
        st.caption(t("block.act_cap", kept=kept, n=trace.n_tokens))

# --- the residual stream ---------------------------------------------------------
st.subheader(t("block.resid_header"))
st.markdown(t("block.resid_explain"))
stats = residual_stats(trace)
log_resid = st.toggle(t("block.log_scale"), value=True, key="block.resid_log")
token_text = token_label(trace.token_texts[token], 16) if token >= 0 else ""
chart(fig_block.residual_norms(
    stats.median_norm(), stats.norm[:, token] if token >= 0 else None,
    dict(title=t("block.resid_title"), x_title=t("block.resid_x"),
         y_title=t("block.resid_y" if log_resid else "block.resid_y_linear"),
         embedding=t("block.embedding"), median_name=t("block.median_name"),
         token_name=t("block.token_name", text=token_text)),
    layer=layer, log_y=log_resid), key="block.fig_resid")
outlier = stats.first_token_outlier()
if outlier is not None:
    st.caption(t("block.first_token_note", big=outlier[0], median=outlier[1]))
added = stats.added(token)
if added is not None:
    who = t("block.who_token", text=token_text) if token >= 0 else t("block.who_median")
    chart(fig_block.contributions(
        *added, dict(title=t("block.contrib_title", who=who), x_title=t("block.contrib_x"),
                     y_title=t("block.contrib_y"), attn_name=t("block.attn_name"),
                     mlp_name=t("block.mlp_name")),
        layer=layer, log_y=log_resid), key="block.fig_contrib")
else:
    st.info(t("block.no_contrib"))

# --- norms -----------------------------------------------------------------------
st.subheader(t("block.norm_header"))
st.markdown(t("block.norm_explain", encoder=short_model_name("minilm"),
              enc_d=enc.d_model if enc else 384, decoder=short_model_name(handle.name)))
with guard():
    position = token if 0 <= token < trace.attention_kept else trace.attention_kept - 1
    demo = norm_demo(layer_detail(handle, trace, layer), position)
    st.markdown(t("block.norm_demo", layer=layer, text=code_label(trace.token_texts[position]),
                  **demo))
st.caption(t("common.model_note_modern"))
