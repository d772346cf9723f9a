"""The attention_step lesson: one head of self-attention written out step by
step, q·k, scale, mask, softmax, the weighted values, the concatenation and W_O.

Everything is taken from (and checked against) `LayerDetail`, which equals the
model's own computation. Shapes use the one vocabulary: `pos d_model`,
`head pos d_head`, `head query key`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.attention import keys_seen
from llm_core.model.arch import Arch, LayerDetail
from llm_core.model.errors import InputError


# --- the layer's weight matrices ------------------------------------------------------

@dataclass(frozen=True)
class AttentionWeights:
    """One layer's attention matrices in the nn.Linear convention: y = x @ W.T + b,
    so W is `out in`. Float32 CPU copies: the shared model is never touched."""

    w_q: torch.Tensor            # (head d_head) d_model
    w_k: torch.Tensor            # (kv_head d_head) d_model
    w_v: torch.Tensor            # (kv_head d_head) d_model
    w_o: torch.Tensor            # d_model (head d_head)
    b_q: torch.Tensor | None = None
    b_k: torch.Tensor | None = None
    b_v: torch.Tensor | None = None
    b_o: torch.Tensor | None = None


def _cpu(t):
    return None if t is None else t.detach().float().cpu()


@torch.inference_mode()
def attention_weights(arch: Arch, layer: int) -> AttentionWeights:
    """W_Q, W_K, W_V, W_O (and biases) of `layer`, for each known family."""
    block = arch.layers()[layer]
    if arch.family == "llama":
        a = block.self_attn
        lin = (a.q_proj, a.k_proj, a.v_proj, a.o_proj)
    elif arch.family == "bert":
        sa = block.attention.self
        lin = (sa.query, sa.key, sa.value, block.attention.output.dense)
    elif arch.family == "gpt2":
        a = block.attn
        d = arch.d_model
        w = a.c_attn.weight.T            # GPT-2's Conv1D stores `in out`
        b = a.c_attn.bias
        return AttentionWeights(
            _cpu(w[:d]), _cpu(w[d:2 * d]), _cpu(w[2 * d:]), _cpu(a.c_proj.weight.T),
            _cpu(b[:d]), _cpu(b[d:2 * d]), _cpu(b[2 * d:]), _cpu(a.c_proj.bias))
    else:
        raise InputError(f"No attention weights for family '{arch.family}'.",
                         code="unsupported_arch", arch=arch.family)
    ws = [_cpu(m.weight) for m in lin]
    bs = [_cpu(getattr(m, "bias", None)) for m in lin]
    return AttentionWeights(*ws, *bs)


# --- one head, step by step ----------------------------------------------------------

@dataclass(frozen=True)
class HeadSteps:
    """Every intermediate of one head for one query token (CPU float tensors)."""

    layer: int
    head: int
    query: int
    kv_head: int                 # the key/value head this query head reads (GQA)
    group: int                   # query heads per key/value head
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    scale: float                 # 1/sqrt(d_head)
    causal: bool
    residual: torch.Tensor       # d_model — residual stream entering the layer at the query
    x: torch.Tensor              # d_model — what attention reads (after the pre-norm)
    q_before_rope: torch.Tensor | None  # d_head
    q: torch.Tensor              # d_head — the query vector (after RoPE where used)
    k_before_rope: torch.Tensor | None  # key d_head
    k: torch.Tensor              # key d_head — every token's key (after RoPE)
    v: torch.Tensor              # key d_head — every token's value
    scores: torch.Tensor         # key — q·k
    scaled: torch.Tensor         # key — q·k / sqrt(d_head)
    masked: torch.Tensor         # key — −∞ for keys after the query (causal)
    pattern: torch.Tensor        # key — softmax(masked): this query's attention weights
    weighted_v: torch.Tensor     # key d_head — pattern[j] · v[j]
    output: torch.Tensor         # d_head — Σ_j pattern[j] · v[j]
    concat: torch.Tensor         # (head d_head) — every head's output at the query, side by side
    attn_out: torch.Tensor       # d_model — concat × W_O (+ bias): what attention adds
    resid_mid: torch.Tensor      # d_model — residual + attn_out
    head_contribution: torch.Tensor | None  # d_model — this head's share: output × W_O[:, head]

    @property
    def n_keys(self) -> int:
        return self.k.shape[0]


def check_position(detail: LayerDetail, head: int, query: int) -> None:
    n_heads, n = detail.q.shape[0], detail.q.shape[1]
    if not 0 <= head < n_heads:
        raise InputError(f"Head must be between 0 and {n_heads - 1}.",
                         code="bad_head", head=head, max=n_heads - 1)
    if not 0 <= query < n:
        raise InputError(f"Token position must be between 0 and {n - 1}.",
                         code="bad_position", position=query, max=n - 1)


def head_slice(head: int, d_head: int) -> slice:
    return slice(head * d_head, (head + 1) * d_head)


def head_steps(detail: LayerDetail, head: int, query: int,
               weights: AttentionWeights | None = None) -> HeadSteps:
    """softmax(q·k/√d_head + mask)·v for one head and one query token, each step kept.
    The score → pattern → output steps are recomputed here from q, k, v (not copied
    from `detail`), so a test can hold them against the model's own pattern."""
    check_position(detail, head, query)
    n_heads, n, d_head = detail.q.shape
    n_kv = detail.k.shape[0]
    group = n_heads // n_kv
    kv = head // group                                   # heads 0..group-1 share kv head 0, …
    q = detail.q[head, query]                            # d_head
    k = detail.k[kv]                                     # key d_head
    v = detail.v[kv]                                     # key d_head
    scores = k @ q                                       # key
    scaled = scores * detail.scale
    masked = scaled.clone()
    if detail.causal:
        masked[query + 1:] = float("-inf")              # a token never sees later tokens
    pattern = torch.softmax(masked, dim=-1)              # key
    weighted_v = pattern[:, None] * v                    # key d_head
    output = weighted_v.sum(0)                           # d_head
    concat = detail.head_output[:, query].reshape(-1)    # (head d_head)
    contribution = None
    if weights is not None:
        contribution = output @ weights.w_o[:, head_slice(head, d_head)].T  # d_model
    return HeadSteps(
        layer=detail.layer, head=head, query=query, kv_head=kv, group=group,
        n_heads=n_heads, n_kv_heads=n_kv, d_model=detail.x.shape[-1], d_head=d_head,
        scale=detail.scale, causal=detail.causal,
        residual=detail.x[query], x=detail.x_norm[query],
        q_before_rope=None if detail.q_before_rope is None else detail.q_before_rope[head, query],
        q=q,
        k_before_rope=None if detail.k_before_rope is None else detail.k_before_rope[kv],
        k=k, v=v, scores=scores, scaled=scaled, masked=masked, pattern=pattern,
        weighted_v=weighted_v, output=output, concat=concat,
        attn_out=detail.attn_out[query], resid_mid=detail.resid_mid[query],
        head_contribution=contribution,
    )


def head_contributions(detail: LayerDetail, weights: AttentionWeights, query: int) -> torch.Tensor:
    """head d_model — each head's output at `query` times its slice of W_O. Their sum
    plus W_O's bias is the attention output (concat × W_O), split by head."""
    n_heads, _, d_head = detail.head_output.shape
    out = detail.head_output[:, query]                   # head d_head
    w_o = weights.w_o.view(-1, n_heads, d_head)          # d_model head d_head
    return torch.einsum("hd,mhd->hm", out, w_o)          # head d_model


def length(vec: torch.Tensor) -> float:
    """A vector's length (L2 norm), as the lesson reads it."""
    return float(vec.float().norm())


def visible_keys(s: HeadSteps) -> int:
    """How many keys this step's query sees (attention.keys_seen)."""
    return keys_seen(s.query, s.n_keys, s.causal)


def top_keys(s: HeadSteps, k: int = 3) -> list[int]:
    """The `k` keys this query attends to most, strongest first (among those it sees)."""
    return s.pattern[:visible_keys(s)].argsort(descending=True)[:k].tolist()


def pattern_difference(s: HeadSteps, model_pattern: torch.Tensor) -> float:
    """Largest |ours − the model's| over this query's attention weights: the
    by-hand softmax against the pattern the model itself produced."""
    return float((s.pattern - model_pattern.to(s.pattern.dtype)).abs().max())


def contribution_lengths(detail: LayerDetail, weights: AttentionWeights, query: int) -> torch.Tensor:
    """head — how much each head adds to the attention output at `query` (the
    length of its share, head_contributions)."""
    return head_contributions(detail, weights, query).norm(dim=-1)
