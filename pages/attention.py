"""Attention overview: the decoder's attention_pattern for your text — one head,
all heads of a layer, and every head at once to find the interesting ones."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.attention import (METRICS, entropy_bound, head_summary, query_row, strongest_key,
                                top_heads)
from ui.cache import shared
from ui.classroom import predict_reveal
from ui.errors import guard
from ui.fig_attention import (head_grid, md_token, overview_heatmap, pattern_heatmap, token_bars,
                              token_labels)
from ui.i18n import t
from ui.models import attention_cap_note, get_handle, get_trace, native_example
from ui.widgets import LINKED, keep_in_range, notice
from ui.export import chart, trace_button
from ui.pages import inside_app, link

inside_app()   # first: see ui/pages.py

st.title(t("nav.attention"))
st.markdown(t("attention.intro"))
with notice():
    st.markdown(t("attention.notice"))


@shared
def summary(model: str, text: str, _trace):
    """Every head's summaries for one trace (keyed by model and text, like the trace)."""
    return head_summary(_trace.attention_pattern)


text = st.text_area(t("common.text"), value=native_example("attention.default_text"), key="attention.text", **LINKED,
                    height=90)
trace = get_trace(text)
if trace is None:
    st.stop()
attention_cap_note(trace)
n = trace.attention_kept
labels = token_labels(trace.token_texts[:n])
if n == 1:
    st.info(t("attention.one_token"), icon="☝️")

col_layer, col_head = st.columns(2)
keep_in_range("attention.layer", range(trace.n_layers), trace.n_layers // 2)
keep_in_range("attention.head", range(trace.n_heads), 0)
layer = col_layer.slider(t("common.layer"), 0, trace.n_layers - 1, key="attention.layer", **LINKED)
head = col_head.slider(t("common.head"), 0, trace.n_heads - 1, key="attention.head", **LINKED)
views = ["head", "grid", "overview"]
view_labels = {v: t(f"attention.view_{v}") for v in views}    # fixed in this run's language
view = st.radio(t("attention.view"), views, format_func=view_labels.get,
                horizontal=True, key="attention.view")
axes = dict(x_title=t("attention.key"), y_title=t("attention.query"),
            color_title=t("attention.weight"))
pattern = trace.attention_pattern[layer]          # head query key

with guard():
    if view == "head":
        keep_in_range("attention.token", range(n), n - 1)
        query = st.selectbox(t("attention.token_pick"), range(n), key="attention.token", **LINKED,
                             format_func=labels.__getitem__)
        row = query_row(pattern, head, query, trace.causal)   # the keys this token sees
        visible, top = len(row), strongest_key(row)
        if not predict_reveal("attention", "attention.guess_question", dict(token=md_token(
                labels[query]), layer=layer, head=head), labels[top], labels[:visible]):
            st.stop()
        chart(pattern_heatmap(pattern[head], labels,
                              dict(axes, title=t("attention.head_title", layer=layer, head=head)),
                              causal=trace.causal, highlight_query=query),
              width="stretch", key="attention.chart0")
        if trace.causal:
            st.caption(t("attention.mask_note"))
        chart(token_bars(row, labels[:visible], dict(value_title=t("attention.weight"),
                                                     x_title=t("attention.key")), highlight=query),
                        width="stretch", key="attention.chart1")
        st.caption(t("attention.token_bars_caption", token=md_token(labels[query]), layer=layer,
                     head=head, top=md_token(labels[top]), weight=float(row[top])))

    elif view == "grid":
        titles = [t("attention.grid_head", head=h) for h in range(trace.n_heads)]
        chart(head_grid(pattern, labels, dict(axes, head_titles=titles), causal=trace.causal),
              width="stretch", key="attention.chart2")
        st.caption(t("attention.grid_caption", n=trace.n_heads, layer=layer))

    else:
        keep_in_range("attention.metric", METRICS, "first_token")
        metric = st.selectbox(t("attention.metric"), METRICS, key="attention.metric",
                              format_func=lambda m: t(f"attention.metric_{m}"))
        values = summary(trace.model_name, trace.text, trace).metric(metric)  # layer head
        zmax = {"entropy": max(entropy_bound(n), 1e-6), "strongest_key_distance": None}.get(
            metric, 1.0)
        short = t(f"attention.metric_short_{metric}")
        chart(overview_heatmap(values, dict(metric_title=short, x_title=t("common.head"),
                                            y_title=t("common.layer")), selected=(layer, head),
                               zmax=zmax), width="stretch", key="attention.chart3")
        st.caption(t("attention.overview_caption", layers=trace.n_layers, heads=trace.n_heads))
        best = top_heads(values, 5)
        st.markdown(f"**{t('attention.top_heads')}**")
        st.dataframe(pd.DataFrame({
            t("attention.col_layer"): [b[0] for b in best], t("attention.col_head"): [b[1] for b in best],
            t("attention.col_value"): [round(b[2], 3) for b in best]}), hide_index=True)

if trace.last_logits is not None:
    trace_button(get_handle(), trace, layer, head, key="attention.trace_json")
with st.expander(t("attention.explain_title")):
    st.markdown(t("attention.explain"))
link("attention_step", t("attention.step_link"), "🔎")
