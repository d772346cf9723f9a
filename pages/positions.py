"""Concept 7: position vectors (sinusoidal, learned), RoPE as the warm-up's
rotation matrix, and the order experiment with the real model."""
import math

import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.model.tokens import is_piece
from llm_core.positions import (ORDER_PAIRS, learned_size, learned_table, order_experiment,
                                rope_angle_degrees, rope_pair, rope_params, sinusoidal_table, top_tokens)
from ui.chips import chips_html
from ui.fig_positions import (ROPE_TEX, SINUSOID_TEX, matrix_heatmap, order_cosines, rope_angle_heatmap,
                              rope_pair_arrows, rope_pair_latex, top_tokens_pair)
from ui.markdown import md_escape
from ui.i18n import labels, lang, t
from ui.models import encoder, get_handle, get_trace, get_traces, layer_detail, model_label
from ui.widgets import LINKED, example_picker
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

ROPE_CAP, ORDER_CAP, TOP_N = 32, 64, 5  # short traces: the lesson needs a few positions


def show_table(table, name: str) -> None:
    """A table of position vectors beside the cosine of every two of its rows."""
    left, right = st.columns(2)
    values = dict(x_title=t("positions.dimension"), y_title=pos_t, color_title=t("positions.value"))
    cosines = dict(x_title=pos_t, y_title=pos_t, color_title=t("positions.cos_sim"))
    chart(where=left, fig=matrix_heatmap(table.vectors, values, zmin=-table.bound, zmax=table.bound),
          key=f"positions.{name}_heat")
    chart(where=right, fig=matrix_heatmap(table.cosine, cosines, zmin=-1, zmax=1), key=f"positions.{name}_cos")


st.title(t("nav.positions"))
st.info(t("positions.notice"), icon="👀")
decoder = get_handle()
pos_t = t("positions.position")
sin_tab, learned_tab, rope_tab = st.tabs([t(f"positions.tab_{k}") for k in ("sin", "learned", "rope")])
with sin_tab:
    st.caption(t("positions.sin_intro"))
    st.latex(SINUSOID_TEX)
    c1, c2 = st.columns(2)
    n_pos = c1.slider(t("positions.n_positions"), 8, 256, 64, key="positions.n_pos")
    d = c2.select_slider(t("positions.n_dims"), [16, 32, 64, 128, 256, 384, 512], 128, key="positions.d_model")
    show_table(sinusoidal_table(n_pos, d), "sin")
    st.caption(t("positions.similarity_caption"))

with learned_tab:
    enc = encoder()
    size = None if enc is None else learned_size(enc)
    if size is None:
        st.info(t("positions.no_learned"))
    else:
        st.caption(t("positions.learned_intro", model=model_label(enc.name), n=size[0], d=size[1]))
        n_learned = st.slider(t("positions.n_positions"), 8, min(256, size[0]), 64, key="positions.n_learned")
        show_table(learned_table(enc, n_learned), "learned")
        st.caption(t("positions.learned_note"))

with rope_tab:
    params = rope_params(decoder.model.config) if decoder and decoder.arch.uses_rope else None
    if params is None:
        st.info(t("positions.rope_not_used", model=decoder.name if decoder else "?"))
    else:
        if params.rope_type != "default":
            st.warning(t("positions.rope_type_note", kind=params.rope_type))
        pairs = params.head_dim // 2
        st.caption(t("positions.rope_intro", d_head=params.head_dim, pairs=pairs, theta=params.theta))
        st.latex(ROPE_TEX)
        angles = dict(x_title=t("positions.pair"), y_title=pos_t, color_title=t("positions.angle"))
        chart(rope_angle_heatmap(rope_angle_degrees(params, 64), angles), key="positions.rope_heat")
        st.subheader(t("positions.rope_demo_header"))
        st.caption(t("positions.rope_demo_intro"))
        text = st.text_input(t("positions.rope_text"), t("positions.rope_default"), key="positions.rope_text")
        trace = get_trace(text, max_tokens=ROPE_CAP)
        if trace is not None:
            c1, c2, c3, c4 = st.columns(4)
            layer = c1.slider(t("positions.layer"), 0, trace.n_layers - 1, 0, key=f"positions.layer_{decoder.name}")
            head = c2.slider(t("positions.head"), 0, trace.n_heads - 1, 0, key=f"positions.head_{decoder.name}")
            pair = c3.slider(t("positions.pair"), 0, pairs - 1, 0, key="positions.pair_j")
            position = c4.selectbox(t("positions.pick_position"), range(trace.n_tokens),
                                    index=trace.n_tokens - 1, key=f"positions.position_{trace.n_tokens}",
                                    format_func=lambda p: f"{p}: {trace.token_texts[p]}")
            detail = layer_detail(decoder, trace, layer)
            rp = rope_pair(params, detail.q_before_rope, detail.q, head, position, pair)
            a, b = rp.dims
            st.caption(t("positions.pair_dims", j=pair, a=a, b=b))
            st.caption(t("positions.angle_formula", p=position, theta=params.theta, j=pair,
                         d_head=params.head_dim, rad=rp.angle, deg=math.degrees(rp.angle)))
            st.latex(rope_pair_latex(rp, labels("positions", "by_hand", "from_model")))
            if rp.max_error < 1e-4:
                st.success(t("positions.match", err=rp.max_error), icon="✅")
            else:
                st.warning(t("positions.mismatch", err=rp.max_error), icon="⚠️")
            chart(rope_pair_arrows(rp.track_before, rp.track_after, trace.token_texts, position, {
                **labels("positions", "before", "after"), "position": pos_t, "x": t("positions.pair_x", a=a),
                "y": t("positions.pair_y", b=b)}), key="positions.rope_arrows")
            st.caption(t("positions.arrows_caption", deg=rp.step_deg))

# --- the order experiment ------------------------------------------------------------------
st.header(t("positions.order_header"))
st.caption(t("positions.order_intro"))
example_picker(t("positions.pair_preset"), range(len(ORDER_PAIRS)), lambda i: dict(zip(
    ("positions.text_a", "positions.text_b"), ORDER_PAIRS[i])), key="positions.pair", default=1 if lang() == "zh" else 0,
    format_func=lambda i: " / ".join(ORDER_PAIRS[i]))
ca, cb = st.columns(2)
text_a = ca.text_input(t("positions.text_a"), key="positions.text_a", **LINKED)
text_b = cb.text_input(t("positions.text_b"), key="positions.text_b", **LINKED)
if decoder is not None and decoder.kind != "decoder":
    st.info(t("positions.no_decoder_order"))
    st.stop()
ta, tb = get_traces([text_a, text_b], max_tokens=ORDER_CAP)   # together, in one batch
if ta is None or tb is None:
    st.stop()
result = order_experiment(ta, tb, top_n=TOP_N)
st.subheader(t("positions.bag_header"))
for col, tr, name in ((ca, ta, "A"), (cb, tb, "B")):
    col.html(chips_html(tr.tokens, source_text=tr.text))
    col.caption(f"{name} — {t('positions.sorted_ids')}")
    col.code(str(sorted(tr.ids.tolist())), language=None, wrap_lines=True)
if result.same_bag:
    bag = "positions.same_bag" if result.embedding_sum_diff else "positions.same_bag_exact"
    st.success(t(bag, diff=result.embedding_sum_diff), icon="👜")
else:
    st.warning(t("positions.different_bag", a=list(result.only_in_a), b=list(result.only_in_b)))

st.subheader(t("positions.inside_header"))
st.caption(t("positions.cos_layers"))
if result.matched:
    chart(order_cosines(result.matched, ta.token_texts, {"x": t("positions.layer_axis"), "y": t(
        "positions.cos_axis"), "legend": t("positions.legend")}), key="positions.order_cos")
    if not decoder.arch.has_position_embedding:  # layer 0 = token embeddings alone
        st.caption(t("positions.matched_note", cos=min(m.cosine_by_layer[0] for m in result.matched)))
else:
    st.info(t("positions.no_shared"))
if result.final_cosine is not None:
    st.markdown(t("positions.final_cos", cos=result.final_cosine))

st.subheader(t("positions.predict_header"))
st.caption(t("positions.next_caption", n=TOP_N))
top_a, top_b = top_tokens(decoder, ta, result.top_a), top_tokens(decoder, tb, result.top_b)
chart(top_tokens_pair(top_a, top_b, dict(
    title_a=f"A: {text_a[:40]}", title_b=f"B: {text_b[:40]}", prob_title=t("positions.probability"))),
    key="positions.order_top")
first_a, first_b = top_a[0][0], top_b[0][0]
st.caption(t("positions.same_top") if first_a == first_b else
           t("positions.different_top", a=md_escape(first_a), b=md_escape(first_b)))
if any(is_piece(text) for text, _ in top_a + top_b):
    st.caption(t("common.pieces_note"))
