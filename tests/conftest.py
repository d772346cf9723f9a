"""Shared fixtures. Tests run offline against the real embedded models."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def decoder():
    import llm_core
    return llm_core.load_model("smollm2")


@pytest.fixture(scope="session")
def encoder():
    import llm_core
    return llm_core.load_model("minilm")


@pytest.fixture(scope="session")
def glove():
    from llm_core.embeddings import load_word_vectors
    return load_word_vectors()


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
    import re
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def rendered(at) -> list[str]:
    """Bodies of what the page renders as text: markdown and st.html elements
    (token chips and generated answers are HTML, never read as markdown)."""
    return [m.value for m in at.markdown] + [h.proto.body for h in at.get("html")]


def figures(at) -> list[dict]:
    """Every plotly figure on the page, as the JSON the browser receives."""
    import json
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]
