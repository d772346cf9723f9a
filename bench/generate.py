"""Generation and next-token pages: speed.

Prints, per figure, `NAME: ratio=X.XX  (what, sizes, times)`:
- generate_steps: tokens/s of the one generation loop (llm_core.model.sampling,
  used by the pages, the labs and the CLI), keeping every step's view, vs plain
  `model.generate` with the same settings (target ≥ 0.8×). Runs are
  interleaved and the median taken, so a noisy shared machine hurts both sides alike;
- generate_many: five answers in one batch vs five answers one after another;
- temperature: a temperature change re-rendered from cached logits (the view and
  both figures) vs the model run it avoids (target < 100 ms), and the same for the
  whole page script through AppTest.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

import llm_core  # noqa: E402
from llm_core import generate as gen  # noqa: E402
from llm_core import next_token as nt  # noqa: E402

PROMPT = "Once upon a time, in a small village by the sea, there lived an old fisherman who"
NEW = int(os.environ.get("BENCH_NEW_TOKENS", 32))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 4))
SETTINGS = {"temperature": 0.8, "top_k": 50, "top_p": 0.95}


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def bench_generation(handle) -> None:
    ids = nt.prompt_ids(handle, PROMPT)
    model = handle.model

    def plain():
        torch.manual_seed(0)
        with torch.inference_mode():
            out = model.generate(ids.reshape(1, -1).to(handle.device), do_sample=True,
                                 max_new_tokens=NEW, min_new_tokens=NEW,
                                 pad_token_id=min(handle.eos_ids), **SETTINGS)
        return out.shape[1] - ids.numel()

    def fast():
        return len(list(gen.generate(handle, ids, max_new_tokens=NEW, seed=0, time_limit=None,
                                     **SETTINGS)))

    def batch5():
        rows = list(gen.generate_many(handle, ids, range(5), max_new_tokens=NEW, time_limit=None,
                                      **SETTINGS))
        return sum(1 for row in rows for s in row if s is not None) / 5

    fast(), plain()                                   # warm-up
    rates = {"plain": [], "fast": [], "batch5": []}
    for _ in range(ROUNDS):
        for name, fn in (("plain", plain), ("fast", fast), ("batch5", batch5)):
            n, seconds = timed(fn)
            rates[name].append(n / seconds)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"generate_steps: ratio={med['fast'] / med['plain']:.2f}  (llm_core's decode loop "
          f"with each step's view vs model.generate, T=0.8 top-k=50 top-p=0.95, "
          f"{ids.numel()}-token prompt, {NEW} new tokens, median of {ROUNDS}: "
          f"{med['fast']:.1f} vs {med['plain']:.1f} tokens/s on {handle.device})")
    one_s, batch_s = NEW / med["fast"], NEW / med["batch5"]    # seconds per answer's tokens
    print(f"generate_many_5: ratio={batch_s / (5 * one_s):.2f}  (five answers in one batch vs "
          f"five answers one after another, {NEW} new tokens each: {batch_s:.1f} s vs "
          f"{5 * one_s:.1f} s; one answer alone {one_s:.1f} s)")


def bench_temperature(handle) -> None:
    from ui import fig_next_token as fig

    text = "The capital of France is"
    (_, logits), model_s = timed(lambda: nt.next_token_logits(handle, text))
    runs = []
    curve = nt.temperature_curve(logits, [i / 20 for i in range(41)])
    for temperature in (0.0, 0.3, 0.7, 1.0, 1.5, 2.0):
        def render(temperature=temperature):
            view = nt.top_view(logits, temperature, None, 0.9, 12)
            tokens = nt.readable(handle, view.ids)
            labels = dict(title="t", logit_axis="l", prob_axis="p", token_axis="t",
                          kept_name="k", cut_name="c", hover_logit="l", hover_prob="p",
                          hover_final="f")
            fig.next_token_bars(view, tokens, labels).to_json()
            fig.temperature_curve(curve, temperature, dict(title="t", t_axis="T", top_name="p",
                                                           entropy_name="e", entropy_axis="b")).to_json()
        runs.append(timed(render)[1])
    render_s = statistics.median(runs)
    print(f"temperature_view: ratio={render_s / model_s:.3f}  (new temperature from cached logits:"
          f" top-12 view with top-p and both figures, vs the model run it avoids, 5-token prompt:"
          f" {render_s * 1000:.0f} ms vs {model_s * 1000:.0f} ms; target < 100 ms)")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["shared.lang"] = "en"
    at.run()
    at.switch_page("pages/next_token.py")
    at.session_state["next_token.prompt"] = "The cat sat on the"   # not cached yet
    _, first_s = timed(at.run)
    page = []
    for temperature in (0.0, 0.5, 1.5, 2.0, 1.0):
        slider = at.slider(key="next_token.temperature").set_value(temperature)
        page.append(timed(slider.run)[1])
    assert not at.exception, [e.value for e in at.exception]
    page_s = statistics.median(page)
    print(f"temperature_page: ratio={page_s / first_s:.2f}  (whole next-token page script after a "
          f"temperature change vs its first render with the model run, through AppTest: "
          f"{page_s * 1000:.0f} ms vs {first_s * 1000:.0f} ms)")


def main() -> None:
    handle = llm_core.load_model("smollm2")
    bench_temperature(handle)
    bench_generation(handle)


if __name__ == "__main__":
    main()
