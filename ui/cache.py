"""`shared`: a page's cache of what every session may reuse (a lens, a summary,
a figure's data), bounded in bytes and expiring, computed once per key even when
a class asks at the same moment. Like `st.cache_resource`, arguments whose name
starts with "_" (a handle, a trace) are not part of the key, and the value is
shared read-only: never change what it returns."""
from __future__ import annotations

import functools
import inspect
import threading

from llm_core.model.memo import DEFAULT_TTL, ByteCache

# The results of long jobs, shared by every session that asks for the same job
# with the same settings (a class pressing the default: one run). Keys start with
# the page's name.
JOB_RESULTS = ByteCache("job_results", 128 * 2**20)

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


def shared(max_mb: float, ttl: float = DEFAULT_TTL, sizeof=None):
    def wrap(fn):
        sig = inspect.signature(fn)
        kwargs = {"sizeof": sizeof} if sizeof else {}
        where = (fn.__code__.co_filename, fn.__qualname__)
        with _LOCK:
            cache = _CACHES.get(where)
            if cache is None:
                cache = _CACHES[where] = ByteCache(f"{where[0]}:{where[1]}",
                                                   int(max_mb * 2**20), ttl, **kwargs)

        def key_of(args, kw):
            bound = sig.bind_partial(*args, **kw)
            bound.apply_defaults()
            return tuple((k, _hashable(v)) for k, v in bound.arguments.items()
                         if not k.startswith("_"))

        @functools.wraps(fn)
        def cached(*args, **kw):
            return cache.get(key_of(args, kw), lambda: fn(*args, **kw))

        def peek(*args, **kw):
            """The cached value for these (key) arguments, or None: never computes."""
            return cache.peek(key_of(args, kw))

        cached.cache = cache
        cached.peek = peek
        return cached
    return wrap
