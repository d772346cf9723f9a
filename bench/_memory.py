"""Peak memory of one call, for the benchmarks: the rise of the kernel's
high-water mark (VmHWM, reset just before) over the RSS before the call; where
/proc is missing, a watcher thread samples the RSS."""
from __future__ import annotations

import gc
import threading
import time


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")    # VmHWM := the current RSS
        return True
    except OSError:
        return False


def peak_rise(fn):
    """(fn's result, MB the peak RSS rose above the RSS before `fn()`)."""
    gc.collect()
    if _reset_high_water_mark():
        before = _status_kb("VmRSS")
        out = fn()
        return out, (_status_kb("VmHWM") - before) / 1024
    import psutil                  # no /proc: sample
    proc = psutil.Process()
    before = peak = proc.memory_info().rss
    done = threading.Event()

    def watch():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        out = fn()
    finally:
        done.set()
        watcher.join()
    return out, (max(peak, proc.memory_info().rss) - before) / 2**20


def peak_rise_mb(fn) -> float:
    """MB the peak RSS rises above the RSS before `fn()` (its result alive at the end)."""
    return peak_rise(fn)[1]
