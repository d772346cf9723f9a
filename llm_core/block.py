"""The block lesson (前馈网络 and 残差): the MLP's shape, the distribution of a
weight matrix's values, what each block adds to the residual stream, and the
norm step by step.

Everything reads the model's real tensors; nothing here changes them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from llm_core.anatomy import kind_of
from llm_core.model.errors import InputError


# --- the MLP (前馈网络) -----------------------------------------------------------

@dataclass(frozen=True)
class MlpShape:
    kind: str                  # "SwiGLU" or "GELU"
    d_model: int
    d_mlp: int                 # the hidden (up-projected) width
    matrices: tuple            # (kind, parameters) of one layer's MLP weights, in order
    parameters: int            # weights + biases of one layer's MLP

    @property
    def ratio(self) -> float:
        return self.d_mlp / self.d_model


def mlp_shape(handle, layer: int = 0) -> MlpShape:
    """The MLP of `layer` as the model really has it (read from its weights)."""
    arch = handle.arch
    d_model = arch.d_model
    parts: dict[str, int] = {}
    d_mlp = 0
    for name, p in arch.layers()[layer].named_parameters():
        kind = kind_of("." + name)
        if kind not in ("mlp_gate", "mlp_up", "mlp_down"):
            continue
        parts[kind] = parts.get(kind, 0) + p.numel()
        if p.dim() == 2:
            d_mlp = max(d_mlp, p.numel() // d_model)
    order = [k for k in ("mlp_gate", "mlp_up", "mlp_down") if k in parts]
    return MlpShape(arch.mlp_kind, d_model, d_mlp, tuple((k, parts[k]) for k in order),
                    sum(parts.values()))


@dataclass(frozen=True)
class Histogram:
    edges: np.ndarray          # bins+1
    counts: np.ndarray         # bins
    n: int                     # how many values
    near_zero: float           # share with |value| < 0.1
    max_abs: float
    mean: float
    std: float


def histogram(values: torch.Tensor, bins: int = 80) -> Histogram:
    """Counts of all values of an activation tensor (e.g. pos d_mlp)."""
    flat = values.detach().float().flatten().numpy()
    if flat.size == 0:
        raise InputError("There are no values to count.", code="empty")
    counts, edges = np.histogram(flat, bins=bins)
    return Histogram(edges, counts, int(flat.size), float((np.abs(flat) < 0.1).mean()),
                     float(np.abs(flat).max()), float(flat.mean()), float(flat.std()))


# --- the residual stream (残差) --------------------------------------------------------

@dataclass(frozen=True)
class ResidualStats:
    norm: torch.Tensor          # layer+1 pos — ‖residual‖ entering block 0 … after the last
    attn_added: torch.Tensor | None   # layer pos — ‖what attention adds‖
    mlp_added: torch.Tensor | None    # layer pos — ‖what the MLP adds‖

    def median_norm(self) -> torch.Tensor:
        """layer+1 — the typical token (the first token is often an outlier)."""
        return self.norm.median(dim=1).values

    def added(self, token: int = -1):
        """(attention, MLP) — layer each: ‖what they add‖ for one token, or the
        median over tokens when token is -1. None for post-norm models."""
        if self.attn_added is None:
            return None
        if token >= 0:
            return self.attn_added[:, token], self.mlp_added[:, token]
        return self.attn_added.median(dim=1).values, self.mlp_added.median(dim=1).values

    def first_token_outlier(self, factor: float = 5.0):
        """(first token's final norm, median final norm) when the first token ends
        more than `factor` times longer than the median, else None."""
        final = self.norm[-1]
        if final.shape[0] < 3 or float(final[0]) <= factor * float(final.median()):
            return None
        return float(final[0]), float(final.median())


def residual_stats(trace) -> ResidualStats:
    return ResidualStats(trace.residual.norm(dim=-1), trace.attn_out_norm, trace.mlp_out_norm)


def norm_demo(detail, position: int) -> dict:
    """Numbers of one norm step for one token: the residual's length and RMS
    before the pre-norm, and the length of what attention reads after it."""
    x = detail.x[position]
    x_norm = detail.x_norm[position]
    d = x.shape[0]
    return {"norm_in": float(x.norm()), "rms_in": float(x.norm() / d ** 0.5),
            "mean_in": float(x.mean()), "norm_out": float(x_norm.norm()),
            "rms_out": float(x_norm.norm() / d ** 0.5), "d_model": d}
