"""Checks on user text before it reaches a tokenizer: one place, so the CLI, the
core API and the pages all answer bad input the same way."""
from __future__ import annotations

import unicodedata

from llm_core.model.errors import InputError
from llm_core.model.limits import MAX_CHARS  # noqa: F401  (more than a context window; text.MAX_CHARS for callers)


def clean_text(text, *, allow_empty: bool = False, max_chars: int = MAX_CHARS) -> str:
    """Return `text` if a model may read it, else raise InputError: not a string,
    empty or whitespace-only, longer than `max_chars`, or holding control
    characters (NUL, ESC …; tab and newlines are fine) or lone surrogates,
    which are never meant as text and which tokenizers handle badly."""
    if not isinstance(text, str):
        raise InputError("Text must be a string.", code="not_text")
    if len(text) > max_chars:
        raise InputError(
            f"Text is too long: {len(text):,} characters (the limit is {max_chars:,}).",
            code="too_long", n=len(text), limit=max_chars,
        )
    for ch in text:
        if ch not in "\n\t\r" and unicodedata.category(ch) in ("Cc", "Cs"):
            code_point = f"U+{ord(ch):04X}"
            raise InputError(
                f"Text contains a control character ({code_point}); remove it and try again.",
                code="control_chars", char=code_point)
    if not allow_empty and not text.strip():
        raise InputError("Text is empty: type a few words.", code="empty")
    return text
