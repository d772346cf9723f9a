"""The anatomy lesson: an LLM is a giant set of matrices. Parameter counts of a
model by matrix kind, and any weight matrix made small enough to look at.

Everything reads the model's real tensors; nothing here changes them."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch

from llm_core.model.errors import InputError
from llm_core.model.limits import HEATMAP_SIDE as MAX_CELLS

_LAYER_INDEX = re.compile(r"\.(?:layers|layer|h)\.(\d+)\.")

KINDS = ["embedding", "position_embedding", "W_Q", "W_K", "W_V", "W_O",
         "mlp_gate", "mlp_up", "mlp_down", "norm", "unembedding", "other"]

_PATTERNS = [  # (substring of the parameter name, kind) — first match wins
    ("position_embeddings", "position_embedding"), ("wpe", "position_embedding"),
    ("token_type_embeddings", "embedding"),
    ("embed_tokens", "embedding"), ("word_embeddings", "embedding"), ("wte", "embedding"),
    ("q_proj", "W_Q"), ("attention.self.query", "W_Q"),
    ("k_proj", "W_K"), ("attention.self.key", "W_K"),
    ("v_proj", "W_V"), ("attention.self.value", "W_V"),
    ("o_proj", "W_O"), ("attention.output.dense", "W_O"), ("attn.c_proj", "W_O"),
    ("gate_proj", "mlp_gate"),
    ("up_proj", "mlp_up"), ("intermediate.dense", "mlp_up"), ("mlp.c_fc", "mlp_up"),
    ("down_proj", "mlp_down"), ("output.dense", "mlp_down"), ("mlp.c_proj", "mlp_down"),
    ("norm", "norm"), ("LayerNorm", "norm"), ("ln_", "norm"),
    ("lm_head", "unembedding"),
]


@dataclass(frozen=True)
class KindCount:
    kind: str
    parameters: int
    matrices: int       # 2-D weight tensors of this kind
    shape: tuple        # shape of one such tensor (the first seen)


@dataclass(frozen=True)
class Anatomy:
    model_name: str
    total: int
    kinds: list          # [KindCount], in KINDS order, only kinds present
    tied_embeddings: bool
    n_layers: int
    d_model: int
    vocab: int
    device: str

    def to_json(self) -> dict:
        return {
            "model": self.model_name, "total_parameters": self.total, "device": self.device,
            "tied_embeddings": self.tied_embeddings, "layers": self.n_layers,
            "d_model": self.d_model, "vocab": self.vocab,
            "kinds": [{"kind": k.kind, "parameters": k.parameters, "matrices": k.matrices,
                       "shape": list(k.shape)} for k in self.kinds],
        }


def kind_of(name: str) -> str:
    for needle, kind in _PATTERNS:
        if needle in name:
            return kind
    return "other"


def anatomy(handle) -> Anatomy:
    """Every parameter counted once (tied matrices are one tensor) by kind;
    GPT-2's fused c_attn is split into its Q, K, V thirds."""
    counts: dict[str, list] = {}

    def add(kind, n, is_matrix, shape):
        entry = counts.setdefault(kind, [0, 0, tuple(shape)])
        entry[0] += n
        entry[1] += int(is_matrix)

    for name, p in handle.model.named_parameters():  # shared tensors appear once
        if "c_attn" in name:
            d = p.shape[-1] // 3
            shape = (*p.shape[:-1], d)
            for kind in ("W_Q", "W_K", "W_V"):
                add(kind, p.numel() // 3, p.dim() == 2, shape)
            continue
        add(kind_of(name), p.numel(), p.dim() == 2, p.shape)
    arch = handle.arch
    unembed = arch.unembedding_matrix()
    tied = unembed is not None and unembed.data_ptr() == arch.token_embedding_matrix().data_ptr()
    kinds = [KindCount(k, *counts[k]) for k in KINDS if k in counts]
    total = sum(p.numel() for p in handle.model.parameters())
    return Anatomy(handle.name, total, kinds, tied, arch.n_layers, arch.d_model,
                   arch.token_embedding_matrix().shape[0], str(handle.device))


# Reference figures for GPT-3 175B from the seed articles (not measured here).
GPT3_REFERENCE = {
    "vocab": 50_257, "d_model": 12_288, "embedding_weights": 50_257 * 12_288,
    "total_parameters": 175_000_000_000, "matrices": 27_938, "matrix_kinds": 8,
}


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
