"""Caches shared by every session of a server: bounded in bytes, expiring, and
computing each key once even when many sessions ask for it at the same moment.

A class types at once: thirty students on the same preset must share one trace
(not run the model thirty times), and thirty different texts must not pile up
in memory after the students have gone. Entry counts alone do not bound memory
(one 1,000-token trace weighs as much as a hundred short ones), so each entry is
weighed by the tensors and arrays it holds.
"""
from __future__ import annotations

import ctypes
import dataclasses
import gc
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable

DEFAULT_TTL = float(os.environ.get("LLM_XRAY_CACHE_TTL", 600))


def nbytes(value: Any, _depth: int = 0) -> int:
    """Approximate memory held by `value`: tensors and arrays by their buffers,
    containers and dataclasses by their parts, anything else by sys.getsizeof."""
    if _depth > 6:
        return 0
    size = getattr(value, "nbytes", None)  # numpy arrays, torch tensors
    if isinstance(size, int):
        return size
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(nbytes(getattr(value, f.name), _depth + 1)
                        for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return 64 + sum(nbytes(k, _depth + 1) + nbytes(v, _depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 64 + sum(nbytes(v, _depth + 1) for v in value)
    try:
        return sys.getsizeof(value)
    except TypeError:
        return 64


_FAILED = object()   # an entry whose computation failed (not the user's fault)


class _Entry:
    __slots__ = ("value", "size", "born", "ready", "error")

    def __init__(self, born: float):
        self.value = None
        self.size = 0
        self.born = born
        self.ready = threading.Event()
        self.error: BaseException | None = None


class ByteCache:
    """Least-recently-used entries go first once `max_bytes` is exceeded; entries
    older than `ttl` seconds go at the next look-up or sweep. One computation per
    key: callers asking for a key being computed wait for it (single flight).
    `clock` tells the time in seconds (a test passes its own); `swept`: the
    janitor sweeps it (and counts its bytes)."""

    def __init__(self, name: str, max_bytes: int, ttl: float = DEFAULT_TTL,
                 sizeof: Callable[[Any], int] = nbytes, clock: Callable[[], float] = time.monotonic,
                 swept: bool = True):
        self.name = name
        self.max_bytes = int(max_bytes)
        self.ttl = float(ttl)
        self.sizeof = sizeof
        self.clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = self.misses = 0
        # A cache of a few small entries bounded in count (hub failures, folder scans)
        # expires at its look-ups; the janitor, which frees memory, leaves it alone.
        if swept:
            _register(self)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, compute: Callable[[], Any],
            waiting: Callable[[], None] | None = None, every: float = 0.5):
        """The value for `key`, computed by `compute()` once. A caller waiting for
        another caller's computation calls `waiting()` every `every` seconds (to
        show that computation's progress; what it raises ends the wait)."""
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                entry = self._entries.get(key)
                owner = entry is None
                if owner:
                    entry = self._entries[key] = _Entry(now)
                    self.misses += 1
                else:
                    self._entries.move_to_end(key)
                    self.hits += 1
            if owner:
                return self._fill(key, entry, compute)
            while not entry.ready.wait(every if waiting is not None else None):
                waiting()
            if entry.error is None:
                return entry.value
            # The computation failed for its owner; its error belongs to that call.
            # Try again ourselves (the failed entry is already gone).
            if isinstance(entry.error, _UserError):
                raise entry.error.error

    def peek(self, key: Hashable):
        """The value if it is cached and ready, else None (never computes or waits)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or not entry.ready.is_set() or entry.error is not None:
                return None
            if self.clock() - entry.born > self.ttl:
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry.value

    def _fill(self, key, entry: _Entry, compute):
        try:
            value = compute()
        except BaseException as err:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            # Errors a user caused (bad text) are the same for everyone waiting.
            from llm_core.model.errors import XRayError
            # Keep a user error to share it; of anything else only that it failed:
            # its traceback would hold the failed call's frames (a job's private
            # model copy, when a click stopped it) until a garbage collection.
            entry.error = _UserError(err) if isinstance(err, XRayError) else _FAILED
            entry.ready.set()
            raise
        size = self.sizeof(value)
        with self._lock:
            entry.value, entry.size, entry.born = value, size, self.clock()
            entry.ready.set()
            if self._entries.get(key) is entry:
                self.bytes += size
                self._shrink()   # a value larger than the whole bound is returned, not kept
        return value

    def _drop(self, key) -> None:
        entry = self._entries.pop(key)
        if entry.ready.is_set():
            self.bytes -= entry.size

    def _shrink(self) -> None:
        """Oldest-used first, never an entry still being computed."""
        for key in list(self._entries):
            if self.bytes <= self.max_bytes:
                break
            if self._entries[key].ready.is_set():
                self._drop(key)

    def _expire(self, now: float) -> None:
        for key in [k for k, e in self._entries.items()
                    if e.ready.is_set() and now - e.born > self.ttl]:
            self._drop(key)

    def sweep(self) -> None:
        with self._lock:
            self._expire(self.clock())

    def clear(self) -> None:
        with self._lock:
            for key in [k for k, e in self._entries.items() if e.ready.is_set()]:
                self._drop(key)


class _UserError(Exception):
    def __init__(self, error):
        super().__init__(str(error))
        self.error = error


# --- expiry without visitors ------------------------------------------------------
# After a class leaves nobody looks anything up, so a janitor thread sweeps every
# cache and hands the freed memory back to the system.

_CACHES: "weakref.WeakSet[ByteCache]" = weakref.WeakSet()
_JANITOR: threading.Thread | None = None
GC_EVERY = 60.0
_LAST_GC = 0.0
_JANITOR_LOCK = threading.Lock()


def _register(cache: ByteCache) -> None:
    _CACHES.add(cache)


def start_janitor() -> None:
    """The thread that sweeps every cache (once per process; `startup` calls it)."""
    global _JANITOR
    with _JANITOR_LOCK:
        if _JANITOR is None:
            _JANITOR = threading.Thread(target=_janitor, name="llm-xray-cache-janitor",
                                        daemon=True)
            _JANITOR.start()


def sweep_all() -> int:
    """Expire old entries in every cache, give freed memory back to the system
    (sessions that closed free memory too, not only caches); return the bytes
    the caches still hold."""
    global _LAST_GC
    before = sum(c.bytes for c in list(_CACHES))
    for cache in list(_CACHES):
        cache.sweep()
    after = sum(c.bytes for c in list(_CACHES))
    # Reference cycles (a stopped script's frames holding tensors) wait for the
    # collector, which runs only as objects are allocated: not after a class left.
    # A full collection holds every session up for a moment, so not at each sweep.
    if after < before or time.monotonic() - _LAST_GC > GC_EVERY:
        gc.collect()
        _LAST_GC = time.monotonic()
    release_memory()
    return after


def tune_allocator() -> None:
    """Bound what glibc keeps without paying for it on every forward pass. By
    default each thread gets its own arena and a freed mmap raises the threshold
    (history-dependent); with many sessions' threads memory freed by the caches
    stayed in the process (10 sessions sweeping layers peaked at +2.1 GB for
    0.6 GB of cache). Two arenas bound that. The threshold is fixed at glibc's own
    ceiling, 32 MB: a class's batch allocates activations of 1–3 MB op after op,
    and at a 128 KB threshold each was a fresh mmap the kernel zeroed (0.6 s of
    system time in a 29-text batch of 1.1 s). Blocks over 32 MB (a long text's
    trace) are still mmapped and go back at once; the rest goes back when the
    janitor trims. bench/memory.py, 10 sessions sweeping layers: peak +1.6 GB
    (+1.2 GB at 128 KB), 0.99 of the baseline 30 s after they closed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 1024 * 1024)   # M_MMAP_THRESHOLD
        libc.mallopt(-8, 2)                  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def release_memory() -> None:
    """glibc keeps freed heap pages for reuse; give them back to the system."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _janitor() -> None:
    while True:
        caches = list(_CACHES)
        ttl = min((c.ttl for c in caches), default=DEFAULT_TTL)
        time.sleep(max(1.0, min(60.0, ttl / 4)))
        sweep_all()
