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
    their own thread, with no handoff and no wait. While a class is at work
    (another caller asked within `active_s`) the leader first gathers: a class
    sent the same moment reaches here over a few hundred milliseconds (each
    session's page runs its own Python first, in turns). It looks once after
    `look` seconds; if someone came, it waits `window` at a time while
    requests keep arriving, until a batch is full or `gather_s` has passed.
    Without that the first of a burst ran alone and the rest waited for it:
    one more forward pass per burst, ~0.2 s of CPU (bench/load.py, N = 30).
    A request nobody follows waits only the one look (10 ms); a caller who
    waited through someone else's batch and then leads does not gather again."""

    def __init__(self, arch: Arch, device, batch_tokens: int = 1024, max_rows: int = 32,
                 look: float = 0.01, window: float = 0.05, gather_s: float = 0.4,
                 active_s: float = 60.0, clock=time.monotonic, sleep=time.sleep):
        self.arch, self.device = arch, device
        self.batch_tokens, self.max_rows = batch_tokens, max_rows
        self.look, self.window, self.gather_s, self.active_s = look, window, gather_s, active_s
        self.clock, self.sleep = clock, sleep      # a test drives both
        self._cond = threading.Condition()
        self._waiting: list[_Pending] = []     # asked, not yet run, oldest first
        self._running = False                  # a leader is running batches
        self._asked: dict = {}                 # caller → when it last asked (the last active_s)
        self.batches = self.traced = 0

    def trace(self, request: TraceRequest, caller=None) -> Trace:
        return self.trace_many([request], caller)[0]

    def trace_many(self, requests: list[TraceRequest], caller=None) -> list[Trace]:
        """Traces of several texts asked at once (a page comparing sentences): they
        wait together and run in the same batches as everyone else's. `caller`:
        who asks (a browser session; by default the thread), so that one
        student's own successive requests never count as a class at work."""
        mine = [_Pending(r) for r in requests]

        def done() -> bool:
            return all(p.done for p in mine)
        with self._cond:
            others = self._others_active(threading.get_ident() if caller is None else caller)
            self._waiting.extend(mine)
            waited = False
            while not done() and self._running:
                self._cond.wait()
                waited = True
            lead = not done()
            if lead:
                self._running = True
        if lead:   # who waited through a batch has been gathered with others already
            self._lead(mine, done, gather=others and not waited)
        for p in mine:
            if p.error is not None:
                raise p.error
        return [p.trace for p in mine]

    def _others_active(self, me) -> bool:
        """Whether another caller asked lately (called under the lock); forgets
        callers quiet for longer than `active_s`, so the table stays small."""
        now = self.clock()
        self._asked = {c: when for c, when in self._asked.items() if now - when < self.active_s}
        others = any(c != me for c in self._asked) or bool(self._waiting)
        self._asked[me] = now
        return others

    def _gather(self) -> None:
        """Wait while a burst is still arriving: one `look`, then `window` at a
        time as long as each wait brought new requests, until a batch is full or
        `gather_s` has passed."""
        start, seen, wait = self.clock(), None, self.look
        while True:
            with self._cond:
                batch = self._pick()[0]          # who would run with the oldest request
            now = len(batch)
            if self._full(batch) or now == seen or self.clock() - start + wait > self.gather_s:
                return
            self.sleep(wait)
            seen, wait = now, self.window

    def _lead(self, mine: list[_Pending], done, *, gather: bool) -> None:
        try:
            if gather:
                self._gather()
            while True:
                with self._cond:
                    batch = self._next_batch()
                if not batch:    # the leader's own requests are waiting or done, never neither
                    raise RuntimeError("the trace queue lost a request")
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
                self._waiting = [p for p in self._waiting if p not in mine]   # nobody waits for them
                self._running = False
                self._cond.notify_all()
            raise

    def _pick(self) -> tuple[list[_Pending], list[_Pending]]:
        """(the next batch, the rest): the oldest request and every waiting one of
        its length bucket, up to `max_rows` and `batch_tokens` (under the lock)."""
        if not self._waiting:
            return [], []
        batch, later = [self._waiting[0]], []
        for p in self._waiting[1:]:
            fits = (self._bucket(p) == self._bucket(batch[0]) and not self._full(batch))
            (batch if fits else later).append(p)
        return batch, later

    @staticmethod
    def _bucket(p: _Pending) -> int:
        return length_bucket(p.request.ids.shape[0])

    def _full(self, batch: list[_Pending]) -> bool:
        """Whether no further request of its bucket fits in `batch`."""
        return bool(batch) and (len(batch) >= self.max_rows
                                or self._bucket(batch[0]) * (len(batch) + 1) > self.batch_tokens)

    def _next_batch(self) -> list[_Pending]:
        """The next batch, taken off the queue; others wait for the next round, in order."""
        batch, self._waiting = self._pick()
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
