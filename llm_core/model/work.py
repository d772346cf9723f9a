"""Long work that shares one machine fairly: every heavy step takes its turn.

A job (quantizing, fine-tuning, distilling, generating, asking the lab's
questions) runs as a series of steps — one forward pass of a decode step, one
training step, one batch of measurements. Every step takes its turn at one
`Gate`: the steps of short jobs (a generation, a question) before those of long
ones, first come first served within each lane. A generation arriving while a
fine-tuning job trains waits for that one training step (about a second on 2
cores), never for the whole job, and then its tokens come one after another
while the training waits between its own steps. Between steps a job checks its
`Work`: cancelled, it stops there with `Cancelled`.

Each `Work` also measures its own steps, so its estimate of the time left comes
from this machine, now: "step 40 of 150, about 35 s left", never a fixed string.
`Work.none()` runs without turns, cancel or estimates (the CLI, a check).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable


class Cancelled(Exception):
    """The job was cancelled (or abandoned) and stopped between two steps."""


LANES = ("short", "long")
LONG_PATIENCE = 5.0     # seconds a long step waits for short jobs at most: it never starves


class Gate:
    """One heavy step at a time. The next turn goes to the oldest waiting step of
    a short job; a long job's step goes only while no short job is running (a
    generation between two of its tokens counts as running), or once it has
    waited LONG_PATIENCE seconds. (A plain lock lets a thread that releases and
    re-acquires at once win again: a long job would keep the machine between
    its own steps, and a generation would get one token per training step.)"""

    def __init__(self, patience: float = LONG_PATIENCE, clock: Callable[[], float] = time.monotonic):
        self._cond = threading.Condition()
        self._queues: dict[str, deque] = {lane: deque() for lane in LANES}
        self._held = False
        self._short_jobs = 0
        self.patience, self.clock = patience, clock

    def _next(self):
        """The ticket whose turn it is (under the lock), or None."""
        if self._queues["short"]:
            return self._queues["short"][0][0]
        if self._queues["long"]:
            ticket, since = self._queues["long"][0]
            if self._short_jobs == 0 or self.clock() - since >= self.patience:
                return ticket
        return None

    def acquire(self, lane: str = "long") -> None:
        me = object()
        with self._cond:
            self._queues[lane].append((me, self.clock()))
            try:
                while self._held or self._next() is not me:
                    # A long step held back by short jobs looks again for its patience.
                    self._cond.wait(0.05 if lane == "long" and self._short_jobs else None)
            except BaseException:
                self._queues[lane] = deque(x for x in self._queues[lane] if x[0] is not me)
                self._cond.notify_all()
                raise
            self._queues[lane].popleft()
            self._held = True

    def release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    @contextmanager
    def short_job(self):
        """A short job is running for the block: long steps wait for it."""
        with self._cond:
            self._short_jobs += 1
        try:
            yield
        finally:
            with self._cond:
                self._short_jobs -= 1
                self._cond.notify_all()

    def waiting(self, lane: str) -> int:
        return len(self._queues[lane])


GATE = Gate()


@dataclass(frozen=True)
class Progress:
    """What a job reports: `done` of `total` steps of its current `phase`, and the
    seconds left as measured from its own steps so far (None before the first)."""

    phase: str
    done: int
    total: int
    seconds_left: float | None
    detail: object = None           # the phase's own news (a training step, a token …)


class Work:
    """One job's link to whoever runs it: cancel, turns at the gate, progress."""

    def __init__(self, report: Callable[[Progress], None] | None = None, *, lane: str = "long",
                 gate: Gate | None = GATE, clock: Callable[[], float] = time.monotonic):
        self._cancel = threading.Event()
        self._report = report
        self.lane = lane
        self._gate = gate
        self.clock = clock
        self._phase = ""
        self._phase_started = 0.0
        self.last: Progress | None = None

    @classmethod
    def none(cls) -> "Work":
        return cls(gate=None)

    # --- cancel ---------------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    # --- turns ------------------------------------------------------------------
    @contextmanager
    def running(self):
        """The whole job: a short one holds long jobs' steps back while it runs."""
        if self._gate is None or self.lane != "short":
            yield self
            return
        with self._gate.short_job():
            yield self

    @contextmanager
    def turn(self):
        """One heavy step: checked for cancel, run at the gate in turn."""
        self.check()
        if self._gate is None:
            yield
            return
        self._gate.acquire(self.lane)
        try:
            yield
        finally:
            self._gate.release()

    # --- progress ---------------------------------------------------------------
    def progress(self, phase: str, done: int, total: int, detail=None) -> None:
        """`done` of `total` steps of `phase` are finished. The time left is the
        phase's measured pace so far (its waits at the gate included) times the
        steps to go. Also a check for cancel."""
        now = self.clock()
        if phase != self._phase:
            self._phase, self._phase_started = phase, now
        left = None
        if 0 < done <= total:
            left = (now - self._phase_started) / done * (total - done)
        self.last = Progress(phase, done, total, left, detail)
        if self._report is not None:
            self._report(self.last)
        self.check()

    def start_phase(self, phase: str, total: int) -> None:
        """A phase begins now with nothing done: its clock starts here."""
        self._phase = ""
        self.progress(phase, 0, total)
