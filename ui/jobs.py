"""Heavy jobs (generation, sampling many answers) share the CPU: a global limit
per process, so thirty students generating at once queue visibly instead of
starving everyone. One job at a time per session."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

import streamlit as st

from ui.i18n import t

MAX_CONCURRENT = int(os.environ.get("LLM_XRAY_MAX_JOBS", max(1, (os.cpu_count() or 2) // 2)))
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT)
_RUNNING_KEY = "jobs.running"


class Busy(Exception):
    """This session already has a job running."""


@contextmanager
def heavy_job(wait_seconds: float = 120.0):
    """Hold one of the global slots for the duration of the block. Shows a queue
    message while waiting; raises Busy if this session already runs a job.
    Yields True when a slot was taken, False when waiting timed out."""
    if st.session_state.get(_RUNNING_KEY):
        raise Busy()
    st.session_state[_RUNNING_KEY] = True
    acquired = _SLOTS.acquire(blocking=False)
    try:
        if not acquired:
            note = st.empty()
            note.info(t("errors.busy"), icon="⏳")
            acquired = _SLOTS.acquire(timeout=wait_seconds)
            note.empty()
        yield acquired
    finally:
        if acquired:
            _SLOTS.release()
        st.session_state[_RUNNING_KEY] = False
