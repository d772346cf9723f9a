"""The benchmark text and timing, shared by bench/trace.py and bench/peers.py (no llm_core
import: the peers' virtualenv may not run it)."""
from __future__ import annotations

WORDS = ("the model reads every token once and keeps what the lesson needs to show "
         "students how attention and the residual stream work together ").split()


def text_of(count, n_tokens: int) -> str:
    """A text of at most n_tokens tokens; `count(text)` gives its token count."""
    words = (WORDS * (n_tokens // len(WORDS) + 2))
    lo, hi = 1, len(words)
    while lo < hi:  # longest prefix with at most n_tokens tokens
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= n_tokens:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def median_times(fns, repeat: int) -> list[float]:
    """Median seconds of each function, run in turns (one warm-up each first), so
    a drift of the machine's load touches them all alike."""
    import statistics
    import time

    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, kept in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - t0)
    return [statistics.median(t) for t in times]
