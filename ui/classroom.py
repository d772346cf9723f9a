"""Predict, then reveal: a page hides its answer until the class has guessed.

Alone, a student guesses on their own screen. With a class room open (the
teacher's sidebar), the page's question goes to every student who joined with
the room's code; the teacher's screen counts the answers live and, on Reveal,
shows the model's answer beside the histogram of the class's guesses. The
store is ui/rooms.py; the students' page is pages/classroom.py."""
from __future__ import annotations

import os
import random
import threading
import uuid
from urllib.parse import urlsplit

import streamlit as st

from llm_core.model.limits import GUESS_CHARS
from ui import fig_classroom
from ui.errors import guard, show_error
from ui.export import chart
from ui.fig_common import code_label
from ui.i18n import has, t
from ui.links import ME, ROOM
from ui.markdown import md_escape
from ui.pages import session_id
from ui.rooms import (RoomError, RoomStore, client_address, normalize_code, normalize_guess, open_store,
                      question_id)

TEACHER_KEY = "room.teacher"   # (code, teacher key) of the room this session opened
STUDENT_KEY = "room.student"   # (code, student id) of the room this session joined
LIVE_EVERY = 2.0               # seconds between live updates of a count or a board

_STORE: list[RoomStore] = []      # opened on first use, not on import
_STORE_LOCK = threading.Lock()


def store() -> RoomStore:
    """The one room store of this process (shared by every session): Redis when
    LLM_XRAY_REDIS_URL is set (replicas of one school share it), else memory."""
    if not _STORE:
        with _STORE_LOCK:
            if not _STORE:
                _STORE.append(open_store(os.environ.get("LLM_XRAY_REDIS_URL")))
    return _STORE[0]


def client() -> tuple[str, str]:
    """(session id, network address) for the rooms' limits. Behind a balancer
    named in LLM_XRAY_TRUSTED_PROXIES the address is the one it forwards
    (deploy/haproxy.cfg sets X-Forwarded-For); reached directly, the header is
    ignored: a browser cannot choose its address (rooms.client_address)."""
    session = session_id()
    headers = getattr(st.context, "headers", None)
    forwarded = ",".join(headers.get_all("X-Forwarded-For")) if headers is not None else ""
    peer = str(getattr(st.context, "ip_address", "") or "")
    return session, client_address(peer, forwarded, os.environ.get("LLM_XRAY_TRUSTED_PROXIES", ""))


def teacher_room() -> tuple[str, str] | None:
    """The room this session opened, while it is open."""
    room = st.session_state.get(TEACHER_KEY)
    try:
        if room and store().view(room[0]) is None:
            st.session_state.pop(TEACHER_KEY, None)
            return None
    except RoomError:   # the store is down for a moment: the room is not gone
        pass
    return room


def remember_student(code: str, student: str) -> None:
    """This session is `student` of room `code`; the link says so too, so a
    browser whose server went away comes back into its room on another."""
    st.session_state[STUDENT_KEY] = (code, student)
    st.query_params[ROOM], st.query_params[ME] = code, student


def forget_student() -> None:
    st.session_state.pop(STUDENT_KEY, None)
    for key in (ROOM, ME):
        if key in st.query_params:
            del st.query_params[key]


def joined_room() -> tuple[str, str] | None:
    """(code, student id) of the room this session is in; a link that carries a
    member's id (?room=…&me=…) rejoins it."""
    joined = st.session_state.get(STUDENT_KEY)
    if joined is None:
        code, student = st.query_params.get(ROOM, ""), st.query_params.get(ME, "")
        if code and student:
            with guard():
                if store().rejoin(code, student):
                    joined = (normalize_code(code), student)
                    st.session_state[STUDENT_KEY] = joined
    return joined


def show_code(code: str, link: bool = True) -> None:
    """The room code, large enough to read from the back of a class (and the
    students' link, where there is room for it)."""
    st.markdown(f"<div class='xray-room-code'>{code}</div>", unsafe_allow_html=True)
    st.caption(t("classroom.join_hint", code=code))
    parts = urlsplit(str(getattr(st.context, "url", "") or ""))
    if link and parts.scheme and parts.netloc:
        st.code(f"{parts.scheme}://{parts.netloc}/classroom?room={code}", language=None)


def sidebar_panel() -> None:
    """Open or close a class room (for the teacher)."""
    room = teacher_room()
    if room is None:
        if st.button(t("classroom.open"), key="classroom.open", help=t("classroom.open_help")):
            with guard():
                st.session_state[TEACHER_KEY] = store().open_room(*client())
                st.rerun()
        return
    show_code(room[0])
    if st.button(t("classroom.close"), key="classroom.close"):
        with guard():
            store().close(*room)
            st.session_state.pop(TEACHER_KEY, None)
            st.rerun()


def question_text(question: dict) -> str:
    """A room's question in this viewer's language: it is stored as a string key
    and its parameters (user text already formatted), never as one language's words."""
    key, params = question.get("key"), question.get("params") or {}
    if isinstance(key, str) and has(key) and isinstance(params, dict):
        return t(key, **{str(k): v for k, v in params.items()})
    return str(question.get("text", ""))


def option_text(question: dict | None, option: str) -> str:
    """An option or guess as this viewer reads it: a keyed option (a bin such as
    "fairly sure") in their language, a token or word as it is."""
    if question and question.get("keyed") and has(str(option)):
        return t(str(option))
    return str(option)


def shown_answer(question: dict | None, option: str) -> str:
    """An answer or guess for markdown: a keyed option as words, a token as code."""
    if question and question.get("keyed") and has(str(option)):
        return f"**{md_escape(t(str(option)))}**"
    return code_label(str(option), 40)


def token_choices(labels: list[str], seed: str, n_top: int = 4, n_other: int = 2) -> list[str]:
    """What a token question offers: the model's top `n_top` and `n_other` plausible
    others from further down its list, in an order that gives nothing away (the
    same on every rerun and for every student: seeded by the question)."""
    rng = random.Random(seed)
    rest = labels[n_top:]
    chosen = labels[:n_top] + rng.sample(rest, min(n_other, len(rest)))
    rng.shuffle(chosen)
    return chosen


def histogram(view: dict, answer: str | None):
    question = view.get("question")
    counts: dict[str, int] = {}
    for guess, n in view["counts"].items():
        name = option_text(question, guess)
        counts[name] = counts.get(name, 0) + n
    return fig_classroom.guess_histogram(
        counts, option_text(question, answer) if answer else answer,
        dict(title=t("classroom.histogram_title", n=view["answered"]),
             count_axis=t("classroom.count_axis"), other=t("classroom.other"),
             answer_name=t("classroom.model_bar")), words=bool(question and question.get("keyed")))


@st.fragment(run_every=LIVE_EVERY)
def _live_count(code: str) -> None:
    try:
        view = store().view(code)
    except RoomError as err:
        show_error(err)
        return
    if view is None:
        st.warning(t("errors.room_closed"), icon="⚠️")
        return
    st.metric(t("classroom.answered"), f"{view['answered']} / {view['members']}")


def predict_reveal(ns: str, key: str, params: dict, answer: str, options: list[str] | None = None,
                   keyed: bool = False) -> bool:
    """Ask the question `key` (a string key, with `params`: user text already
    formatted, e.g. in code_label) before the answer is shown. Returns True when
    the page may show its answer: guessing is off, or the answer has been revealed.
    A class room gets the key and params, so each student reads it in their own
    language; `options` (answers to choose from) are string keys too when `keyed`.
    `answer` is what the model says, compared with guesses case-blind."""
    if not st.toggle(t("classroom.guess_first"), key=f"{ns}.guess_first",
                     help=t("classroom.guess_first_help")):
        return True
    question = t(key, **params)
    # salted per session: students see the id, and an unsalted hash of the answer
    # would let them try each option before Reveal
    salt = st.session_state.setdefault("room.salt", uuid.uuid4().hex)
    qid = question_id(ns, key, sorted(params.items()), answer, options, salt)
    asked = {"id": qid, "key": key, "params": params, "options": options, "keyed": keyed}
    revealed = st.session_state.get(f"{ns}.revealed") == qid
    room = teacher_room()
    with st.container(border=True):
        st.markdown(f"**{t('classroom.question')}** {question}")
        if room is not None:
            with guard():
                store().ask(*room, asked)
                board = store().view(room[0])    # a room's reveal is the room's, not the page's
                revealed = bool(board and (board["question"] or {}).get("id") == qid
                                and board["answer"] is not None)
            left, right = st.columns([1, 2])
            with left:
                show_code(room[0], link=False)
            with right:
                if not revealed:
                    _live_count(room[0])
        elif options:
            st.radio(t("classroom.your_guess"), options, index=None, key=f"{ns}.guess.{qid}",
                     horizontal=len(options) <= 8,
                     format_func={o: md_escape(option_text(asked, o)) for o in options}.get)
        else:
            st.text_input(t("classroom.your_guess"), key=f"{ns}.guess.{qid}", max_chars=GUESS_CHARS)
        if not revealed:
            if not st.button(t("classroom.reveal"), key=f"{ns}.reveal", type="primary"):
                return False
            st.session_state[f"{ns}.revealed"] = qid
            if room is not None:
                with guard():
                    store().reveal(*room, answer)
            st.rerun()   # drawn again without the button (nothing is recomputed: all cached)
        st.success(t("classroom.model_answer", answer=shown_answer(asked, answer)), icon="🤖")
        if room is not None:
            view = None
            with guard():
                view = store().view(room[0])
            if view is not None:
                chart(histogram(view, normalize_guess(answer)), key=f"{ns}.class_guesses")
        else:
            mine = st.session_state.get(f"{ns}.guess.{qid}")
            if mine:
                right = normalize_guess(mine) == normalize_guess(answer)
                st.markdown(t("classroom.you_right" if right else "classroom.you_other",
                              guess=shown_answer(asked, mine)))
    return True
