"""An LLM is a giant set of matrices: parameter counts of a model by matrix kind."""
from __future__ import annotations

from dataclasses import dataclass

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
