"""The tokens lesson (分词): text → tokens → IDs, and back. What the page and the
CLI's `tokens` show of one tokenizer: the tokens with their bytes, whether
decoding gives the text back, and what kind of tokenizer it is.

Token labels themselves (bytes, pieces of a split character) are machinery every
lesson shares: `llm_core.model.tokens`."""
from __future__ import annotations

from dataclasses import dataclass

from llm_core.model.text import clean_text
from llm_core.model.tokens import Token


@dataclass(frozen=True)
class Split:
    """One text split by one model's tokenizer."""

    model: str
    text: str                    # the text as split (control characters cleaned)
    tokens: tuple[Token, ...]
    ids: list[int]
    decoded: str                 # the ids decoded again
    truncated_from: int | None   # the token count before a cut, None when whole
    tokenizer_kind: str          # "byte-level BPE", "WordPiece", …
    vocab_size: int
    n_unknown: int               # tokens the vocabulary had no piece for ([UNK])

    @property
    def round_trip(self) -> bool:
        return self.decoded == self.text and not self.truncated_from


def tokenizer_kind(handle) -> str:
    model = getattr(getattr(handle.tokenizer, "backend_tokenizer", None), "model", None)
    kind = type(model).__name__ if model is not None else "?"
    return "byte-level BPE" if kind == "BPE" and handle.kind == "decoder" else kind


def split(handle, text: str, *, max_tokens: int | None = None) -> Split:
    """`text` through `handle`'s tokenizer and back. Cut at `max_tokens` (the
    model's trace limit by default), and the cut said in `truncated_from`."""
    text = clean_text(text)
    tokens, ids, truncated_from = handle.encode(text, max_tokens=max_tokens)
    ids = ids.tolist()
    unk = getattr(handle.tokenizer, "unk_token_id", None)
    return Split(handle.name, text, tokens, ids, handle.decode(ids), truncated_from,
                 tokenizer_kind(handle), len(handle.tokenizer),
                 sum(1 for i in ids if unk is not None and i == unk))
