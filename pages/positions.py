"""Concept 7: position vectors (sinusoidal, learned), RoPE as the warm-up's
rotation matrix, and the order experiment with the real model."""
import math

import streamlit as st

from llm_core.positions import (learned_size, learned_table, order_experiment, rope_angle_degrees,
                                rope_pair, rope_params, sinusoidal_table)
from llm_core.model.sampling import tokens_of
from ui.chips import chips_html
from ui.fig_positions import (matrix_heatmap, order_cosines, rope_angle_heatmap, rope_pair_arrows,
                              rope_pair_latex, top_tokens_pair, visible)
from ui.markdown import md_escape
from ui.i18n import t
from ui.models import encoder, get_handle, get_trace, layer_detail
from ui.widgets import LINKED
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

PAIRS = [("The dog bites the man", "The man bites the dog"), ("我喜欢你", "你喜欢我"),
         ("dog bites man", "man bites dog")]
ROPE_CAP, ORDER_CAP, TOP_N = 32, 64, 5  # short traces: the lesson needs a few positions


def use_pair():
    a, b = PAIRS[st.session_state["positions.pair"]]
    st.session_state["positions.text_a"], st.session_state["positions.text_b"] = a, b


st.title(t("nav.positions"))
st.info(t("positions.notice"), icon="👀")
decoder = get_handle()
pos_t, dim_t, cos_t = t("positions.position"), t("positions.dimension"), t("positions.cos_sim")
sin_tab, learned_tab, rope_tab = st.tabs([t("positions.tab_sin"), t("positions.tab_learned"),
                                          t("positions.tab_rope")])
with sin_tab:
    st.caption(t("positions.sin_intro"))
    st.latex(r"PE_{(p,\,2i)} = \sin\left(\frac{p}{10000^{2i/d}}\right),\qquad "
             r"PE_{(p,\,2i+1)} = \cos\left(\frac{p}{10000^{2i/d}}\right)")
    c1, c2 = st.columns(2)
    n_pos = c1.slider(t("positions.n_positions"), 8, 256, 64, key="positions.n_pos")
    d = c2.select_slider(t("positions.n_dims"), [16, 32, 64, 128, 256, 384, 512], 128,
                         key="positions.d_model")
    pe = sinusoidal_table(n_pos, d)
    left, right = st.columns(2)
    chart(where=left, fig=matrix_heatmap(pe.vectors, dim_t, pos_t, t("positions.value"), zmin=-1,
                                         zmax=1), key="positions.sin_heat")
    chart(where=right, fig=matrix_heatmap(pe.cosine, pos_t, pos_t, cos_t, zmin=-1, zmax=1),
          key="positions.sin_cos")
    st.caption(t("positions.similarity_caption"))

with learned_tab:
    enc = encoder()
    size = None if enc is None else learned_size(enc)
    if size is None:
        st.info(t("positions.no_learned"))
    else:
        st.caption(t("positions.learned_intro", model=enc.description, n=size[0], d=size[1]))
        n_learned = st.slider(t("positions.n_positions"), 8, min(256, size[0]), 64,
                              key="positions.n_learned")
        table = learned_table(enc, n_learned)
        left, right = st.columns(2)
        chart(where=left, fig=matrix_heatmap(table.vectors, dim_t, pos_t, t("positions.value"),
                                             zmin=-table.bound, zmax=table.bound),
              key="positions.learned_heat")
        chart(where=right, fig=matrix_heatmap(table.cosine, pos_t, pos_t, cos_t, zmin=-1, zmax=1),
              key="positions.learned_cos")
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
        st.latex(r"\begin{bmatrix} q'_j \\ q'_{j+d/2} \end{bmatrix} = \begin{bmatrix} \cos p\theta_j"
                 r" & -\sin p\theta_j \\ \sin p\theta_j & \cos p\theta_j \end{bmatrix}"
                 r"\begin{bmatrix} q_j \\ q_{j+d/2} \end{bmatrix}")
        chart(rope_angle_heatmap(rope_angle_degrees(params, 64), t("positions.pair"), pos_t,
                                 t("positions.angle")), key="positions.rope_heat")
        st.subheader(t("positions.rope_demo_header"))
        st.caption(t("positions.rope_demo_intro"))
        text = st.text_input(t("positions.rope_text"), "The cat sat on the mat",
                             key="positions.rope_text")
        trace = get_trace(text, max_tokens=ROPE_CAP)
        if trace is not None:
            c1, c2, c3, c4 = st.columns(4)
            layer = c1.slider(t("positions.layer"), 0, trace.n_layers - 1, 0, key=f"positions.layer_{decoder.name}")
            head = c2.slider(t("positions.head"), 0, trace.n_heads - 1, 0, key=f"positions.head_{decoder.name}")
            pair = c3.slider(t("positions.pair"), 0, pairs - 1, 0, key="positions.pair_j")
            position = c4.selectbox(t("positions.pick_position"), range(trace.n_tokens),
                                    index=trace.n_tokens - 1, key=f"positions.position_{trace.n_tokens}",
                                    format_func=lambda p: f"{p}: {trace.tokens[p].text}")
            detail = layer_detail(decoder, trace, layer)
            rp = rope_pair(params, detail.q_before_rope, detail.q, head, position, pair)
            a, b = rp.dims
            st.caption(t("positions.pair_dims", j=pair, a=a, b=b))
            st.caption(t("positions.angle_formula", p=position, theta=params.theta, j=pair,
                         d_head=params.head_dim, rad=rp.angle, deg=math.degrees(rp.angle)))
            st.latex(rope_pair_latex(rp, t("positions.by_hand"), t("positions.from_model")))
            if rp.max_error < 1e-4:
                st.success(t("positions.match", err=rp.max_error), icon="✅")
            else:
                st.warning(t("positions.mismatch", err=rp.max_error), icon="⚠️")
            labels = {"before": t("positions.before"), "after": t("positions.after"),
                      "position": pos_t, "x": t("positions.pair_x", a=a),
                      "y": t("positions.pair_y", b=b)}
            chart(rope_pair_arrows(rp.track_before, rp.track_after, trace.token_texts, position,
                                   labels), key="positions.rope_arrows")
            st.caption(t("positions.arrows_caption", deg=rp.step_deg))
            if trace.truncated_from:
                st.caption(t("positions.rope_cap_note", n=ROPE_CAP))

# --- the order experiment ------------------------------------------------------------------
st.header(t("positions.order_header"))
st.caption(t("positions.order_intro"))
st.session_state.setdefault("positions.text_a", PAIRS[0][0])
st.session_state.setdefault("positions.text_b", PAIRS[0][1])
st.selectbox(t("positions.pair_preset"), range(len(PAIRS)), format_func=lambda i: " / ".join(PAIRS[i]),
             key="positions.pair", on_change=use_pair)
ca, cb = st.columns(2)
text_a = ca.text_input(t("positions.text_a"), key="positions.text_a", **LINKED)
text_b = cb.text_input(t("positions.text_b"), key="positions.text_b", **LINKED)
if decoder is not None and decoder.kind != "decoder":
    st.info(t("positions.no_decoder_order"))
    st.stop()
ta = get_trace(text_a, max_tokens=ORDER_CAP)
tb = get_trace(text_b, max_tokens=ORDER_CAP) if ta is not None else None
if ta is None or tb is None:
    st.stop()
result = order_experiment(ta, tb, top_n=TOP_N)
if ta.truncated_from or tb.truncated_from:
    st.caption(t("positions.order_cap_note", n=ORDER_CAP))
st.subheader(t("positions.bag_header"))
for col, tr, name in ((ca, ta, "A"), (cb, tb, "B")):
    with col:
        st.html(chips_html(tr.tokens, source_text=tr.text))
        st.caption(f"{name} — {t('positions.sorted_ids')}")
        st.code(str(sorted(tr.ids.tolist())), language=None, wrap_lines=True)
if result.same_bag:
    st.success(t("positions.same_bag", diff=result.embedding_sum_diff), icon="👜")
else:
    st.warning(t("positions.different_bag", a=list(result.only_in_a), b=list(result.only_in_b)))

st.subheader(t("positions.inside_header"))
st.caption(t("positions.cos_layers"))
if result.matched:
    series = [(f"{visible(ta.tokens[m.pos_a].text)} ({m.pos_a}→{m.pos_b})", m.cosine_by_layer)
              for m in result.matched]
    chart(order_cosines(series, {"x": t("positions.layer_axis"), "y": t("positions.cos_axis"),
                                           "legend": t("positions.legend")}), key="positions.order_cos")
    if not decoder.arch.has_position_embedding:  # layer 0 = token embeddings alone
        st.caption(t("positions.matched_note", cos=min(m.cosine_by_layer[0] for m in result.matched)))
else:
    st.info(t("positions.no_shared"))
if result.final_cosine is not None:
    st.markdown(t("positions.final_cos", cos=result.final_cosine))

st.subheader(t("positions.predict_header"))
st.caption(t("positions.next_caption", n=TOP_N))
label = lambda tid: tokens_of(decoder, [tid])[0]
top_a = [(label(i).text, p) for i, p in result.top_a]
top_b = [(label(i).text, p) for i, p in result.top_b]
chart(top_tokens_pair(top_a, top_b, (f"A: {text_a[:40]}", f"B: {text_b[:40]}"),
                                t("positions.probability")), key="positions.order_top")
if top_a[0][0] == top_b[0][0]:
    st.caption(t("positions.same_top"))
else:
    st.caption(t("positions.different_top", a=md_escape(top_a[0][0]), b=md_escape(top_b[0][0])))
if any(label(i).partial for i, _ in (*result.top_a, *result.top_b)):
    st.caption(t("positions.partial_note"))
