"""Many students at once: N concurrent sessions against one `streamlit run app.py`.

Each session is a lightweight websocket client that speaks Streamlit's own
protocol (what the browser sends: a rerun with the widget values), so 30 of them
fit on a 2-core laptop next to the server; 30 headless browsers would not.
Each session opens the text page, types its own distinct text, then (when the
generate page exists) types a prompt and presses Generate.

Measured per level N (default 1, 10, 30):
- page-update latency: from sending the new widget value to the server's
  "script finished" message (server work + transfer; the browser's drawing is
  not included), p50 and p95;
- errors: exception elements, error boxes, dropped connections, timeouts;
- cross-talk: a session whose view holds another session's text;
- the server's RSS (with its child processes) over time, and after the
  sessions close, against the baseline taken after a warm-up session;
- the machine's speed in this run: one forward pass over the level's texts
  together, in this process while the server is idle (`load_forward_n*`), so
  that a p95 from a slow hour of a shared machine can be told from a slower app.

Prints `NAME: ratio=X.XX  (…)` lines; exits 1 on errors or cross-talk.
Bounded: localhost only, a fixed number of sessions and steps, per-step timeouts.

    python bench/load.py [--levels 1,10,30] [--generate-levels 1,10] [--page tokens] [--no-generate]
                         [--busy 1]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

# First, as in the app: the server's OpenMP settings (ui/__init__.py) for this
# process's own forward pass (forward_alone): beside a busy process (--busy 1)
# it took 2.4-2.5 s with libgomp's default spin, 1.4 s with the server's.
import ui  # noqa: F401,E402
import psutil  # noqa: E402
import websockets
from streamlit.proto.WidgetStates_pb2 import WidgetState

from harness import ROOT
from harness.server import Server, app_pages
from harness.stream import (Client, Run, button, chart_data, press_after_typing, slider_state,
                            text_widget)

GEN_TOKENS = 8         # new tokens per generated answer


# Pages that show the typed text whole (others split it into token labels): there
# a session's own marker must appear; on every page no other session's may.
SHOWS_TEXT = {"pipeline", "tokens"}
LEVEL = {"n": 0}   # which level runs: texts differ per level, so none is already cached


def marker(i: int) -> str:
    """Text only session i of this level types: fixed width, so no marker contains another."""
    return f"zebra{LEVEL['n']:02d}x{i:03d}q"


def session_text(i: int) -> str:
    return f"Student {marker(i)} asks why the sky is blue."


@dataclass
class Outcome:
    latencies: list = field(default_factory=list)      # text page updates
    by_page: dict = field(default_factory=dict)        # page → its text page updates
    gen_latencies: list = field(default_factory=list)  # generate presses
    errors: list = field(default_factory=list)
    crosstalk: list = field(default_factory=list)
    queued: int = 0
    gave_up: int = 0
    numbers: dict = field(default_factory=dict)        # session → ‖residual‖ the page showed
    compared: int = 0
    cpu_s: float = 0.0     # the server's CPU seconds over the level
    forward_s: float = 0.0  # the level's texts traced together, alone in this process


def _check_view(i: int, n: int, run: Run, what: str, out: Outcome, own_text=True) -> None:
    blob = "\n".join(run.texts)
    if own_text and marker(i) not in blob:
        out.errors.append(f"session {i}: its own text is not on the {what} page")
    others = [j for j in range(n) if j != i and marker(j) in blob]
    if others:
        out.crosstalk.append(f"session {i} sees sessions {others[:5]} on the {what} page")


async def one_session(i: int, n: int, base_url: str, text_page: str, gen_page: str | None,
                      out: Outcome, barrier: asyncio.Barrier) -> None:
    client = Client(base_url)
    waited = False
    try:
        await client.connect()
        first = await client.rerun(text_page)
        out.errors += [f"session {i}: {e}" for e in first.errors]
        prefix = text_page or "pipeline"
        wid = text_widget(first, prefix)
        if wid is None:
            out.errors.append(f"session {i}: no text box on '{text_page}'")
            return
        state = WidgetState(id=wid, string_value=session_text(i))
        run = await client.rerun(text_page, [state])
        out.latencies.append(run.seconds)
        out.by_page.setdefault(text_page or "pipeline", []).append(run.seconds)
        out.errors += [f"session {i}: {e}" for e in run.errors]
        _check_view(i, n, run, text_page or "pipeline", out,
                    own_text=(text_page or "pipeline") in SHOWS_TEXT)
        shown = chart_data(run, "pipeline.fig_resid", "customdata")   # pos layer+1, the pipeline page
        if shown is not None:
            out.numbers[i] = shown
        # Everyone types before anyone generates: the text latencies are not
        # measured against generation running beside them.
        waited = True
        await barrier.wait()
        if gen_page:
            first = await client.rerun(gen_page)
            gprefix = gen_page.replace("-", "_")
            gwid, press = text_widget(first, gprefix), button(first, gprefix)
            if gwid is None or press is None:
                out.errors.append(f"session {i}: no prompt box or button on '{gen_page}'")
                return
            states = ([WidgetState(id=gwid, string_value=f"Repeat exactly: {marker(i)}")]
                      + slider_state(first, f"{gprefix}.max_new", GEN_TOKENS))  # short answers
            typed, run = await press_after_typing(client, gen_page, states, press)
            out.errors += [f"session {i}: {e}" for e in typed.errors]
            out.gen_latencies.append(run.seconds)
            out.queued += run.queued
            out.gave_up += run.gave_up
            out.errors += [f"session {i}: {e}" for e in run.errors]
            if "plotly_chart" not in run.kinds and not run.gave_up:
                out.errors.append(f"session {i}: no answer on the {gen_page} page")
            _check_view(i, n, run, gen_page, out, own_text=False)
    except (OSError, asyncio.TimeoutError, websockets.ConnectionClosed) as err:
        out.errors.append(f"session {i}: {type(err).__name__}: {err}")
    finally:
        if not waited:
            await barrier.wait()
        await client.close()


class RssSampler(threading.Thread):
    """The server's resident memory (process and children) every `every` s."""

    def __init__(self, pid: int, every: float = 0.25):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self.stop_event = threading.Event()

    def rss(self) -> int:
        total = 0
        for p in [self.proc] + self.proc.children(recursive=True):
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self):
        while not self.stop_event.is_set():
            self.samples.append((time.monotonic(), self.rss()))
            self.stop_event.wait(self.every)

    def settle(self, baseline: int, at_least: float, at_most: float) -> tuple[int, float]:
        """(RSS, seconds waited) once it is within 10 % of `baseline` and `at_least`
        seconds have passed (the caches' TTL), or after `at_most` seconds."""
        start = time.monotonic()
        rss = self.rss()
        while time.monotonic() - start < at_most and (
                rss > baseline * 1.10 or time.monotonic() - start < at_least):
            time.sleep(1)
            rss = self.rss()
        return rss, time.monotonic() - start

    def cpu(self) -> float:
        """CPU seconds the server has used so far (user + system, all its threads):
        less at the mercy of a noisy machine than the latencies."""
        times = self.proc.cpu_times()
        return times.user + times.system

    def peak(self, since: float) -> int:
        return max((r for t, r in self.samples if t >= since), default=self.rss())


def pct(values, q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def check_numbers(out: Outcome) -> int:
    """Each session's figure data against its text traced alone, in this process,
    after the level (not during it: the timing is the server's alone). Returns
    how many sessions were compared; mismatches go to cross-talk."""
    if not out.numbers:
        return 0
    import numpy as np

    import llm_core
    handle = llm_core.load_model()
    for i, shown in sorted(out.numbers.items()):
        solo = handle.trace(session_text(i))
        want = solo.residual[:, -shown.shape[0]:].norm(dim=-1).T.numpy()   # pos layer+1
        # float32 norms of vectors up to ~3e4 long: 1e-5 relative is a few ulps.
        if want.shape != shown.shape or not np.allclose(shown, want, rtol=1e-5, atol=1e-4):
            out.crosstalk.append(f"session {i}: its residual figure differs from its solo trace")
    return len(out.numbers)


def forward_alone(n: int) -> float:
    """Median seconds of one forward pass over the level's n texts together (the
    batch the server runs for a class), in this process while the server is idle:
    how fast this machine is now. The same VM ran that pass in 0.67 s one hour and
    1.0 s another, and a page's p95 moves with it; the ratio of the two tells a
    slower app from a slower machine."""
    import llm_core
    from _text import median_times

    handle = llm_core.load_model()
    texts = [session_text(i) for i in range(n)]
    return median_times([lambda: handle.trace_many(texts)], repeat=3)[0]


async def level(n: int, base_url: str, text_page: str, gen_page: str | None) -> Outcome:
    LEVEL["n"] += 1
    out = Outcome()
    barrier = asyncio.Barrier(n)
    pages = text_page.split(",")     # a mix: session i on pages[i % len]
    await asyncio.gather(*(one_session(i, n, base_url, pages[i % len(pages)], gen_page, out, barrier)
                           for i in range(n)))
    return out


def mb(x: int) -> str:
    return f"{x / 2**20:.0f} MB"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=os.environ.get("LOAD_LEVELS", "1,10,30"),
                        help="numbers of concurrent sessions, e.g. 1,10,30")
    parser.add_argument("--page", default=None,
                        help="text page url path, or several separated by commas for a mix "
                             "('' is the pipeline page; default: tokens)")
    parser.add_argument("--no-generate", action="store_true", help="skip the generate page")
    parser.add_argument("--generate-levels", default=os.environ.get("LOAD_GENERATE_LEVELS", "1,10"),
                        help="levels whose sessions also generate (one generation slot per "
                             "2 cores: 30 answers queue for minutes on a laptop, by design)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds to wait for memory to come back after the sessions close")
    parser.add_argument("--busy", type=int, default=0,
                        help="busy-loop processes to run beside the server (a machine that also "
                             "does something else)")
    parser.add_argument("--ttl", type=float, default=20.0,
                        help="the server's cache expiry (LLM_XRAY_CACHE_TTL) and closed-session "
                             "lifetime for this run, so the memory after close is measured past both")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    gen_levels = {int(x) for x in args.generate_levels.split(",") if x.strip()}

    existing = {name for _s, name, _i in app_pages() if (ROOT / "pages" / f"{name}.py").exists()}
    text_page = args.page if args.page is not None else ("tokens" if "tokens" in existing else "")
    gen_page = "generate" if "generate" in existing and not args.no_generate else None

    server = Server(log_name="streamlit-load.log",
                    extra_env={"LLM_XRAY_CACHE_TTL": str(args.ttl),
                               # closed sessions are kept this long for a reconnect (default 120 s)
                               "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(int(args.ttl))}).start()
    sampler = RssSampler(server.proc.pid)
    sampler.start()
    busy = []      # each spins until the bench ends, however it ends (it watches its parent)
    failed = False
    try:
        busy += [subprocess.Popen([sys.executable, "-c", "import os, sys\n"
                                   "while os.getppid() == int(sys.argv[1]): pass", str(os.getpid())])
                 for _ in range(args.busy)]
        started = time.monotonic()
        warm = asyncio.run(level(1, server.url, text_page, gen_page))  # model load, caches
        warm_s = time.monotonic() - started
        if warm.errors:
            print(f"load_warmup: errors: {warm.errors[:3]}", file=sys.stderr)
            return 1
        time.sleep(2)
        baseline = sampler.rss()
        results = []     # one per level, in order: a level may repeat (--levels 1,30,30)
        for n in levels:
            t0, cpu0 = time.monotonic(), sampler.cpu()
            out = asyncio.run(level(n, server.url, text_page,
                                    gen_page if n in gen_levels else None))
            wall = time.monotonic() - t0
            out.cpu_s = sampler.cpu() - cpu0
            results.append((out, wall, sampler.peak(t0)))
            out.compared = check_numbers(out)
            out.forward_s = forward_alone(n)
            failed |= bool(out.errors or out.crosstalk)
            for e in (out.errors + out.crosstalk)[:5]:
                print(f"  N={n}: {e}", file=sys.stderr)
        # After every session has closed: does memory come back?
        after, settle_s = sampler.settle(baseline, args.ttl + 5, args.settle)
        alive = server.alive()
    finally:
        sampler.stop_event.set()
        for proc in busy:
            proc.kill()
            proc.wait()
        server.stop()

    what = (f"'{text_page or 'pipeline'}' page" + ("s" if "," in text_page else "")
            + (f", beside {args.busy} busy-loop process{'es' * (args.busy > 1)}" if args.busy else ""))
    ref_n = levels[0]
    ref_p95 = pct(results[0][0].latencies, 0.95)
    for n, (out, wall, peak) in zip(levels, results):
        p50, p95 = pct(out.latencies, 0.5), pct(out.latencies, 0.95)
        print(f"load_p95_n{n}: ratio={p95 / ref_p95:.2f}  (p95 text-update latency at N={n} vs "
              f"N={ref_n}, {what}, p50 {p50:.2f} s, p95 {p95:.2f} s vs {ref_p95:.2f} s, "
              f"{len(out.latencies)} updates, {wall:.1f} s wall)")
        print(f"load_forward_n{n}: ratio={p95 / out.forward_s:.2f}  (p95 text-update latency at "
              f"N={n} vs one forward pass over the level's {n} texts together, alone in the bench "
              f"process after the level: the machine's speed in this run; {p95:.2f} s vs "
              f"{out.forward_s:.2f} s)")
        if len(out.by_page) > 1:      # a mix: which page is slow
            print(f"load_pages_n{n}: " + ", ".join(
                f"{page} p95 {pct(v, 0.95):.2f} s" for page, v in sorted(out.by_page.items())))
        if out.gen_latencies:
            g50, g95 = pct(out.gen_latencies, 0.5), pct(out.gen_latencies, 0.95)
            print(f"load_generate_n{n}: ratio={g95 / max(g50, 1e-9):.2f}  (p95 vs p50 generate "
                  f"latency at N={n}, {g95:.2f} s vs {g50:.2f} s, {GEN_TOKENS} new tokens each, "
                  f"{out.queued} waited in the queue, {out.gave_up} gave up waiting)")
        total = len(out.latencies) + len(out.gen_latencies)
        print(f"load_errors_n{n}: ratio={len(out.errors) / max(1, n):.2f}  (errors per session at "
              f"N={n}: {len(out.errors)} errors, {len(out.crosstalk)} cross-talk, {total} updates, "
              f"figure numbers of {out.compared} sessions checked against their solo traces)")
        print(f"load_rss_peak_n{n}: ratio={peak / baseline:.2f}  (server RSS peak at N={n} vs "
              f"baseline after warm-up, {mb(peak)} vs {mb(baseline)})")
    for n in sorted(set(levels)):
        runs = [out for m, (out, _w, _p) in zip(levels, results) if m == n]
        if len(runs) > 1:         # a level repeated (--levels 1,30,30,30): every update of its runs
            pooled = [x for out in runs for x in out.latencies]
            print(f"load_p95_n{n}_pooled: ratio={pct(pooled, 0.95) / ref_p95:.2f}  (p95 text-update "
                  f"latency over all {len(runs)} runs at N={n}, {len(pooled)} updates: p50 "
                  f"{pct(pooled, 0.5):.2f} s, p95 {pct(pooled, 0.95):.2f} s, worst run's p95 "
                  f"{max(pct(out.latencies, 0.95) for out in runs):.2f} s)")
            forwards = sorted(out.forward_s for out in runs)
            print(f"load_forward_n{n}_pooled: ratio={pct(pooled, 0.95) / pct(forwards, 0.5):.2f}  "
                  f"(pooled p95 vs the median of the runs' forward passes alone: "
                  f"{pct(pooled, 0.95):.2f} s vs " + ", ".join(f"{f:.2f}" for f in forwards) + " s)")
            cpus = sorted(out.cpu_s for out in runs)
            ref_cpu = results[0][0].cpu_s / ref_n
            median = cpus[len(cpus) // 2]
            print(f"load_cpu_n{n}_median: ratio={median / n / ref_cpu:.2f}  (server CPU seconds per "
                  f"session at N={n} vs N={ref_n}, median of {len(runs)} runs: {median / n * 1000:.0f} "
                  f"ms vs {ref_cpu * 1000:.0f} ms; per run " + ", ".join(f"{c:.2f}" for c in cpus) + " s)")
    print(f"load_rss_after_close: ratio={after / baseline:.2f}  (server RSS {settle_s:.0f} s after "
          f"all sessions closed vs baseline, {mb(after)} vs {mb(baseline)}; cache and closed-session "
          f"TTL {args.ttl:.0f} s; warm-up {warm_s:.1f} s)")
    if not alive:
        print("load: the server stopped answering /_stcore/health", file=sys.stderr)
    return 1 if failed or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
