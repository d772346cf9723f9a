"""A newcomer while the class works: 8 sessions generate (Generate pressed on the
generation page) and 8 others trace long texts of their own on the attention
page, over and over; meanwhile newcomers open the app's first page. How long
does a newcomer wait for the first page, against the same on a quiet server?

Prints `NAME: ratio=X.XX  (…)` lines; exits 1 on errors. Localhost only, bounded.

    python bench/newcomer.py [--generators 8] [--tracers 8] [--newcomers 5]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time


from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

import load  # noqa: E402
from harness.server import Server  # noqa: E402
from harness.stream import Client, button, press_after_typing, text_widget  # noqa: E402


DONE = {"answers": 0, "queue gave up": 0, "traces": 0}


async def newcomer(url: str) -> tuple[float, list]:
    c = Client(url)
    t0 = time.monotonic()
    await c.connect()
    run = await c.rerun("")
    seconds = time.monotonic() - t0
    await c.close()
    return seconds, run.errors + ([] if "plotly_chart" in run.kinds else ["no figure"])


async def generator(i: int, url: str, stop: asyncio.Event, errors: list) -> None:
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun("generate")
        prompt, press = text_widget(first, "generate"), button(first, "generate")
        while not stop.is_set():
            typed, run = await press_after_typing(
                c, "generate", [WidgetState(id=prompt, string_value=f"Tell a story about the number {i}.")],
                press)
            errors.extend(f"generator {i}: {e}" for e in typed.errors + run.errors)
            DONE["answers" if "plotly_chart" in run.kinds else "queue gave up"] += 1
    finally:
        await c.close()


async def tracer(i: int, url: str, stop: asyncio.Event, errors: list) -> None:
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun("attention")
        box = text_widget(first, "attention")
        k = 0
        while not stop.is_set():
            words = " ".join(f"w{i}x{k}x{j}" for j in range(60))
            run = await c.rerun("attention", [WidgetState(id=box, string_value=words)])
            errors.extend(f"tracer {i}: {e}" for e in run.errors)
            DONE["traces"] += 1
            k += 1
    finally:
        await c.close()


async def busy_class(url: str, n_gen: int, n_trace: int, n_new: int, errors: list) -> list:
    stop = asyncio.Event()
    workers = [asyncio.create_task(generator(i, url, stop, errors)) for i in range(n_gen)]
    workers += [asyncio.create_task(tracer(i, url, stop, errors)) for i in range(n_trace)]
    await asyncio.sleep(8)               # everyone under way: generation queued, traces running
    times = []
    for _ in range(n_new):
        seconds, errs = await newcomer(url)
        times.append(seconds)
        errors.extend(f"newcomer: {e}" for e in errs)
        await asyncio.sleep(1)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*workers), timeout=600)
    return times


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generators", type=int, default=8)
    ap.add_argument("--tracers", type=int, default=8)
    ap.add_argument("--newcomers", type=int, default=5)
    args = ap.parse_args(argv)
    server = Server(log_name="streamlit-newcomer.log").start()
    errors: list[str] = []
    try:
        asyncio.run(newcomer(server.url))                    # model load, first page cached
        quiet = [asyncio.run(newcomer(server.url))[0] for _ in range(args.newcomers)]
        busy = asyncio.run(busy_class(server.url, args.generators, args.tracers, args.newcomers,
                                      errors))
    finally:
        server.stop()
    for e in errors[:5]:
        print("  " + e, file=sys.stderr)
    q, b = load.pct(quiet, 0.5), load.pct(busy, 0.95)
    print(f"newcomer_first_page: ratio={b / q:.2f}  (p95 of {len(busy)} newcomers' first page "
          f"while {args.generators} sessions generate and {args.tracers} trace vs median on a quiet "
          f"server, {b:.2f} s vs {q:.2f} s; worst {max(busy):.2f} s; meanwhile {DONE['traces']} traces, "
          f"{DONE['answers']} answers; {len(errors)} errors)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
