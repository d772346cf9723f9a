"""The encoder_decoder lesson: who may look at whom. A decoder's token never
attends to later tokens; an encoder's attends both ways."""
from __future__ import annotations

import torch


def future_share(pattern: torch.Tensor) -> float:
    """Mean share of each query's attention that goes to later tokens (keys > query).
    Exactly 0 for a causal decoder; clearly above 0 for a bidirectional encoder."""
    n = pattern.shape[-1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    return float((pattern * future).sum(-1).mean())
