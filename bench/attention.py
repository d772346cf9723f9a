"""Attention pages: server-side render times for a 64-token text.

Prints, per figure, `NAME: ratio=X.XX  (what, sizes, times)`:
- the re-render after switching layer / head / token (no model run) vs the first
  render, which runs the model (targets: switching < 300 ms);
- the head grid of one layer vs one head's heatmap (target: grid < 1 s);
- the same for the step-by-step page, where a new layer also recomputes that layer.
Renders go through AppTest, i.e. the whole script as the server runs it.
"""
from __future__ import annotations

import os
import statistics


from _pagebench import app, check, timed  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

N_TOKENS = 64
BASE = ("The old lighthouse keeper climbed the stairs every evening, lit the lamp, and watched "
        "the ships pass safely through the narrow channel below the cliffs. ")


def text_of(handle, n: int) -> str:
    text = BASE * 4
    tokens, _, _ = handle.encode(text, max_tokens=n)
    return text[: tokens[-1].end]


def main() -> None:
    import llm_core
    from ui.fig_attention import head_grid, pattern_heatmap, token_labels

    handle = llm_core.load_model("smollm2")
    text = text_of(handle, N_TOKENS)
    n = len(handle.encode(text)[0])

    # warm-up: imports and the app's first run are not what is measured
    check(app("pages/attention.py", {"attention.text": "Warm up."}).run())

    # --- attention overview page -------------------------------------------------------
    at = app("pages/attention.py", {"attention.text": text})
    first = timed(at.run)                      # runs the model (trace not cached yet)
    check(at)
    switches = []
    for layer, head, token in [(3, 1, 10), (20, 7, 40), (29, 4, 63)]:
        switches.append(timed(at.slider(key="attention.layer").set_value(layer).run))
        switches.append(timed(at.slider(key="attention.head").set_value(head).run))
        switches.append(timed(at.selectbox(key="attention.token").set_value(token).run))
        check(at)
    switch = statistics.median(switches)
    print(f"attention_switch: ratio={switch / first:.2f}  (re-render after a layer/head/token "
          f"change vs first render with the model run, {n} tokens, median of {len(switches)}: "
          f"{switch * 1000:.0f} ms vs {first:.2f} s; target < 300 ms)")

    grid_runs = []
    for layer in (5, 15, 25):
        at.slider(key="attention.layer").set_value(layer)
        at.radio(key="attention.view").set_value("grid")
        grid_runs.append(timed(at.run))
        check(at)
        at.radio(key="attention.view").set_value("head").run()
    grid = statistics.median(grid_runs)
    print(f"attention_head_grid: ratio={grid / switch:.2f}  (page with the 9-head grid vs page "
          f"with one head, {n} tokens: {grid * 1000:.0f} ms vs {switch * 1000:.0f} ms; "
          f"target < 1 s)")

    # the figures alone, built and serialised as the server sends them
    trace = handle.trace(text)
    labels = token_labels(trace.tokens)
    titles = [f"head {h}" for h in range(trace.n_heads)]
    one = statistics.median(timed(lambda: pattern_heatmap(
        trace.attention_pattern[l, 0], labels, dict(x_title="k", y_title="q", color_title="w"),
        causal=True).to_json()) for l in range(5))
    many = statistics.median(timed(lambda: head_grid(
        trace.attention_pattern[l], labels, dict(head_titles=titles, x_title="k", y_title="q",
                                                 color_title="w"), causal=True).to_json()) for l in range(5))
    print(f"attention_grid_figure: ratio={many / one:.2f}  (head grid figure vs one heatmap "
          f"figure, built + JSON, {trace.n_heads} heads × {n}² cells: {many * 1000:.0f} ms vs "
          f"{one * 1000:.0f} ms)")

    # --- one head, step by step ----------------------------------------------------------
    at = app("pages/attention_step.py", {"attention_step.text": text + " "})
    first = timed(at.run)                      # a new text: the model runs again
    check(at)
    head_token, new_layer = [], []
    for layer, head, token in [(2, 3, 20), (11, 8, 50), (27, 0, 63)]:
        new_layer.append(timed(at.slider(key="attention_step.layer").set_value(layer).run))
        head_token.append(timed(at.slider(key="attention_step.head").set_value(head).run))
        head_token.append(timed(at.selectbox(key="attention_step.token").set_value(token).run))
        check(at)
    ht, nl = statistics.median(head_token), statistics.median(new_layer)
    print(f"attention_step_switch: ratio={ht / first:.2f}  (re-render after a head/token change "
          f"vs first render with the model run, {n} tokens: {ht * 1000:.0f} ms vs {first:.2f} s; "
          f"target < 300 ms)")
    print(f"attention_step_new_layer: ratio={nl / first:.2f}  (re-render after a layer change, "
          f"which recomputes that layer once, vs first render, {n} tokens: {nl * 1000:.0f} ms vs "
          f"{first:.2f} s)")


if __name__ == "__main__":
    main()
