"""Heavy jobs: one pattern for every page that runs one.

A job runs in the page's own script run, as steps (llm_core.model.work):

- **Lanes.** Short jobs (a generation, a question asked of a model, the
  hallucination lab) and long ones (quantizing, fine-tuning, distilling) enter by
  separate lanes, so a short job never queues behind a long one. A lane admits
  in order, long jobs one per two cores, short ones by the bytes of their
  key/value caches; the others wait and see their place.
- **Turns.** Every heavy step of every job takes its turn at one gate, short
  jobs' steps first: a generation started while a model trains waits one
  training step, not the training.
- **Cancel.** Each step reports its progress on the page, and a click (Cancel
  included) or a closed tab stops a Streamlit script at its next call there: the
  job stops within one step, and its slot and private copy go with it.
- **Honest time.** The bar says "step 40 of 150, about 35 s left" from the job's
  own steps, measured on this machine now; the button's caption says how long
  the last such job took here.
- **Results.** Kept per session (`run`: the last `keep` settings), and, with a
  `shared` cache, across sessions: students asking for the same job with the
  same settings share one run and watch its progress.

How a page runs one, by what it shows (all three share the lanes, the gate,
one job per session and Cancel):

- `run(pressed, work_fn, page=, key=, press=, …)`: a button starts it, the result
  is kept (quantization, fine-tuning, distillation, the hallucination lab);
- `run_job(work_fn, page=, lane=)`: an answer shown once and not kept (asking the
  fine-tuned model again);
- `LiveJob(page)`: text drawn as it comes, Start and Stop, Stop keeps what came
  (generation).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager

import streamlit as st

from llm_core.model.memo import ByteCache
from llm_core.model.work import Progress, Work
from ui.errors import guard, is_streamlit_control, show_error
from ui.i18n import has, t
from ui.pages import session_id

_CORES = os.cpu_count() or 2
# Long jobs each hold a private copy of the model (up to its size again): one per
# two cores.
LONG_SLOTS = int(os.environ.get("LLM_XRAY_MAX_JOBS", max(1, _CORES // 2)))
# Short jobs hold a key/value cache: a three-answer story of 40 tokens 7 MB, the
# generate page's largest (five answers of 200 tokens after a 1,024-token prompt)
# 269 MB. They are admitted by those bytes, so a class can generate at once; the
# count only keeps each one's share of the turns at the model from thinning out.
SHORT_SLOTS = int(os.environ.get("LLM_XRAY_MAX_SHORT_JOBS", 32))
SHORT_JOBS_BYTES = int(os.environ.get("LLM_XRAY_SHORT_JOBS_MB", 1024)) * 2**20
POLL_S = 0.5                 # how often a waiting job looks again (and can be cancelled)


class Busy(Exception):
    """This session already has a job running."""


class Lane:
    """Admission of jobs of one kind, in order: at most `slots` at once and, with
    a `budget`, at most that many bytes of what they hold together (each job
    says its `cost`). One job always runs, however large: the lane never locks."""

    def __init__(self, name: str, slots: int, budget: int | None = None):
        self.name, self.slots, self.budget = name, max(1, slots), budget
        self._cond = threading.Condition()
        self._queue: list[tuple[object, int]] = []   # (a job, its cost)
        self.running = 0
        self.held = 0                        # bytes the running jobs hold

    def _admits(self, costs: list[int]) -> int:
        """How many of the queue's first jobs (their `costs`, in order) may start now."""
        running, held, n = self.running, self.held, 0
        for cost in costs:
            if running and (running >= self.slots or
                            (self.budget is not None and held + cost > self.budget)):
                break
            running, held, n = running + 1, held + cost, n + 1
        return n

    @contextmanager
    def slot(self, waiting, cost: int = 0):
        """Hold a slot (and `cost` bytes) for the block; `waiting(ahead)` is called
        every POLL_S while `ahead` jobs are before this one, the running one that
        must end first included (what it raises ends the wait)."""
        me = (object(), int(cost))
        with self._cond:
            self._queue.append(me)
        try:
            while True:
                with self._cond:
                    place = self._queue.index(me)
                    if place < self._admits([c for _, c in self._queue[:place + 1]]):
                        self._queue.remove(me)
                        self.running += 1
                        self.held += me[1]
                        break
                waiting(place + 1)
                with self._cond:       # a release during `waiting` is not missed
                    place = self._queue.index(me)
                    if place >= self._admits([c for _, c in self._queue[:place + 1]]):
                        self._cond.wait(POLL_S)
        except BaseException:
            with self._cond:
                if me in self._queue:
                    self._queue.remove(me)
                self._cond.notify_all()
            raise
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self.held -= me[1]
                self._cond.notify_all()


LANES = {"short": Lane("short", SHORT_SLOTS, SHORT_JOBS_BYTES), "long": Lane("long", LONG_SLOTS)}

# Sessions with a job running, by a token kept in their session state. Not a
# flag in session state itself: a click during a job starts the new run at once
# on another thread, from the session state as it was, while the old run stops
# at its next step; what the old run's cleanup writes there is lost.
_RUNNING: set[str] = set()
_RUNNING_CHANGED = threading.Condition()
# A cancelled job stops at its next step (a training step: ~1-2 s); a new job of
# the same session waits this long for it before saying "busy".
STOPPING_WAIT = 8.0
# Shared runs in progress, by their cache key: waiters show the owner's progress.
_LIVE: dict = {}
# How long the last job of each page took here (the press captions say so).
_LAST_SECONDS: dict[str, float] = {}


@contextmanager
def _one_per_session():
    token = session_id()
    with _RUNNING_CHANGED:
        if not _RUNNING_CHANGED.wait_for(lambda: token not in _RUNNING, STOPPING_WAIT):
            raise Busy()
        _RUNNING.add(token)
    try:
        yield
    finally:
        with _RUNNING_CHANGED:
            _RUNNING.discard(token)
            _RUNNING_CHANGED.notify_all()


def progress_text(page: str, p: Progress) -> str:
    """'Training: step 40 of 150, about 35 s left' in the user's language; the
    phase is the page's word for it where it has one."""
    phase = t(f"{page}.phase_{p.phase}") if has(f"{page}.phase_{p.phase}") else \
        t(f"jobs.phase_{p.phase}") if has(f"jobs.phase_{p.phase}") else p.phase
    if p.total == 0:                   # waiting for something else, no steps of its own
        return phase
    if p.seconds_left is None:
        return t("jobs.step_first", phase=phase, done=p.done, total=p.total)
    return t("jobs.step", phase=phase, done=p.done, total=p.total, left=max(1, round(p.seconds_left)))


def last_took(page: str) -> str:
    """' (the last one here took 23 s)', or '' before any ran in this process."""
    seconds = _LAST_SECONDS.get(page)
    return "" if seconds is None else t("jobs.last_took", s=max(1, round(seconds)))


def run_job(work_fn, *, page: str, lane: str = "long", shared: ByteCache | None = None,
            key=None, live=None, cost=None):
    """`work_fn(work)` as a job of `lane` on the page: a queue note while waiting
    for a slot, a bar with the measured time left, a Cancel button. With `shared`,
    a session asking for `key` while another computes it watches that run instead
    of starting its own. `live(progress)` may draw the job's news as it comes.
    `cost()` is the bytes it holds while it runs (a short job's key/value cache).
    Returns work_fn's result, or None when this session already runs a job."""
    try:
        with _one_per_session():
            cancel = st.empty()
            cancel.button(t("jobs.cancel"), key=f"{page}.cancel", icon="✖️")
            note, bar = st.empty(), st.progress(0.0, text=t("jobs.starting"))

            def report(p: Progress) -> None:
                bar.progress(min(1.0, p.done / p.total) if p.total else 0.0,
                             text=progress_text(page, p))
                if live is not None:
                    live(p)

            def compute():
                with LANES[lane].slot(lambda ahead: note.info(t("jobs.queued", n=ahead), icon="⏳"),
                                      cost() if cost else 0):
                    note.empty()
                    work = Work(report, lane=lane)
                    _LIVE[key] = work
                    started = time.monotonic()
                    try:
                        with work.running():
                            result = work_fn(work)
                    finally:
                        _LIVE.pop(key, None)
                    _LAST_SECONDS[page] = time.monotonic() - started
                    return result

            shown = []

            def watch():
                """Another session runs this very job: its progress, here (each news once)."""
                other = _LIVE.get(key)
                note.info(t("jobs.shared"), icon="👥")
                if other is not None and other.last is not None and other.last not in shown[-1:]:
                    shown.append(other.last)
                    report(other.last)

            try:
                return compute() if shared is None else shared.get(key, compute, waiting=watch)
            finally:
                note.empty()
                bar.empty()
                cancel.empty()
    except Busy:
        st.info(t("jobs.busy_self"), icon="⏳")
        return None


def was_cancelled(page: str) -> bool:
    """True on the rerun that the page's Cancel click started."""
    return bool(st.session_state.get(f"{page}.cancel"))


def run(pressed: bool, work_fn, *, page: str, key, press: str, lane: str = "long",
        shared: ByteCache | None = None, adopt: bool = False, check=None, after=None, live=None,
        keep: int = 1, cost=None):
    """A page's job and its kept result: when `pressed`, `check()` refuses bad
    input before the queue (an XRayError, told in the page's words), the job runs
    (`run_job`) and its result is kept in the session under `key` (the model and
    everything else the result depends on; the last `keep` keys stay), and
    `after()` tidies the live view. With `adopt`, a result another session
    already made for `key` in the `shared` cache shows without pressing (a
    measurement; not a model of one's own). Returns the result
    kept for `key`, or says `press` (with how long the last one took here) and
    ends the page."""
    store = f"{page}.result"
    kept = st.session_state.setdefault(store, OrderedDict())
    if pressed:
        with guard(page):
            if check is not None:
                check()
            result = run_job(work_fn, page=page, lane=lane, shared=shared, key=key, live=live,
                             cost=cost)
            if after is not None:
                after()
            if result is not None:
                kept.pop(key, None)
                kept[key] = result
                while len(kept) > keep:
                    kept.popitem(last=False)
    elif was_cancelled(page):
        st.info(t("jobs.cancelled"), icon="✖️")
    elif adopt and key not in kept and shared is not None and shared.peek(key) is not None:
        kept[key] = shared.peek(key)       # another session ran this very job: its result
    if key not in kept:
        st.caption(press + last_took(page))
        st.stop()
    return kept[key]


class LiveJob:
    """A job drawn live on the page, with a Start and a Stop button: Start
    reruns the page with the controls disabled (`busy`) and runs the job there
    (a short job: its own lane, its steps first at the gate); Stop interrupts it
    and keeps what came so far; the rerun after it shows the result (or the
    problem) with live controls again."""

    def __init__(self, page: str):
        self.pending, self.stopped, self.problem = (f"{page}.pending", f"{page}.stopped",
                                                    f"{page}.problem")
        self.page = page
        self.busy = bool(st.session_state.get(self.pending))

    def _set(self, pending: bool) -> None:
        # A Stop click itself interrupts the running script; this marks the job stopped.
        st.session_state[self.pending], st.session_state[self.stopped] = pending, not pending

    def buttons(self, start_col, stop_col, start: str, stop: str, *, disabled: bool = False) -> None:
        start_col.button(start, type="primary", on_click=self._set, args=(True,), key=f"{self.page}.run",
                         disabled=self.busy or disabled, use_container_width=True)
        stop_col.button(stop, on_click=self._set, args=(False,), disabled=not self.busy,
                        key=f"{self.page}.stop_button", use_container_width=True)

    def was_stopped(self) -> bool:
        return bool(st.session_state.get(self.stopped, False))

    def run(self, work_fn, cost=None) -> None:
        """When busy: `work_fn(work)` in a short lane's slot (admitted by the bytes
        `cost()` says it holds), then a rerun. Else: the last run's problem, if any
        (a message in the user's language)."""
        if self.busy:
            st.session_state[self.pending] = False   # whatever happens, the next run has live controls
            note = st.empty()
            try:
                with _one_per_session(), LANES["short"].slot(
                        lambda ahead: note.info(t("jobs.queued", n=ahead), icon="⏳"),
                        cost() if cost else 0):
                    note.empty()
                    with Work(lane="short").running() as work:
                        work_fn(work)
            except Busy:
                st.session_state[self.problem] = "jobs.busy_self"
            except Exception as err:  # noqa: BLE001 — shown as a message after the rerun
                if is_streamlit_control(err):
                    raise
                st.session_state[self.problem] = err
            st.rerun()
        problem = st.session_state.pop(self.problem, None)
        if isinstance(problem, Exception):
            show_error(problem, self.page)
        elif problem:
            st.warning(t(problem), icon="⏳")
