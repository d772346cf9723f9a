"""How a transformer knows word order.

Three ways, as the lesson shows them:
- sinusoidal position encodings (the original transformer), added to the
  token embeddings;
- learned position embeddings (BERT / the embedded MiniLM), also added;
- RoPE (the embedded SmolLM2): nothing is added; instead q and k are turned by
  the 2-D rotation matrix of the warm-up, pair of dimensions by pair of
  dimensions, by an angle that grows with the position.
And the order experiment: the same tokens in another order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from llm_core.model.errors import InputError
from llm_core.vectors import cosine, cosine_matrix, robust_abs_max
from llm_core.model.sampling import softmax_with_temperature
from llm_core.model.tokens import candidate_texts, complete_characters
from llm_core.model.limits import TABLE_DIMS as MAX_DIMS, TABLE_POSITIONS as MAX_POSITIONS


def sinusoidal(n_positions: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """pos d_model: PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d))."""
    n_positions, d_model = int(n_positions), int(d_model)
    if not (1 <= n_positions <= MAX_POSITIONS and 2 <= d_model <= MAX_DIMS):
        raise InputError("Positions and dimensions are out of range.", code="bad_sizes")
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]            # pos 1
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)[None]           # 1 d/2
    angle = pos / base ** (two_i / d_model)                                  # pos d/2
    pe = torch.zeros(n_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.float()


# --- RoPE ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RopeParams:
    theta: float      # the base: pair j turns by p · theta^(-2j/d_head)
    head_dim: int
    rope_type: str


def rope_params(config) -> RopeParams | None:
    """The rotary parameters from a model config, or None if it has no RoPE."""
    params = getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {}
    theta = params.get("rope_theta") if isinstance(params, dict) else None
    theta = theta or getattr(config, "rope_theta", None)
    if theta is None:
        return None
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    rope_type = (params.get("rope_type") if isinstance(params, dict) else None) or "default"
    return RopeParams(float(theta), int(head_dim), str(rope_type))


def rope_frequencies(params: RopeParams) -> torch.Tensor:
    """pairs: radians each pair turns per position step, theta^(-2j/d_head)."""
    j2 = torch.arange(0, params.head_dim, 2, dtype=torch.float64)
    return params.theta ** (-j2 / params.head_dim)


def rope_angles(params: RopeParams, n_positions: int) -> torch.Tensor:
    """pos pairs: the angle (radians) pair j is turned by at position p: p · freq_j."""
    pos = torch.arange(int(n_positions), dtype=torch.float64)[:, None]
    return pos * rope_frequencies(params)[None]


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x: … pos d_head, angles: pos d_head/2 → x with every pair rotated.

    Hugging Face's Llama pairs dimension j with dimension j + d_head/2 (not 2j
    with 2j+1); the pair (x_j, x_{j+d/2}) is multiplied by the rotation matrix
    [[cos, −sin], [sin, cos]] of its angle."""
    half = x.shape[-1] // 2
    a, b = x[..., :half].double(), x[..., half:].double()
    c, s = torch.cos(angles), torch.sin(angles)
    return torch.cat([a * c - b * s, a * s + b * c], dim=-1).to(x.dtype)


@dataclass(frozen=True)
class RopePair:
    """One 2-D pair of one head's q at one position, turned by hand."""

    pair: int
    dims: tuple[int, int]
    position: int
    angle: float                   # radians
    matrix: torch.Tensor           # 2 2
    before: torch.Tensor           # 2 — q_before_rope at (dims)
    rotated: torch.Tensor          # 2 — matrix @ before
    model: torch.Tensor            # 2 — the model's own q after RoPE
    track_before: torch.Tensor     # pos 2 — the pair at every position, before RoPE
    track_after: torch.Tensor      # pos 2 — and after: each turned by its own angle
    step_deg: float                # degrees the pair turns per position

    @property
    def max_error(self) -> float:
        return float((self.rotated - self.model).abs().max())


def rope_pair(params: RopeParams, q_before: torch.Tensor, q_after: torch.Tensor, head: int,
              position: int, pair: int) -> RopePair:
    """q_before, q_after: head pos d_head (LayerDetail.q_before_rope / .q)."""
    half = params.head_dim // 2
    if not (0 <= pair < half and 0 <= position < q_before.shape[1] and 0 <= head < q_before.shape[0]):
        raise InputError("Head, position or pair is out of range.", code="bad_pair")
    dims = (pair, pair + half)
    angle = float(rope_angles(params, position + 1)[position, pair])
    c, s = torch.cos(torch.tensor(angle, dtype=torch.float64)), torch.sin(
        torch.tensor(angle, dtype=torch.float64))
    matrix = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    before = q_before[head, position, list(dims)].double()
    return RopePair(pair, dims, position, angle, matrix, before, matrix @ before,
                    q_after[head, position, list(dims)].double(),
                    q_before[head][:, list(dims)], q_after[head][:, list(dims)],
                    math.degrees(float(rope_frequencies(params)[pair])))


def rope_angle_degrees(params: RopeParams, n_positions: int) -> torch.Tensor:
    """pos pairs: rope_angles in degrees, for a heatmap a student can read."""
    return rope_angles(params, n_positions) * 180 / math.pi


@dataclass(frozen=True)
class PositionTable:
    """Position vectors and how alike any two positions are."""

    vectors: torch.Tensor          # pos d (float32, CPU)
    cosine: torch.Tensor           # pos pos
    bound: float                   # a colour range a few outliers cannot wash out


def sinusoidal_table(n_positions: int, d_model: int) -> PositionTable:
    pe = sinusoidal(n_positions, d_model)
    return PositionTable(pe, cosine_matrix(pe), 1.0)


def learned_table(handle, n_positions: int) -> PositionTable | None:
    """The first `n_positions` rows of a model's learned position embeddings
    (None when it has none, e.g. a RoPE decoder)."""
    table = handle.arch.position_embedding_matrix()
    if table is None:
        return None
    rows = table.detach().float().cpu()[:n_positions]
    return PositionTable(rows, cosine_matrix(rows), robust_abs_max(rows))


def learned_size(handle) -> tuple[int, int] | None:
    """(positions, dims) of a model's learned position table, or None."""
    table = handle.arch.position_embedding_matrix()
    return None if table is None else tuple(table.shape)


# --- the order experiment -------------------------------------------------------------


# The order experiment's examples: the same tokens (the same bag) in another order.
ORDER_PAIRS = [("The dog bites the man", "The man bites the dog"), ("我喜欢你", "你喜欢我"),
               ("dog bites man", "man bites dog")]


@dataclass(frozen=True)
class MatchedToken:
    """The same token (same id) in both texts, followed through the layers."""

    id: int
    pos_a: int
    pos_b: int
    cosine_by_layer: tuple[float, ...]   # layer 0 (embeddings) … L


@dataclass(frozen=True)
class OrderResult:
    """Two texts made of the same tokens in a different order."""

    same_bag: bool                  # sorted token ids equal
    only_in_a: tuple[int, ...]      # ids that are not shared (when the bags differ)
    only_in_b: tuple[int, ...]
    embedding_sum_diff: float       # max |Σ embeddings(a) − Σ embeddings(b)| (inf if bags differ in size)
    matched: tuple[MatchedToken, ...]  # each shared token occurrence, A's order
    final_cosine: float | None      # cos of the last token's final (normed) residual
    top_a: tuple[tuple[int, float], ...]     # (id, prob) top next tokens
    top_b: tuple[tuple[int, float], ...]


def _top(trace, n: int, temperature: float):
    if trace.last_logits is None:
        return ()
    probs = softmax_with_temperature(trace.last_logits, temperature)
    p, idx = torch.topk(probs, min(n, probs.numel()))
    return tuple((int(i), float(v)) for i, v in zip(idx, p))


def order_experiment(trace_a, trace_b, top_n: int = 5, temperature: float = 1.0) -> OrderResult:
    """Compare two traces token by token: the k-th occurrence of a token in A is
    matched with its k-th occurrence in B, and their residual vectors are
    compared at every layer (identical at layer 0 when nothing is added for
    positions; different later because attention sees the order)."""
    ids_a, ids_b = trace_a.ids.tolist(), trace_b.ids.tolist()
    free_b: dict[int, list[int]] = {}
    for pos, tid in enumerate(ids_b):
        free_b.setdefault(tid, []).append(pos)
    matched, only_a = [], []
    n_layers = min(trace_a.residual.shape[0], trace_b.residual.shape[0])
    for pos_a, tid in enumerate(ids_a):
        if not free_b.get(tid):
            only_a.append(tid)
            continue
        pos_b = free_b[tid].pop(0)
        cos = tuple(cosine(trace_a.residual[i, pos_a], trace_b.residual[i, pos_b])
                    for i in range(n_layers))
        matched.append(MatchedToken(tid, pos_a, pos_b, cos))
    only_b = [ids_b[p] for positions in free_b.values() for p in positions]
    sum_a, sum_b = trace_a.token_embedding.sum(0), trace_b.token_embedding.sum(0)
    diff = float((sum_a - sum_b).abs().max()) if len(ids_a) == len(ids_b) else float("inf")
    final = None
    if trace_a.final_residual is not None and trace_b.final_residual is not None:
        final = cosine(trace_a.final_residual[-1], trace_b.final_residual[-1])
    return OrderResult(sorted(ids_a) == sorted(ids_b), tuple(sorted(only_a)), tuple(sorted(only_b)),
                       diff, tuple(matched), final, _top(trace_a, top_n, temperature),
                       _top(trace_b, top_n, temperature))


def top_tokens(handle, trace, top) -> list[tuple[str, float]]:
    """The order experiment's next tokens after `trace`'s text as (label,
    probability): a piece that starts a character reads as the character the
    model completes it to and its part (语[1/2]), as on the next-token page."""
    ids = [i for i, _p in top]
    texts = candidate_texts(handle, ids, complete_characters(handle, trace.ids, ids))
    return [(text, p) for text, (_i, p) in zip(texts, top)]
