"""Distillation (蒸馏): the loaded model (the teacher) writes short stories; a
tiny transformer (the student) learns them twice — from the teacher's whole
softened distributions, and from its top token only — and both are compared
with the teacher on stories they never saw."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core import distillation as ds
from ui import fig_distillation as fig
from llm_core.model.caches import JOB_RESULTS
from ui.i18n import t
from ui.jobs import run
from ui.markdown import md_escape
from ui.models import decoder_or_stop, model_name
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py


st.title(t("nav.distillation"))
handle = decoder_or_stop()
with notice():
    st.markdown(t("distillation.notice", teacher=ds.copies.parameter_count(handle),
                  n=ds.N_TRAIN + ds.N_HELD_OUT, held=ds.N_HELD_OUT))

c1, c2, c3 = st.columns(3)
temperature = c1.slider(t("distillation.temperature"), 0.5, 8.0, 2.0, 0.5,
                        key="distillation.temperature", **LINKED, help=t("distillation.temperature_help"))
soft_weight = c2.slider(t("distillation.mix"), 0.0, 1.0, 1.0, 0.1, key="distillation.mix", **LINKED,
                        help=t("distillation.mix_help"))
steps = c3.slider(t("distillation.steps"), 10, ds.MAX_STEPS, ds.DEFAULT_STEPS, 10,
                  key="distillation.steps", **LINKED)


pressed = st.button(t("distillation.run"), type="primary", key="distillation.run")


def work(job):
    """The teacher's stories (the same for every student: written once, shared),
    then both students' training."""
    return ds.distill(handle, ds.shared_corpus(handle, job), steps, temperature, soft_weight, work=job)


r = run(pressed, work, page="distillation", key=("distillation", model_name(), temperature, soft_weight, steps),
        shared=JOB_RESULTS, keep=3, press=t("distillation.press"))
labels = {"soft": t("distillation.soft", T=r.temperature, a=r.soft_weight),
          "hard": t("distillation.hard"), "step": t("distillation.step"),
          "loss": t("distillation.loss"), "kl": t("distillation.kl"),
          "loss_title": t("distillation.loss_title"),
          "kl_title": t("distillation.kl_title", held=ds.N_HELD_OUT),
          "hover": t("distillation.kl_hover"), "teacher": t("distillation.teacher"),
          "student": t("distillation.student"), "params": t("distillation.params"),
          "sizes_title": t("distillation.sizes_title", x=r.teacher_params / r.student_params)}
closer = "soft" if r.kl_soft < r.kl_hard else "hard"
st.markdown(t(f"distillation.verdict_{closer}", soft=r.kl_soft, hard=r.kl_hard, n=r.steps))
drifts = {k: d for k, d in (("soft", ds.moves_away(r.soft)), ("hard", ds.moves_away(r.hard))) if d}
for who, d in drifts.items():
    st.markdown(t(f"distillation.moves_away_{who}", step=d.best_step, best=d.best, final=d.final,
                  n=r.steps))
left, right = st.columns(2)
chart(where=left, fig=fig.held_out_kl(r, {**labels, "closest": t("distillation.closest")}, drifts),
      width="stretch", key="distillation.chart0")
chart(where=right, fig=fig.loss_curves(r, labels), width="stretch", key="distillation.chart1")
st.caption(t("distillation.loss_caption"))
chart(fig.sizes(r.teacher_params, r.student_params, labels), width="stretch", key="distillation.chart2")
st.caption(t("distillation.vocab", v=r.vocab, mass=r.mass))

st.markdown(f"**{t('distillation.texts_header')}**")
st.markdown(t("distillation.prompt", prompt=md_escape(r.prompt)))
for who, text in ((t("distillation.teacher"), r.teacher_text),
                  (labels["soft"], r.soft_text), (labels["hard"], r.hard_text)):
    st.markdown(f"**{who}**")
    st.text(r.prompt + text)
st.caption(t("distillation.texts_caption"))
with st.expander(t("distillation.stories_header", n=ds.N_TRAIN + ds.N_HELD_OUT,
                   train=ds.N_TRAIN, held=ds.N_HELD_OUT)):
    st.text("\n".join(r.stories))
