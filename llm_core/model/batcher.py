"""Concurrent trace requests of one causal model, gathered into padded batches:
a class typing at once costs a few forward passes (trace.capture_batch), not
thirty, and a paste of a whole book waits its turn like everyone else."""
from __future__ import annotations

import threading
import time

from llm_core.model.arch import Arch
from llm_core.model.trace import Trace, TraceRequest, capture_batch, length_bucket


class _Pending:
    __slots__ = ("request", "done", "trace", "error")

    def __init__(self, request):
        self.request = request
        self.done = False
        self.trace = None
        self.error = None


class TraceBatcher:
    """Trace requests of one causal model, run in padded batches of one length
    bucket and at most `batch_tokens` (rows × bucket): one heavy text runs
    alone, thirty short ones run together. One forward pass at a time per
    model is also the global limit that keeps a paste of a whole book from
    starving the class: it waits its turn like everyone else.

    No worker thread: a caller who finds nobody running becomes the leader and
    runs the waiting batches itself, oldest first, until its own is done; then
    the next waiting caller leads. A student alone runs the forward pass in
    their own thread, with no handoff and no wait; while others are typing
    (another thread asked within `active_s`) the leader first waits `window`
    seconds so a class's burst runs as one batch."""

    def __init__(self, arch: Arch, device, batch_tokens: int = 1024, max_rows: int = 32,
                 window: float = 0.003, active_s: float = 2.0):
        self.arch, self.device = arch, device
        self.batch_tokens, self.max_rows = batch_tokens, max_rows
        self.window, self.active_s = window, active_s
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []     # asked, not yet run, oldest first
        self._running = False                  # a leader is running batches
        self._asked: dict[int, float] = {}     # thread → when it last asked (the last active_s)
        self.batches = self.traced = 0

    def trace(self, request: TraceRequest) -> Trace:
        return self.trace_many([request])[0]

    def trace_many(self, requests: list[TraceRequest]) -> list[Trace]:
        """Traces of several texts asked at once (a page comparing sentences): they
        wait together and run in the same batches as everyone else's."""
        mine = [_Pending(r) for r in requests]

        def done() -> bool:
            return all(p.done for p in mine)
        with self._cond:
            others = self._others_active(threading.get_ident())
            self._waiting.extend(mine)
            while not done() and self._running:
                self._cond.wait()
            lead = not done()
            if lead:
                self._running = True
        if lead:
            self._lead(done, wait=others)
        for p in mine:
            if p.error is not None:
                raise p.error
        return [p.trace for p in mine]

    def _others_active(self, me: int) -> bool:
        """Whether another thread asked lately (called under the lock); forgets
        threads quiet for longer than `active_s`, so the table stays small."""
        now = time.monotonic()
        self._asked = {t: when for t, when in self._asked.items() if now - when < self.active_s}
        others = any(t != me for t in self._asked) or bool(self._waiting)
        self._asked[me] = now
        return others

    def _lead(self, done, *, wait: bool) -> None:
        try:
            if wait:
                # Let requests sent at the same moment arrive: a class's burst then
                # runs as one batch (measured with bench/load.py: sending the first
                # of a burst alone raised the burst's p95).
                time.sleep(self.window)
            while True:
                with self._cond:
                    batch = self._next_batch()
                self._run(batch)
                del batch   # the callers hold their traces; the leader keeps nothing
                with self._cond:
                    finished = done()
                    self._running = not finished     # done: the next waiting caller leads
                    self._cond.notify_all()
                    if finished:
                        return
        except BaseException:   # interrupted between batches: hand the lead on
            with self._cond:
                self._running = False
                self._cond.notify_all()
            raise

    def _next_batch(self) -> list[_Pending]:
        """The oldest request and every waiting one of its length bucket, up to
        `batch_tokens`; others wait for the next round, in order (under the lock)."""
        first = self._waiting[0]
        width = length_bucket(first.request.ids.shape[0])
        batch, later = [first], []
        for p in self._waiting[1:]:
            fits = (length_bucket(p.request.ids.shape[0]) == width
                    and len(batch) < self.max_rows and width * (len(batch) + 1) <= self.batch_tokens)
            (batch if fits else later).append(p)
        self._waiting = later
        return batch

    def _run(self, batch: list[_Pending]) -> None:
        traces = None
        try:
            traces = capture_batch(self.arch, [p.request for p in batch], self.device)
            for p, tr in zip(batch, traces):
                p.trace = tr
        except BaseException as err:  # noqa: BLE001 — every caller hears of it
            for p in batch:
                p.error = err
        finally:
            self.batches += 1
            self.traced += len(batch)
            for p in batch:
                p.done = True
