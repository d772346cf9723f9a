"""Concept 3: 大模型 = 矩阵 W — the loaded model's parameters by matrix kind, the
articles' GPT-3 figures as reference, and one weight matrix drawn literally."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.anatomy import GPT3_REFERENCE, anatomy, is_per_layer, matrix_kinds, matrix_view
from ui import fig_anatomy
from ui.cache import shared
from ui.errors import guard
from ui.i18n import t
from ui.models import encoder, get_handle, short_model_name
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.anatomy"))
with notice():
    st.markdown(t("anatomy.notice"))


@shared
def counted(model: str, _handle):
    return anatomy(_handle), matrix_kinds(_handle)


@shared
def view_of(model: str, kind: str, layer: int, corner: bool, _handle):
    return matrix_view(_handle, kind, layer, corner)


decoder = get_handle()
which_labels = {"decoder": t("anatomy.which_decoder",
                             model=short_model_name(decoder.name) if decoder else ""),
                "encoder": t("anatomy.which_encoder", model=short_model_name("minilm"))}
which = st.radio(t("anatomy.which"), list(which_labels), horizontal=True, key="anatomy.which",
                 format_func=which_labels.get)
handle = decoder if which == "decoder" else encoder()
if handle is None:
    st.stop()
anat, kinds_2d = counted(handle.name, handle)
model = short_model_name(handle.name)

# --- the table, and its sum ---------------------------------------------------
st.subheader(t("anatomy.table_header"))
row_sum = sum(k.parameters for k in anat.kinds)
n_matrices = sum(k.matrices for k in anat.kinds)
c1, c2, c3, c4 = st.columns(4)
c1.metric(t("anatomy.total"), f"{anat.total:,}", help=t("anatomy.total_help"))
c2.metric(t("anatomy.sum_rows"), f"{row_sum:,}")
c3.metric(t("anatomy.matrices_total"), f"{n_matrices:,}")
c4.metric(t("anatomy.layers"), f"{anat.n_layers} × {anat.d_model}")
table = pd.DataFrame([{
    t("anatomy.col_kind"): t(f"anatomy.kind_{k.kind}"),
    t("anatomy.col_matrices"): k.matrices,
    t("anatomy.col_shape"): " × ".join(f"{d:,}" for d in k.shape),
    t("anatomy.col_parameters"): k.parameters,
    t("anatomy.col_share"): k.parameters / anat.total,
} for k in anat.kinds])
st.dataframe(table, hide_index=True, width="stretch", column_config={
    t("anatomy.col_parameters"): st.column_config.NumberColumn(format="localized"),
    t("anatomy.col_share"): st.column_config.NumberColumn(format="percent")})
if row_sum == anat.total:
    st.success(t("anatomy.sum_ok", total=anat.total), icon="✅")
else:
    st.warning(t("anatomy.sum_bad", sum=row_sum, total=anat.total))
if handle.arch.unembedding_matrix() is None:
    st.markdown(t("anatomy.no_unembed", model=model))
elif anat.tied_embeddings:
    st.markdown(t("anatomy.tied", model=model, vocab=anat.vocab, d=anat.d_model))
else:
    st.markdown(t("anatomy.untied", model=model))
st.caption(t("anatomy.shape_note"))
segments = getattr(getattr(handle.model, "embeddings", None), "token_type_embeddings", None)
if segments is not None:
    rows_seg, d_seg = segments.weight.shape
    st.caption(t("anatomy.segment_note", rows=rows_seg, d=d_seg))
chart(fig_anatomy.parameter_treemap(
    [(k.kind, t(f"anatomy.kind_{k.kind}"), k.parameters) for k in anat.kinds],
    dict(root=t("anatomy.treemap_root", model=model, total=anat.total),
         share_word=t("anatomy.share_word")), total=anat.total), key="anatomy.fig_treemap")

# --- GPT-3, as the articles give it -----------------------------------------------
st.subheader(t("anatomy.gpt3_header"))
ref = GPT3_REFERENCE
embedding_weights = anat.vocab * anat.d_model
rows = [("row_vocab", anat.vocab, ref["vocab"]), ("row_d_model", anat.d_model, ref["d_model"]),
        ("row_embedding", embedding_weights, ref["embedding_weights"]),
        ("row_total", anat.total, ref["total_parameters"]),
        ("row_matrices", n_matrices, ref["matrices"]),
        ("row_kinds", len(anat.kinds), ref["matrix_kinds"])]
st.dataframe(pd.DataFrame({
    "": [t(f"anatomy.{key}") for key, _, _ in rows],
    t("anatomy.col_measured", model=model): [f"{m:,}" for _, m, _ in rows],
    t("anatomy.col_reference"): [f"≈ {r:,}" for _, _, r in rows],
}), hide_index=True, width="stretch")
st.caption(t("anatomy.gpt3_caption"))
st.markdown(t("anatomy.gpt3_ratio", gpt3_emb=ref["embedding_weights"],
              times=ref["embedding_weights"] / anat.total))
st.caption(t("anatomy.gpt3_kinds"))

# --- one matrix as an image ---------------------------------------------------------
st.subheader(t("anatomy.matrix_header"))
c1, c2, c3 = st.columns([2, 2, 2])
kind = c1.selectbox(t("anatomy.matrix_kind"), kinds_2d, key="anatomy.kind",
                    format_func={k: t(f"anatomy.kind_{k}") for k in kinds_2d}.get)
kind = kind if kind in kinds_2d else kinds_2d[0]
layer = 0
if is_per_layer(handle, kind):
    layer = c2.slider(t("anatomy.matrix_layer"), 0, anat.n_layers - 1, 0, key="anatomy.layer", **LINKED)
    layer = min(layer, anat.n_layers - 1)
corner = c3.radio(t("anatomy.matrix_view"), [False, True], key="anatomy.view",
                  format_func={False: t("anatomy.view_whole"), True: t("anatomy.view_corner")}.get)
with guard():
    view = view_of(handle.name, kind, layer, corner, handle)
    rows_n, cols_n = view.shape
    lookup = kind in ("embedding", "position_embedding")  # tables: one row per token/position
    chart(fig_anatomy.matrix_heatmap(
        view, dict(title=t("anatomy.matrix_title", name=view.name, rows=rows_n, cols=cols_n),
                   x_title=t("anatomy.matrix_x_embedding" if lookup else "anatomy.matrix_x"),
                   y_title=t(f"anatomy.matrix_y_{kind}" if lookup else "anatomy.matrix_y"),
                   colour_title=t("anatomy.matrix_colour"), hover_value=t("anatomy.hover_value"))),
        key="anatomy.fig_matrix")
    note = "anatomy.matrix_corner_note" if corner else "anatomy.matrix_whole_note"
    st.caption(t(note, rows=rows_n, cols=cols_n, n=rows_n * cols_n, r=view.values.shape[0],
                 c=view.values.shape[1], br=view.block[0], bc=view.block[1], limit=view.limit))
st.markdown(t("anatomy.explain"))
