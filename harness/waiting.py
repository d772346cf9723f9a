"""Waiting for threads to reach a point in a test: a hang guard, never a speed check."""
from __future__ import annotations

import time


def wait_for(condition, timeout: float = 60, what: str = "the threads never got there") -> None:
    """Until `condition()` holds; fails after `timeout` seconds (generous: only a hang ends there)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.001)
