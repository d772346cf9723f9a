"""`shared`: a page's cache of what every session may reuse (a lens, a summary,
a figure's data), bounded in bytes and expiring, computed once per key even when
a class asks at the same moment. Its budget is in the table of every cache
(llm_core/model/caches.py, PAGE_MB), under "page.function". The value is shared
read-only: never change what it returns."""
from __future__ import annotations

import functools
import inspect
import threading
from pathlib import Path

from llm_core.model.caches import MB, PAGE_MB, PAGE_TTL
from llm_core.model.memo import ByteCache

# What one cached plotly figure is counted as (their data is a few to a few
# hundred KB; weighing each exactly would cost more than it saves).
FIGURE_BYTES = 256 * 1024


def _hashable(value):
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, set):
        return tuple(sorted(_hashable(v) for v in value))
    return value


# Streamlit runs a page file anew on every rerun, so its functions are defined
# anew each time: their caches are found again by file and name.
_CACHES: dict[tuple[str, str], ByteCache] = {}
_LOCK = threading.Lock()


def key_part(name: str, value):
    """An argument's part of the key. One whose name starts with "_" (a trace, a
    handle, a word space: not hashable, or too big to hash) counts by its
    `cache_key` (a trace: model, text and tokens traced; a handle or a space: its
    name); one without (a progress callback, a job's Work) counts not at all, so
    what the value depends on must then be among the other arguments."""
    if not name.startswith("_"):
        return _hashable(value)
    return getattr(value, "cache_key", None)


def shared(fn=None, *, sizeof=None):
    """`@shared` on a page function: its cache is PAGE_MB["page.function"]."""
    if fn is None:
        return lambda f: shared(f, sizeof=sizeof)
    sig = inspect.signature(fn)
    name = f"{Path(fn.__code__.co_filename).stem}.{fn.__qualname__}"
    if name not in PAGE_MB:
        raise KeyError(f"{name} has no budget in llm_core/model/caches.py PAGE_MB")
    where = (fn.__code__.co_filename, fn.__qualname__)
    with _LOCK:
        cache = _CACHES.get(where)
        if cache is None:
            kwargs = {"sizeof": sizeof} if sizeof else {}
            cache = _CACHES[where] = ByteCache(name, int(PAGE_MB[name] * MB), PAGE_TTL, **kwargs)

    def key_of(args, kw):
        bound = sig.bind_partial(*args, **kw)
        bound.apply_defaults()
        return tuple((k, key_part(k, v)) for k, v in bound.arguments.items())

    @functools.wraps(fn)
    def cached(*args, **kw):
        return cache.get(key_of(args, kw), lambda: fn(*args, **kw))

    def peek(*args, **kw):
        """The cached value for these arguments (the same as a call's), or None: never computes."""
        return cache.peek(key_of(args, kw))

    cached.cache = cache
    cached.peek = peek
    return cached
