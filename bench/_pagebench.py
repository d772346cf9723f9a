"""Shared by the page benchmarks: run a page through AppTest and time it."""
from __future__ import annotations

import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def app(page: str, state: dict | None = None):
    """The whole app in English, switched to `page`, with session state preset."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state["shared.lang"] = "en"
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.switch_page(page)
    return at


def check(at) -> None:
    if at.exception:
        raise SystemExit(f"page failed: {at.exception[0].value}")
