"""A school through the balancer: N concurrent sessions (bench/load.py's
websocket clients, each typing its own text on one page, tokens by default) against
HAProxy in front of 2 replicas, and against the same with 1 replica, on this
machine, in one run. Each websocket is one browser session; HAProxy spreads new
ones over the replicas (leastconn) and keeps each on its replica.

Prints `NAME: ratio=X.XX  (…)`: p95 page-update latency with 2 replicas vs 1,
errors per session, and each replica's memory (RSS after warm-up and peak).
Two cores cannot show much speed-up from a second replica: the point is zero
errors and the numbers for sizing a school. Needs haproxy and redis-server.

    python bench/replicas.py [--levels 30,60]
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

import load  # noqa: E402
from deploy.school import School  # noqa: E402

def run(replicas: int, levels: list[int], page: str) -> dict:
    results = {}
    with School(replicas, log_dir=ROOT / "test-artifacts" / f"bench-school-{replicas}") as school:
        samplers = [load.RssSampler(pid) for pid in school.pids()]
        for s in samplers:
            s.start()
        warm = asyncio.run(load.level(max(2, replicas), school.url, page, None))  # every replica loads
        if warm.errors:
            raise SystemExit(f"warm-up errors: {warm.errors[:3]}")
        time.sleep(2)
        baseline = [s.rss() for s in samplers]
        for n in levels:
            t0 = time.monotonic()
            out = asyncio.run(load.level(n, school.url, page, None))
            results[n] = (out, time.monotonic() - t0, [s.peak(t0) for s in samplers])
        for s in samplers:
            s.stop_event.set()
    return {"levels": results, "baseline": baseline}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="30,60")
    parser.add_argument("--page", default="tokens",
                        help="the page every session types on ('' is the pipeline page)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    missing = [t for t in ("haproxy", "redis-server") if shutil.which(t) is None]
    if missing:
        print(f"school: not run: {', '.join(missing)} not installed "
              f"(apt-get install {' '.join(missing)})", file=sys.stderr)
        return 0
    one, two = run(1, levels, args.page), run(2, levels, args.page)
    failed = False
    for n in levels:
        (o1, w1, _), (o2, w2, peaks) = one["levels"][n], two["levels"][n]
        p1, p2 = load.pct(o1.latencies, 0.95), load.pct(o2.latencies, 0.95)
        print(f"school_p95_n{n}: ratio={p2 / p1:.2f}  (p95 text-update latency on the "
              f"'{args.page or 'pipeline'}' page, {n} sessions, 2 "
              f"replicas vs 1 behind HAProxy: {p2:.2f} s vs {p1:.2f} s; p50 "
              f"{load.pct(o2.latencies, 0.5):.2f} vs {load.pct(o1.latencies, 0.5):.2f} s; "
              f"{w2:.0f} vs {w1:.0f} s wall)")
        for label, out in (("2 replicas", o2), ("1 replica", o1)):
            bad = len(out.errors) + len(out.crosstalk)
            failed |= bool(bad)
            print(f"school_errors_n{n}_{label[0]}: ratio={bad / n:.2f}  (errors per session, {n} "
                  f"sessions, {label}: {len(out.errors)} errors, {len(out.crosstalk)} cross-talk, "
                  f"{len(out.latencies)} updates)")
            for e in (out.errors + out.crosstalk)[:3]:
                print(f"  {e}", file=sys.stderr)
        base = two["baseline"]
        for i, (b, p) in enumerate(zip(base, peaks)):
            print(f"school_rss_replica{i + 1}_n{n}: ratio={p / b:.2f}  (replica {i + 1} RSS peak "
                  f"with {n} sessions over 2 replicas vs its baseline after warm-up, "
                  f"{load.mb(p)} vs {load.mb(b)})")
    b1, peak1 = one["baseline"][0], one["levels"][levels[-1]][2][0]
    print(f"school_rss_single_n{levels[-1]}: ratio={peak1 / b1:.2f}  (the single replica's RSS "
          f"peak with {levels[-1]} sessions vs its baseline, {load.mb(peak1)} vs {load.mb(b1)})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
