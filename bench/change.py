"""The lessons that change W (quantization, fine-tuning, distillation): speed and
memory, each as a ratio against a baseline measured in the same run.

Prints `NAME: ratio=X.XX  (…)`:
- quantize_build: building a 4-bit copy (groups of 64) vs one forward pass over
  the perplexity text;
- quantize_memory / finetune_memory / distill_memory: peak RSS rise during the
  job vs the float model's own size (a copy costs only what it changes);
- finetune_step: one training step (forward + backward + Adam) vs one forward
  pass over the same batch without gradients;
- second_session: a trace of a fresh text while a fine-tuning job runs vs the
  same trace with the server idle (what a student on another page feels).
"""
from __future__ import annotations

import os
import statistics
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

import llm_core  # noqa: E402
from llm_core import distillation as ds  # noqa: E402
from llm_core import finetune as ft  # noqa: E402
from llm_core import quantization as qz  # noqa: E402
from llm_core.model.work import Work  # noqa: E402

from _memory import peak_rise  # noqa: E402

TEXTS = ["The museum opened a new wing for modern art last spring, and visitors came from far away.",
         "A small boat crossed the lake at dawn while the fishermen prepared their nets.",
         "The engineers tested the bridge with heavy trucks before it opened to the public.",
         "Every evening the baker left a loaf of bread on the doorstep of the old lighthouse."]


def median_seconds(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    handle = llm_core.load_model("smollm2")
    model_mb = qz.model_bytes(handle.model) / 2**20
    _, ids, _ = handle.encode(qz.PERPLEXITY_TEXT)

    def forward():
        with torch.no_grad():
            handle.model(input_ids=ids.reshape(1, -1))

    fwd = median_seconds(forward)
    build = median_seconds(lambda: qz.quantized_copy(handle, 4, "64"), repeat=3)
    print(f"quantize_build: ratio={build / fwd:.2f}  (4-bit copy in groups of 64: {build:.2f} s "
          f"vs a {ids.numel()}-token forward {fwd * 1000:.0f} ms)", flush=True)

    base = qz.baseline(handle)
    report, rise = peak_rise(lambda: qz.run(handle, 4, "64", base))
    print(f"quantize_memory: ratio={rise / model_mb:.2f}  (peak RSS rise {rise:.0f} MiB during a "
          f"quantization job vs the float model {model_mb:.0f} MiB; job {report.seconds:.1f} s)",
          flush=True)

    # Fine-tuning: time per step from the progress callback, vs a forward of its batch.
    stamps = []
    result, rise = peak_rise(lambda: ft.train(
        handle, ft.DEFAULT_FACT, "lora", 8, 12, work=Work(
            lambda p: stamps.append(time.perf_counter()) if p.phase == "train" else None)))
    step = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    batch = ft._batch(handle, ft.DEFAULT_FACT)

    def batch_forward():          # the plain model's forward of the same batch
        with torch.no_grad():
            handle.model(input_ids=batch.ids, attention_mask=batch.mask)

    bfwd = median_seconds(batch_forward)
    print(f"finetune_step: ratio={step / bfwd:.2f}  (one LoRA step on layers 8-11, "
          f"{tuple(batch.ids.shape)} batch: {step:.2f} s vs its forward without gradients "
          f"{bfwd:.2f} s; job {result.seconds:.0f} s for {result.steps[-1].step} steps)", flush=True)
    print(f"finetune_memory: ratio={rise / model_mb:.2f}  (peak RSS rise {rise:.0f} MiB vs the "
          f"float model {model_mb:.0f} MiB)", flush=True)

    corpus = ds.teacher_corpus(handle)
    out, rise = peak_rise(lambda: ds.distill(handle, corpus, 150))
    print(f"distill_memory: ratio={rise / model_mb:.2f}  (peak RSS rise {rise:.0f} MiB for two "
          f"students, 150 steps in {out.seconds:.1f} s, vs the float model {model_mb:.0f} MiB)",
          flush=True)

    # A second session: trace fresh texts with the server idle, then during a job.
    def trace_times(n: int) -> list[float]:
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            handle.trace(f"{TEXTS[i % len(TEXTS)]} ({time.monotonic_ns()})")
            times.append(time.perf_counter() - t0)
        return times

    idle = statistics.median(trace_times(8))
    done = threading.Event()
    job = threading.Thread(target=lambda: (ft.train(handle, ft.DEFAULT_FACT, "lora", 8, 12),
                                           done.set()))
    job.start()
    time.sleep(6)                     # into training (its "before" is the shared one, measured above)
    busy = []
    while not done.is_set() and len(busy) < 8:
        busy += trace_times(1)
    job.join()
    busy_median = statistics.median(busy)
    print(f"second_session: ratio={busy_median / idle:.2f}  (a trace of a fresh text while a "
          f"fine-tuning job trains: {busy_median * 1000:.0f} ms vs idle {idle * 1000:.0f} ms, "
          f"{len(busy)} traces; {torch.get_num_threads()} torch threads on "
          f"{os.cpu_count()} cores)", flush=True)


if __name__ == "__main__":
    main()
