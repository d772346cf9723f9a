"""Context changes meaning: the same word in several sentences, followed
through the residual stream. At layer 0 a token's vector is its embedding row
(the same in every sentence); each block mixes in what the other tokens say,
so the vectors drift apart by sense."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from llm_core.model.errors import InputError
from llm_core.model.trace import Trace

MODES = ("last", "mean")


@dataclass(frozen=True)
class WordSpan:
    """Where `word` sits in one traced sentence."""

    start: int                 # character span of the word in trace.text
    end: int
    positions: tuple           # token positions covering it
    tokens: tuple              # their readable texts
    ids: tuple                 # their token ids


def find_word(trace: Trace, word: str) -> WordSpan:
    """First occurrence of `word` (case-insensitive; whole word for Latin
    letters, so 'apple' is not found in 'pineapple') and the tokens that cover it
    (Token.start/end)."""
    word = (word or "").strip()
    if not word:
        raise InputError("The word to follow is empty.", code="empty_word")
    if re.fullmatch(r"[A-Za-z]+", word):
        pattern = r"(?<![A-Za-z])" + re.escape(word) + r"(?![A-Za-z])"
    else:
        pattern = re.escape(word)
    match = re.search(pattern, trace.text, flags=re.IGNORECASE)
    if match is None:
        raise InputError(f"'{word[:40]}' is not in the sentence.", code="word_not_found",
                         word=word[:40], sentence=trace.text[:60])
    start, end = match.span()
    positions = tuple(i for i, tok in enumerate(trace.tokens)
                      if not tok.special and tok.start < end and tok.end > start)
    if not positions:  # the word lies beyond a truncated text
        raise InputError(f"'{word[:40]}' is not in the sentence.", code="word_not_found",
                         word=word[:40], sentence=trace.text[:60])
    return WordSpan(start, end, positions, tuple(trace.token_texts[p] for p in positions),
                    tuple(trace.tokens[p].id for p in positions))


def word_vectors(trace: Trace, span: WordSpan, mode: str = "last") -> np.ndarray:
    """layer+1 d_model — the word's residual vector after every layer. A word
    split into several tokens: its last token (in a decoder the only one that has
    seen the whole word) or the mean over its tokens."""
    if mode not in MODES:
        raise InputError("Mode is 'last' or 'mean'.", code="bad_mode")
    rows = trace.residual[:, list(span.positions)]   # layer+1 tokens d_model
    out = rows[:, -1] if mode == "last" else rows.mean(dim=1)
    return out.double().numpy()


def shared_direction(traces) -> np.ndarray:
    """layer+1 d_model — the mean residual over every token of these sentences
    except the first (position 0 collects attention and has an outsized norm).
    All hidden vectors share a large common part; subtracting it shows the
    differences."""
    parts = []
    for tr in traces:
        rows = tr.residual[:, 1:] if tr.n_tokens > 1 else tr.residual
        parts.append(rows.double())
    return torch.cat(parts, dim=1).mean(dim=1).numpy()


def cosine_by_layer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """layer — cosine similarity of two layer+1 × d_model stacks, layer by layer."""
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


@dataclass(frozen=True)
class ContextExperiment:
    word: str
    sentences: list            # texts, in order
    senses: list               # the sense label of each sentence
    spans: list                # WordSpan per sentence
    vectors: np.ndarray        # sentence layer+1 d_model (centred when `centred`)
    similarity: np.ndarray     # sentence layer+1 — cosine with sentence 0, per layer
    same_token: list           # per sentence: same token ids as sentence 0
    centred: bool
    mode: str

    @property
    def n_layers(self) -> int:
        return self.vectors.shape[1] - 1

    def at_layer(self, layer: int) -> np.ndarray:
        """sentence d_model"""
        if not 0 <= layer <= self.n_layers:
            raise InputError(f"Layer must be between 0 and {self.n_layers}.", code="bad_layer",
                             layer=layer, max=self.n_layers)
        return self.vectors[:, layer]


def experiment(traces, senses, word: str, *, mode: str = "last",
               centre: bool = False) -> ContextExperiment:
    """Follow `word` through each traced sentence. Every trace must contain the
    word (use find_word first to drop the ones that don't)."""
    traces = list(traces)
    if len(traces) < 2:
        raise InputError("Two sentences are needed to compare.", code="too_few_sentences")
    spans = [find_word(tr, word) for tr in traces]
    vectors = np.stack([word_vectors(tr, sp, mode) for tr, sp in zip(traces, spans)])
    if centre:
        vectors = vectors - shared_direction(traces)[None]
    similarity = np.stack([cosine_by_layer(vectors[0], v) for v in vectors])
    key = (lambda sp: sp.ids[-1:]) if mode == "last" else (lambda sp: sp.ids)
    same = [key(sp) == key(spans[0]) for sp in spans]  # the same vector at layer 0
    return ContextExperiment(word, [tr.text for tr in traces], list(senses), spans, vectors,
                             similarity, same, centre, mode)


@dataclass(frozen=True)
class SenseGap:
    """How far apart the two meanings' lines lie, layer by layer: the mean cosine
    with sentence 1 of the other sentences with its meaning (solid lines) minus
    that of the sentences with the other meaning (dashed). What the chart shows,
    in numbers, so the sentence under it says what it shows."""
    gap: np.ndarray              # layer+1
    widest: int                  # the layer where the solid lines lie furthest above the dashed
    trend: str                   # "grows" | "shrinks" | "flat" (from layer 0 to the last)

    @property
    def first(self) -> float:
        return float(self.gap[0])

    @property
    def last(self) -> float:
        return float(self.gap[-1])

    @property
    def most(self) -> float:
        return float(self.gap[self.widest])


FLAT_GAP = 0.02     # a change of the gap smaller than this, from layer 0 to the last, is "about the same"


def sense_gap(exp: ContextExperiment) -> SenseGap | None:
    """None when one of the two kinds of line is missing (every other sentence
    has sentence 1's meaning, or none has)."""
    same = [i for i in range(1, len(exp.senses)) if exp.senses[i] == exp.senses[0]]
    other = [i for i in range(1, len(exp.senses)) if exp.senses[i] != exp.senses[0]]
    if not same or not other:
        return None
    gap = exp.similarity[same].mean(axis=0) - exp.similarity[other].mean(axis=0)
    change = float(gap[-1] - gap[0])
    trend = "flat" if abs(change) < FLAT_GAP else "grows" if change > 0 else "shrinks"
    return SenseGap(gap, int(np.argmax(gap)), trend)
