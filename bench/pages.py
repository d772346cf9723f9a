"""The block, logit-lens and anatomy pages: server-side render times for a
64-token text.

Prints, per figure, `NAME: ratio=X.XX  (what, sizes, times)`:
- the re-render after switching layer (block: a layer not seen before, which
  recomputes that one layer; a layer seen before; the lens: the position
  followed; anatomy: the layer of the weight heatmap) vs the first render, which
  runs the model (target for a switch: < 300 ms);
- the logit lens computation (every layer through the unembedding) vs the trace.
Renders go through AppTest, i.e. the whole script as the server runs it.
"""
from __future__ import annotations

import os
import statistics


from _pagebench import app, check, timed  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

N_TOKENS = 64
BASE = ("A small robot walked through the quiet library at night, reading the titles of the "
        "books aloud and wondering which story the children would choose tomorrow. ")


def text_of(handle, n: int, variant: str) -> str:
    """A text of exactly n tokens; `variant` makes each page's text new to the cache."""
    text = variant + " " + BASE * 4
    tokens, _, _ = handle.encode(text, max_tokens=n)
    return text[: tokens[-1].end]


def report(name: str, switch: float, first: float, what: str, n: int, runs: int) -> None:
    print(f"{name}: ratio={switch / first:.2f}  ({what} vs first render with the model run, "
          f"{n} tokens, median of {runs}: {switch * 1000:.0f} ms vs {first:.2f} s; "
          f"target < 300 ms)")


def main() -> None:
    import llm_core
    from llm_core.logit_lens import logit_lens

    handle = llm_core.load_model("smollm2")
    llm_core.load_model("minilm")
    check(app("pages/block.py", {"block.text": "Warm up."}).run())   # imports, first run

    # --- the block ----------------------------------------------------------------------
    text = text_of(handle, N_TOKENS, "Block.")
    n = len(handle.encode(text)[0])
    at = app("pages/block.py", {"block.text": text})
    first = timed(at.run)
    check(at)
    new, seen = [], []
    for layer in (8, 17, 26, 29):
        new.append(timed(at.slider(key="block.layer").set_value(layer).run))
        check(at)
    for layer in (8, 17, 26, 29):
        seen.append(timed(at.slider(key="block.layer").set_value(layer).run))
    report("block_layer_new", statistics.median(new), first,
           "re-render after switching to a layer not seen before (recomputes that layer)",
           n, len(new))
    report("block_layer_seen", statistics.median(seen), first,
           "re-render after switching to a layer seen before", n, len(seen))

    # --- the logit lens -------------------------------------------------------------------
    text = text_of(handle, N_TOKENS, "Lens.")
    at = app("pages/logit_lens.py", {"logit_lens.text": text})
    first = timed(at.run)                     # the trace and the lens of 16 positions
    check(at)
    runs = []
    for position in (50, 55, 60, 63):
        runs.append(timed(at.selectbox(key="logit_lens.position").set_value(position).run))
        check(at)
    report("lens_position_switch", statistics.median(runs), first,
           "re-render after switching the position followed", n, len(runs))
    trace = handle.trace(text)
    trace_s = statistics.median(timed(lambda: handle.trace(text)) for _ in range(3))
    lens_s = statistics.median(timed(lambda: logit_lens(handle, trace, 16)) for _ in range(3))
    print(f"lens_compute: ratio={lens_s / trace_s:.2f}  (logit lens, {trace.n_layers + 1} depths "
          f"× 16 positions × {handle.arch.unembedding_matrix().shape[0]:,} vocab, vs one traced "
          f"forward pass, {n} tokens: {lens_s:.2f} s vs {trace_s:.2f} s; cached per text)")

    # --- anatomy -------------------------------------------------------------------------------
    at = app("pages/anatomy.py", {"anatomy.kind": "mlp_up"})
    first = timed(at.run)                     # no model run here: counting + first matrix
    check(at)
    runs = []
    for layer in (5, 12, 21, 29):
        runs.append(timed(at.slider(key="anatomy.layer").set_value(layer).run))
        check(at)
    switch = statistics.median(runs)
    print(f"anatomy_layer_switch: ratio={switch / first:.2f}  (re-render after switching the "
          f"weight heatmap's layer, 1,536 × 576 block-averaged, vs the page's first render, "
          f"median of {len(runs)}: {switch * 1000:.0f} ms vs {first:.2f} s; target < 300 ms)")


if __name__ == "__main__":
    main()
