"""The attention lesson (自注意力): summaries of every head's attention_pattern, so
interesting heads are easy to find. One head written out step by step is the
attention_step lesson; who may look at whom, the encoder_decoder lesson.

Shapes use the one vocabulary: `layer head query key`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


# --- summaries of every head -------------------------------------------------------------

@dataclass(frozen=True)
class HeadSummary:
    """layer head — one number per head, averaged over query tokens (the first token
    is left out when there are others: it can only look at itself)."""

    entropy: torch.Tensor        # bits: 0 = looks at one token; high = spread out
    first_token: torch.Tensor    # share of attention on token 0
    previous_token: torch.Tensor  # share on the token just before the query
    self_token: torch.Tensor     # share on the query token itself
    strongest_key_distance: torch.Tensor  # mean query − argmax key (0 = itself)

    def metric(self, name: str) -> torch.Tensor:
        return getattr(self, name)


METRICS = ("entropy", "first_token", "previous_token", "self_token", "strongest_key_distance")


def row_entropy(pattern: torch.Tensor) -> torch.Tensor:
    """Entropy in bits of each attention row (last dim sums to 1)."""
    p = pattern.double()
    logs = torch.where(p > 0, p.log2(), torch.zeros_like(p))
    return -(p * logs).sum(-1).float()


def head_summary(attention_pattern: torch.Tensor) -> HeadSummary:
    """Summaries of `attention_pattern` (layer head query key)."""
    n = attention_pattern.shape[-1]
    queries = torch.arange(n)
    rows = slice(1, None) if n > 1 else slice(None)       # skip query 0 when there are others
    entropy = row_entropy(attention_pattern)[..., rows].mean(-1)
    first = attention_pattern[..., rows, 0].mean(-1)
    diag = attention_pattern.diagonal(dim1=-2, dim2=-1)   # layer head query
    self_share = diag[..., rows].mean(-1)
    if n > 1:
        prev = attention_pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)
    else:
        prev = torch.zeros(attention_pattern.shape[:2])
    distance = (queries - attention_pattern.argmax(-1)).float()[..., rows].mean(-1)
    return HeadSummary(entropy, first, prev, self_share, distance)


def entropy_bound(n_keys: int) -> float:
    """Largest possible entropy over n keys (uniform attention), in bits."""
    return math.log2(max(1, n_keys))


def keys_seen(query: int, n_keys: int, causal: bool) -> int:
    """How many keys a query sees: a decoder token itself and those before it,
    an encoder's every key."""
    return query + 1 if causal else n_keys


def query_row(pattern: torch.Tensor, head: int, query: int, causal: bool) -> torch.Tensor:
    """key — one head's weights from `query` to the keys it sees."""
    return pattern[head, query, :keys_seen(query, pattern.shape[-1], causal)]


def strongest_key(row: torch.Tensor) -> int:
    """The key a query row gives the most weight."""
    return int(row.argmax())


def top_heads(values: torch.Tensor, n: int = 5) -> list[tuple[int, int, float]]:
    """(layer, head, value) of the `n` heads with the largest value of a layer × head
    summary, largest first."""
    n_heads = values.shape[1]
    flat = values.flatten()
    return [(int(i) // n_heads, int(i) % n_heads, float(flat[i]))
            for i in flat.argsort(descending=True)[:n]]
