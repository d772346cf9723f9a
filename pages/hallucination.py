"""Hallucination lab: the model always says something. Per-token confidence,
several samples that agree or not, and the same question with the fact given.
Answers are generated on request and kept in the session (a widget change
never regenerates); a shared cache lets a class share identical answers, and the
answers to one prompt are generated together in one batch."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core import hallucination as hal
from llm_core.model.limits import BOX_CHARS, FACT_CHARS
from ui import fig_hallucination as fig
from ui.cache import shared
from ui.classroom import predict_reveal
from ui.i18n import labels, lang, t
from ui.markdown import md_escape
from ui.jobs import run
from ui.models import decoder_or_stop, model_name, speaks_the_class_language
from ui.widgets import LINKED, example_picker, notice, option_labels
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.hallucination"))
handle = decoder_or_stop()
vocab = handle.arch.unembedding_matrix().shape[0]
st.info(t("hallucination.point", vocab=vocab), icon="👻")
with notice():
    st.markdown(t("hallucination.notice"))


def question_edited():
    """A question that is no longer the example's loses the example's fact: a
    grounded run must never ask about Mars with Veltravia's capital in front."""
    preset = hal.PRESETS_BY_KEY.get(st.session_state.get("hallucination.preset"))
    if preset is not None and st.session_state["hallucination.question"] != preset.question:
        st.session_state["hallucination.preset"] = "custom"
        if st.session_state.get("hallucination.fact") == preset.fact:
            st.session_state["hallucination.fact"] = ""
            st.session_state["hallucination.fact_cleared"] = True


keys = [p.key for p in hal.PRESETS] + ["custom"]
preset = example_picker(t("hallucination.preset"), keys, lambda k: {
    "hallucination.question": hal.PRESETS_BY_KEY[k].question,
    "hallucination.fact": hal.PRESETS_BY_KEY[k].fact} if k in hal.PRESETS_BY_KEY else {},
    key="hallucination.preset", default="zh_veltravia" if speaks_the_class_language() else "veltravia", format_func=option_labels("hallucination.preset_", keys))
question = st.text_area(t("hallucination.question"), key="hallucination.question", **LINKED, height=70,
                        max_chars=BOX_CHARS, help=t("hallucination.question_help"),
                        on_change=question_edited)
if st.session_state.pop("hallucination.fact_cleared", False):
    st.info(t("hallucination.fact_cleared"), icon="🧹")
fact = st.text_input(t("hallucination.fact"), key="hallucination.fact", **LINKED, max_chars=FACT_CHARS,
                     help=t("hallucination.fact_help"))
if preset.startswith("zh_") or lang() == "zh":
    st.caption(t("hallucination.zh_note"))
c1, c2, c3 = st.columns(3)
temperature = c1.slider(t("hallucination.temperature"), 0.1, 2.0, 1.0, 0.1,
                        key="hallucination.temperature", **LINKED, help=t("hallucination.temperature_help"))
n_samples = c2.slider(t("hallucination.n_samples"), 2, len(hal.SAMPLE_SEEDS), 5,
                      key="hallucination.n_samples")
max_tokens = c3.slider(t("hallucination.max_tokens"), 8, hal.MAX_ANSWER_TOKENS, 48, 8,
                       key="hallucination.max_tokens")
fact = fact.strip()
jobs = hal.lab_jobs(question, fact, temperature, n_samples)
ask = st.button(t("hallucination.ask"), type="primary", key="hallucination.ask")


@shared
def lab_answers(model: str, prompt: str, settings: tuple, max_new: int, _handle, _work, _steps):
    """Answers to one prompt, one per (T, seed), generated in one batch; shared by
    every session that asks the same."""
    return hal.ask_many(_handle, prompt, hal.question_ids(_handle, prompt), list(settings),
                        max_new_tokens=max_new, work=_work, steps=_steps)


def work(job) -> hal.LabResult:
    return hal.run_lab(jobs, max_tokens, lambda prompt, settings, steps: lab_answers(
        model_name(), prompt, settings, max_tokens, handle, job, steps))


result = run(ask, work, page="hallucination", lane="short", keep=12,   # earlier settings: still there
                  key=(model_name(), question, fact, temperature, n_samples, max_tokens),
                  check=lambda: hal.question_ids(handle, question),   # refused before the queue
                  cost=lambda: hal.lab_bytes(handle, jobs, max_tokens),
                  press=t("hallucination.press_ask", n=len(jobs), max=max_tokens))
chips = labels("hallucination", "hover", "hover_alts", "hover_tokens")
greedy = result.greedy
bins = [f"hallucination.guess_{b}" for b in ("low", "mid", "high")]   # mean confidence, as keys
if not predict_reveal("hallucination", "hallucination.guess_question", {"question": md_escape(
        " ".join(question.split())[:120])}, bins[hal.confidence_bin(greedy)], bins, keyed=True):
    st.stop()
st.subheader(t("hallucination.greedy_header"))
st.html(fig.answer_chips(greedy, chips))
st.caption(t("hallucination.chips_caption") + ("" if greedy.finished else " " + t("hallucination.capped")))
m1, m2, m3 = st.columns(3)
m1.metric(t("hallucination.mean_conf"), f"{greedy.mean_confidence:.2f}")
m2.metric(t("hallucination.min_conf"), f"{greedy.min_confidence:.2f}", help=t("hallucination.min_conf_help"))
m3.metric(t("hallucination.n_tokens"), sum(len(p.token_ids) for p in greedy.pieces))

worst = fig.least_sure(greedy)
if worst is not None:
    st.subheader(t("hallucination.sum_header"))
    piece = greedy.pieces[worst]
    chart(fig.softmax_sum(piece, vocab, labels("hallucination", "sum_title", "chosen", "others", "prob_axis",
                                               "token_axis")), width="stretch", key="hallucination.chart0")
    st.caption(t("hallucination.sum_caption", i=worst + 1, rest=vocab - 1 - len(piece.alternatives),
                 total=piece.total))

samples = result.samples
st.subheader(t("hallucination.samples_header", T=temperature))
st.caption(t("hallucination.samples_caption"))
agree = hal.agreement([a.text for a in samples], question)
a1, a2, a3, a4 = st.columns(4)
a1.metric(t("hallucination.word_overlap"), f"{agree.word_overlap:.2f}", help=t("hallucination.word_overlap_help"))
a2.metric(t("hallucination.top_claim"), agree.top_claim or t("hallucination.top_claim_none"))
a3.metric(t("hallucination.top_share"), f"{agree.top_share:.0%}" if agree.top_claim else "—")
a4.metric(t("hallucination.distinct"), f"{agree.distinct} / {agree.n}")
st.dataframe(fig.samples_frame(samples, agree.claims, labels(
    "hallucination", "col_seed", "col_answer", "col_claims", "col_mean")), hide_index=True, width="stretch")
for answer in samples:
    with st.container(border=True):
        st.html(fig.answer_chips(answer, chips))

st.subheader(t("hallucination.grounded_header"))
grounded = result.grounded
if grounded is None:
    st.caption(t("hallucination.no_fact"))
else:
    st.caption(t("hallucination.grounded_prompt"))
    st.code(grounded.question, language=None)
    st.html(fig.answer_chips(grounded, chips))
    d_mean, d_min = hal.confidence_change(greedy, grounded)
    g1, g2 = st.columns(2)
    g1.metric(t("hallucination.delta_mean"), f"{grounded.mean_confidence:.2f}", f"{d_mean:+.2f}")
    g2.metric(t("hallucination.delta_min"), f"{grounded.min_confidence:.2f}", f"{d_min:+.2f}")
    st.markdown(t(f"hallucination.grounded_claim_{hal.confidence_way(greedy, grounded)}",
                  before=greedy.mean_confidence, after=grounded.mean_confidence,
                  min_before=greedy.min_confidence, min_after=grounded.min_confidence))
    chart(fig.confidence_bars(greedy, grounded, labels("hallucination", "conf_title", "plain_name", "grounded_name",
                                                       "mean_conf", "min_conf", "conf_axis")),
          width="stretch", key="hallucination.chart1")
st.markdown(t("hallucination.explain", vocab=vocab))
