"""A class at once: every trace is its own whatever else runs, the shared caches
are bounded and expire, faults in the model cache heal, and a hub that does not
answer fails fast without holding up anyone else."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import torch

from harness import ROOT
from harness.floats import assert_close, reorder_bound
from harness.server import Server
from harness.stream import Client, chart_data, run_async, text_widget
from harness.waiting import wait_for
from llm_core.model import memo
from llm_core.model.errors import InputError, ModelUnavailable
from llm_core.model.trace import Trace

TEXTS = ["Hi", "The cat sat on the mat because it was tired.", "大语言模型是一个巨大的矩阵",
         "Emoji 🤖🧠 and <b>markup</b> **too**",
         "One two three four five six seven eight nine ten eleven twelve thirteen",
         " ".join(f"word{i}" for i in range(150))]      # ~300 tokens: above the attention cap
FIELDS = ("ids", "token_embedding", "residual", "attention_pattern", "attn_out_norm",
          "mlp_out_norm", "final_residual", "logits")


def _same(a: Trace, b: Trace, rel: float) -> None:
    """The same text's two traces agree to float32 rounding (harness.floats):
    alone or inside a batch the text is padded alike, but other batch shapes may
    pick other BLAS kernels, which add in another order (bit-equal on one CPU,
    6e-7 of the largest value on another). Another text's numbers differ by whole
    units, so this still tells a trace from anyone else's."""
    assert a.tokens == b.tokens and a.text == b.text
    assert (a.attention_kept, a.logits_start) == (b.attention_kept, b.logits_start)
    assert torch.equal(a.ids, b.ids)
    for name in FIELDS[1:]:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:          # an encoder keeps no logits, no pre-norm sizes
            assert x is None and y is None, name
            continue
        assert_close(x, y, rel, name)


def _bound(handle) -> float:
    """Every number of a trace passes through all layers; the longest sums are the
    MLP's down projection (d_mlp products) and the unembedding (d_model)."""
    config = handle.model.config
    width = max(getattr(config, "intermediate_size", 0) or 4 * handle.arch.d_model,
                handle.arch.d_model)
    return reorder_bound(width, handle.arch.n_layers)


def test_concurrent_traces_equal_their_solo_traces(decoder):
    solo = {t: decoder.trace(t) for t in TEXTS}
    failures: list[str] = []
    stop = threading.Event()

    def student(text):
        for _ in range(2):
            try:
                _same(decoder.trace(text), solo[text], _bound(decoder))
            except Exception as err:  # noqa: BLE001 — collected, reported below
                failures.append(f"{text[:20]!r}: {type(err).__name__} {err}")

    def generator():  # bare forward passes beside the traces must record nothing
        ids = decoder.encode("The capital of France is")[1]
        while not stop.is_set():
            decoder.forward_logits(ids)

    side = threading.Thread(target=generator)
    side.start()
    threads = [threading.Thread(target=student, args=(t,)) for t in TEXTS * 2]
    batches_before = decoder._batcher.batches
    traced_before = decoder._batcher.traced
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stop.set()
    side.join()
    assert not failures, failures[:5]
    traced = decoder._batcher.traced - traced_before
    assert traced == len(threads) * 2
    assert decoder._batcher.batches - batches_before < traced   # some ran together


def test_concurrent_encoder_traces_and_layer_details(encoder, decoder):
    texts = TEXTS[:4]
    solo = {t: encoder.trace(t) for t in texts}
    solo_detail = {t: decoder.layer_detail(decoder.trace(t), 3) for t in texts}
    failures = []

    def student(text):
        for _ in range(3):
            try:
                _same(encoder.trace(text), solo[text], _bound(encoder))
                d = decoder.layer_detail(decoder.trace(text), 3)
                for name in ("q", "k", "v", "pattern", "mlp_post", "out"):
                    assert_close(getattr(d, name), getattr(solo_detail[text], name),
                                 _bound(decoder), name)
            except Exception as err:  # noqa: BLE001
                failures.append(f"{text[:20]!r}: {type(err).__name__} {err}")

    threads = [threading.Thread(target=student, args=(t,)) for t in texts]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures[:5]


def test_a_trace_is_frozen_and_keeps_nothing_extra(decoder):
    trace = decoder.trace("The cat sat on the mat")
    with pytest.raises(AttributeError):
        trace.text = "other"
    decoder.layer_detail(trace, 2)
    assert not hasattr(trace, "layer_details")
    # Its tensors own their memory: nothing of a batch is kept alive through a view.
    assert trace.residual.untyped_storage().nbytes() == trace.residual.nbytes


def test_a_failed_batch_reaches_every_caller_and_the_next_batch_runs(decoder):
    from llm_core.model.trace import TraceRequest
    before = decoder.trace("hello")
    tokens, ids, _ = decoder.encode("hello")
    broken = TraceRequest("smollm2", "hello", tokens, torch.full_like(ids, 10**7))  # past the vocabulary
    with pytest.raises(IndexError):
        decoder._batcher.trace(broken)
    assert not decoder._batcher._running and not decoder._batcher._waiting
    _same(decoder.trace("hello"), before, _bound(decoder))


class _FakeCapture:
    """Stands in for capture_batch: records who ran which batch, takes `seconds`."""

    def __init__(self, seconds=0.0, fail_on=None):
        self.seconds, self.fail_on = seconds, fail_on
        self.runs = []           # (thread id, [texts])

    def __call__(self, _arch, requests, _device):
        self.runs.append((threading.get_ident(), [r.text for r in requests]))
        time.sleep(self.seconds)
        if any(r.text == self.fail_on for r in requests):
            raise RuntimeError("broken batch")
        return [f"trace of {r.text}" for r in requests]


def _request(text, n):
    from llm_core.model.trace import TraceRequest
    return TraceRequest("fake", text, (), torch.zeros(n, dtype=torch.long))


def test_a_student_alone_traces_in_their_own_thread_without_waiting(monkeypatch):
    from llm_core.model import batcher as core
    fake, sleeps = _FakeCapture(), []
    monkeypatch.setattr(core, "capture_batch", fake)
    batcher = core.TraceBatcher(arch=None, device="cpu", look=0.02, sleep=sleeps.append)
    for i in range(3):
        assert batcher.trace(_request(f"t{i}", 5)) == f"trace of t{i}"
    assert [who for who, _ in fake.runs] == [threading.get_ident()] * 3   # no handoff
    assert sleeps == []                                # nobody else asked: no batching wait
    # Another thread asks: now the leader looks once for a burst to run with.
    other = threading.Thread(target=batcher.trace, args=(_request("other", 5),))
    other.start()
    other.join()
    assert sleeps == [0.02]


class _Arrivals:
    """The batcher's sleep and clock, driven by the test: each sleep moves the clock
    by its length and first lets the next group of students ask (each of their
    requests is queued before the sleep returns). No test waits for time to pass."""

    def __init__(self, batcher, groups):
        self.batcher, self.groups = batcher, list(groups)
        self.now, self.sleeps, self.threads, self.got = 0.0, [], [], {}

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds
        if self.groups:
            self.ask(self.groups.pop(0))

    def ask(self, texts, caller=None):
        before = len(self.batcher._waiting)
        for text in texts:
            th = threading.Thread(target=lambda text=text: self.got.__setitem__(
                text, self.batcher.trace(_request(text, 40 if text.startswith("long") else 5),
                                         caller or text)))
            th.start()
            self.threads.append(th)
        wait_for(lambda: len(self.batcher._waiting) == before + len(texts))

    def join(self):
        for th in self.threads:
            th.join(timeout=30)
        assert not any(th.is_alive() for th in self.threads)


def _gathering(monkeypatch, groups, **kwargs):
    from llm_core.model import batcher as core
    fake = _FakeCapture()
    monkeypatch.setattr(core, "capture_batch", fake)
    batcher = core.TraceBatcher(arch=None, device="cpu", **kwargs)
    arrivals = _Arrivals(batcher, groups)
    batcher.clock, batcher.sleep = arrivals.clock, arrivals.sleep
    batcher.trace(_request("earlier", 5), "another student")   # a class is at work
    arrivals.sleeps.clear()
    return batcher, arrivals, fake


def test_a_burst_that_arrives_over_several_moments_runs_as_one_batch(monkeypatch):
    """A class sent the same moment reaches the batcher spread out (each page runs
    its own Python first): the first to ask waits while more keep coming."""
    batcher, arrivals, fake = _gathering(monkeypatch, [["b", "c"], ["d"], ["e", "f"]],
                                         look=0.01, window=0.05, gather_s=0.4)
    assert batcher.trace(_request("a", 5), "a") == "trace of a"
    arrivals.join()
    assert arrivals.sleeps == [0.01] + [0.05] * 3    # three waits brought someone, the last nobody
    assert [sorted(texts) for _, texts in fake.runs[1:]] == [["a", "b", "c", "d", "e", "f"]]
    assert arrivals.got == {x: f"trace of {x}" for x in "bcdef"}
    assert not batcher._running and not batcher._waiting


def test_gathering_stops_at_its_limit_and_when_a_batch_is_full(monkeypatch):
    # Students keep trickling in: the leader runs after gather_s, not forever.
    batcher, arrivals, fake = _gathering(monkeypatch, [[f"s{i}"] for i in range(20)],
                                         look=0.01, window=0.05, gather_s=0.3)
    batcher.trace(_request("a", 5), "a")
    arrivals.groups.clear()
    arrivals.join()
    assert arrivals.sleeps == [0.01] + [0.05] * 5     # 0.26 s: one more wait would pass 0.3
    assert fake.runs[1][1] == ["a"] + [f"s{i}" for i in range(6)]
    assert len(fake.runs) == 2                       # "earlier", then this one batch
    # A full batch runs at once: nobody more could join it.
    batcher, arrivals, fake = _gathering(monkeypatch, [["b", "c"], ["d"]], look=0.01,
                                         window=0.05, gather_s=0.4, max_rows=3)
    batcher.trace(_request("a", 5), "a")
    arrivals.groups.clear()
    arrivals.join()
    assert arrivals.sleeps == [0.01]
    assert [sorted(texts) for _, texts in fake.runs[1:]] == [["a", "b", "c"]]
    # Only requests that could join count: a longer text runs in its own batch anyway.
    batcher, arrivals, fake = _gathering(monkeypatch, [["long1"], ["long2"]], look=0.01)
    batcher.trace(_request("a", 5), "a")
    arrivals.groups.clear()
    arrivals.join()
    assert arrivals.sleeps == [0.01]
    assert [texts for _, texts in fake.runs[1:]] == [["a"], ["long1"]]


def test_one_students_own_requests_never_count_as_a_class(monkeypatch):
    """Each rerun of a page runs in a new thread: the batcher tells students apart
    by the caller the app passes (its browser session), not by thread."""
    batcher, arrivals, fake = _gathering(monkeypatch, [], look=0.01, active_s=60.0)
    arrivals.now += 61.0                           # the class has gone quiet
    batcher.trace(_request("mine0", 5), "me")
    th = threading.Thread(target=batcher.trace, args=(_request("mine1", 5), "me"))
    th.start()                                     # a thread alive beside this one: another id
    th.join()
    batcher.trace(_request("mine2", 5), "me")
    assert arrivals.sleeps == [] and len(fake.runs) == 4
    batcher.trace(_request("yours", 5), "you")
    assert arrivals.sleeps == [0.01]               # now someone else asked lately: one look


def test_a_leader_stopped_while_gathering_hands_on_and_leaves_nothing_behind(monkeypatch):
    batcher, arrivals, fake = _gathering(monkeypatch, [], look=0.01)

    def stopped(_seconds):
        arrivals.ask(["b", "c"])
        raise KeyboardInterrupt                     # the leader's thread is stopped mid-wait
    batcher.sleep = stopped
    with pytest.raises(KeyboardInterrupt):
        batcher.trace(_request("a", 5), "a")
    arrivals.join()
    assert arrivals.got == {"b": "trace of b", "c": "trace of c"}    # the lead passed on
    assert [sorted(texts) for _, texts in fake.runs[1:]] == [["b", "c"]]  # not "a": nobody waits for it
    assert not batcher._running and not batcher._waiting


def _traced_by_session():
    """A page's script in miniature: it traces a text of its own at every run."""
    import uuid

    import streamlit as st

    from ui.models import get_trace
    st.session_state["run"] = st.session_state.get("run", 0) + 1
    mine = st.session_state.setdefault("text", uuid.uuid4().hex)
    get_trace(f"{mine} {st.session_state['run']}")


def test_the_app_tells_the_batcher_which_browser_session_asks(monkeypatch):
    """Each rerun runs in a new thread; the caller the batcher sees stays one per
    session (the class-room limits and one job per session use the same id)."""
    from streamlit.testing.v1 import AppTest

    from ui import models
    callers = []

    class Handle:
        def trace(self, text, *, max_tokens=None, caller=None):
            callers.append(caller)
            return type("T", (), {"truncated_from": None})()
    monkeypatch.setattr(models, "get_handle", lambda name=None: Handle())
    monkeypatch.setattr(models, "model_name", lambda: "fake")
    one, two = AppTest.from_function(_traced_by_session), AppTest.from_function(_traced_by_session)
    one.run(), one.run(), two.run(), one.run()
    assert not one.exception and not two.exception
    assert len(callers) == 4 and callers[0] == callers[1] == callers[3] != callers[2]
    assert all(isinstance(c, str) and len(c) == 32 for c in callers)


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _taker(turns, *, until: threading.Event | None = None, gives: bool = True):
    """A script run in a thread: takes a drawing turn, draws until `until` is set (at
    once without one), then gives the turn back, or ends without (`gives=False`)."""
    took = threading.Event()

    def run():
        turns.take()
        took.set()
        if until is not None:
            until.wait(120)        # outlives wait_for's 60 s: a hang fails there, not here
        if gives:
            turns.give()
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, took


def test_a_few_draw_at_once_and_each_turn_given_back_goes_to_the_first_in_line():
    from ui.pages import DrawingTurns
    clock = _Clock()            # frozen, and a wait's own end far off: only a give wakes it
    turns = DrawingTurns(2, hold_s=1000, wait_s=1000, clock=clock)
    done = [threading.Event() for _ in range(4)]
    (a, a_took), (b, b_took) = _taker(turns, until=done[0]), _taker(turns, until=done[1])
    wait_for(lambda: a_took.is_set() and b_took.is_set())
    c, c_took = _taker(turns, until=done[2])
    wait_for(lambda: turns.waiting() == 1)
    d, d_took = _taker(turns, until=done[3])          # asks after c
    wait_for(lambda: turns.waiting() == 2)
    assert turns.drawing() == 2 and not c_took.is_set() and not d_took.is_set()
    done[0].set()                      # the first page ends: its turn goes to c, first in line
    wait_for(c_took.is_set, what="a turn given back never reached the first in line")
    assert not d_took.wait(0.3) and turns.waiting() == 1 and turns.drawing() == 2
    done[1].set()
    wait_for(d_took.is_set, what="the next turn given back never reached the next in line")
    done[2].set(), done[3].set()
    for th in (a, b, c, d):
        th.join(30)
    assert turns.drawing() == 0 and turns.waiting() == 0


def test_a_run_keeps_its_one_turn_and_no_limit_means_no_wait():
    from ui.pages import DrawingTurns
    clock = _Clock()
    turns = DrawingTurns(1, hold_s=1, wait_s=1000, clock=clock)
    turns.take()
    turns.take()                       # a page with two traces: still its one turn
    assert turns.drawing() == 1
    clock.now = 1                      # its turn no longer counts: another run takes one ...
    other = threading.Event()
    _, took = _taker(turns, until=other)
    wait_for(took.is_set)
    turns.take()                       # ... and this run, still drawing, does not wait again
    assert turns.drawing() == 1 and turns.waiting() == 0
    turns.give()
    turns.give()                       # a run that holds none gives nothing back
    other.set()
    free = DrawingTurns(0, clock=_Clock())
    drawing = threading.Event()
    runs = [_taker(free, until=drawing) for _ in range(5)]
    try:
        for _, took in runs:           # all five draw at once
            assert took.wait(30)
    finally:
        drawing.set()


def test_a_turn_held_too_long_or_by_an_ended_run_frees_itself_and_nobody_waits_forever():
    """A page that goes on to a long computation, or a run that ended without giving
    its turn back (a fragment's, a test's), never locks the others out."""
    from ui.pages import DrawingTurns
    drawing = threading.Event()        # the runs below draw until the test ends
    try:
        clock = _Clock()
        turns = DrawingTurns(1, hold_s=0.2, wait_s=1000, clock=clock)
        _taker(turns, until=drawing, gives=False)    # a page that goes on and on
        wait_for(lambda: turns.drawing() == 1)
        _, took = _taker(turns, until=drawing)
        wait_for(lambda: turns.waiting() == 1)
        _, after = _taker(turns, until=drawing)
        wait_for(lambda: turns.waiting() == 2)
        assert not took.wait(0.5)      # real time passes, the clock does not: still waiting
        clock.now = 0.2                # the holder's turn has lasted hold_s
        wait_for(took.is_set, what="an expired turn kept the next run waiting")
        assert not after.wait(0.3) and turns.waiting() == 1   # the first in line got it

        turns = DrawingTurns(1, hold_s=1000, wait_s=1000, clock=_Clock())
        ended, _ = _taker(turns, gives=False)         # takes a turn, ends without giving it
        ended.join(30)
        _, took = _taker(turns, until=drawing)
        assert took.wait(30), "a turn of a thread that has ended still counted"

        clock = _Clock()
        turns = DrawingTurns(1, hold_s=1000, wait_s=0.3, clock=clock)
        _taker(turns, until=drawing)
        wait_for(lambda: turns.drawing() == 1)
        _, took = _taker(turns, until=drawing)
        wait_for(lambda: turns.waiting() == 1)
        assert not took.wait(0.5)
        clock.now = 0.3                # waited wait_s: it draws anyway, over the limit
        wait_for(took.is_set, what="a run waited past wait_s")
        assert turns.drawing() == 2 and turns.waiting() == 0
    finally:
        drawing.set()


def _drawn_in_the_app():
    """A page's run in miniature, inside the app's frame (running_app): it counts the
    drawing turns when each of its two texts is traced, after them, and after the page."""
    import streamlit as st

    from ui import pages
    from ui.models import get_trace
    with pages.running_app():
        get_trace("a text of this page")
        st.session_state["after trace"] = pages.DRAWING.drawing()
        get_trace("its second text")
        st.session_state["after second"] = pages.DRAWING.drawing()
    st.session_state["after page"] = pages.DRAWING.drawing()


def test_a_page_draws_in_its_turn_after_its_traces_and_gives_it_back_at_its_end(monkeypatch):
    """No drawing turn is held while a trace is waited for (it would hold up the
    batch's other pages), and the app frees the turn when the page ends, while the
    script's thread still lives (a freed turn of an ended thread would hide a
    missing give)."""
    from streamlit.testing.v1 import AppTest

    from ui import models, pages
    turns = pages.DrawingTurns(3, hold_s=1000, wait_s=1000, clock=_Clock())
    monkeypatch.setattr(pages, "DRAWING", turns)
    monkeypatch.setattr(models, "DRAWING", turns)
    at_trace = []

    class Handle:
        def trace(self, text, *, max_tokens=None, caller=None):
            at_trace.append(turns.drawing())
            return type("T", (), {"truncated_from": None})()
    monkeypatch.setattr(models, "get_handle", lambda name=None: Handle())
    monkeypatch.setattr(models, "model_name", lambda: "fake")
    monkeypatch.setattr(models.TRACES, "peek", lambda key: None)
    monkeypatch.setattr(models.TRACES, "get", lambda key, make: make())
    at = AppTest.from_function(_drawn_in_the_app).run()
    assert not at.exception
    assert at_trace == [0, 0]
    assert at.session_state["after trace"] == at.session_state["after second"] == 1
    assert at.session_state["after page"] == 0


def test_a_burst_runs_in_few_batches_by_length_bucket_and_everyone_gets_their_own(monkeypatch):
    from llm_core.model import batcher as core
    fake = _FakeCapture(seconds=0.02, fail_on="broken")
    monkeypatch.setattr(core, "capture_batch", fake)
    batcher = core.TraceBatcher(arch=None, device="cpu", batch_tokens=64, sleep=lambda s: None)
    lengths = [3, 20, 5, 300, 7, 18, 9, 2, 30, 11] * 3          # padded to 16, 32 or 320
    got, errors = {}, {}

    def student(i):
        text = "broken" if i == 13 else f"s{i}"
        try:
            got[i] = batcher.trace(_request(text, lengths[i]))
        except RuntimeError as err:
            errors[i] = str(err)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(lengths))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert not any(th.is_alive() for th in threads)
    assert errors == {13: "broken batch"}
    assert got == {i: f"trace of s{i}" for i in range(len(lengths)) if i != 13}
    ran = [text for _, texts in fake.runs for text in texts]
    assert len(ran) == len(set(ran)) == len(lengths)             # each request ran once
    for _, texts in fake.runs:
        widths = {core.length_bucket(lengths[int(x[1:])] if x != "broken" else lengths[13])
                  for x in texts}
        assert len(widths) == 1                                  # one length bucket per batch
        assert next(iter(widths)) * len(texts) <= 64 or len(texts) == 1
    assert len(fake.runs) < len(lengths)                         # some ran together
    assert len({who for who, _ in fake.runs}) > 1                # the lead passed on
    assert batcher.traced == len(lengths) and not batcher._running and not batcher._waiting


# --- the shared caches -------------------------------------------------------------

class Clock:
    """A clock the test moves by hand: no test waits for time to pass."""

    def __init__(self):
        self.now = 1_000.0

    def __call__(self):
        return self.now


def test_byte_cache_is_bounded_in_bytes_and_expires():
    clock = Clock()
    cache = memo.ByteCache("test", max_bytes=3000, ttl=0.3, clock=clock)
    for i in range(10):
        cache.get(i, lambda i=i: torch.zeros(250))            # 1,000 bytes each
    assert cache.bytes <= 3000 and len(cache) == 3
    assert cache.peek(9) is not None and cache.peek(0) is None   # the oldest went first
    clock.now += 0.29
    assert cache.peek(9) is not None                            # not yet expired
    clock.now += 0.02
    assert cache.peek(9) is None                                # past its TTL: not served
    memo.sweep_all()
    assert len(cache) == 0 and cache.bytes == 0
    big = cache.get("big", lambda: torch.zeros(10_000))       # larger than the bound: not kept
    assert big.numel() == 10_000 and cache.bytes == 0


def test_byte_cache_computes_once_for_many_callers_and_shares_user_errors():
    cache = memo.ByteCache("test", max_bytes=10**6)
    calls = []
    release = threading.Event()

    def slow():
        calls.append(1)
        release.wait(30)            # every caller asks while the first computes
        return torch.ones(3)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow)))
               for _ in range(8)]
    for th in threads:
        th.start()
    wait_for(lambda: cache.hits == 7)          # seven callers are waiting on the one computation
    release.set()
    for th in threads:
        th.join()
    assert len(calls) == 1 and len(results) == 8 and all(r is results[0] for r in results)

    fail = threading.Event()

    def bad():
        calls.append(2)
        fail.wait(30)
        raise InputError("empty", code="empty")

    errors = []

    def ask():
        try:
            cache.get("bad", bad)
        except InputError as err:
            errors.append(err.code)

    hits = cache.hits
    threads = [threading.Thread(target=ask) for _ in range(4)]
    for th in threads:
        th.start()
    wait_for(lambda: cache.hits == hits + 3)
    fail.set()
    for th in threads:
        th.join()
    assert errors == ["empty"] * 4 and calls.count(2) == 1
    assert cache.peek("bad") is None              # a failure is not kept


# --- faults heal ----------------------------------------------------------------------

def test_cache_check_notices_truncation_and_rewrites(tmp_path):
    from llm_core.model import convert as models
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x" * 1000)
    (folder / "config.json").write_text("{}")
    models.write_manifest(folder)
    assert models.cache_intact(folder)
    with open(folder / "model.safetensors", "r+b") as f:      # truncated
        f.truncate(500)
    assert not models.cache_intact(folder)
    (folder / "model.safetensors").write_bytes(b"y" * 1000)   # same size, other bytes
    assert not models.cache_intact(folder)
    models.write_manifest(folder)
    st = (folder / "model.safetensors").stat()
    (folder / "model.safetensors").write_bytes(b"z" * 1000)   # … and its time put back
    os.utime(folder / "model.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert models.cache_intact(folder)                         # sizes and times alone miss it
    assert not models.cache_intact(folder, full=True)          # every hash does
    (folder / models.MANIFEST).write_text("not json")
    assert not models.cache_intact(folder)


def test_a_killed_conversions_temporary_folder_goes_at_once(tmp_path):
    """Owned by a living process: kept; its process killed (no time has passed):
    removed; no owner file at all (a damaged cache moved aside): removed."""
    from llm_core.model import convert
    name = convert.SMOLLM2_CACHE_NAME
    mine, killed, aside = (tmp_path / f".tmp-{name}-{x}" for x in ("mine", "killed", "aside"))
    for d in (mine, killed, aside):
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"0" * 100)
    held = convert._owned(mine)                        # this process is converting into it
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(killed / convert.OWNER)!r}, os.O_CREAT | os.O_RDWR)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert convert.remove_dead_temporaries(tmp_path, name) == [aside]
        holder.kill()
        holder.wait(timeout=60)
        assert convert.remove_dead_temporaries(tmp_path, name) == [killed]
        assert mine.exists()
    finally:
        holder.kill()
        os.close(held)
    assert convert.remove_dead_temporaries(tmp_path, name) == [mine]   # released: gone


def _run_py(code: str, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **env})


@pytest.mark.model
def test_an_unusable_cache_folder_gives_one_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    bad = str(blocker / "below")
    out = subprocess.run([sys.executable, "-m", "llm_core", "tokens", "hi"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "LLM_XRAY_CACHE": bad, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "LLM_XRAY_CACHE" in out.stderr, out.stderr
    from llm_core.model.convert import cache_dir
    old = os.environ.get("LLM_XRAY_CACHE")
    os.environ["LLM_XRAY_CACHE"] = bad
    try:
        with pytest.raises(ModelUnavailable) as err:
            cache_dir()
    finally:
        if old is None:
            del os.environ["LLM_XRAY_CACHE"]
        else:
            os.environ["LLM_XRAY_CACHE"] = old
    assert err.value.code == "cache_unusable"
    from ui.i18n import table
    for lang in ("en", "zh"):
        assert "LLM_XRAY_CACHE" in table(lang)["errors.cache_unusable"]


@pytest.mark.model
def test_a_hub_that_does_not_answer_fails_fast_and_blocks_no_one():
    """A local socket that accepts and never replies stands in for a hub behind a
    dead network. While the hub request hangs, the embedded encoder loads (it
    does not wait for the hub's lock); then the connection drops: the hub fails
    after one request (no file downloads, no retries), and asking again answers
    from memory without a new connection. Ordered by events, not by a clock."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    accepted: list[socket.socket] = []
    down = threading.Event()
    dropped = []

    def accept():
        while True:
            try:
                conn, _ = silent.accept()
            except OSError:
                return
            if down.is_set():        # the network is down: any retry is dropped at once
                conn.close()
                dropped.append(1)
            else:
                accepted.append(conn)
    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    code = ("import sys, threading, llm_core\n"
            "from llm_core.model.errors import ModelUnavailable\n"
            "def hub():\n"
            "    try:\n"
            "        llm_core.load_model('gpt2')\n"
            "    except ModelUnavailable as err:\n"
            "        print('HUB', err.code, flush=True)\n"
            "th = threading.Thread(target=hub); th.start()\n"
            "sys.stdin.readline()\n"                     # the hub request is hanging now
            "llm_core.load_model('minilm'); print('MINILM', flush=True)\n"
            "th.join()\n"
            "try:\n"
            "    llm_core.load_model('gpt2')\n"
            "except ModelUnavailable as err:\n"
            "    print('AGAIN', err.code, flush=True)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "0",
           "HF_ENDPOINT": f"http://127.0.0.1:{port}", "LLM_XRAY_HUB_TIMEOUT": "600"}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(accepted) == 1 or proc.poll() is not None, timeout=300)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().split() == ["MINILM"]      # loaded while the hub hung
        down.set()
        for conn in accepted:
            conn.close()                                         # the network gives up
        assert proc.stdout.readline().split() == ["HUB", "hub_failed"]
        retries = len(dropped)
        assert proc.stdout.readline().split() == ["AGAIN", "hub_failed"]
        assert len(dropped) == retries            # asked again: answered from memory
        assert proc.wait(timeout=300) == 0, proc.stderr.read()[-2000:]
    finally:
        proc.kill()
        silent.close()
    # One probe and its few retries, never the model's files.
    assert len(accepted) == 1 and retries <= 5, (len(accepted), retries)


# --- many sessions on one server ----------------------------------------------------

@pytest.fixture(scope="module")
def live_server():
    srv = Server(log_name="streamlit-class-tests.log").start()
    yield srv
    srv.stop()


def _sessions(server, page: str, texts: list[str]):
    """Open one websocket session per text on `page`, then send every text at the
    same moment; return each session's run."""
    import asyncio

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    async def main():
        clients = [Client(server.url) for _ in texts]
        for c in clients:
            await c.connect()
        firsts = await asyncio.gather(*(c.rerun(page) for c in clients))
        widget = text_widget(firsts[0], page or "pipeline")
        runs = await asyncio.gather(*(
            c.rerun(page, [WidgetState(id=widget, string_value=text)])
            for c, text in zip(clients, texts)))
        for c in clients:
            await c.close()
        return runs
    return run_async(main)


@pytest.mark.app
def test_a_fresh_server_serves_a_mix_of_pages_at_once():
    """The first sessions of a new server arrive together on different pages:
    modules imported for the first time in one session's thread must not reach
    another half-made (pandas once did, through plotly)."""
    import asyncio

    pages = ["", "attention", "tokens", "block", "next_token", "logit_lens"] * 2
    srv = Server(log_name="streamlit-class-fresh.log").start()
    try:
        async def main():
            clients = [Client(srv.url) for _ in pages]
            for c in clients:
                await c.connect()
            runs = await asyncio.gather(*(c.rerun(p) for c, p in zip(clients, pages)))
            for c in clients:
                await c.close()
            return runs
        runs = run_async(main)
    finally:
        srv.stop()
    for page, run in zip(pages, runs):
        assert not run.errors, (page or "pipeline", run.errors)
        assert "plotly_chart" in run.kinds, page or "pipeline"


@pytest.mark.app
def test_two_sessions_on_the_attention_page_get_their_own_heatmaps(live_server, decoder):
    texts = ["The animal didn't cross the street because it was too tired.",
             "Yesterday my sister baked bread for the whole street"]
    for _round in range(3):
        runs = _sessions(live_server, "attention", texts)
        for text, run in zip(texts, runs):
            assert not run.errors, run.errors
            shown = torch.from_numpy(chart_data(run, 0, "z").astype("float32"))  # query key
            want = decoder.trace(text).attention_pattern[15, 0]          # layer 15, head 0
            # The page blanks the masked future (NaN); the rest is this text's own
            # trace, to float32 rounding (the server may have run both in one batch).
            future = torch.isnan(shown)
            assert torch.equal(future, torch.ones_like(future).triu(1))
            assert_close(shown.nan_to_num(0.0), want, _bound(decoder), text)
        texts = texts[::-1]


@pytest.mark.app
def test_ten_huge_pastes_at_once_get_a_message_and_others_are_served(live_server):
    huge = "汉字 and words. " * 14_000                         # ~200,000 characters
    texts = [huge] * 10 + ["A normal sentence from the eleventh student."]
    runs = _sessions(live_server, "", texts)
    from ui.i18n import table
    cut = table("en")["common.truncated"].split("{")[0]      # "Your text has "
    for run in runs[:10]:
        assert not run.errors, run.errors
        # The text box keeps its first 50,000 characters, the trace its first
        # 1,024 tokens, and the page says so.
        assert any(s.startswith(cut) and "1024" in s for s in run.texts), "no announced cut"
    normal = runs[10]
    assert not normal.errors and "plotly_chart" in normal.kinds


@pytest.mark.app
def test_numbers_no_box_can_hold_sent_by_a_browser_never_poison_the_session(live_server):
    """A hostile client sends NaN, infinities and a huge integer as widget values:
    each run answers without an error, and so does every run after."""
    import math

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    async def main():
        client = Client(live_server.url)
        await client.connect()
        out = []
        for page, key in (("vectors", "vectors.px"), ("generate", "generate.seed")):
            first = await client.rerun(page)
            wid, kind = first.widgets[key]
            for value in (math.nan, math.inf, -math.inf, 1e308 * 10):
                state = WidgetState(id=wid)
                if kind == "number_input":
                    state.double_value = value
                else:
                    state.string_value = str(value)
                out.append((page, value, (await client.rerun(page, [state])).errors))
            out.append((page, "after", (await client.rerun(page)).errors))
        out.append(("tokens", "after", (await client.rerun("tokens")).errors))
        await client.close()
        return out
    for page, value, errors in run_async(main):
        assert not errors, (page, value, errors)
