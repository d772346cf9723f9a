"""One head, step by step: x → q, k, v → q·k → ÷√d_head → mask → softmax → Σ weight·v
→ concat × W_O, with the model's real numbers for one token of your text."""
import math

import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.attention_step import (attention_weights, contribution_lengths, head_steps, length,
                                     pattern_difference, top_keys, visible_keys)
from ui.cache import shared
from ui.errors import guard
from ui.fig_attention import md_token, token_bars, token_labels
from ui.fig_attention_step import scores_table, vector_strips, vector_table
from ui.i18n import labels, t
from ui.models import attention_cap_note, get_handle, get_trace, layer_detail
from ui.widgets import LINKED, keep_in_range, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

N_DIMS = 64  # dimensions shown of a d_model vector (a head's vectors are shown whole)
N_SHOWN = 6  # numbers shown per vector in the tables

st.title(t("nav.attention_step"))
st.markdown(t("attention_step.intro"))
with notice():
    st.markdown(t("attention_step.notice"))


@shared
def layer_weights(model: str, layer: int, _arch):
    return attention_weights(_arch, layer)


def strips(rows, n_dims: int = N_DIMS, boundaries: int | None = None) -> None:
    """Vectors as colour strips, then their first numbers and their length."""
    key = "attention_step.strips_" + "_".join(name[:12] for name, _ in rows)
    chart(vector_strips(rows, dict(x_title=t("attention_step.dim"), color_title=t("attention_step.value")),
                        n_dims=n_dims, boundaries=boundaries), width="stretch", key=key)
    st.dataframe(vector_table(rows, labels("attention_step", "length"), N_SHOWN))


text = st.text_area(t("common.text"), value=t("attention_step.default_text"),
                    key="attention_step.text", **LINKED, height=90)
trace = get_trace(text)
handle = get_handle()
if trace is None or handle is None:
    st.stop()
attention_cap_note(trace)
n = trace.attention_kept
ticks = token_labels(trace.token_texts[:n])
c_layer, c_head, c_token = st.columns(3)
keep_in_range("attention_step.layer", range(trace.n_layers), trace.n_layers // 2)
keep_in_range("attention_step.head", range(trace.n_heads), 0)
keep_in_range("attention_step.token", range(n), n // 2)  # mid-text: the mask shows
layer = c_layer.slider(t("common.layer"), 0, trace.n_layers - 1, key="attention_step.layer", **LINKED)
head = c_head.slider(t("common.head"), 0, trace.n_heads - 1, key="attention_step.head", **LINKED)
query = c_token.selectbox(t("attention_step.query"), range(n), format_func=ticks.__getitem__,
                          key="attention_step.token", **LINKED)

with guard():
    detail = layer_detail(handle, trace, layer)        # shared per trace and layer
    weights = layer_weights(trace.model_name, layer, handle.arch)
    s = head_steps(detail, head, query, weights)
    tok = md_token(ticks[query])
    st.markdown(t("attention_step.facts", layer=layer, head=head, n_heads=s.n_heads,
                  d_model=s.d_model, d_head=s.d_head))
    if s.group > 1:
        siblings = [h for h in range(s.kv_head * s.group, (s.kv_head + 1) * s.group) if h != head]
        st.info(t("attention_step.gqa", n_heads=s.n_heads, n_kv=s.n_kv_heads, group=s.group,
                  head=head, kv=s.kv_head, shared=", ".join(map(str, siblings))), icon="🔗")
    else:
        st.caption(t("attention_step.mha", n_heads=s.n_heads))

    st.subheader(t("attention_step.s1"))
    if trace.causal:
        st.markdown(t("attention_step.s1_text", token=tok, norm=handle.arch.norm_kind,
                      d_model=s.d_model))
        strips([(t("attention_step.row_x"), s.x), (t("attention_step.row_x_raw"), s.residual)])
    else:
        st.markdown(t("attention_step.s1_encoder", token=tok, d_model=s.d_model))
        strips([(t("attention_step.row_x"), s.x)])
    st.caption(t("attention_step.strip_dims", k=min(N_DIMS, s.d_model), d=s.d_model))

    st.subheader(t("attention_step.s2"))
    st.markdown(t("attention_step.s2_text", d_model=s.d_model, d_head=s.d_head, n=n))
    pre_q = s.q if s.q_before_rope is None else s.q_before_rope
    pre_k = s.k if s.k_before_rope is None else s.k_before_rope
    strips([(t("attention_step.row_q"), pre_q), (t("attention_step.row_k", token=ticks[query]),
                                                   pre_k[query]),
            (t("attention_step.row_v", token=ticks[query]), s.v[query])])

    st.subheader(t("attention_step.s3"))
    if s.q_before_rope is not None:
        st.markdown(t("attention_step.s3_text", half=s.d_head // 2, norm_before=length(s.q_before_rope),
                      norm_after=length(s.q)))
        strips([(t("attention_step.row_q_before"), s.q_before_rope),
                (t("attention_step.row_q_after"), s.q),
                (t("attention_step.row_k_before", token=ticks[query]), s.k_before_rope[query]),
                (t("attention_step.row_k_after", token=ticks[query]), s.k[query])])
    else:
        st.markdown(t("attention_step.s3_none"))

    st.subheader(t("attention_step.s4"))
    key = "s4_text" if s.causal else "s4_text_bidir"
    st.markdown(t(f"attention_step.{key}", n=n, d_head=s.d_head, sqrt=math.sqrt(s.d_head)))
    st.dataframe(scores_table(s, ticks, labels("attention_step", "col_token", "col_score", "col_scaled",
                                               "col_masked", "col_weight", "masked_value")),
                 hide_index=True, height=min(420, 40 + 35 * (n + 1)))
    visible = visible_keys(s)
    chart(token_bars(s.pattern[:visible], ticks[:visible], dict(
        value_title=t("attention.weight"), x_title=t("attention.key")), highlight=query),
          width="stretch", key="attention_step.chart1")
    diff = pattern_difference(s, trace.attention_pattern[layer, head, query])
    st.caption(t("attention_step.s4_check", diff=diff))

    st.subheader(t("attention_step.s5"))
    top = top_keys(s, 3)
    st.markdown(t("attention_step.s5_text", n=n, d_head=s.d_head, k=len(top)))
    strips([(t("attention_step.row_wv", weight=float(s.pattern[j]), token=ticks[j]),
             s.weighted_v[j]) for j in top] + [(t("attention_step.row_out"), s.output)])

    st.subheader(t("attention_step.s6"))
    width = s.n_heads * s.d_head
    st.markdown(t("attention_step.s6_text", n_heads=s.n_heads, d_head=s.d_head, width=width,
                  d_model=s.d_model))
    contributions = contribution_lengths(detail, weights, query)   # head
    chart(token_bars(contributions, [f"{t('common.head')} {h}" for h in range(s.n_heads)],
                     dict(value_title=t("attention_step.contrib"), x_title=t("common.head")),
                     highlight=head),
          width="stretch", key="attention_step.chart2")
    strips([(t("attention_step.row_concat"), s.concat)], n_dims=width, boundaries=s.d_head)
    strips([(t("attention_step.row_attn_out"), s.attn_out),
            (t("attention_step.row_x_raw"), s.residual),
            (t("attention_step.row_resid_mid"), s.resid_mid)])
    if trace.attn_out_norm is not None:
        st.caption(t("attention_step.s6_check", ours=length(s.attn_out),
                     model=float(trace.attn_out_norm[layer, query])))
