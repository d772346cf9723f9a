"""The app's pages in navigation order, and the guard every page starts with.

One page per concept of the curriculum, plus the students' class room. A page's
url path is its file name in pages/ (pages/next_token.py → /next_token), so a deep
link means the same page however Streamlit resolves it (see `inside_app`)."""
from __future__ import annotations

import copy
import os
import runpy
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import streamlit as st

from ui.i18n import lang, t

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "pipeline"

PAGES = [  # (section key, page name = file stem in pages/ = url path, icon)
    ("start", "pipeline", "🔬"),
    ("start", "classroom", "🙋"),
    ("text", "vectors", "📐"),
    ("text", "tokens", "🧩"),
    ("text", "embeddings", "🧭"),
    ("text", "positions", "📍"),
    ("text", "context", "🍎"),
    ("inside", "anatomy", "🧮"),
    ("inside", "attention", "👀"),
    ("inside", "attention_step", "🔎"),
    ("inside", "encoder_decoder", "↔️"),
    ("inside", "block", "🧱"),
    ("inside", "logit_lens", "🔭"),
    ("predict", "next_token", "🎲"),
    ("predict", "generate", "✍️"),
    ("predict", "hallucination", "👻"),
    ("predict", "context_window", "🪟"),
    ("change", "quantization", "🗜️"),
    ("change", "finetune", "🎯"),
    ("change", "distillation", "🧪"),
]
# page name → its file, relative to app.py (what st.switch_page and st.page_link take)
FILES = {name: f"pages/{name}.py" for _, name, _ in PAGES}
# Links printed before the pages took their file names (a handout, a bookmark, a
# student's room link): old url path → the page it opens now, its parameters kept.
# Each also has a two-line file pages/<old>.py: the first session of a fresh server
# is served from Streamlit's own list of pages/ (see `inside_app`), where a name
# without a file is "Page not found"; the file hands the run to app.py, which
# forwards it. The front page is served at "/"; its file name (/pipeline) forwards too.
MOVED = {"class": "classroom", "attention-step": "attention_step", "encoder-decoder": "encoder_decoder",
         "logit-lens": "logit_lens", "next-token": "next_token", "context-window": "context_window"}
FORWARDS = {**MOVED, DEFAULT: DEFAULT}

_run = threading.local()   # one script run is one thread: app.py → the page


def _forward(name: str):
    def forward() -> None:
        st.switch_page(FILES[name], query_params=st.query_params.to_dict())
    forward.__name__ = f"forward_to_{name}"   # Streamlit tells callable pages apart by name
    return forward


# st.Page finds its file on the disk (a realpath of every part of the path): made
# once per language, they are copied for each run (a run marks its own copy as
# called; with a class on the server, building 26 pages anew cost each run a
# fifth of its time).
_MADE: dict[str, dict[str, list]] = {}
_MADE_LOCK = threading.Lock()


def _made() -> dict[str, list]:
    language = lang()
    with _MADE_LOCK:
        if language not in _MADE:
            pages: dict[str, list] = {}
            for key, name, icon in PAGES:
                # The front page's own url path is "" so that /pipeline can forward to it.
                pages.setdefault(t(f"nav.section_{key}"), []).append(
                    st.Page(str(ROOT / FILES[name]), title=t(f"nav.{name}"), icon=icon,
                            url_path="" if name == DEFAULT else name, default=(name == DEFAULT)))
            first = next(iter(pages.values()))
            for old, name in FORWARDS.items():
                first.append(st.Page(_forward(name), title=t(f"nav.{name}"), url_path=old,
                                     visibility="hidden"))
            _MADE[language] = pages
        return _MADE[language]


def navigation() -> dict[str, list]:
    """st.navigation's pages by translated section: url path = file name, the
    pipeline the default; each old url path a hidden page that forwards."""
    return {section: [copy.copy(p) for p in pages] for section, pages in _made().items()}


def link(name: str, label: str, icon: str) -> None:
    """A link to a lesson's page (st.page_link), without finding its file again."""
    page = next(p for pages in _made().values() for p in pages
                if p.url_path == ("" if name == DEFAULT else name))
    st.page_link(page, label=label, icon=icon)


SESSION_KEY = "session.id"


def session_id() -> str:
    """This browser session's id, kept in its state: what the class-room limits,
    the one-job-per-session rule and the trace batcher tell sessions apart by."""
    return st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex)


class DrawingTurns:
    """At most `at_once` script runs draw their page at a time once they have their
    trace (`take` in ui/models.get_trace; `running_app` gives the turn back when
    the page ends). A class's burst gets its traces from one batch, together:
    thirty script threads then drawing at once shared the interpreter's lock in
    5 ms slices with each other and with the event loop that sends their pages,
    and every page came late. bench/load.py at N = 30 on 2 cores, 3 at once against
    no limit, interleaved: pipeline page, pooled p95 1.65 against 1.75 s on average
    (lower in 14 of 17 pairs), p50 1.37 against 1.56 s; a four-page mix lower in 4
    of 4 pairs (1.18-1.61 against 1.37-1.78 s). In the two rounds
    that also tried them, 2 and 6 at once did less well than 3 (1.66 / 1.65 and
    1.63 / 1.65 s against 1.54 / 1.51 s).
    Turns go in order of asking, each waiter woken alone. Nobody is locked out: a
    turn held longer than `hold_s` (a page that goes on computing) or by a thread
    that has ended (a run `running_app` never saw end) no longer counts, and no
    wait lasts longer than `wait_s`. A run keeps its turn until it gives it back,
    even once it no longer counts: it never waits twice for one."""

    def __init__(self, at_once: int, *, hold_s: float = 0.5, wait_s: float = 2.0,
                 clock=time.monotonic):
        self.at_once, self.hold_s, self.wait_s, self.clock = at_once, hold_s, wait_s, clock
        self._lock = threading.Lock()
        self._held: dict[threading.Thread, float] = {}   # runs with a turn → since when
        self._queue: list[tuple[threading.Thread, threading.Condition]] = []   # waiting, in order

    def _drawing(self, now: float) -> int:
        """How many turns count now (under the lock): not expired, their run alive
        (ended runs are forgotten; an expired turn stays its run's until given back)."""
        self._held = {who: since for who, since in self._held.items() if who.is_alive()}
        return sum(now - since < self.hold_s for since in self._held.values())

    def _wake_next(self) -> None:
        """Wake the first in line alone (under the lock): a turn may be free for it,
        or it has just become first and must also watch the oldest turn expire."""
        if self._queue:
            self._queue[0][1].notify()

    def take(self) -> None:
        """Wait for a turn, in order (a run that has one already keeps it)."""
        if self.at_once <= 0:
            return
        me = threading.current_thread()
        with self._lock:
            if me in self._held:
                return
            now = start = self.clock()
            if self._queue or self._drawing(now) >= self.at_once:
                mine = (me, threading.Condition(self._lock))
                self._queue.append(mine)
                try:
                    while True:
                        now = self.clock()
                        first = self._queue[0] is mine
                        if (first and self._drawing(now) < self.at_once) or now - start >= self.wait_s:
                            break
                        # Woken by a turn given back, or on becoming first, which also looks
                        # again when the oldest turn expires. No polling: each wake-up
                        # takes the interpreter's lock from the pages being drawn.
                        until = start + self.wait_s
                        counted = [since for since in self._held.values() if now - since < self.hold_s]
                        if first and counted:
                            until = min(until, min(counted) + self.hold_s)
                        mine[1].wait(max(0.001, until - now))
                finally:             # taken, or stopped while waiting: the next in line moves up
                    self._queue.remove(mine)
                    self._wake_next()
            self._held[me] = now

    def give(self) -> None:
        """The end of this run's page: its turn goes to the next run waiting."""
        me = threading.current_thread()
        with self._lock:
            if self._held.pop(me, None) is not None:
                self._wake_next()

    def drawing(self) -> int:
        with self._lock:
            return self._drawing(self.clock())

    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)


# 0: no limit (for comparing, bench/load.py with the variable set for the server).
DRAWING = DrawingTurns(int(os.environ.get("LLM_XRAY_DRAW_AT_ONCE", 3)))


@contextmanager
def running_app():
    """app.py wraps the chosen page's run in this, so `inside_app` knows the shared
    setup (language, model, sidebar, navigation) ran before the page. The run's
    drawing turn, if it took one, ends with it."""
    _run.app = True
    try:
        yield
    finally:
        _run.app = False
        DRAWING.give()


def inside_app() -> None:
    """Every page's first call. With a folder named pages/ beside app.py, Streamlit
    serves the first session of a freshly started server from its own automatic
    page list (the page file alone, no app.py) until some run calls st.navigation
    (streamlit/runtime/pages_manager.py). A page run without app.py therefore runs
    app.py itself, in this same run: its st.navigation turns that list off for the
    process, resolves the same page (url path = file name) and draws it inside the
    shared setup, with this run's clicks and parameters. Then this outer run stops."""
    if getattr(_run, "app", False):
        return
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
    st.stop()
