"""Memory with a class sweeping layers: N sessions each type their own ~300-token
text on the block page and move the layer slider through all 30 layers (every
layer's detail is computed and cached), then close. The server's RSS is sampled
throughout; after the sessions close and the cache TTL has passed it must come
back near its baseline.

Prints `NAME: ratio=X.XX  (…)` lines; exits 1 on errors. Localhost only, bounded.

    python bench/memory.py [--sessions 10] [--ttl 20] [--settle 90]
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time


from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

import load  # noqa: E402
from harness.server import Server  # noqa: E402
from harness.stream import Client, text_widget  # noqa: E402


def long_text(i: int) -> str:
    """About 300 tokens, different for every session."""
    words = " ".join(f"item{i}x{k}" for k in range(75))
    return f"Session {i} lists its words: {words}."


async def sweep(i: int, url: str, layers: int, errors: list, seconds: list) -> None:
    c = Client(url)
    await c.connect()
    try:
        first = await c.rerun("block")
        text_id = text_widget(first, "block")
        slider = first.widgets.get("block.layer")
        if text_id is None or slider is None:
            errors.append(f"session {i}: no text box or layer slider on the block page")
            return
        states = [WidgetState(id=text_id, string_value=long_text(i))]
        run = await c.rerun("block", states)
        errors.extend(f"session {i}: {e}" for e in run.errors)
        for layer in range(layers):
            s = WidgetState(id=slider[0])
            s.double_array_value.data.append(layer)
            t0 = time.monotonic()
            run = await c.rerun("block", states + [s])
            seconds.append(time.monotonic() - t0)
            errors.extend(f"session {i} layer {layer}: {e}" for e in run.errors)
    finally:
        await c.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--ttl", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=90.0)
    args = ap.parse_args(argv)
    server = Server(log_name="streamlit-memory.log",
                    extra_env={"LLM_XRAY_CACHE_TTL": str(args.ttl),
                               "STREAMLIT_SERVER_DISCONNECTED_SESSION_TTL": str(int(args.ttl))}
                    ).start()
    sampler = load.RssSampler(server.proc.pid)
    sampler.start()
    errors: list[str] = []
    seconds: list[float] = []
    try:
        asyncio.run(load.level(1, server.url, "block", None))     # model load, warm-up
        time.sleep(2)
        baseline = sampler.rss()
        t0 = time.monotonic()

        async def all_sessions():
            await asyncio.gather(*(sweep(i, server.url, args.layers, errors, seconds)
                                   for i in range(args.sessions)))
        asyncio.run(all_sessions())
        wall = time.monotonic() - t0
        peak = sampler.peak(t0)
        after, settle_s = sampler.settle(baseline, args.ttl + 10, args.settle)
    finally:
        sampler.stop_event.set()
        server.stop()
    for e in errors[:5]:
        print("  " + e, file=sys.stderr)
    mb = load.mb
    print(f"memory_sweep_peak: ratio={peak / baseline:.2f}  (server RSS peak while {args.sessions} "
          f"sessions swept {args.layers} layers of their own ~300-token text on the block page vs "
          f"baseline, {mb(peak)} vs {mb(baseline)}, +{mb(peak - baseline)}; {wall:.0f} s)")
    print(f"memory_sweep_after_close: ratio={after / baseline:.2f}  (server RSS {settle_s:.0f} s "
          f"after they closed vs baseline, {mb(after)} vs {mb(baseline)}; cache and closed-session "
          f"TTL {args.ttl:.0f} s)")
    p50, p95 = load.pct(seconds, 0.5), load.pct(seconds, 0.95)
    print(f"memory_sweep_layer_p95: ratio={p95 / p50:.2f}  (p95 vs p50 of a layer change while all "
          f"swept, {p95:.2f} s vs {p50:.2f} s, {len(seconds)} changes, {len(errors)} errors)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
