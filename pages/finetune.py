"""Fine-tuning one fact (微调): a few gradient steps on a private copy teach the
model a new fact; only the chosen weights train. Before/after on the fact's
question, its paraphrases and other facts; which weights moved; Revert."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core import finetune as ft
from llm_core.model.errors import XRayError
from ui import fig_finetune as fig
from ui.errors import guard, show_error
from ui.i18n import t
from ui.markdown import plain_table
from llm_core.model.caches import JOB_RESULTS
from ui.jobs import run, run_job
from ui.models import decoder_or_stop, model_name
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py


st.title(t("nav.finetune"))
handle = decoder_or_stop()
with notice():
    st.markdown(t("finetune.notice", total=ft.copies.parameter_count(handle)))

d = ft.DEFAULT_FACT
st.session_state.setdefault("finetune.paraphrases", "\n".join(d.paraphrases))
# No max_chars on the boxes: the core's limit answers an overlong paste with a message.
fact_text = st.text_input(t("finetune.fact"), d.text, key="finetune.fact", **LINKED)
c1, c2 = st.columns([3, 1])
question = c1.text_input(t("finetune.question"), d.question, key="finetune.question", **LINKED)
answer = c2.text_input(t("finetune.answer"), d.answer, key="finetune.answer", **LINKED,
                       help=t("finetune.answer_help"))
paraphrases = st.text_area(t("finetune.paraphrases"), height=80, key="finetune.paraphrases")

methods = {m: t(f"finetune.method_{m}") for m in ft.METHODS}
c1, c2, c3 = st.columns([2, 2, 1])
method = c1.radio(t("finetune.method"), list(methods), format_func=methods.get,
                  key="finetune.method", help=t("finetune.method_help"))
layer = c2.slider(t("finetune.layer"), 0, handle.arch.n_layers - 1,
                  min(8, handle.arch.n_layers - 1), key="finetune.layer",
                  help=t("finetune.layer_help"))
steps = c3.slider(t("finetune.steps"), 1, ft.MAX_STEPS, ft.DEFAULT_STEPS, key="finetune.steps",
                  **LINKED, help=t("finetune.steps_help", p=ft.STOP_AT))
layers = ft.lora_layers(layer, handle.arch.n_layers) if method == "lora" else (layer,)
st.caption(t(f"finetune.trains_{method}", first=layers[0], last=layers[-1], r=ft.LORA_RANK))


try:       # checked as typed, so a bad fact is said at once, not after pressing
    fact = ft.check_fact(fact_text, question, answer, paraphrases.splitlines())
except XRayError as err:
    fact = None
    show_error(err, "finetune")
if fact is not None and not fact.paraphrases:
    st.info(t("finetune.no_paraphrases"), icon="ℹ️")
train = st.button(t("finetune.train"), type="primary", key="finetune.train", disabled=fact is None)
if st.session_state.pop("finetune.reverted", False):
    st.success(t("finetune.reverted"), icon="↩️")
curve_labels = {"title": t("finetune.curve_title"), "loss": t("finetune.loss"),
                "p_answer": t("finetune.p_answer", answer=answer.strip()), "step": t("finetune.step")}
live = st.empty()   # the curve while it trains


def draw(p):
    """The curve drawn anew after every training step: training, live."""
    if p.phase == "train" and p.detail:
        live.plotly_chart(fig.training_curve(list(p.detail), curve_labels), width="stretch",
                          key=f"finetune.live_{len(p.detail)}")   # one id per step: the last may equal the final


def work(job):
    """The model before training once per model and fact (shared: a press with other
    settings reuses it), then this press's training."""
    return ft.train(handle, fact, method, layer, steps, work=job)


r = run(train and fact is not None, work,
        page="finetune", key=("finetune", model_name(), fact, method, layer, steps), keep=3,
        shared=JOB_RESULTS, live=draw, press=t("finetune.press"), after=live.empty)
st.subheader(t("finetune.result_header", answer=r.fact.answer))
chart(fig.training_curve(r.steps, {
    **curve_labels, "p_answer": t("finetune.p_answer", answer=r.fact.answer)}), width="stretch", key="finetune.chart1")
st.caption(t("finetune.curve_caption", n=r.steps[-1].step, s=r.seconds, p=ft.STOP_AT))

st.markdown(f"**{t('finetune.answers_header')}**")
shown = [p.question for p in ft.shown_probes(r.fact, list(r.probes))[0]]
st.table(plain_table(pd.DataFrame(list(zip(shown, r.before.answers, r.after.answers)),   # wraps
                                  columns=[t("finetune.question"), t("finetune.before"),
                                           t("finetune.after")])), hide_index=True)
roles = {k: t(f"finetune.role_{k}") for k in ("fact", "paraphrase", "neighbour")}
chart(fig.probe_bars(r, {**roles, "title": t("finetune.probes_title"),
                                   "before": t("finetune.before"), "after": t("finetune.after"),
                                   "x": t("finetune.probes_x")}), width="stretch", key="finetune.chart2")
changes = ft.probe_changes(r)
points = round(ft.LOST_POINTS * 100)
st.table(plain_table(fig.probe_table(changes, {**roles, **{k: t(f"finetune.col_{k}", points=points) for k in (
    "role", "question", "answer", "before", "after", "change", "flag")}})), hide_index=True)
lost = ft.lost_facts(r)
st.markdown(t("finetune.locality_hurt" if lost else "finetune.locality_kept", kl=r.kl_unrelated,
              points=points, drop=100 * max(0.0, max(b - a for p, b, a, _ in changes if p.role == "neighbour")),
              lost=", ".join(f"{p.answer.strip()} {b:.0%} → {a:.0%}" for p, b, a in lost)))

if st.button(t("finetune.revert"), key="finetune.revert", icon="↩️"):
    st.session_state.pop("finetune.result", None)   # the kept result goes with the copy
    st.session_state["finetune.reverted"] = True
    st.rerun()
m1, m2, m3 = st.columns(3)
m1.metric(t("finetune.trainable"), f"{r.trainable:,}")
m2.metric(t("finetune.total"), f"{r.total:,}")
m3.metric(t("finetune.share"), f"{r.trainable / r.total:.2%}")
chart(fig.changed_heatmap(r, {
    "title": t("finetune.heat_title"), "colorbar": t("finetune.heat_colorbar"),
    "hover": t("finetune.heat_hover"), "layer": t("finetune.layer")}), width="stretch", key="finetune.chart3")


@st.fragment
def ask_again():
    """Ask both models anything: the tuned one is rebuilt from its small delta."""
    q = st.text_input(t("finetune.ask"), r.fact.question, max_chars=ft.MAX_FIELD_CHARS,
                      key="finetune.ask")
    if st.button(t("finetune.ask_button"), key="finetune.ask_button"):
        def both(work):     # two answers: a short job (its own lane, Cancel)
            before = ft.ask(handle, None, q, work)
            work.progress("ask", 1, 2)
            return before, ft.ask(handle, r.delta, q, work)

        with guard():
            both = run_job(both, page="finetune_ask", lane="short",
                           cost=lambda: ft.ask_bytes(handle, q))
            if both is not None:
                st.table(plain_table(pd.DataFrame([both], columns=[t("finetune.before"),
                                                                   t("finetune.after")])), hide_index=True)


ask_again()
