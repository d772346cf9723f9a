"""A class shares one machine fairly: while two long jobs run (a fine-tuning and a
distillation) and the class works (8 sessions generating, 8 tracing texts of their
own on the attention page, over and over), how long

- does a generation wait (pressed until its answer is there: short jobs have a
  lane and the machine's turns of their own),
- does a newcomer wait for the first page, the context page and the context-window
  page (their first figure),
- does a Cancel take to stop a running long job (its script run ends, its slot is free),

each against the same on a quiet server. Prints `NAME: ratio=X.XX  (…)` lines; exits
1 on errors. Localhost only, bounded.

    python bench/fairness.py [--generators 8] [--tracers 8]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time

from streamlit.proto.WidgetStates_pb2 import WidgetState

from harness.server import Server
from harness.stream import Client, button, press_after_typing, slider_state, text_widget
from load import pct

NEWCOMER_PAGES = ["", "context", "context_window"]
GEN_TOKENS = 8


FIRST_TOKEN = "Step 1:"          # the generate page's live line (English) once a token is drawn


async def generate_once(c: Client, prompt: str) -> tuple[float, list]:
    """Seconds from pressing Generate until the first token shows on the page."""
    first = await c.rerun("generate")
    box, press = text_widget(first, "generate"), button(first, "generate")
    states = [WidgetState(id=box, string_value=prompt)] + slider_state(first, "generate.max_new", GEN_TOKENS)
    typed, run = await press_after_typing(c, "generate", states, press, watch=(FIRST_TOKEN,))
    started = run.first_text.get(FIRST_TOKEN)
    return (started if started is not None else run.seconds), typed.errors + run.errors + (
        [] if started is not None else ["no token shown"])


async def newcomer(url: str, page: str) -> tuple[float, list]:
    c = Client(url)
    t0 = time.monotonic()
    await c.connect()
    run = await c.rerun(page)
    await c.close()
    return time.monotonic() - t0, run.errors + ([] if "plotly_chart" in run.kinds else [f"no figure on {page!r}"])


async def long_job(url: str, page: str, press: str, stop: asyncio.Event, errors: list,
                   extra=lambda first: []) -> None:
    """Press the page's button again and again until told to stop (then Cancel)."""
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun(page)
        states = [WidgetState(id=first.widgets[press][0], trigger_value=True)] + extra(first)
        while not stop.is_set():
            started = await c.send(page, states)
            done = asyncio.ensure_future(c.collect(started, timeout=900))
            while not done.done() and not stop.is_set():
                await asyncio.sleep(0.2)
            if not done.done() and f"{page}.cancel" in c.live:     # stop: Cancel the running job
                await c.send(page, [WidgetState(id=c.live[f"{page}.cancel"][0], trigger_value=True)])
            run = await done
            errors.extend(f"{page}: {e}" for e in run.errors)
    finally:
        await c.close()


async def looper(url: str, i: int, kind: str, stop: asyncio.Event, errors: list) -> None:
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun("attention" if kind == "trace" else "generate")
        k = 0
        while not stop.is_set():
            k += 1
            if kind == "trace":
                box = text_widget(first, "attention")
                text = f"Student {i} round {k} writes about rivers and mountains " * 4
                run = await c.rerun("attention", [WidgetState(id=box, string_value=text)])
                errors.extend(run.errors)
            else:
                _s, errs = await generate_once(c, f"Tell a story about the number {i} {k}.")
                errors.extend(errs)
    finally:
        await c.close()


async def cancel_time(url: str) -> tuple[float, list]:
    """Start a fine-tuning, wait until it trains, press Cancel: how long until its run ended."""
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun("finetune")
        started = await c.send("finetune", [WidgetState(id=first.widgets["finetune.train"][0],
                                                        trigger_value=True)])
        collecting = asyncio.ensure_future(c.collect(started, timeout=900, until_first_run_ends=True))
        await asyncio.sleep(8)                      # well into its measurements or training
        while "finetune.cancel" not in c.live:      # queued behind the other long job: its turn first
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        pressed = await c.send("finetune", [WidgetState(id=c.live["finetune.cancel"][0],
                                                        trigger_value=True)])
        run = await collecting                      # ends as the Cancel's own run starts
        stopped = time.monotonic() - pressed
        await c.collect(pressed, timeout=300)       # the Cancel's own run
        return stopped, run.errors + ([] if run.status == "interrupted" else ["the job was not stopped"])
    finally:
        await c.close()


async def measure(url: str, rounds: int) -> dict:
    out = {"gen": [], "errors": []}
    c = Client(url)
    await c.connect()
    for r in range(rounds):
        seconds, errs = await generate_once(c, f"Name a colour, round {r}.")
        out["gen"].append(seconds)
        out["errors"] += errs
    await c.close()
    for page in NEWCOMER_PAGES:
        seconds, errs = await newcomer(url, page)
        out[page or "pipeline"] = seconds
        out["errors"] += errs
    out["cancel"], errs = await cancel_time(url)
    out["errors"] += errs
    return out


async def busy(url: str, generators: int, tracers: int, rounds: int) -> tuple[dict, list]:
    stop, errors = asyncio.Event(), []
    workers = [asyncio.ensure_future(long_job(url, "finetune", "finetune.train", stop, errors)),
               asyncio.ensure_future(long_job(url, "distillation", "distillation.run", stop, errors))]
    workers += [asyncio.ensure_future(looper(url, i, "gen", stop, errors)) for i in range(generators)]
    workers += [asyncio.ensure_future(looper(url, i, "trace", stop, errors)) for i in range(tracers)]
    await asyncio.sleep(20)                          # the class is at work, the long jobs under way
    try:
        result = await measure(url, rounds)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    return result, errors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generators", type=int, default=8)
    parser.add_argument("--tracers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5, help="generations measured")
    args = parser.parse_args(argv)
    server = Server(log_name="streamlit-fairness.log").start()
    try:
        asyncio.run(measure(server.url, 1))                  # warm-up: models, caches
        quiet = asyncio.run(measure(server.url, args.rounds))
        loaded, background = asyncio.run(busy(server.url, args.generators, args.tracers, args.rounds))
        alive = server.alive()
    finally:
        server.stop()
    what = f"{args.generators} generating, {args.tracers} tracing, a fine-tuning and a distillation running"
    g_busy, g_quiet = pct(loaded["gen"], 0.95), pct(quiet["gen"], 0.95)
    print(f"fairness_generate_start_p95: ratio={g_busy / g_quiet:.2f}  (a generation, pressed until "
          f"its first token shows, while {what} vs quiet: {g_busy:.2f} s vs {g_quiet:.2f} s)")
    for page in NEWCOMER_PAGES:
        name = page or "pipeline"
        print(f"fairness_newcomer_{name}: ratio={loaded[name] / quiet[name]:.2f}  (a newcomer's "
              f"{name} page to its first figure while {what} vs quiet: {loaded[name]:.2f} s vs "
              f"{quiet[name]:.2f} s)")
    print(f"fairness_cancel: ratio={loaded['cancel'] / quiet['cancel']:.2f}  (Cancel pressed on a "
          f"running fine-tuning until its run ended, while {what} vs quiet: {loaded['cancel']:.2f} s "
          f"vs {quiet['cancel']:.2f} s)")
    errors = quiet["errors"] + loaded["errors"] + background
    for e in errors[:5]:
        print("  " + e, file=sys.stderr)
    return 1 if errors or not alive else 0


if __name__ == "__main__":
    sys.exit(main())
