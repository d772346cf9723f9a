"""The lesson path: the curriculum's concepts in order, the whole pipeline first
and last. Each step lands on its page with a preset filled in (the preset is a
link: the widgets bound to the URL take it), one short paragraph and a
question for the class, with Back / Next. Texts: ui/locales/*/path.toml."""
from __future__ import annotations

import streamlit as st

from ui import links
from ui.i18n import t
from ui.links import STEP
from ui.pages import FILES

STEP_KEY = "path.step"   # the step (0-based) this session is on, None when off the path

# (page url, curriculum concept, preset widget values)
STEPS: list[tuple[str, int, dict]] = [
    ("pipeline", 20, {"pipeline.text": "The capital of France is"}),
    ("vectors", 1, {}),
    ("vectors", 2, {"vectors.angle": 90, "vectors.px": 1.0, "vectors.py": 0.0}),
    ("anatomy", 3, {}),
    ("tokens", 4, {"tokens.text": "The cat sat on the mat. 我喜欢你 🙂"}),
    ("embeddings", 5, {}),
    ("embeddings", 6, {"embeddings.a": "king", "embeddings.b": "man", "embeddings.c": "woman"}),
    ("positions", 7, {"positions.text_a": "我喜欢你", "positions.text_b": "你喜欢我"}),
    ("context", 8, {}),
    # layer 13, head 8: a head that links "it" (token 8) to the noun it stands for (0.75)
    ("attention", 9, {"attention.text": "The animal didn't cross the street because it was tired",
                      "attention.layer": 13, "attention.head": 8, "attention.token": 8}),
    ("attention_step", 9, {}),
    ("block", 10, {}),
    ("encoder_decoder", 11, {}),
    ("next_token", 12, {"next_token.prompt": "The capital of France is", "next_token.temperature": 1.0}),
    ("next_token", 13, {"next_token.prompt": "My favourite food is", "next_token.temperature": 0.0}),
    ("logit_lens", 12, {}),
    ("generate", 14, {}),
    ("context_window", 15, {}),
    ("hallucination", 16, {}),
    ("quantization", 17, {}),
    ("finetune", 19, {}),
    ("distillation", 18, {}),
    ("pipeline", 20, {"pipeline.text": "我有一只小猫，它喜欢"}),
]


def on_concept(concept: int) -> bool:
    """Whether this session is on a step of the lesson path that teaches `concept`
    (a page puts the part its question is about first)."""
    step = st.session_state.get(STEP_KEY)
    return step is not None and 0 <= step < len(STEPS) and STEPS[step][1] == concept


def parse_step(value) -> int | None:
    """A step from a link (1-based, as people count), or None when it is not one."""
    try:
        step = int(str(value)) - 1
    except ValueError:
        return None
    return step if 0 <= step < len(STEPS) else None


links.VALID[STEP] = lambda value: parse_step(value) is not None


def link_params(step: int, lang: str, model: str, present: bool) -> dict[str, str]:
    """The query parameters of a step: its preset plus what the session carries."""
    params = {k: v for k, v in links.own_params(lang, model, present, step).items()
              if v is not None}
    for key, value in STEPS[step][2].items():
        params[key] = str(value)
    return params


def go(step: int, lang: str, model: str, present: bool, here: str) -> None:
    """To step `step` from the page at url `here`."""
    st.session_state[STEP_KEY] = step
    url, _, preset = STEPS[step]
    params = link_params(step, lang, model, present)
    if url == here:  # this page's widgets are bound to the URL now: Streamlit refuses
        for key, value in preset.items():  # to set those parameters, session state may
            st.session_state[key] = value
            params.pop(key)
    st.switch_page(FILES[url], query_params=params)


def step_title(step: int) -> str:
    return t(f"path.s{step}_title")


def banner(current_url: str, lang: str, model: str, present: bool) -> None:
    """The step's paragraph and question above its page, with Back / Next; on
    another page, a way back to the path."""
    step = st.session_state.get(STEP_KEY)
    if step is None:
        return
    url = STEPS[step][0]
    if url != current_url:
        left, right = st.columns([4, 1])
        left.caption(t("path.elsewhere", k=step + 1, n=len(STEPS), title=step_title(step)))
        if right.button(t("path.back_to"), key="path.back_to"):
            go(step, lang, model, present, current_url)
        return
    with st.container(border=True, key="path_banner"):
        st.progress((step + 1) / len(STEPS),
                    text=t("path.where", k=step + 1, n=len(STEPS), title=step_title(step)))
        st.markdown(t(f"path.s{step}_text"))
        st.markdown(f"**{t('path.ask')}** {t(f'path.s{step}_question')}")
        back, forward, leave = st.columns([1, 1, 4])
        if back.button(t("path.back"), key="path.back", disabled=step == 0):
            go(step - 1, lang, model, present, current_url)
        if forward.button(t("path.next"), key="path.next", type="primary",
                          disabled=step == len(STEPS) - 1):
            go(step + 1, lang, model, present, current_url)
        if leave.button(t("path.leave"), key="path.leave", type="tertiary"):
            st.session_state[STEP_KEY] = None
            st.rerun()


def sidebar_panel(lang: str, model: str, present: bool, here: str) -> None:
    """Start the path at any step."""
    titles = {k: f"{k + 1}. {step_title(k)}" for k in range(len(STEPS))}  # fixed in this run's language
    start = st.selectbox(t("path.start_at"), list(titles), key="path.start_at",
                         format_func=titles.get)
    if st.button(t("path.start"), key="path.start", type="primary"):
        go(start, lang, model, present, here)
