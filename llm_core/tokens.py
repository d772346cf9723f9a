"""The tokens lesson (分词): text → tokens → IDs, and back. What the page and the
CLI's `tokens` show of one tokenizer: the tokens with their bytes, whether
decoding gives the text back, what kind of tokenizer it is, and how byte-pair
encoding merged a word's bytes into its tokens, step by step.

Token labels themselves (bytes, pieces of a split character) are machinery every
lesson shares: `llm_core.model.tokens`."""
from __future__ import annotations

import json
from dataclasses import dataclass

from llm_core.model.caches import MERGE_RANKS
from llm_core.model.errors import InputError
from llm_core.model.limits import MERGE_WORD_BYTES
from llm_core.model.text import clean_text
from llm_core.model.tokens import (Token, byte_chars, byte_token, is_byte_level, piece_bytes,
                                   readable_texts)


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
    return "byte-level BPE" if kind == "BPE" and is_byte_level(handle.tokenizer) else kind


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


# --- how byte-pair encoding built the tokens (minGPT's encode_and_show_work) -------------

@dataclass(frozen=True)
class Merge:
    """One step of byte-pair encoding: the pair of neighbours merged everywhere
    in the word, and the word's parts after it. Parts read as text; a part that
    holds only some bytes of a character reads as that character and its part
    (语[1/3]: the first of three parts), as tokens read on every page."""

    left: str
    right: str
    rule: int                  # its place in the tokenizer's list of merges, from 1
    parts: tuple[str, ...]


@dataclass(frozen=True)
class MergeSteps:
    word: str                  # one word as the tokenizer cuts text first (" cat", " 语言")
    start: tuple[str, ...]     # its UTF-8 bytes, one part each (语 → 语[1/3] 语[2/3] 语[3/3])
    steps: tuple[Merge, ...]
    n_rules: int               # merges the tokenizer learned in all

    @property
    def tokens(self) -> tuple[str, ...]:
        """What the merges end with: the word's tokens."""
        return self.steps[-1].parts if self.steps else self.start


def bpe_words(handle, text: str) -> list[str]:
    """The words a byte-level BPE tokenizer cuts `text` into before it merges
    (its pre-tokenizer: a word with the space before it, a run of digits,
    punctuation), each once and in order, up to MERGE_WORD_BYTES bytes long;
    [] for any other tokenizer."""
    if tokenizer_kind(handle) != "byte-level BPE" or handle.tokenizer.backend_tokenizer.pre_tokenizer is None:
        return []
    with handle._lock:  # the Rust tokenizer is not safe to share across threads
        pieces = handle.tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str(clean_text(text))
    words = [(piece_bytes(p) or b"").decode("utf-8", "replace") for p, _span in pieces]
    return list(dict.fromkeys(w for w in words if 0 < len(w.encode("utf-8")) <= MERGE_WORD_BYTES))


def merge_steps(handle, word: str) -> MergeSteps | None:
    """How the tokenizer's learned merges build `word` (one of `bpe_words`) from
    its bytes: again and again, the neighbouring pair learned earliest is merged,
    until no learned pair is left. The parts it ends with are the tokenizer's own
    tokens of the word (checked here against the tokenizer itself: None if they
    differ, so the page never shows steps the model did not take)."""
    if tokenizer_kind(handle) != "byte-level BPE" or not word:
        return None
    if len(word.encode("utf-8")) > MERGE_WORD_BYTES:
        raise InputError(f"A word of at most {MERGE_WORD_BYTES} bytes, please.", code="word_too_long",
                         max=MERGE_WORD_BYTES)
    ranks = MERGE_RANKS.get(handle.name, lambda: _merge_ranks(handle))
    parts = list(byte_chars(word.encode("utf-8")))
    start, steps = tuple(parts), []
    labels = first = _labels(parts)
    while len(parts) > 1:
        pair = min(zip(parts, parts[1:]), key=lambda p: ranks.get(p, len(ranks)))
        if pair not in ranks:
            break
        before = labels
        at = next(i for i in range(len(parts) - 1) if (parts[i], parts[i + 1]) == pair)
        merged, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                merged.append(parts[i] + parts[i + 1])
                i += 2
            else:
                merged.append(parts[i])
                i += 1
        parts, labels = merged, _labels(merged)
        steps.append(Merge(before[at], before[at + 1], ranks[pair] + 1, tuple(labels)))
    with handle._lock:
        own = [tok.value for tok in handle.tokenizer.backend_tokenizer.model.tokenize("".join(start))]
    if own != parts:
        return None
    return MergeSteps(word, tuple(first), tuple(steps), len(ranks))


def _labels(parts: list[str]) -> list[str]:
    """Parts as every page labels tokens: text, and a piece of a split character
    as that character and its part (语[1/3]), by the one rule (readable_texts)."""
    return readable_texts([byte_token(0, part, piece_bytes(part)) for part in parts])


def _merge_ranks(handle) -> dict[tuple[str, str], int]:
    """The tokenizer's merges, earliest learned first, by pair."""
    with handle._lock:
        model = json.loads(handle.tokenizer.backend_tokenizer.to_str())["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return {pair: rank for rank, pair in enumerate(merges)}
