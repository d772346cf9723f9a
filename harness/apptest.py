"""The whole app through `streamlit.testing.v1.AppTest` (no browser, no server):
a page opened with session state preset, and what it shows read back."""
from __future__ import annotations

import json
import re

from harness import ROOT


def app_test(page: str | None = None, lang: str = "en", state: dict | None = None,
             timeout: float = 120):
    """An AppTest of the whole app, switched to `page` (e.g. "pages/tokens.py"),
    with session state preset, already run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.session_state["shared.lang"] = lang
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


def assert_clean(at) -> None:
    """No exception element and no error box on the page."""
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert not errors, errors


def shown(markdown: str) -> str:
    """What a reader sees of a markdown body: backslash escapes removed (user text
    inside messages is escaped so it can never become a link or an image)."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def rendered(at) -> list[str]:
    """Bodies of what the page renders as text: markdown and st.html elements
    (token chips and generated answers are HTML, never read as markdown)."""
    return [m.value for m in at.markdown] + [h.proto.body for h in at.get("html")]


def figures(at) -> list[dict]:
    """Every plotly figure on the page, as the JSON the browser receives."""
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def values(value):
    """A figure's array as plotly sends it (a list, or a typed array: base64
    `bdata` with its `dtype` and `shape`) as a numpy array."""
    import base64

    import numpy as np
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(x) for x in str(value.get("shape", "")).split(",") if x.strip()]
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return arr.reshape(shape) if shape else arr
    return np.asarray(value, dtype=float)
