"""Jobs share the machine fairly: turns at the gate (short jobs' steps first),
lanes that admit in order and tell a job its place, cancel between two steps,
estimates measured from the job's own steps, shared runs watched by others."""
from __future__ import annotations

import threading

import pytest
import torch

from harness.waiting import wait_for
from llm_core.model import memo
from llm_core.model.work import Cancelled, Gate, Work


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_long_steps_wait_while_a_short_job_runs_but_never_starve():
    clock = Clock()
    gate, order = Gate(patience=5.0, clock=clock), []
    done = threading.Event()

    def long_step():
        gate.acquire("long")
        order.append("long")
        gate.release()
        done.set()

    with gate.short_job():                       # a generation between two of its tokens
        th = threading.Thread(target=long_step)
        th.start()
        wait_for(lambda: gate.waiting("long") == 1)
        assert not done.wait(0.2)                 # held back while the short job runs
        clock.now += 5.0                          # … until it has waited its patience
        assert done.wait(60)
    th.join(60)
    assert order == ["long"]


def test_the_gate_serves_short_steps_first_then_in_order():
    gate, order = Gate(), []
    gate.acquire("long")                                  # a training step holds the machine
    waiters = []
    for name, lane in (("long-1", "long"), ("short-1", "short"), ("long-2", "long"), ("short-2", "short")):
        def take(name=name, lane=lane):
            gate.acquire(lane)
            order.append(name)
            gate.release()
        th = threading.Thread(target=take)
        th.start()
        waiters.append(th)
        wait_for(lambda: gate.waiting("short") + gate.waiting("long") == len(waiters))
    gate.release()
    for th in waiters:
        th.join(60)
    assert order == ["short-1", "short-2", "long-1", "long-2"]


def test_a_cancelled_job_stops_at_its_next_turn_and_its_estimate_is_measured():
    clock, seen = Clock(), []
    work = Work(seen.append, clock=clock, gate=Gate())
    work.start_phase("train", 10)
    assert seen[-1].seconds_left is None                   # nothing measured yet: no guess
    for step in range(1, 3):
        with work.turn():
            clock.now += 2.0                               # each step takes 2 s on this machine
        work.progress("train", step, 10)
    assert seen[-1].seconds_left == pytest.approx(16.0)    # 8 steps to go at 2 s each
    clock.now += 6.0                                       # the next one is slow (busy machine)
    work.progress("train", 3, 10)
    assert seen[-1].seconds_left == pytest.approx(10 / 3 * 7)
    work.cancel()
    with pytest.raises(Cancelled):
        with work.turn():
            pytest.fail("a cancelled job took another step")
    with pytest.raises(Cancelled):
        work.progress("train", 4, 10)


def test_a_lane_admits_in_order_and_tells_each_job_its_place():
    from ui.jobs import Lane

    lane, told, admitted = Lane("long", slots=1), {}, []
    release = threading.Event()

    def job(name):
        with lane.slot(lambda ahead: told.setdefault(name, []).append(ahead)):
            admitted.append(name)
            if name == "first":
                release.wait(60)

    first = threading.Thread(target=job, args=("first",))
    first.start()
    wait_for(lambda: admitted == ["first"])
    others = [threading.Thread(target=job, args=(n,)) for n in ("second", "third")]
    for th in others:
        th.start()
        wait_for(lambda th=th: len(told) == others.index(th) + 1)
    assert told["second"][0] == 1 and told["third"][0] == 2
    release.set()
    for th in [first, *others]:
        th.join(60)
    assert admitted == ["first", "second", "third"] and lane.running == 0


def test_a_lane_with_a_budget_admits_by_bytes_in_order_and_never_locks():
    from ui.jobs import Lane

    lane, told, admitted = Lane("short", slots=8, budget=10), {}, []
    release = {name: threading.Event() for name in ("a", "b", "c", "huge", "d")}
    release["d"].set()

    def job(name, cost):
        with lane.slot(lambda ahead: told.setdefault(name, []).append(ahead), cost):
            admitted.append(name)
            release[name].wait(60)

    def start(name, cost):
        th = threading.Thread(target=job, args=(name, cost))
        th.start()
        return th

    threads = [start("a", 6)]
    wait_for(lambda: admitted == ["a"])
    threads.append(start("b", 6))                 # 6 + 6 > 10: waits for a
    wait_for(lambda: "b" in told)
    threads.append(start("c", 2))                 # would fit (8), but b came first
    wait_for(lambda: "c" in told)
    assert admitted == ["a"] and told["b"][0] == 1 and told["c"][0] == 2
    assert lane.held == 6
    release["a"].set()
    wait_for(lambda: sorted(admitted) == ["a", "b", "c"])   # 6 + 2 fit together
    assert lane.held == 8 and lane.running == 2
    threads.append(start("huge", 50))             # larger than the budget: waits for both,
    wait_for(lambda: "huge" in told)
    threads.append(start("d", 1))                 # and what comes after it waits behind it
    wait_for(lambda: "d" in told)
    assert told["huge"][0] == 1 and told["d"][0] == 2
    release["b"].set(), release["c"].set()
    wait_for(lambda: "huge" in admitted)          # then runs alone
    assert lane.running == 1 and lane.held == 50 and "d" not in admitted
    release["huge"].set()
    for th in threads:
        th.join(60)
    assert admitted[-2:] == ["huge", "d"]
    assert lane.held == 0 and lane.running == 0 and not lane._queue


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_a_short_jobs_size_is_the_key_value_cache_it_holds(family):
    """What the short lane admits by is what the model's cache really holds."""
    from llm_core.model import tiny
    from llm_core.model.handle import handle_from_model
    from llm_core.model.sampling import cache_bytes

    model, tokenizer = tiny.tiny_model(family, vocab=300 if family == "gpt2" else None)
    handle = handle_from_model(family, model, tokenizer)
    answers, tokens = 3, 11
    with torch.inference_mode():
        cache = model(input_ids=torch.ones(answers, tokens, dtype=torch.long),
                      use_cache=True).past_key_values
    held = sum(t.numel() * t.element_size() for layer in cache.layers
               for t in (layer.keys, layer.values))
    assert cache_bytes(handle, answers, tokens) == held > 0


def test_a_lane_forgets_a_job_that_stops_waiting():
    from ui.jobs import Lane

    lane = Lane("long", slots=1)

    class Gone(Exception):
        pass

    def give_up(_ahead):
        raise Gone()                      # a Cancel click or a closed tab while queued

    with lane.slot(lambda _a: None):
        with pytest.raises(Gone):
            with lane.slot(give_up):
                pass
    assert not lane._queue and lane.running == 0
    with lane.slot(lambda _a: pytest.fail("the lane is free: no wait")):
        pass


def test_a_shared_run_is_watched_by_whoever_asks_the_same():
    cache = memo.ByteCache("shared-jobs", max_bytes=10**6)
    started, finish, ticks = threading.Event(), threading.Event(), []

    def owner():
        started.set()
        finish.wait(60)
        return torch.ones(2)

    results = []
    th = threading.Thread(target=lambda: results.append(cache.get("job", owner)))
    th.start()
    started.wait(60)

    def watch():
        ticks.append(1)
        if len(ticks) == 3:
            finish.set()
    got = cache.get("job", lambda: pytest.fail("computed twice"), waiting=watch, every=0.01)
    th.join(60)
    assert got is results[0] and len(ticks) >= 3


@pytest.mark.model
def test_a_generation_finishes_while_a_long_job_is_still_running(decoder):
    """The real thing: a long job (measuring the model on forty texts, one turn
    each) runs; a generation (short lane) asked meanwhile gets the turns while it
    runs and is done within a step or two of the long job's, long before its end."""
    from llm_core import generate as gen
    from llm_core.model import copies
    from llm_core.model.work import GATE

    events, lock = [], threading.Lock()

    def note(what):
        with lock:
            events.append(what)

    texts = [f"Sentence number {i} says something about rivers and the sea." for i in range(40)]
    long = threading.Thread(target=copies.log_probs, args=(decoder, texts), kwargs={
        "work": Work(lambda p: note(f"long {p.done}"), lane="long", gate=GATE)})
    long.start()
    wait_for(lambda: "long 2" in events)                    # the long job is under way
    prompt = gen.prompt_ids(decoder, "What is the capital of France?", chat=True)
    note("asked")
    with Work(lane="short", gate=GATE).running() as work:
        steps = list(gen.generate(decoder, prompt, max_new_tokens=12, temperature=0, work=work))
    note("generated")
    long.join(600)
    assert len(steps) >= 3
    longs = [e for e in events if e.startswith("long")]
    assert events.index("generated") < events.index(longs[-1])       # done before the long job was
    between = events[events.index("asked"):events.index("generated")]
    assert len([e for e in between if e.startswith("long")]) <= 2    # it waited a step or two


def test_an_answer_cut_by_a_limit_says_so():
    from llm_core.generate import Generation
    whole = Generation(3, (1, 2), (), "Paris.", "eos", 0.1, 0)
    cut = Generation(3, (1, 2), (), "The capital of ", "length", 0.1, 0)
    assert whole.shown_text == "Paris." and not whole.cut
    assert cut.shown_text == "The capital of …" and cut.cut


def test_two_jobs_asking_for_a_shared_part_at_once_share_one_measurement():
    """caches.shared_part: the first job measures, the second waits (shown its
    phase), both get the same numbers, measured once. A waiting job that is
    cancelled stops waiting; when the measuring job is cancelled, the next one
    to ask measures it itself."""
    from llm_core.model.caches import JOB_RESULTS, shared_part
    key = ("test", "shared part", id(object()))
    go, calls = threading.Event(), []

    def measure(tag):
        calls.append(tag)
        go.wait(60)                   # a hang guard: the test releases it
        return torch.tensor([1.5, 2.5])

    first, second, third = Work(gate=None), Work(gate=None), Work(gate=None)
    seen_waiting, got, errors = [], {}, []
    second._report = lambda p: seen_waiting.append((p.phase, p.done, p.total))
    third._report = lambda p: third.cancel()          # gives up at its first wait

    def ask(name, work):
        try:
            got[name] = shared_part(key, lambda: measure(name), work, "baseline")
        except Cancelled:
            errors.append(name)
    threads = [threading.Thread(target=ask, args=("first", first))]
    threads[0].start()
    wait_for(lambda: calls == ["first"])
    threads += [threading.Thread(target=ask, args=(n, w)) for n, w in (("second", second), ("third", third))]
    for th in threads[1:]:
        th.start()
    wait_for(lambda: seen_waiting and errors == ["third"])
    go.set()
    for th in threads:
        th.join(60)
    assert calls == ["first"] and errors == ["third"]
    assert got["second"] is got["first"] and torch.equal(got["first"], torch.tensor([1.5, 2.5]))
    assert seen_waiting[0] == ("baseline", 0, 0)

    # The measuring job cancelled: a later asker measures anew.
    key2, started, go2, owner = key + ("again",), threading.Event(), threading.Event(), Work(gate=None)

    def cancelled_measure():
        started.set()
        go2.wait(60)
        owner.check()                 # its next step: the cancel stops it

    def ask_and_be_cancelled():
        try:
            shared_part(key2, cancelled_measure, owner, "before")
        except Cancelled:
            errors.append("owner")
    th = threading.Thread(target=ask_and_be_cancelled)
    th.start()
    started.wait(60)
    owner.cancel()
    go2.set()
    th.join(60)
    assert errors[-1] == "owner"
    assert shared_part(key2, lambda: "measured anew", Work(gate=None), "before") == "measured anew"
