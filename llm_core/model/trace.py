"""One forward pass, its insides kept: the `Trace`.

Hooks record what the lesson needs while the model runs once. Memory grows
with layers × heads × n², so attention is kept for the first
`ATTENTION_CAP` tokens only (exact for a causal model: a token never sees
later ones) and logits for the last `LOGITS_KEEP` positions.

Every session shares one model, so the hooks are installed once and hold no
state: each forward pass that wants a record sets its own `_Recorder` in a
context variable (one per thread), and a hook with no recorder does nothing.
A generation step running beside a trace, or two traces at once, never write
into each other's buffers. Concurrent trace requests of a causal model are
gathered by a `TraceBatcher` (llm_core/model/batcher.py) and run here as one
padded batch: a class typing at once costs a few forward passes, not thirty.
"""
from __future__ import annotations

import contextvars
import functools
import threading
from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from llm_core.model.arch import Arch, LayerDetail
from llm_core.model.errors import InputError
from llm_core.model.limits import ATTENTION_CAP, LOGITS_KEEP
from llm_core.model.tokens import Token, padded, readable_texts

RECORDING_ATTENTION = "llm_xray_recording"


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

    @property
    def n_tokens(self) -> int:
        return len(self.tokens)

    @property
    def cache_key(self) -> tuple:
        """What a value computed from this trace depends on (ui.cache.shared)."""
        return (self.model_name, self.text, self.n_tokens)

    @property
    def n_layers(self) -> int:
        return self.residual.shape[0] - 1

    @property
    def n_heads(self) -> int:
        return self.attention_pattern.shape[1]

    @property
    def last_logits(self) -> torch.Tensor | None:
        return None if self.logits is None else self.logits[-1]

    @functools.cached_property   # read-only once made; computed at most once per thread
    def token_texts(self) -> list[str]:
        """Readable: a piece of a split character shows that character ("语[1/2]")."""
        return readable_texts(self.tokens)

    @property
    def attention_truncated(self) -> bool:
        return self.attention_kept < self.n_tokens


class _Recorder:
    """What one (batched) forward pass keeps; lives only for that call."""

    def __init__(self, n_layers: int, keep: int):
        self.keep, self.n_layers = keep, n_layers
        # One buffer each for the residual stream and the attention, filled layer by
        # layer: a layer's output is copied once and freed, never held in a list and
        # then stacked (which doubled the memory of a long trace for a moment).
        self.residual = None                      # batch layer+1 pos d_model
        self.patterns = None                      # batch layer head keep keep
        self.filled = set()                       # ("residual", i) / ("pattern", i) written
        self.attn_norm = [None] * n_layers        # each batch pos
        self.mlp_norm = [None] * n_layers
        self._bias = None                         # (the mask it was made from, the bias)

    def put_residual(self, i: int, hidden: torch.Tensor) -> None:
        if self.residual is None:
            b, n, d = hidden.shape
            self.residual = torch.empty(b, self.n_layers + 1, n, d, dtype=hidden.dtype,
                                        device=hidden.device)
        self.residual[:, i].copy_(hidden)
        self.filled.add(("residual", i))

    def put_pattern(self, i: int, weights: torch.Tensor) -> None:
        corner = weights[:, :, :self.keep, :self.keep]          # batch head keep keep
        if self.patterns is None:
            b, h, q, k = corner.shape
            self.patterns = torch.empty(b, self.n_layers, h, q, k, dtype=corner.dtype,
                                        device=corner.device)
        self.patterns[:, i].copy_(corner)
        self.filled.add(("pattern", i))

    def complete(self) -> bool:
        return len(self.filled) == 2 * self.n_layers + 1

    def mask_bias(self, attention_mask, keep: int, like: torch.Tensor) -> torch.Tensor:
        """The kept corner of the mask as 0 / −∞ to add to the scores: made once
        per forward pass, not once per layer (every layer gets the same mask)."""
        if self._bias is None or self._bias[0] is not attention_mask:
            if attention_mask is None:
                allowed = torch.ones(keep, keep, dtype=torch.bool, device=like.device).tril()
            else:
                allowed = attention_mask[:, :, :keep, :keep]
            if allowed.dtype == torch.bool:
                bias = torch.zeros(allowed.shape, dtype=like.dtype, device=like.device)
                bias = bias.masked_fill_(~allowed, float("-inf"))
            else:   # already additive
                bias = allowed.to(like.dtype)
            self._bias = (attention_mask, bias)
        return self._bias[1]


_RECORDER: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar(
    "llm_xray_recorder", default=None)
_HOOKS_LOCK = threading.Lock()


def _hidden(args, kwargs):
    return args[0] if args else kwargs["hidden_states"]


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def recording_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                        **kwargs):
    """The decoders' attention: PyTorch's scaled_dot_product_attention for the
    output (what a user's model runs), and — only when the call has a recorder —
    the attention pattern of the first `keep` queries and keys, computed as
    eager attention computes it (q·kᵀ · scale, mask, softmax in float32). A
    causal query never sees a later key, so those rows are complete; the n × n
    pattern of a long text is never built. query: batch head q_pos d_head."""
    rec = _RECORDER.get()
    if rec is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling,
                                      dropout=dropout, **kwargs)
    keep = min(rec.keep, query.shape[2], key.shape[2])
    whole = keep == key.shape[2] == query.shape[2]      # the whole pattern is kept: compute it once
    batch, heads, _, d_head = query.shape
    kv_heads = key.shape[1]
    # The query heads of one group read one key/value head: multiply them as one
    # matrix against it (what repeat_kv + matmul computes, without copying k, v).
    q = query[:, :, :keep].reshape(batch, kv_heads, heads // kv_heads * keep, d_head)
    scale = scaling if scaling is not None else d_head ** -0.5
    scores = torch.matmul(q, key[:, :, :keep].transpose(2, 3)).view(batch, heads, keep, keep)
    scores = scores.mul_(scale).add_(rec.mask_bias(attention_mask, keep, q))
    pattern = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if whole:   # eager attention's output, from the pattern just computed
        out = torch.matmul(pattern.view(batch, kv_heads, -1, keep), value).view(batch, heads, keep, -1)
        out = out.transpose(1, 2).contiguous()
    else:
        out, _ = sdpa_attention_forward(module, query, key, value, attention_mask,
                                        scaling=scaling, dropout=dropout, **kwargs)
    return out, pattern


AttentionInterface.register(RECORDING_ATTENTION, recording_attention)
AttentionMaskInterface.register(RECORDING_ATTENTION, sdpa_mask)


def install_hooks(arch: Arch) -> None:
    """Put the recording hooks on the model once. They keep nothing themselves:
    each call records into the `_Recorder` of its own context, if any. A
    decoder's attention becomes `recording_attention` (sdpa plus, when
    recording, the kept corner of the pattern); the encoder keeps eager
    attention, whose whole pattern a trace keeps anyway."""
    with _HOOKS_LOCK:
        if getattr(arch.model, "_llm_xray_hooks", False):
            return
        if arch.causal and getattr(arch.model.config, "_attn_implementation", None) == "eager":
            try:
                arch.model.set_attn_implementation(RECORDING_ATTENTION)
            except (ValueError, AttributeError):   # a model that cannot take it stays eager
                pass
        layers = arch.layers()
        pre_norm = arch.pre_norm

        def pre_first(_module, args, kwargs):
            rec = _RECORDER.get()
            if rec is not None:
                rec.put_residual(0, _hidden(args, kwargs))

        def make(i):
            def on_layer(_m, _a, out):
                rec = _RECORDER.get()
                if rec is not None:
                    rec.put_residual(i + 1, _first(out))

            def on_attn(_m, _a, out):
                rec = _RECORDER.get()
                if rec is None:
                    return
                weights = out[1] if isinstance(out, tuple) and len(out) > 1 else None
                if weights is not None:  # batch head query key; the corner is copied, n² freed
                    rec.put_pattern(i, weights)
                if pre_norm:
                    rec.attn_norm[i] = out[0].norm(dim=-1)

            def on_mlp(_m, _a, out):
                rec = _RECORDER.get()
                if rec is not None:
                    rec.mlp_norm[i] = _first(out).norm(dim=-1)
            return on_layer, on_attn, on_mlp

        for i, layer in enumerate(layers):
            on_layer, on_attn, on_mlp = make(i)
            layer.register_forward_hook(on_layer)
            arch.attn(layer).register_forward_hook(on_attn)
            if pre_norm:
                arch.mlp(layer).register_forward_hook(on_mlp)
        layers[0].register_forward_pre_hook(pre_first, with_kwargs=True)
        arch.model._llm_xray_hooks = True


@dataclass
class TraceRequest:
    model_name: str
    text: str
    tokens: tuple
    ids: torch.Tensor                   # pos
    truncated_from: int | None = None


def length_bucket(n: int) -> int:
    """Texts of one bucket are traced together, padded on the right to the longest
    of the batch (the mask keeps padding out of every real token's view): a class
    typing sentences runs as one batch, a 300-token paste never makes thirty short
    texts compute 300 positions each. A text's numbers are its own whoever shares
    the batch, to float32 rounding (other batch shapes may add in another order)."""
    step = 16 if n <= 256 else 64
    return -(-n // step) * step


@torch.inference_mode()
def capture_batch(arch: Arch, requests: list[TraceRequest], device) -> list[Trace]:
    """One forward pass over several texts of one `length_bucket`, one `Trace`
    each. For a causal model padding on the right changes nothing a real token
    sees; an encoder (every token sees every other) is traced alone, unpadded."""
    install_hooks(arch)
    lengths = [r.ids.shape[0] for r in requests]
    if arch.causal:
        width = max(lengths)
        if len({length_bucket(n) for n in lengths}) > 1:
            raise ValueError("a batch holds texts of one length bucket")
    elif len(requests) > 1:
        raise ValueError("an encoder is traced one text at a time")
    else:
        width = lengths[0]
    keep = width if not arch.causal else min(width, ATTENTION_CAP)
    rec = _Recorder(arch.n_layers, keep)
    ids, mask = padded([r.ids for r in requests])                 # batch pos
    has_lm_head = arch.unembedding_matrix() is not None
    kwargs = {}
    if arch.causal:  # always, so a text alone takes the same path as in a batch
        kwargs["attention_mask"] = mask.to(device)
    # The layers without the head: the kept logits are computed below, once; the
    # head's own call would read its vocab × d_model matrix a second time.
    body = arch.model.base_model if has_lm_head else arch.model
    token = _RECORDER.set(rec)
    try:
        body(input_ids=ids.to(device), **kwargs)
    finally:
        _RECORDER.reset(token)
    if not rec.complete():
        raise RuntimeError("the model did not return attention weights (eager or recording "
                           "attention needed)")
    pre_norm = arch.pre_norm
    residual = rec.residual                               # batch layer+1 pos d_model
    patterns = rec.patterns                               # batch layer head keep keep
    attn_norm = torch.stack(rec.attn_norm, dim=1) if pre_norm else None   # batch layer pos
    mlp_norm = torch.stack(rec.mlp_norm, dim=1) if pre_norm else None
    norm = arch.final_norm()
    on_gpu = torch.device(device).type == "cuda"
    alone = len(requests) == 1

    def cpu(t):
        """float32 on the CPU, owning its memory (a slice of the batch would keep
        the whole batch alive). From a GPU, copy into pinned memory without
        waiting (pageable copies ran at ~1 GB/s); one synchronize covers them all."""
        if t is None:
            return None
        if not on_gpu:
            t = t.float()
            return t if alone and t.is_contiguous() else t.contiguous().clone()
        buf = torch.empty(t.shape, dtype=torch.float32, pin_memory=True)
        return buf.copy_(t, non_blocking=True)

    finals = logits_of = None
    if has_lm_head:
        # The final norm of every row at once, and the kept positions' logits as one
        # product: the head's vocab × d_model matrix is read once per batch, not once
        # per text (30 reads of SmolLM2's 113 MB cost a class's burst a third of a second).
        last = residual[:, -1]                                     # batch pos d_model
        finals = norm(last) if norm is not None else last
        starts = [max(0, n - LOGITS_KEEP) for n in lengths]
        kept = torch.cat([finals[b, starts[b]:lengths[b]] for b in range(len(requests))])
        logits_of = arch.unembed(kept).split([n - s for n, s in zip(lengths, starts)])
    traces = []
    for b, r in enumerate(requests):
        n = lengths[b]
        k = min(n, keep)
        res = residual[b, :, :n]                                   # layer+1 pos d_model
        logits = final = None
        logits_start = 0
        if has_lm_head:
            final = finals[b, :n]                                  # pos d_model
            logits_start = starts[b]
            logits = logits_of[b]                                  # logit_pos vocab
        token_part, position_part = arch.embed_parts(r.ids.to(device))
        traces.append(Trace(
            model_name=r.model_name, text=r.text, tokens=tuple(r.tokens), ids=r.ids.cpu(),
            token_embedding=cpu(token_part), position_embedding=cpu(position_part),
            residual=cpu(res), attention_pattern=cpu(patterns[b, :, :, :k, :k]),
            attention_kept=k,
            attn_out_norm=cpu(attn_norm[b, :, :n]) if pre_norm else None,
            mlp_out_norm=cpu(mlp_norm[b, :, :n]) if pre_norm else None,
            final_residual=cpu(final), logits=cpu(logits), logits_start=logits_start,
            causal=arch.causal, truncated_from=r.truncated_from,
        ))
    if on_gpu:
        torch.cuda.synchronize(device)
    return traces


def capture(arch: Arch, request: TraceRequest, device) -> Trace:
    return capture_batch(arch, [request], device)[0]


@torch.inference_mode()
def layer_detail(arch: Arch, trace: Trace, layer: int, device) -> LayerDetail:
    """Every step of one layer, recomputed with the model's weights from the
    trace's residual stream (no new forward pass of the whole model). Not kept
    here: callers that want it again cache it by bytes (the Trace stays frozen)."""
    if not 0 <= layer < trace.n_layers:
        raise InputError(f"Layer must be between 0 and {trace.n_layers - 1}.",
                         code="bad_layer", layer=layer, max=trace.n_layers - 1)
    x = trace.residual[layer, : trace.attention_kept].to(device)
    detail = arch.layer_detail(layer, x)
    return LayerDetail(**{
        name: (value.float().cpu() if isinstance(value, torch.Tensor) else value)
        for name, value in detail.__dict__.items()
    })
