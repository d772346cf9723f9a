"""Generation step by step: predict a distribution, sample one token, append it,
repeat. Several answers at the same settings show what temperature does to
diversity. Answers are kept in session state: changing a widget never regenerates."""
import time

import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core import generate as gen
from ui import fig_generate as fig
from llm_core.model.text import clean_text
from llm_core.model.limits import BOX_CHARS
from ui.errors import is_ok
from ui.i18n import labels, t
from ui.jobs import LiveJob
from ui.models import get_handle, native_example
from ui.widgets import LINKED, keep_in_range, notice, whole_number
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

RESULT, STEP = "generate.result", "generate.step"

st.title(t("nav.generate"))
with notice():
    st.markdown(t("generate.notice"))
live = LiveJob("generate")
busy = live.busy   # this run generates: the controls stay disabled
# The first demo: a story continued three times at T = 0.7 — three fluent, different
# stories (the temperature lesson). A chat answer at T = 0.7 wanders off from its
# first token (the model spreads it thin), so chat is the second mode.
modes = {m: t(f"generate.mode_{m}") for m in ("plain", "chat")}  # labels fixed per run
mode = st.radio(t("generate.mode"), list(modes), horizontal=True, key="generate.mode", **LINKED,
                format_func=modes.get, disabled=busy)
prompt = st.text_area(t("generate.prompt"), value=native_example(f"generate.default_{mode}"),
                      key=f"generate.prompt_{mode}", max_chars=BOX_CHARS, height=90, disabled=busy)
prompt_ok = is_ok(lambda: clean_text(prompt))   # said as soon as it is typed
c1, c2, c3, c4 = st.columns(4)
temperature = c1.slider(t("generate.temperature"), 0.0, 2.0, 0.7, 0.05, key="generate.temperature", **LINKED,
                        help=t("generate.temperature_help"), disabled=busy)
top_k = c2.slider(t("generate.top_k"), 0, 100, 0, key="generate.top_k", **LINKED, disabled=busy)
top_p = c3.slider(t("generate.top_p"), 0.01, 1.0, 1.0, 0.01, key="generate.top_p", **LINKED, disabled=busy)
seed = whole_number(t("generate.seed"), 0, 2**31 - 1, 0, key="generate.seed", where=c4, **LINKED,
                    disabled=busy, help=t("generate.seed_help"))
c1, c2, c3, c4 = st.columns(4)
max_new = c1.slider(t("generate.max_new"), 1, gen.PAGE_MAX_NEW_TOKENS, 40, key="generate.max_new", **LINKED,
                    disabled=busy)
samples = c2.slider(t("generate.samples"), 1, 5, 3, key="generate.samples", disabled=busy,
                    help=t("generate.samples_help"))
live.buttons(c3, c4, t("generate.run"), t("generate.stop"), disabled=not prompt_ok)
st.caption(t("generate.limits", max=gen.PAGE_MAX_NEW_TOKENS, s=int(gen.TIME_LIMIT),
             limit=gen.PROMPT_TOKEN_LIMIT))

handle = get_handle()
if handle is None:
    st.stop()
chips = {**labels("generate", "hover_prob", "hover_alts"), "hover_model": t("common.model_prob")}


def show_steps(box, steps):
    box.html(fig.steps_html(steps, chips, texts=gen.readable_sequence(handle, [s.token_id for s in steps])))


def run(work) -> None:
    """Generate into session state step by step, so a Stop keeps what came so far."""
    ids = gen.prompt_ids(handle, prompt, chat=mode == "chat")
    seeds = [int(seed) + i for i in range(samples)]
    result = gen.Run.start(dict(mode=mode, T=temperature, k=top_k, p=top_p, seed=int(seed),
                                max_new=max_new), ids.numel(), seeds)
    st.session_state[RESULT], st.session_state[STEP] = result, 1
    status, boxes = st.empty(), [col.empty() for col in st.columns(samples)]
    started = time.monotonic()
    for row in gen.generate_many(handle, ids, seeds, max_new_tokens=max_new, temperature=temperature,
                                 top_k=top_k or None, top_p=top_p, n_show=gen.SHOWN_TOP,
                                 stop=live.was_stopped, time_limit=gen.TIME_LIMIT, work=work):
        for a in result.add(row, time.monotonic() - started):
            show_steps(boxes[a], result.steps[a])
        last = next(s for s in row if s is not None)
        status.markdown(fig.step_caption(last, dict(template=t("generate.live"), alts=t("generate.alts"))))


# When Generate was pressed (admitted by its key/value cache's bytes); the rerun after it
# shows the answer with live controls.
live.run(run, cost=lambda: gen.answer_bytes(handle, prompt, samples, max_new, chat=mode == "chat"))
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
keep_in_range(STEP, range(1, len(steps) + 1), len(steps))   # a shorter answer than the last one
chosen = (st.slider(t("generate.step"), 1, len(steps), key=STEP) if len(steps) > 1 else 1) - 1
chart(fig.steps_line(steps, chosen, dict(
    title=t("generate.line_title"), step_axis=t("generate.step_axis"), prob_name=t("generate.prob_name"),
    entropy_name=t("generate.entropy_name"), entropy_axis=t("generate.entropy_axis"),
    model_name=t("common.model_prob"))), key="generate.fig_line")
step = steps[chosen]
chart(fig.next_token_bars(step.top, step.top_tokens, dict(
    title=t("generate.bars_title", i=chosen + 1, T=cfg["T"]), logit_axis=t("common.logit"),
    prob_axis=t("generate.prob_axis"), token_axis=t("generate.token_axis"), kept_name=t("generate.kept"),
    cut_name=t("generate.cut"), hover_logit=t("common.logit"), hover_prob=t("generate.hover_softmax"),
    hover_final=t("generate.hover_final"), chosen_name=t("generate.chosen"), model_name=t("common.model_prob")),
    chosen=step.top.ids.index(step.token_id) if step.token_id in step.top.ids else None), key="generate.fig_bars")
st.markdown(fig.step_caption(step, dict(template=t("generate.step_caption"), alts=t("generate.alts"))))
st.markdown(t("generate.explain"))
