"""Checks on user text before it reaches a tokenizer: one place, so the CLI, the
core API and the pages all answer bad input the same way."""
from __future__ import annotations

import unicodedata

from .errors import InputError

# Far beyond anything a page shows; stops a 10 MB paste from tying up a worker.
MAX_CHARS = 100_000


def clean_text(text, *, allow_empty: bool = False, max_chars: int = MAX_CHARS) -> str:
    """Return `text` with control characters removed (tabs and newlines kept).

    Raises InputError for non-strings, empty or whitespace-only text, and text
    longer than `max_chars`. Lone surrogates (which cannot be encoded) are
    replaced by U+FFFD so that tokenizers never crash on them.
    """
    if not isinstance(text, str):
        raise InputError("Text must be a string.", code="not_text")
    if len(text) > max_chars:
        raise InputError(
            f"Text is too long: {len(text):,} characters (the limit is {max_chars:,}).",
            code="too_long", n=len(text), limit=max_chars,
        )
    # Lone surrogates cannot be encoded as UTF-8.
    text = text.encode("utf-8", "replace").decode("utf-8")
    cleaned = "".join(
        ch for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    )
    if not allow_empty and not cleaned.strip():
        raise InputError("Text is empty: type a few words.", code="empty")
    return cleaned
