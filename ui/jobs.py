"""Heavy jobs (generation, sampling many answers) share the CPU: a global limit
per process, so thirty students generating at once queue visibly instead of
starving everyone. One job at a time per session."""
from __future__ import annotations

import os
import threading
import uuid
from collections import OrderedDict
from contextlib import contextmanager

import streamlit as st

from ui.errors import guard, show_error
from ui.i18n import has, t

MAX_CONCURRENT = int(os.environ.get("LLM_XRAY_MAX_JOBS", max(1, (os.cpu_count() or 2) // 2)))
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)
_RUNNING_KEY = "jobs.running"


class Busy(Exception):
    """This session already has a job running."""


# Sessions with a job running, by a token kept in their session state. Not a
# flag in session state itself: a click during a job starts the new run at once
# on another thread, from the session state as it was, while the old run stops
# at its next progress update; what the old run's cleanup writes there is lost.
_RUNNING: set[str] = set()
_RUNNING_CHANGED = threading.Condition()
# A cancelled job stops at its next progress update (a training step: ~1-2 s);
# a new job of the same session waits this long for it before saying "busy".
STOPPING_WAIT = 8.0


@contextmanager
def heavy_job(wait_seconds: float = 120.0):
    """Hold one of the global slots for the duration of the block. Shows a queue
    message while waiting; raises Busy if this session already runs a job.
    Yields True when a slot was taken, False when waiting timed out."""
    token = st.session_state.setdefault(_RUNNING_KEY, uuid.uuid4().hex)
    with _RUNNING_CHANGED:
        if not _RUNNING_CHANGED.wait_for(lambda: token not in _RUNNING, STOPPING_WAIT):
            raise Busy()
        _RUNNING.add(token)
    acquired = False
    try:
        acquired = _SLOTS.acquire(blocking=False)
        if not acquired:
            note = st.empty()
            note.info(t("errors.busy"), icon="⏳")
            acquired = _SLOTS.acquire(timeout=wait_seconds)
            note.empty()
        yield acquired
    finally:
        if acquired:
            _SLOTS.release()
        with _RUNNING_CHANGED:
            _RUNNING.discard(token)
            _RUNNING_CHANGED.notify_all()


def run_job(work, *, cancel_key: str):
    """`work(progress)` in a heavy-job slot, with a progress bar and a Cancel
    button. Any click on the page (Cancel included) reruns it, which stops the
    job at its next progress update; the slot and the job's private copy go with
    it. `progress(fraction, text)`. Returns work's result, or None when the
    queue timed out or this session already runs a job (a message says which)."""
    try:
        with heavy_job() as got_slot:
            if not got_slot:
                st.warning(t("jobs.queue_timeout"), icon="⏳")
                return None
            cancel = st.empty()
            cancel.button(t("jobs.cancel"), key=cancel_key, icon="✖️")
            bar = st.progress(0.0, text=t("jobs.starting"))

            def progress(fraction: float, text: str = "") -> None:
                bar.progress(min(1.0, max(0.0, float(fraction))), text=text)
            try:
                return work(progress)
            finally:
                bar.empty()
                cancel.empty()
    except Busy:
        st.info(t("jobs.busy_self"), icon="⏳")
        return None


def was_cancelled(cancel_key: str) -> bool:
    """True on the rerun that a Cancel click started."""
    return bool(st.session_state.get(cancel_key))


def kept_job(pressed: bool, work, *, page: str, key, press: str, check=None, after=None,
             keep: int = 1):
    """A lab's run and its result: when `pressed`, `check()` refuses bad input
    before the queue (an XRayError, told in the page's words), `work` runs as a
    job (run_job) and its result is kept in the session under `key` (the model,
    and whatever else the result depends on; the last `keep` keys stay), and
    `after()` tidies the live view. Returns the result kept for `key`, or says
    `press` and ends the page."""
    cancel, store = f"{page}.cancel", f"{page}.result"
    kept = st.session_state.setdefault(store, OrderedDict())
    if pressed:
        with guard(page):
            if check is not None:
                check()
            result = run_job(work, cancel_key=cancel)
            if after is not None:
                after()
            if result is not None:
                kept.pop(key, None)
                kept[key] = result
                while len(kept) > keep:
                    kept.popitem(last=False)
    elif was_cancelled(cancel):
        st.info(t("jobs.cancelled"), icon="✖️")
    if key not in kept:
        st.caption(press)
        st.stop()
    return kept[key]


class LiveJob:
    """A job drawn live on the page, with a Start and a Stop button: Start
    reruns the page with the controls disabled (`busy`) and runs the job there;
    Stop interrupts it and keeps what came so far; the rerun after it shows the
    result (or the problem) with live controls again."""

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

    def _words(self, what: str) -> str:
        return f"{self.page}.{what}" if has(f"{self.page}.{what}") else f"jobs.{what}"

    def was_stopped(self) -> bool:
        return bool(st.session_state.get(self.stopped, False))

    def run(self, work) -> None:
        """When busy: `work()` in a heavy-job slot, then a rerun. Else: the last
        run's problem, if any (a message in the user's language)."""
        if self.busy:
            st.session_state[self.pending] = False   # whatever happens, the next run has live controls
            try:
                with heavy_job() as got_slot:
                    if got_slot:
                        work()
                    else:
                        st.session_state[self.problem] = self._words("queue_timeout")
            except Busy:
                st.session_state[self.problem] = self._words("busy_self")
            except Exception as err:  # noqa: BLE001 — shown as a message after the rerun
                if type(err).__module__.startswith("streamlit"):
                    raise
                st.session_state[self.problem] = err
            st.rerun()
        problem = st.session_state.pop(self.problem, None)
        if isinstance(problem, Exception):
            show_error(problem, self.page)
        elif problem:
            st.warning(t(problem), icon="⏳")
