"""Quantization (量化): every weight rounded to a grid of 2^bits levels, like π =
3.14 instead of 3.1415926. A private copy is quantized; the model everyone uses
never changes. Results are shared: a setting measured once shows at once for all."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
import llm_core
from llm_core import quantization as qz
from ui import fig_quantization as fig
from llm_core.model.caches import JOB_RESULTS
from ui.cache import shared
from ui.i18n import t
from ui.markdown import plain_table
from ui.jobs import run
from ui.models import decoder_or_stop, model_name
from ui.widgets import LINKED, keep_in_range, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

HISTORY = "quantization.history"

st.title(t("nav.quantization"))
with notice():
    st.markdown(t("quantization.notice"))

# --- 1. The lesson's analogy: π with fewer digits ---------------------------------
st.subheader(t("quantization.pi_header"))
rows = qz.pi_table()
left, right = st.columns([2, 3])
left.dataframe(fig.pi_frame(rows, [t("quantization.pi_digits"), "π", t("quantization.pi_area"),
                                   t("quantization.pi_error")]), hide_index=True, width="stretch")
chart(where=right, fig=fig.pi_error(rows, {k: t(f"quantization.pi_fig_{k}") for k in
                                       ("title", "x", "y", "hover")}), width="stretch", key="quantization.chart0")
st.markdown(t("quantization.pi_explain"))

# --- 2. The real model -------------------------------------------------------------
st.subheader(t("quantization.model_header"))
handle = decoder_or_stop()
if handle.name == "smollm2":
    stored = qz.stored_format()
    st.info(t("quantization.stored", mb=stored.file_mb, bpw=stored.bits_per_weight,
              float_mb=qz.model_bytes(handle.model) / 1e6,
              rows="; ".join(t("quantization.stored_row", name=name, n=n, w=w, b=b)
                             for name, n, w, b in stored.rows)), icon="📦")

c1, c2 = st.columns(2)
bits = c1.select_slider(t("quantization.bits"), list(qz.BITS), 4, key="quantization.bits", **LINKED,
                        help=t("quantization.bits_help"))
groups = {g: t(f"quantization.group_{g}") for g in qz.GROUPS}
group = c2.radio(t("quantization.group"), list(groups), index=3, format_func=groups.get,
                 horizontal=True, key="quantization.group", **LINKED, help=t("quantization.group_help"))


@shared
def view(model: str, layer: int, kind: str, bits: int, group: str):
    return qz.quantized_matrix(llm_core.load_model(model), layer, kind, bits, group)


@st.fragment
def one_matrix():
    """One matrix before/after: reads the shared model, changes nothing, runs alone."""
    kinds = qz.block_kinds(handle)
    a, b = st.columns(2)
    last = handle.arch.n_layers - 1
    keep_in_range("quantization.layer", range(last + 1), min(3, last))   # another model's layer
    layer = a.slider(t("quantization.layer"), 0, last, key="quantization.layer")
    kind = b.selectbox(t("quantization.kind"), kinds, index=len(kinds) - 1,
                       key="quantization.kind")
    v = view(model_name(), layer, kind, bits, group)
    st.caption(t("quantization.matrix_caption", kind=kind, layer=layer, max=v.max_abs,
                 p999=v.p999_abs, ratio=v.max_abs / max(v.p999_abs, 1e-12), err=v.rel_error))
    for col, g in zip(st.columns(len(v.groups)), v.groups):
        chart(where=col, fig=fig.weight_histogram(g, {
            "title": t(f"quantization.hist_{g.which}", n=g.size),
            "before": t("quantization.hist_before"), "after": t("quantization.hist_after"),
            "x": t("quantization.hist_x"), "y": t("quantization.hist_y"),
            "y_log": t("quantization.hist_y_log")}), width="stretch", key=f"quantization.hist_{g.which}")
        col.caption(t("quantization.hist_caption", levels=len(g.grid), used=g.levels_used,
                      step=g.step, lines=t("quantization.lines_drawn") if len(g.grid) <= 16
                      else t("quantization.lines_dense")))
    if handle.name == "smollm2" and v.distinct_per_32 <= 16:
        st.caption(t("quantization.already_4bit", n=v.distinct_per_32))


one_matrix()


def work(job):
    """The float model's numbers once per model (shared), then this setting's copy."""
    return qz.run(handle, bits, group, work=job)


key = ("quantization", model_name(), bits, group)
pressed = JOB_RESULTS.peek(key) is None and st.button(t("quantization.run"), type="primary",
                                                       key="quantization.run")   # measured once: shown to all
done = run(pressed, work, page="quantization", key=key, shared=JOB_RESULTS, adopt=True,
           keep=len(qz.BITS) * len(qz.GROUPS), press=t("quantization.press", bits=bits, group=groups[group]))

history = st.session_state.setdefault(HISTORY, {})
history[(model_name(), done.bits, done.group)] = done
m = st.columns(5)
m[0].metric(t("quantization.size"), f"{done.size_mb:.0f} MB",
            f"{done.size_mb / done.float_size_mb - 1:+.0%}", delta_color="off",
            help=t("quantization.size_help", float_mb=done.float_size_mb, bpw=done.bits_per_weight))
m[1].metric(t("quantization.bpw"), f"{done.bits_per_weight:.2f}")
m[2].metric(t("quantization.kl"), f"{done.kl:.4f}", help=t("quantization.kl_help"))
m[3].metric(t("quantization.top1"), f"{done.top1_agreement:.0%}", help=t("quantization.top1_help"))
m[4].metric(t("quantization.ppl"), f"{done.perplexity:,.1f}",
            f"{done.perplexity - done.float_perplexity:+,.1f}", delta_color="inverse",
            help=t("quantization.ppl_help", float=done.float_perplexity))
st.markdown(t(f"quantization.verdict_{qz.verdict(done)}", kl=done.kl))

st.markdown(f"**{t('quantization.answers_header')}**")
st.table(plain_table(pd.DataFrame([(q, a, b) for q, a, b in done.answers],   # wraps: every column shows
                                  columns=[t("quantization.question"), t("quantization.float_answer"),
                                           t("quantization.quant_answer", bits=done.bits)])), hide_index=True)
chart(fig.error_heatmap(done, {
    "title": t("quantization.heat_title", bits=done.bits, group=groups[done.group]),
    "colorbar": t("quantization.heat_colorbar"), "hover": t("quantization.heat_hover"),
    "layer": t("quantization.layer")}), width="stretch", key="quantization.chart2")
st.caption(t("quantization.heat_caption"))

st.subheader(t("quantization.tried_header"))
tried = sorted((r for (m, _b, _g), r in history.items() if m == model_name()),
               key=lambda r: (-r.bits, qz.GROUPS.index(r.group)))
if len(tried) < 2:
    st.caption(t("quantization.tried_more"))
else:
    chart(fig.tried_chart(tried, {**groups, "title": t("quantization.tried_title"),
                                            "x": t("quantization.bits"),
                                            "y": t("quantization.kl"),
                                            "hover": t("quantization.tried_hover")}),
                    width="stretch", key="quantization.chart3")
st.dataframe(fig.tried_frame(tried, groups, [t(f"quantization.{k}") for k in (
    "bits", "group", "size", "kl", "top1", "ppl")]), hide_index=True, width="stretch")
