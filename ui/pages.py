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
    no limit, interleaved: pipeline page, pooled p95 1.62 against 1.75 s on average
    (lower in 12 of 14 pairs), p50 1.36 against 1.55 s; a four-page mix 1.23 / 1.61
    against 1.78 / 1.73 s, with a fifth less CPU per session. 2 and 6 at once did
    less well than 3 (1.66, 1.64 s against 1.53 s).
    It never locks anyone out: a turn held longer than `hold_s` (a page that goes
    on to a long computation or a job) or by a thread that has ended (a run that
    `running_app` never saw end) no longer counts, and nobody waits longer than
    `wait_s`."""

    def __init__(self, at_once: int, *, hold_s: float = 0.5, wait_s: float = 2.0,
                 clock=time.monotonic):
        self.at_once, self.hold_s, self.wait_s, self.clock = at_once, hold_s, wait_s, clock
        self._held: dict[threading.Thread, float] = {}   # script thread → when it took its turn
        self._cond = threading.Condition()

    def _drawing(self, now: float) -> int:
        """How many turns count now (under the lock); forgets the expired ones."""
        self._held = {who: since for who, since in self._held.items()
                      if now - since < self.hold_s and who.is_alive()}
        return len(self._held)

    def take(self) -> None:
        """Wait for a turn (a run that holds one already has it)."""
        if self.at_once <= 0:
            return
        me = threading.current_thread()
        with self._cond:
            start = self.clock()
            while me not in self._held:
                now = self.clock()
                if self._drawing(now) < self.at_once or now - start >= self.wait_s:
                    self._held[me] = now
                    return
                # Woken by a turn given back, else at the next expiry or the end of
                # the wait; no polling: each wake-up takes the lock from those drawing.
                oldest = min(self._held.values())
                self._cond.wait(max(0.001, min(oldest + self.hold_s, start + self.wait_s) - now))

    def give(self) -> None:
        """The end of this run's page: its turn goes to the next run waiting."""
        with self._cond:
            if self._held.pop(threading.current_thread(), None) is not None:
                self._cond.notify()

    def drawing(self) -> int:
        with self._cond:
            return self._drawing(self.clock())


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
