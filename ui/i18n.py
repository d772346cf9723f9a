"""Every user-visible string, in English and 简体中文.

Strings live in ui/locales/<lang>/<namespace>.toml; key "tokens.title" is
`title` in tokens.toml. Each page owns its namespace file. A test checks both
languages have the same keys."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

import streamlit as st

LANGS = {"en": "English", "zh": "简体中文"}
DEFAULT_LANG = "en"
LANG_KEY = "shared.lang"
_DIR = Path(__file__).parent / "locales"


def _flatten(prefix: str, table: dict, out: dict) -> None:
    for key, value in table.items():
        full = f"{prefix}.{key}"
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = value


@lru_cache(maxsize=None)
def table(lang: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted((_DIR / lang).glob("*.toml")):
        with path.open("rb") as fh:
            _flatten(path.stem, tomllib.load(fh), out)
    return out


def lang() -> str:
    value = st.session_state.get(LANG_KEY, DEFAULT_LANG)
    return value if value in LANGS else DEFAULT_LANG


def t(key: str, **params) -> str:
    """The string for `key` in the session's language, formatted with params.
    A missing key shows as the key itself, so a gap is visible, never a crash."""
    text = table(lang()).get(key) or table(DEFAULT_LANG).get(key) or key
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def labels(prefix: str, *keys: str, **params) -> dict[str, str]:
    """A figure's labels: {key: t(prefix.key)} for its keys, in this run's language."""
    return {k: t(f"{prefix}.{k}", **params) for k in keys}


def has(key: str) -> bool:
    return key in table(lang()) or key in table(DEFAULT_LANG)
