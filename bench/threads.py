"""Two busy processes on one machine: how many torch threads each should use.

`make test` runs one pytest worker per core. Each worker (and the servers and
CLIs it starts) computes on one thread, because two processes with a thread per
core each oversubscribe the cores and OpenMP's waiting threads spin against the
other process's work. This measures it: the same work (greedy answers, then
batched forward passes) alone and as one of two processes at once, with one
thread and with one per core.

Prints `NAME: ratio=X.XX  (…)` lines: each pair's time against the same work alone.

    python bench/threads.py
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

WORK = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
import llm_core
from llm_core.generate import greedy_answer
handle = llm_core.load_model("smollm2")
greedy_answer(handle, "Hi", max_new_tokens=2)
t0 = time.perf_counter()
for q in ("What is the capital of France?", "Name a colour.", "What is two plus two?"):
    greedy_answer(handle, q, max_new_tokens=24)
t1 = time.perf_counter()
with torch.inference_mode():
    for _ in range(10):
        handle.model(torch.randint(0, 1000, (4, 64)))
print(t1 - t0, time.perf_counter() - t1)
"""


def run(threads: int, copies: int) -> tuple[float, float]:
    """(decode s, forward s) of the slowest of `copies` processes started together."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS=str(threads))
    procs = [subprocess.Popen([sys.executable, "-c", WORK, str(threads)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(copies)]
    outs = [tuple(map(float, p.communicate(timeout=600)[0].split())) for p in procs]
    return max(o[0] for o in outs), max(o[1] for o in outs)


def main() -> int:
    cores = os.cpu_count() or 1
    started = time.monotonic()
    for threads in sorted({1, cores}):
        alone, pair = run(threads, 1), run(threads, 2)
        for i, what in enumerate(("decode", "forward")):
            print(f"threads_{what}_t{threads}: ratio={pair[i] / alone[i]:.2f}  (two processes at "
                  f"once vs one alone, {threads} thread(s) each, {cores} cores: "
                  f"{pair[i]:.2f} s vs {alone[i]:.2f} s)")
    print(f"# {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
