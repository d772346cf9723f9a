"""Weights and what flows through them: the MLP's shape, what each block adds to
the residual stream, and any weight matrix made small enough to look at.

Everything reads the model's real tensors; nothing here changes them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from .anatomy import kind_of
from .errors import InputError

MAX_CELLS = 256          # a heatmap side: a browser draws 256 × 256 cells comfortably
_LAYER_INDEX = re.compile(r"\.(?:layers|layer|h)\.(\d+)\.")


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


# --- one weight matrix, literally ---------------------------------------------------------

@dataclass(frozen=True)
class MatrixView:
    name: str                   # the parameter's name in the model
    shape: tuple                # its real shape
    values: np.ndarray          # what is drawn (≤ MAX_CELLS per side)
    block: tuple                # rows, cols averaged into one cell (1, 1 = exact values)
    row_start: int              # where the drawn part starts (for a corner view)
    col_start: int
    limit: float                # colour range ±limit: 99.5th percentile of |values|


_FUSED_QKV = {"W_Q": 0, "W_K": 1, "W_V": 2}


def _matrices(handle):
    """(name, kind, 2-D tensor) of every weight matrix; GPT-2's fused c_attn
    (input × 3·d_model) gives its Q, K and V thirds, as anatomy counts them."""
    for name, p in handle.model.named_parameters():
        if p.dim() != 2:
            continue
        if "c_attn" in name:
            d = p.shape[-1] // 3
            for kind, i in _FUSED_QKV.items():
                yield name, kind, p[:, i * d:(i + 1) * d]
        else:
            yield name, kind_of(name), p


def matrix_kinds(handle) -> list[str]:
    """Kinds of 2-D weights the model has (anatomy's vocabulary), in anatomy order."""
    from .anatomy import KINDS
    present = {kind for _, kind, _ in _matrices(handle)}
    return [k for k in KINDS if k in present]


def weight_matrix(handle, kind: str, layer: int = 0) -> tuple[str, torch.Tensor]:
    """(name, 2-D tensor) of the first weight of `kind` in `layer` (kinds that are
    not per layer, like the embedding, ignore `layer`)."""
    first = None
    for name, found, p in _matrices(handle):
        if found != kind:
            continue
        match = _LAYER_INDEX.search("." + name)
        if match is None or int(match.group(1)) == layer:
            return name, p
        first = first or (name, p)
    if first is None:
        raise InputError(f"The model has no weight matrix of kind {kind}.",
                         code="no_matrix", kind=kind)
    raise InputError(f"Layer {layer} has no weight of kind {kind}.", code="bad_layer",
                     layer=layer, max=handle.arch.n_layers - 1)


def is_per_layer(handle, kind: str) -> bool:
    name, _ = weight_matrix(handle, kind, 0)
    return _LAYER_INDEX.search("." + name) is not None


@torch.inference_mode()
def block_average(matrix: torch.Tensor, max_cells: int = MAX_CELLS) -> tuple[np.ndarray, tuple]:
    """Shrink rows × cols to at most max_cells per side by averaging blocks
    (the last block of a side may be smaller). Returns (values, block size)."""
    m = matrix.detach().float().cpu()
    rows, cols = m.shape
    br, bc = -(-rows // max_cells), -(-cols // max_cells)   # ceil division
    out_r, out_c = -(-rows // br), -(-cols // bc)
    pad = torch.zeros(out_r * br, out_c * bc)
    weight = torch.zeros_like(pad)
    pad[:rows, :cols] = m
    weight[:rows, :cols] = 1
    sums = pad.reshape(out_r, br, out_c, bc).sum(dim=(1, 3))          # out_r out_c
    counts = weight.reshape(out_r, br, out_c, bc).sum(dim=(1, 3))
    return (sums / counts).numpy(), (br, bc)


def matrix_view(handle, kind: str, layer: int = 0, corner: bool = False,
                max_cells: int = MAX_CELLS) -> MatrixView:
    """A weight matrix to draw: the whole of it block-averaged, or its top-left
    corner at full resolution (exact values)."""
    name, weight = weight_matrix(handle, kind, layer)
    shape = tuple(weight.shape)
    if corner:
        corner_part = weight.detach()[:max_cells, :max_cells]
        values, block = corner_part.float().cpu().numpy().copy(), (1, 1)
    else:
        values, block = block_average(weight, max_cells)
    # a few large weights would wash out the rest of the colour scale
    limit = float(np.quantile(np.abs(values), 0.995)) or 1.0
    return MatrixView(name, shape, values, block, 0, 0, limit)
