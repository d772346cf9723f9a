"""Generation step by step: predict a distribution, sample one token, append it,
repeat. Several answers at the same settings show what temperature does to
diversity. Answers are kept in session state: changing a widget never regenerates."""
import time

import streamlit as st

from llm_core import generate as gen
from ui import fig_generate as fig
from llm_core.model.errors import XRayError
from llm_core.model.text import clean_text
from llm_core.model.limits import BOX_CHARS
from ui.errors import show_error
from ui.i18n import t
from ui.jobs import Busy, heavy_job
from ui.models import get_handle
from ui.widgets import LINKED
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

PENDING, STOPPED, RESULT, STEP, PROBLEM = ("generate.pending", "generate.stopped",
                                           "generate.result", "generate.step", "generate.problem")

st.title(t("nav.generate"))
with st.expander(t("common.what_to_notice"), expanded=True):
    st.markdown(t("generate.notice"))


def request():
    st.session_state[PENDING], st.session_state[STOPPED] = True, False


def stop():
    # The click itself interrupts the running script; this marks the answer as stopped.
    st.session_state[PENDING], st.session_state[STOPPED] = False, True


busy = bool(st.session_state.get(PENDING))  # this run generates: the controls stay disabled
modes = {m: t(f"generate.mode_{m}") for m in ("chat", "plain")}  # labels fixed per run
mode = st.radio(t("generate.mode"), list(modes), horizontal=True, key="generate.mode", **LINKED,
                format_func=modes.get, disabled=busy)
prompt = st.text_area(t("generate.prompt"), value=t(f"generate.default_{mode}"),
                      key=f"generate.prompt_{mode}", max_chars=BOX_CHARS, height=90, disabled=busy)
try:  # say what is wrong with the prompt as soon as it is typed, not only on Generate
    clean_text(prompt)
    prompt_ok = True
except XRayError as err:
    show_error(err)
    prompt_ok = False
c1, c2, c3, c4 = st.columns(4)
temperature = c1.slider(t("generate.temperature"), 0.0, 2.0, 0.7, 0.05, key="generate.temperature", **LINKED,
                        help=t("generate.temperature_help"), disabled=busy)
top_k = c2.slider(t("generate.top_k"), 0, 100, 0, key="generate.top_k", **LINKED, disabled=busy)
top_p = c3.slider(t("generate.top_p"), 0.01, 1.0, 1.0, 0.01, key="generate.top_p", **LINKED, disabled=busy)
seed = c4.number_input(t("generate.seed"), 0, 2**31 - 1, 0, key="generate.seed", **LINKED, disabled=busy,
                       help=t("generate.seed_help"))
c1, c2, c3, c4 = st.columns(4)
max_new = c1.slider(t("generate.max_new"), 1, gen.PAGE_MAX_NEW_TOKENS, 40, key="generate.max_new", **LINKED,
                    disabled=busy)
samples = c2.slider(t("generate.samples"), 1, 5, 1, key="generate.samples", disabled=busy,
                    help=t("generate.samples_help"))
c3.button(t("generate.run"), type="primary", on_click=request, disabled=busy or not prompt_ok,
          key="generate.run",
          use_container_width=True)
c4.button(t("generate.stop"), on_click=stop, disabled=not busy, key="generate.stop_button",
          use_container_width=True)
st.caption(t("generate.limits", max=gen.PAGE_MAX_NEW_TOKENS, s=int(gen.TIME_LIMIT),
             limit=gen.PROMPT_TOKEN_LIMIT))

handle = get_handle()
if handle is None:
    st.stop()


def show_steps(box, steps):
    box.html(fig.steps_html(steps, hover_prob=t("generate.hover_prob"),
                            hover_alts=t("generate.hover_alts"), hover_model=t("common.model_prob"),
                            texts=gen.readable_sequence(handle, [s.token_id for s in steps])))


def run() -> None:
    """Generate into session state step by step, so a Stop keeps what came so far."""
    st.session_state[PENDING] = False   # whatever happens, the next run has live controls
    try:
        ids = gen.prompt_ids(handle, prompt, chat=mode == "chat")
    except XRayError as err:
        st.session_state[PROBLEM] = err     # shown after the rerun that re-enables the controls
        return
    seeds = [int(seed) + i for i in range(samples)]
    result = gen.Run.start(dict(mode=mode, T=temperature, k=top_k, p=top_p, seed=int(seed),
                                max_new=max_new), ids.numel(), seeds)
    st.session_state[RESULT], st.session_state[STEP] = result, 1
    try:
        with heavy_job() as got_slot:
            if not got_slot:
                st.session_state[PROBLEM] = "generate.queue_timeout"
                return
            status, boxes = st.empty(), [col.empty() for col in st.columns(samples)]
            started = time.monotonic()
            for row in gen.generate_many(handle, ids, seeds, max_new_tokens=max_new,
                                         temperature=temperature, top_k=top_k or None,
                                         top_p=top_p, n_show=gen.SHOWN_TOP,
                                         stop=lambda: st.session_state.get(STOPPED, False),
                                         time_limit=gen.TIME_LIMIT):
                for a in result.add(row, time.monotonic() - started):
                    show_steps(boxes[a], result.steps[a])
                last = next(s for s in row if s is not None)
                status.markdown(fig.step_caption(last, template=t("generate.live"),
                                                 alts_word=t("generate.alts")))
    except Busy:
        st.session_state[PROBLEM] = "generate.busy_self"
    except Exception as err:  # noqa: BLE001 — shown as a message after the rerun
        st.session_state[PROBLEM] = err


if busy:
    run()
    st.rerun()                          # show the answer (or the problem) with live controls
problem = st.session_state.pop(PROBLEM, None)
if isinstance(problem, Exception):
    show_error(problem)
elif problem:
    st.warning(t(problem), icon="⏳")

result = st.session_state.get(RESULT)
if result is None or not result.started:
    st.stop()

cfg = result.settings
answers = result.answers(handle)
st.subheader(t("generate.result_header"))
st.caption(t("generate.settings", **{**cfg, "mode": modes[cfg["mode"]]}))
many = len(answers) > 1
for col, answer in zip(st.columns(len(answers)), answers):
    with col.container(border=True):
        if many:   # side by side, plain text reads best; the chips follow for the one picked
            st.markdown(t("generate.answer_seed", seed=answer.seed))
            st.html(fig.text_html(answer.text))
        else:
            show_steps(st, list(answer.steps))
        st.caption(t("generate.finish", n=len(answer.steps), s=answer.seconds,
                     why=t(f"generate.why_{answer.finish}")))
pick = 0
if many:
    distinct = len({a.text.strip() for a in answers})
    st.markdown(t("generate.diversity", distinct=distinct, n=len(answers), T=cfg["T"]))
    st.caption(t("generate.batch_note"))
    names = [t("generate.answer_seed", seed=a.seed) for a in answers]
    pick = st.radio(t("generate.which"), range(len(answers)), horizontal=True,
                    format_func=names.__getitem__, key="generate.which")
answer = answers[min(pick, len(answers) - 1)]
if many:
    show_steps(st, list(answer.steps))
else:
    with st.expander(t("generate.text_header")):
        st.html(fig.text_html(answer.text))

steps = list(answer.steps)
if st.session_state.get(STEP, 1) > len(steps):
    st.session_state[STEP] = len(steps)
chosen = (st.slider(t("generate.step"), 1, len(steps), key=STEP) if len(steps) > 1 else 1) - 1
chart(fig.steps_line(
    steps, chosen, title=t("generate.line_title"), step_axis=t("generate.step_axis"),
    prob_name=t("generate.prob_name"), entropy_name=t("generate.entropy_name"),
    entropy_axis=t("generate.entropy_axis"), model_name=t("common.model_prob")),
    key="generate.fig_line")
step = steps[chosen]
chart(fig.next_token_bars(
    step.top, step.top_tokens, title=t("generate.bars_title", i=chosen + 1, T=cfg["T"]),
    logit_axis=t("common.logit"), prob_axis=t("generate.prob_axis"),
    token_axis=t("generate.token_axis"), kept_name=t("generate.kept"), cut_name=t("generate.cut"),
    hover_logit=t("common.logit"), hover_prob=t("generate.hover_softmax"),
    hover_final=t("generate.hover_final"),
    chosen=step.top.ids.index(step.token_id) if step.token_id in step.top.ids else None,
    chosen_name=t("generate.chosen"), model_name=t("common.model_prob")), key="generate.fig_bars")
st.markdown(fig.step_caption(step, template=t("generate.step_caption"), alts_word=t("generate.alts")))
st.markdown(t("generate.explain"))
