"""LLM X-Ray: entry point. Page config, navigation over pages/, the shared
sidebar (language, model, class room, presenter mode, lesson path) and what a
link carries (ui/links.py)."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import streamlit as st

from ui import classroom, lesson_path, links  # first: ui imports the model core whole, once
import llm_core  # noqa: I001
from llm_core.model.limits import HUB_ID_CHARS
from ui.export import FORMAT_KEY, FORMATS, PRESENT_KEY, presenting
from ui.i18n import LANG_KEY, LANGS, lang, t
from ui.models import MODEL_KEY, decoder_choices, model_label, unusable_models
from ui.pages import DEFAULT, navigation, running_app

ROOT = Path(__file__).parent
llm_core.startup()   # once per process: allocator, threads, the caches' janitor

first = links.opened_with()
if PRESENT_KEY not in st.session_state:
    st.session_state[PRESENT_KEY] = first.get(links.PRESENT) == "1"
if lesson_path.STEP_KEY not in st.session_state:
    st.session_state[lesson_path.STEP_KEY] = lesson_path.parse_step(first.get(links.STEP))
st.set_page_config(page_title="LLM X-Ray", page_icon="🔬", layout="wide",
                   initial_sidebar_state="collapsed" if presenting() else "auto")
links.first_lang()
st.session_state.setdefault(MODEL_KEY, links.link_model("smollm2"))

# Presenter mode: type and the room code readable from the back of a room.
STYLE = """<style>
.xray-room-code {font: 800 2.4rem/1.1 ui-monospace, monospace; letter-spacing: .25em; white-space: nowrap;}
%s
</style>"""
PRESENTER = """
.stMainBlockContainer {max-width: 100%; padding: 3.5rem 2.5rem 2rem;}
.stMainBlockContainer [data-testid="stMarkdownContainer"] :is(p, li, td, th, code),
.stMainBlockContainer [data-testid="stWidgetLabel"] p,
.stMainBlockContainer [data-testid="stCaptionContainer"] p,
.stMainBlockContainer [data-testid="stMetricLabel"] p {font-size: 1.45rem; line-height: 1.45;}
.stMainBlockContainer [data-testid="stMetricValue"],
.stMainBlockContainer [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] :is(p, div, span),
.stMainBlockContainer [data-testid="stMetricValue"] * {font-size: 3.2rem; line-height: 1.2;}
.stMainBlockContainer h1 {font-size: 3.4rem;}
.stMainBlockContainer :is(h2, h3) {font-size: 2.3rem;}
.stMainBlockContainer :is(textarea, input) {font-size: 1.4rem;}
.xray-room-code {font-size: 5rem;}
"""
st.html(STYLE % (PRESENTER if presenting() else ""))


def sidebar(here: str) -> None:
    with st.sidebar:
        st.radio(t("sidebar.language"), list(LANGS), format_func=LANGS.get, key=LANG_KEY,
                 horizontal=True)
        offered = decoder_choices()
        choices = offered + ["hub"]
        current = st.session_state.get(MODEL_KEY, "smollm2")
        labels = {k: model_label(k) if k != "hub" else t("sidebar.hub_option") for k in choices}
        choice = st.selectbox(
            t("sidebar.model"), choices,
            index=offered.index(current) if current in offered else len(choices) - 1,
            format_func=labels.get, key="sidebar.model_choice")  # labels fixed in this run's language
        if choice == "hub":
            hub_id = st.text_input(t("sidebar.hub_id"), value="" if current in offered else current,
                                   placeholder="gpt2", max_chars=HUB_ID_CHARS, key="sidebar.hub_id")
            st.caption(t("sidebar.hub_help"))
            st.session_state[MODEL_KEY] = hub_id.strip() or "smollm2"
        else:
            st.session_state[MODEL_KEY] = choice
        not_offered = unusable_models()
        if not_offered:
            with st.expander(t("sidebar.not_offered", n=len(not_offered))):
                for reason in not_offered:
                    st.caption(reason)
        st.toggle(t("sidebar.present"), key=PRESENT_KEY, help=t("sidebar.present_help"))
        st.radio(t("sidebar.figure_format"), FORMATS, format_func=str.upper, horizontal=True,
                 key=FORMAT_KEY, help=t("sidebar.figure_format_help"))
        with st.expander(t("sidebar.path"), expanded=False):
            lesson_path.sidebar_panel(lang(), st.session_state[MODEL_KEY], presenting(), here)
        with st.expander(t("sidebar.room"), expanded=classroom.teacher_room() is not None):
            classroom.sidebar_panel()
        st.caption(t("sidebar.about"))


current = st.navigation(navigation(), expanded=True)
here = current.url_path or DEFAULT
sidebar(here)
links.follow(lang(), st.session_state[MODEL_KEY], presenting(),
             st.session_state[lesson_path.STEP_KEY])
lesson_path.banner(here, lang(), st.session_state[MODEL_KEY], presenting())
try:
    with running_app():
        current.run()
finally:
    links.announce_dropped()
