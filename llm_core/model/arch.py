"""Where each architecture keeps its parts, and one layer's computation written
out step by step with the model's own weights.

Three families are known: llama-style decoders (the embedded SmolLM2; also
Mistral, Qwen2), GPT-2-style decoders, and BERT-style encoders (the embedded
MiniLM). Shapes use one vocabulary: `pos d_model`, `head pos d_head`,
`head query key`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.model.errors import ModelUnavailable


@dataclass(frozen=True)
class LayerDetail:
    """One layer, every intermediate step (CPU tensors, batch dimension removed).

    Covers positions [0, n) where n is `Trace.attention_kept`: for a causal model
    the first n positions do not depend on later ones, so these are exact."""

    layer: int
    x: torch.Tensor              # pos d_model — residual stream entering the layer
    x_norm: torch.Tensor         # pos d_model — what attention reads (after the pre-norm)
    q: torch.Tensor              # head pos d_head (after RoPE where the model uses it)
    k: torch.Tensor              # kv_head pos d_head (after RoPE)
    v: torch.Tensor              # kv_head pos d_head
    q_before_rope: torch.Tensor | None
    k_before_rope: torch.Tensor | None
    scale: float                 # 1/sqrt(d_head)
    causal: bool
    scores: torch.Tensor         # head query key — q·k
    pattern: torch.Tensor        # head query key — softmax(scores·scale + mask)
    head_output: torch.Tensor    # head pos d_head — pattern @ v
    attn_out: torch.Tensor       # pos d_model — concat(heads) × W_O (+ bias)
    resid_mid: torch.Tensor      # pos d_model — after attention is added
    mlp_in: torch.Tensor         # pos d_model — what the MLP reads
    mlp_pre: torch.Tensor        # pos d_mlp — before the non-linearity (gate for SwiGLU)
    mlp_post: torch.Tensor       # pos d_mlp — what the down projection reads
    mlp_out: torch.Tensor        # pos d_model
    out: torch.Tensor            # pos d_model — residual stream leaving the layer

    @property
    def kv_group(self) -> int:
        """How many query heads share one key/value head (grouped-query attention)."""
        return self.q.shape[0] // self.k.shape[0]


def attention_math(q, k, v, scale: float, causal: bool):
    """softmax(q·kᵀ·scale + mask) · v for all heads, with intermediate steps.

    q: head pos d_head; k, v: kv_head pos d_head (shared by groups of query heads)."""
    group = q.shape[0] // k.shape[0]
    k_rep = k.repeat_interleave(group, dim=0)          # head pos d_head
    v_rep = v.repeat_interleave(group, dim=0)          # head pos d_head
    scores = q @ k_rep.transpose(-1, -2)               # head query key
    masked = scores * scale
    if causal:
        n = q.shape[1]
        future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=q.device), 1)
        masked = masked.masked_fill(future, float("-inf"))
    pattern = torch.softmax(masked, dim=-1)            # head query key
    head_output = pattern @ v_rep                      # head pos d_head
    return scores, pattern, head_output


def _split_heads(x, n_heads: int):
    pos = x.shape[0]
    return x.view(pos, n_heads, -1).transpose(0, 1)    # head pos d_head


class Arch:
    """Common interface; subclasses name the modules."""

    family = ""
    causal = True
    pre_norm = True          # normalise before attention and the MLP (BERT: after)
    has_position_embedding = False
    uses_rope = False
    norm_kind = ""
    mlp_kind = ""

    def __init__(self, model):
        self.model = model
        self.config = model.config

    # sizes
    @property
    def n_layers(self) -> int:
        return self.config.num_hidden_layers

    @property
    def n_heads(self) -> int:
        return self.config.num_attention_heads

    @property
    def n_kv_heads(self) -> int:
        return getattr(self.config, "num_key_value_heads", None) or self.n_heads

    @property
    def d_model(self) -> int:
        return self.config.hidden_size

    @property
    def d_head(self) -> int:
        return getattr(self.config, "head_dim", None) or self.d_model // self.n_heads

    @property
    def max_positions(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 2048))

    # parts, overridden below
    def layers(self):
        raise NotImplementedError

    def attn(self, layer):
        raise NotImplementedError

    def mlp(self, layer):
        return layer.mlp

    def token_embedding_matrix(self) -> torch.Tensor:
        raise NotImplementedError

    def position_embedding_matrix(self) -> torch.Tensor | None:
        return None

    def final_norm(self):
        return None

    def unembedding_matrix(self) -> torch.Tensor | None:
        """vocab d_model, or None for an encoder without a language-model head."""
        return None

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """pos d_model (after the final norm) → pos vocab logits, as the model's head does."""
        return self.model.lm_head(x)

    def embed_parts(self, ids):
        """(token part, position part or None), each pos d_model."""
        token = self.token_embedding_matrix()[ids]
        pos_m = self.position_embedding_matrix()
        position = None if pos_m is None else pos_m[: ids.shape[0]]
        return token, position

    def layer_detail(self, index: int, x: torch.Tensor) -> LayerDetail:
        raise NotImplementedError


class LlamaArch(Arch):
    family = "llama"
    uses_rope = True
    norm_kind = "RMSNorm"
    mlp_kind = "SwiGLU"

    def layers(self):
        return self.model.model.layers

    def attn(self, layer):
        return layer.self_attn

    def token_embedding_matrix(self):
        return self.model.model.embed_tokens.weight

    def final_norm(self):
        return self.model.model.norm

    def unembedding_matrix(self):
        return self.model.lm_head.weight

    def layer_detail(self, index, x):
        # lazy: Llama's code, for Llama-family models only
        from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

        layer = self.layers()[index]
        attn = layer.self_attn
        pos = x.shape[0]
        x_norm = layer.input_layernorm(x)
        q0 = _split_heads(attn.q_proj(x_norm), self.n_heads)       # head pos d_head
        k0 = _split_heads(attn.k_proj(x_norm), self.n_kv_heads)    # kv_head pos d_head
        v = _split_heads(attn.v_proj(x_norm), self.n_kv_heads)
        position_ids = torch.arange(pos, device=x.device)[None]    # 1 pos
        cos, sin = self.model.model.rotary_emb(x_norm[None], position_ids)
        q, k = apply_rotary_pos_emb(q0[None], k0[None], cos, sin)  # 1 head pos d_head
        q, k = q[0], k[0]
        scale = attn.scaling
        scores, pattern, head_output = attention_math(q, k, v, scale, causal=True)
        concat = head_output.transpose(0, 1).reshape(pos, -1)     # pos (head d_head)
        attn_out = attn.o_proj(concat)
        mid = x + attn_out
        mlp = layer.mlp
        mlp_in = layer.post_attention_layernorm(mid)
        gate = mlp.gate_proj(mlp_in)
        post = mlp.act_fn(gate) * mlp.up_proj(mlp_in)
        mlp_out = mlp.down_proj(post)
        return LayerDetail(index, x, x_norm, q, k, v, q0, k0, scale, True, scores, pattern,
                           head_output, attn_out, mid, mlp_in, gate, post, mlp_out, mid + mlp_out)


class GPT2Arch(Arch):
    family = "gpt2"
    has_position_embedding = True
    norm_kind = "LayerNorm"
    mlp_kind = "GELU"

    @property
    def n_layers(self):
        return self.config.n_layer

    @property
    def n_heads(self):
        return self.config.n_head

    @property
    def d_model(self):
        return self.config.n_embd

    @property
    def max_positions(self):
        return self.config.n_positions

    def layers(self):
        return self.model.transformer.h

    def attn(self, layer):
        return layer.attn

    def token_embedding_matrix(self):
        return self.model.transformer.wte.weight

    def position_embedding_matrix(self):
        return self.model.transformer.wpe.weight

    def final_norm(self):
        return self.model.transformer.ln_f

    def unembedding_matrix(self):
        return self.model.lm_head.weight

    def layer_detail(self, index, x):
        layer = self.layers()[index]
        attn = layer.attn
        pos = x.shape[0]
        x_norm = layer.ln_1(x)
        q, k, v = attn.c_attn(x_norm).split(self.d_model, dim=-1)
        q, k, v = (_split_heads(t, self.n_heads) for t in (q, k, v))  # head pos d_head
        scale = attn.scaling
        scores, pattern, head_output = attention_math(q, k, v, scale, causal=True)
        attn_out = attn.c_proj(head_output.transpose(0, 1).reshape(pos, -1))
        mid = x + attn_out
        mlp_in = layer.ln_2(mid)
        pre = layer.mlp.c_fc(mlp_in)
        post = layer.mlp.act(pre)
        mlp_out = layer.mlp.c_proj(post)
        return LayerDetail(index, x, x_norm, q, k, v, None, None, scale, True, scores, pattern,
                           head_output, attn_out, mid, mlp_in, pre, post, mlp_out, mid + mlp_out)


class BertArch(Arch):
    """Post-LayerNorm encoder: the norm comes after each residual addition, so the
    'residual stream' here is each layer's output."""

    family = "bert"
    causal = False
    pre_norm = False
    has_position_embedding = True
    norm_kind = "LayerNorm"
    mlp_kind = "GELU"

    def layers(self):
        return self.model.encoder.layer

    def attn(self, layer):
        return layer.attention.self

    def mlp(self, layer):
        return layer.intermediate

    def token_embedding_matrix(self):
        return self.model.embeddings.word_embeddings.weight

    def position_embedding_matrix(self):
        return self.model.embeddings.position_embeddings.weight

    def layer_detail(self, index, x):
        layer = self.layers()[index]
        sa = layer.attention.self
        pos = x.shape[0]
        q, k, v = (_split_heads(m(x), self.n_heads) for m in (sa.query, sa.key, sa.value))
        scale = sa.scaling
        scores, pattern, head_output = attention_math(q, k, v, scale, causal=False)
        attn_out = layer.attention.output.dense(head_output.transpose(0, 1).reshape(pos, -1))
        mid = layer.attention.output.LayerNorm(attn_out + x)
        pre = layer.intermediate.dense(mid)
        post = layer.intermediate.intermediate_act_fn(pre)
        mlp_out = layer.output.dense(post)
        out = layer.output.LayerNorm(mlp_out + mid)
        return LayerDetail(index, x, x, q, k, v, None, None, scale, False, scores, pattern,
                           head_output, attn_out, mid, mid, pre, post, mlp_out, out)


FAMILIES = {
    "llama": LlamaArch, "mistral": LlamaArch, "qwen2": LlamaArch,
    "gpt2": GPT2Arch,
    "bert": BertArch,
}


def arch_for(model) -> Arch:
    model_type = getattr(model.config, "model_type", "")
    cls = FAMILIES.get(model_type)
    if cls is None:
        raise ModelUnavailable(
            f"Architecture '{model_type}' is not supported for tracing "
            f"(supported: {', '.join(sorted(FAMILIES))}).",
            code="unsupported_arch", arch=model_type,
        )
    return cls(model)
