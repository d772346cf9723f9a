"""One forward pass, its insides kept: the `Trace`.

Hooks record what the lesson needs while the model runs once. Memory grows
with layers × heads × n², so attention is kept for the first
`ATTENTION_CAP` tokens only (exact for a causal model: a token never sees
later ones) and logits for the last `LOGITS_KEEP` positions.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .arch import Arch, LayerDetail
from .tokens import Token

ATTENTION_CAP = 256
LOGITS_KEEP = 64


@dataclass(frozen=True, eq=False)
class Trace:
    model_name: str
    text: str                           # the text that was traced (after truncation)
    tokens: tuple[Token, ...]
    ids: torch.Tensor                   # pos
    token_embedding: torch.Tensor       # pos d_model — the embedding matrix row of each token
    position_embedding: torch.Tensor | None  # pos d_model — learned/absolute positions, if any
    residual: torch.Tensor              # layer+1 pos d_model — [0] enters block 0, [l+1] leaves block l
    attention_pattern: torch.Tensor     # layer head query key — first `attention_kept` tokens
    attention_kept: int
    attn_out_norm: torch.Tensor | None  # layer pos — ‖what attention adds‖ (pre-norm models)
    mlp_out_norm: torch.Tensor | None   # layer pos — ‖what the MLP adds‖
    final_residual: torch.Tensor | None  # pos d_model — residual[-1] after the final norm
    logits: torch.Tensor | None         # logit_pos vocab — positions logits_start … n-1
    logits_start: int
    causal: bool
    truncated_from: int | None = None   # token count before truncation, when cut
    layer_details: dict = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def n_layers(self) -> int:
        return self.residual.shape[0] - 1

    @property
    def n_heads(self) -> int:
        return self.attention_pattern.shape[1]

    @property
    def last_logits(self) -> torch.Tensor | None:
        return None if self.logits is None else self.logits[-1]

    @property
    def token_texts(self) -> list[str]:
        return [t.text for t in self.tokens]

    @property
    def attention_truncated(self) -> bool:
        return self.attention_kept < self.n_tokens


def _hidden(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def _first(out):
    return out[0] if isinstance(out, tuple) else out


@torch.inference_mode()
def capture(arch: Arch, model_name: str, text: str, tokens, ids: torch.Tensor, device,
            truncated_from: int | None = None, detail_layers=()) -> Trace:
    """Run the model once on `ids` (pos) and keep what the lesson shows."""
    n = ids.shape[0]
    keep = n if not arch.causal else min(n, ATTENTION_CAP)
    n_layers = arch.n_layers
    residual = [None] * (n_layers + 1)
    patterns = [None] * n_layers
    attn_norm = [None] * n_layers
    mlp_norm = [None] * n_layers
    pre_norm = arch.family != "bert"
    hooks = []
    layers = arch.layers()

    # Hooks keep device tensors and everything moves to the CPU once at the end:
    # a copy per layer would make the GPU wait 30 times per forward pass.
    def pre_first(_module, args, kwargs):
        residual[0] = _hidden(args, kwargs)[0].detach()

    for i, layer in enumerate(layers):
        def on_layer(_m, _a, out, i=i):
            residual[i + 1] = _first(out)[0].detach()

        def on_attn(_m, _a, out, i=i):
            weights = out[1] if isinstance(out, tuple) and len(out) > 1 else None
            if weights is not None:  # head query key; copy the corner so the full n² is freed
                corner = weights[0, :, :keep, :keep]
                patterns[i] = corner.clone() if keep < n else corner
            if pre_norm:
                attn_norm[i] = out[0][0].norm(dim=-1)

        def on_mlp(_m, _a, out, i=i):
            mlp_norm[i] = _first(out)[0].norm(dim=-1)

        hooks.append(layer.register_forward_hook(on_layer))
        hooks.append(arch.attn(layer).register_forward_hook(on_attn))
        if pre_norm:
            hooks.append(arch.mlp(layer).register_forward_hook(on_mlp))
    hooks.append(layers[0].register_forward_pre_hook(pre_first, with_kwargs=True))
    try:
        kwargs = {"logits_to_keep": LOGITS_KEEP} if arch.unembedding_matrix() is not None else {}
        out = arch.model(input_ids=ids[None].to(device), **kwargs)
    finally:
        for h in hooks:
            h.remove()

    if any(p is None for p in patterns):
        raise RuntimeError("the model did not return attention weights (eager attention needed)")
    token_part, position_part = arch.embed_parts(ids.to(device))
    logits = final = None
    logits_start = 0
    norm = arch.final_norm()
    if arch.unembedding_matrix() is not None:
        final = norm(residual[-1]) if norm is not None else residual[-1]
        logits_start = max(0, n - LOGITS_KEEP)
        logits = out.logits[0, -(n - logits_start):].clone()

    on_gpu = torch.device(device).type == "cuda"

    def cpu(t):
        """float32 on the CPU. From a GPU, copy into pinned memory without waiting
        (pageable copies ran at ~1 GB/s); one synchronize below covers them all."""
        if t is None:
            return None
        if not on_gpu:
            return t.float()
        buf = torch.empty(t.shape, dtype=torch.float32, pin_memory=True)
        return buf.copy_(t, non_blocking=True)

    trace = Trace(
        model_name=model_name, text=text, tokens=tuple(tokens), ids=ids.cpu(),
        token_embedding=cpu(token_part), position_embedding=cpu(position_part),
        residual=cpu(torch.stack(residual)),
        attention_pattern=cpu(torch.stack(patterns)),
        attention_kept=keep,
        attn_out_norm=cpu(torch.stack(attn_norm)) if pre_norm else None,
        mlp_out_norm=cpu(torch.stack(mlp_norm)) if pre_norm else None,
        final_residual=cpu(final), logits=cpu(logits), logits_start=logits_start,
        causal=arch.causal, truncated_from=truncated_from,
    )
    if on_gpu:
        torch.cuda.synchronize(device)
    for layer in detail_layers:
        trace.layer_details[layer] = layer_detail(arch, trace, layer, device)
    return trace


@torch.inference_mode()
def layer_detail(arch: Arch, trace: Trace, layer: int, device) -> LayerDetail:
    """Every step of one layer, recomputed with the model's weights from the
    trace's residual stream (no new forward pass of the whole model)."""
    if not 0 <= layer < trace.n_layers:
        from .errors import InputError
        raise InputError(f"Layer must be between 0 and {trace.n_layers - 1}.",
                         code="bad_layer", layer=layer, max=trace.n_layers - 1)
    cached = trace.layer_details.get(layer)
    if cached is not None:
        return cached
    x = trace.residual[layer, : trace.attention_kept].to(device)
    detail = arch.layer_detail(layer, x)
    detail = LayerDetail(**{
        name: (value.float().cpu() if isinstance(value, torch.Tensor) else value)
        for name, value in detail.__dict__.items()
    })
    trace.layer_details[layer] = detail  # the dict is a memo; the Trace fields stay frozen
    return detail
