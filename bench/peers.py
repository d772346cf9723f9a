"""Our trace beside the tools people use for the same thing: TransformerLens'
`HookedTransformer.run_with_cache` and nnsight, on the same SmolLM2 weights and
the same texts as bench/trace.py, each timed against the `sdpa` forward a user
would run (median, in turns, same process) with its peak memory.

They are not dependencies of the app: `make bench-peers` installs them in a
virtualenv of its own (.venv-peers; transformer-lens brings its own
transformers) and runs this file there. Anywhere else (`make bench`) it prints
one line saying it was skipped.

Each tool runs in a fresh process, with the glibc settings of the app
(llm_core.model.memo.tune_allocator: two arenas, blocks over 32 MB mmapped, so a
large freed tensor goes back at once). Peak memory is the rise of the peak RSS over the RSS just before
the first call at each size (the kernel's high-water mark, reset per call).
Everything runs under torch.inference_mode(). Prints `NAME: ratio=X.XX  (…)`."""
from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SIZES = ((16, 9), (128, 7), (512, 5))   # tokens, timed repeats
CHECK_AT = 128                          # tokens of the logits check
LOGITS_KEEP = 64                        # llm_core.model.trace.LOGITS_KEEP
ATTENTION_CAP = 256                     # llm_core.model.trace.ATTENTION_CAP
TOOLS = ("tlens", "tlens_filtered", "nnsight", "ours")
PEERS = (("transformer_lens", "transformer-lens"), ("nnsight", "nnsight"))

from _memory import peak_rise_mb  # noqa: E402
from _text import median_times, text_of  # noqa: E402


def model_dir() -> Path:
    """The converted SmolLM2 (config.json + safetensors + tokenizer) that llm_core loads."""
    try:
        from llm_core.model.convert import smollm2_cache_path
        return smollm2_cache_path()
    except Exception:  # noqa: BLE001 — llm_core does not import here: same place by hand
        root = os.environ.get("LLM_XRAY_CACHE") or Path.home() / ".cache" / "llm-xray"
        return Path(root) / "smollm2-135m-instruct-f32-v1"


# --- memory and time ----------------------------------------------------------

def tune_allocator() -> None:
    """What llm_core.model.memo.tune_allocator does, for a process that may not import llm_core."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)   # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)                  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


# --- the tools ---------------------------------------------------------------
# Each setup returns (label, make) where make(text, ids) gives a function that
# takes the trace and returns what it keeps, and a function that gives the
# last LOGITS_KEEP positions' logits from that (for the check).

def setup_tlens(path, hf, tokenizer, *, filtered: bool):
    import torch
    import transformer_lens
    from transformer_lens import loading_from_pretrained as loading
    try:
        from transformer_lens import HookedTransformer
    except ImportError as err:
        raise Skip(f"this TransformerLens has no HookedTransformer ({err}); "
                   "make bench-peers installs transformer-lens<4") from None

    # SmolLM2 is not among TransformerLens' official names, but its loaders take
    # a local folder: the config is read from its config.json (a LlamaForCausalLM,
    # so TransformerLens' Llama branch) and the weights are converted from the HF
    # model with its own Llama converter. No weight processing (no folded or
    # centred norms): logits stay comparable one to one. n_ctx only sizes the
    # rotary and mask buffers.
    cfg = loading.get_pretrained_model_config(
        str(path), hf_cfg=hf.config.to_dict(), fold_ln=False, device="cpu",
        dtype=torch.float32, n_ctx=2 * max(n for n, _ in SIZES))
    state = loading.get_pretrained_state_dict(str(path), cfg, hf, dtype=torch.float32)
    model = HookedTransformer(cfg, tokenizer, move_to_device=False)
    model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False)
    model.eval()
    del state
    version = getattr(transformer_lens, "__version__", None) or _version("transformer-lens")

    def keep(name: str) -> bool:
        return (name == "blocks.0.hook_resid_pre"
                or name.endswith((".hook_resid_post", ".attn.hook_pattern")))

    if filtered:
        label = (f"TransformerLens {version} HookedTransformer.run_with_cache with names_filter "
                 "(residual entering block 0 and after each layer, every layer's full n×n "
                 "attention pattern, logits of all positions)")
    else:
        label = (f"TransformerLens {version} HookedTransformer.run_with_cache, full cache "
                 "(every hook point of every layer, logits of all positions)")

    def make(text, ids):
        def run():
            with torch.inference_mode():
                return model.run_with_cache(ids, names_filter=keep if filtered else None)
        return run

    return label, make, lambda out: out[0][0, -LOGITS_KEEP:]


def setup_nnsight(path, hf, tokenizer):
    import nnsight
    import torch
    from transformers import AutoModelForCausalLM
    try:
        from nnsight.modeling.transformers import TransformersModel as Wrapper
        kwargs = {"task": "text-generation"}
    except ImportError:
        from nnsight import LanguageModel as Wrapper
        kwargs = {}
    eager = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="eager",
                                                 dtype=torch.float32).eval()
    model = Wrapper(eager, tokenizer=tokenizer, **kwargs)
    layers = model.model.layers
    label = (f"nnsight {_version('nnsight')} trace saving the same tensors as ours: residual "
             "entering block 0 and after each layer, attention weights of every layer for the "
             f"first {ATTENTION_CAP} tokens, logits of the last {LOGITS_KEEP} positions "
             "(eager attention, which the weights need)")

    def make(text, ids):
        keep = min(ids.shape[1], ATTENTION_CAP)
        crop = keep < ids.shape[1]

        def run():
            with torch.inference_mode():
                with model.trace({"input_ids": ids}, logits_to_keep=LOGITS_KEEP):
                    residual = nnsight.save([layers[0].input])
                    attention = nnsight.save([])
                    for layer in layers:   # in the order the model runs them
                        weights = layer.self_attn.output[1][:, :, :keep, :keep]
                        attention.append(weights.clone() if crop else weights)
                        residual.append(layer.output)
                    logits = model.lm_head.output.save()
            return residual, attention, logits
        return run

    return label, make, lambda out: out[2][0]


def setup_ours(path, hf, tokenizer):
    try:
        import llm_core
        from llm_core.model import trace as core_trace
        handle = llm_core.load_model("smollm2")
    except Exception as err:  # noqa: BLE001 — e.g. this venv's transformers breaks it
        raise Skip(f"llm_core does not run with transformers {_version('transformers')} "
                   f"({type(err).__name__}: {err}); bench/trace.py's trace_sdpa_* lines give our "
                   "trace vs sdpa from the app's venv") from None
    assert (core_trace.ATTENTION_CAP, core_trace.LOGITS_KEEP) == (ATTENTION_CAP, LOGITS_KEEP)
    label = ("our trace (llm_core, in this venv): residual entering block 0, after each layer "
             f"and after the final norm, attention of every layer for the first {ATTENTION_CAP} "
             f"tokens, attention/MLP output norms, logits of the last {LOGITS_KEEP} positions")

    def make(text, ids):
        if not handle.encode(text)[1].equal(ids[0]):
            raise RuntimeError("llm_core tokenizes the text differently")
        return lambda: handle.trace(text)

    return label, make, lambda out: out.logits


class Skip(Exception):
    pass


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


# --- one tool in its own process ----------------------------------------------

def worker(tool: str) -> None:
    tune_allocator()
    warnings.filterwarnings("ignore")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    torch.set_num_threads(int(os.environ.get("LLM_XRAY_THREADS", "0")) or os.cpu_count() or 1)
    path = model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    sdpa = AutoModelForCausalLM.from_pretrained(str(path), attn_implementation="sdpa",
                                                dtype=torch.float32).eval()

    def encode(text):   # as llm_core's ModelHandle.encode
        return tokenizer(text, add_special_tokens=True, split_special_tokens=True)["input_ids"]

    setups = {
        "tlens": lambda: setup_tlens(path, sdpa, tokenizer, filtered=False),
        "tlens_filtered": lambda: setup_tlens(path, sdpa, tokenizer, filtered=True),
        "nnsight": lambda: setup_nnsight(path, sdpa, tokenizer),
        "ours": lambda: setup_ours(path, sdpa, tokenizer),
    }
    try:
        label, make, logits_of = setups[tool]()
    except Skip as why:
        print(f"peers_{tool}: skipped ({why})", flush=True)
        return

    def forward(ids):
        def run():
            with torch.inference_mode():
                return sdpa(input_ids=ids, logits_to_keep=LOGITS_KEEP).logits
        return run

    warm = text_of(lambda t: len(encode(t)), 8)   # one-off costs out of the first measurement
    warm_ids = torch.tensor([encode(warm)])
    forward(warm_ids)()
    make(warm, warm_ids)()
    for n, repeat in SIZES:
        text = text_of(lambda t: len(encode(t)), n)
        ids = torch.tensor([encode(text)])
        base, fn = forward(ids), make(text, ids)
        mem_base, mem_tool = peak_rise_mb(base), peak_rise_mb(fn)
        t_tool, t_base = median_times([fn, base], repeat)
        print(f"peers_{tool}_{n}: ratio={t_tool / t_base:.2f}  ({label} vs sdpa forward (logits "
              f"of the last {min(LOGITS_KEEP, ids.shape[1])} positions), {ids.shape[1]} tokens, "
              f"{t_tool:.3f} s vs {t_base:.3f} s, median of {repeat}; peak +{mem_tool:.0f} MB vs "
              f"+{mem_base:.0f} MB)", flush=True)
        if n == CHECK_AT:
            want = base()[0]
            got = logits_of(fn()).reshape(want.shape)
            diff, scale = (got - want).abs().max().item(), want.abs().max().item()
            print(f"peers_{tool}_logits: ratio={diff / scale:.1e}  (max |logit difference| vs "
                  f"the HF sdpa forward / max |logit|, {ids.shape[1]} tokens, last "
                  f"{want.shape[0]} positions: {diff:.2e} of {scale:.1f})", flush=True)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
        return 0
    missing = [dist for module, dist in PEERS if importlib.util.find_spec(module) is None]
    if missing:
        print(f"peers: skipped ({' and '.join(missing)} not installed; run make bench-peers)",
              flush=True)
        return 0
    path = model_dir()
    if not (path / "config.json").exists():
        print("peers: skipped (the converted SmolLM2 is not in the model cache yet; "
              "make bench-peers converts it first)", flush=True)
        return 0
    print(f"peers: torch {_version('torch')}, transformers {_version('transformers')}, "
          f"transformer-lens {_version('transformer-lens')}, nnsight {_version('nnsight')}; "
          f"{os.cpu_count()} CPU threads", flush=True)
    failed = []
    for tool in TOOLS:
        done = subprocess.run([sys.executable, __file__, "--worker", tool], check=False)
        if done.returncode:
            failed.append(tool)
            print(f"peers_{tool}: failed (exit {done.returncode}, see above)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
