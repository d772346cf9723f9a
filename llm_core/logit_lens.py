"""Logit lens: read the residual stream after every layer as if it were the last.

The model turns its final residual into a prediction with two steps: the final
norm, then the unembedding (反嵌入). Applying the same two steps to the residual
after *each* layer shows what the model would guess at that depth. The lens of
the last layer is exactly the model's own output (a test checks this).

Row 0 of every `layer+1` axis below is the embedding (the residual entering
block 0); row l+1 is the residual leaving block l.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.model.errors import InputError
from llm_core.model.tokens import candidate_texts, complete_characters
from llm_core.model.limits import LENS_POSITIONS as MAX_POSITIONS

DEFAULT_POSITIONS = 16
TOP_K = 3
ROWS_PER_PRODUCT = 256  # residual rows read through the unembedding in one product


@dataclass(frozen=True)
class Lens:
    positions: tuple[int, ...]   # pos — token positions shown (the last N of the text)
    n_tokens: int                # tokens in the whole text
    top_ids: torch.Tensor        # layer+1 pos k — best guesses at each depth
    top_probs: torch.Tensor      # layer+1 pos k
    top_texts: tuple             # layer+1 × pos × k readable token texts
    final_ids: torch.Tensor      # pos — the model's own top prediction (last layer)
    final_probs: torch.Tensor    # layer+1 pos — probability of that prediction at each depth
    final_ranks: torch.Tensor    # layer+1 pos — its rank at each depth (0 = top)
    next_ids: torch.Tensor       # pos — the token that really follows in the text (-1: none)
    next_probs: torch.Tensor     # layer+1 pos — its probability at each depth (nan: none)

    @property
    def n_layers(self) -> int:
        return self.top_ids.shape[0] - 1

    @property
    def limited(self) -> bool:
        """True when the text has more tokens than the lens shows."""
        return len(self.positions) < self.n_tokens


def _unembed_parts(handle):
    arch = handle.arch
    unembed = arch.unembedding_matrix()
    if unembed is None:
        raise InputError("The logit lens needs a decoder (a model with an unembedding).",
                         code="needs_decoder")
    return arch.final_norm(), unembed, getattr(getattr(handle.model, "lm_head", None), "bias", None)


@torch.inference_mode()
def lens_logits(handle, trace, layer: int, positions) -> torch.Tensor:
    """pos vocab — logits read from residual[layer] (0 = embedding, n_layers = the
    last layer) at `positions`, through the final norm and the unembedding."""
    if not 0 <= layer <= trace.n_layers:
        raise InputError(f"Layer must be between 0 and {trace.n_layers}.",
                         code="bad_layer", layer=layer, max=trace.n_layers)
    return _read(handle, trace.residual[layer, list(positions)])


def _read(handle, rows: torch.Tensor) -> torch.Tensor:
    """rows d_model → rows vocab: the final norm, then the unembedding."""
    norm, unembed, bias = _unembed_parts(handle)
    x = rows.to(handle.device)
    if norm is not None:
        x = norm(x)
    logits = x @ unembed.T                                          # rows vocab
    if bias is not None:
        logits = logits + bias
    return logits.float().cpu()


@torch.inference_mode()
def logit_lens(handle, trace, last_n: int = DEFAULT_POSITIONS, k: int = TOP_K) -> Lens:
    """The lens for the last `last_n` positions of `trace`, every depth."""
    n = trace.n_tokens
    last_n = max(1, min(int(last_n), MAX_POSITIONS, n))
    positions = list(range(n - last_n, n))
    final_ids = lens_logits(handle, trace, trace.n_layers, positions).argmax(-1)   # pos
    following = trace.ids[positions[0] + 1:].tolist() + [-1]        # the next token in the text
    next_ids = torch.tensor(following[:last_n], dtype=torch.long)   # pos
    has_next = next_ids >= 0
    # Several layers per matrix product: the 49k-row unembedding is then read
    # from memory a few times instead of once per layer (several times faster).
    depths = trace.n_layers + 1
    per_chunk = max(1, ROWS_PER_PRODUCT // last_n)
    residual = trace.residual[:, positions]                         # layer+1 pos d_model
    parts = []
    for start in range(0, depths, per_chunk):
        block = residual[start:start + per_chunk]                   # layers pos d_model
        layers = block.shape[0]
        log_probs = torch.log_softmax(_read(handle, block.reshape(-1, block.shape[-1])), -1)
        log_probs = log_probs.view(layers, last_n, -1)              # layers pos vocab
        values, ids = log_probs.topk(k, dim=-1)                     # layers pos k
        chosen = log_probs.gather(-1, final_ids.expand(layers, -1)[..., None])[..., 0]
        ranks = (log_probs > chosen[..., None]).sum(-1)             # layers pos
        nxt = log_probs.gather(-1, next_ids.clamp(min=0).expand(layers, -1)[..., None])[..., 0]
        nxt = torch.where(has_next, nxt.exp(), torch.full_like(nxt, float("nan")))
        parts.append((ids, values.exp(), chosen.exp(), ranks, nxt))
    top_ids, top_probs, final_probs, final_ranks, next_probs = (
        torch.cat(column) for column in zip(*parts))                # layer+1 pos …
    return Lens(tuple(positions), n, top_ids, top_probs, _texts(handle, trace, positions, top_ids), final_ids,
                final_probs, final_ranks, next_ids, next_probs)


def _texts(handle, trace, positions, ids: torch.Tensor) -> tuple:
    """Readable text of each id, as a student reads a candidate there: a piece
    that starts a character shows the character the model completes it to after
    that position's text, and its part (语[1/2]); one batched decode per position
    that has such pieces, none for an English text."""
    per_pos = ids.transpose(0, 1).tolist()                           # pos layer+1 k
    names = []
    for p, rows in zip(positions, per_pos):
        unique = sorted({i for row in rows for i in row})
        done = complete_characters(handle, trace.ids[:p + 1], unique)
        names.append(dict(zip(unique, candidate_texts(handle, unique, done, unique=False))))
    return tuple(tuple(tuple(names[j][i] for i in pos) for j, pos in enumerate(layer))
                 for layer in ids.tolist())


def settles_at(lens: Lens, index: int) -> int:
    """The earliest depth (0 = embedding, l+1 = after layer l) from which the
    final prediction at shown position `index` stays the top guess."""
    ranks = lens.final_ranks[:, index].tolist()
    depth = len(ranks) - 1
    while depth > 0 and ranks[depth - 1] == 0:
        depth -= 1
    return depth


def first_top(lens: Lens, index: int) -> int:
    """The earliest depth at which the final prediction is the top guess at all
    (it may lose the lead again before `settles_at`)."""
    return lens.final_ranks[:, index].tolist().index(0)


def trace_export(handle, trace, lens: Lens, layer: int, head: int, top_n: int = 10) -> dict:
    """The current text's trace as plain JSON for worksheets: tokens and ids, the
    lens's top predictions per layer at the last position, the shown head's
    attention, and the next-token distribution's top N (from the model's own
    last-position logits). Numbers are rounded to 6 decimals (float32 carries ~7)."""
    if not (0 <= layer < trace.n_layers and 0 <= head < trace.n_heads):
        raise InputError(f"layer must be 0–{trace.n_layers - 1} and head 0–{trace.n_heads - 1}.")
    last = len(lens.positions) - 1
    logits = trace.last_logits
    probs = torch.softmax(logits.float(), -1)
    values, ids = probs.topk(min(top_n, probs.numel()))
    ids = ids.tolist()
    texts = candidate_texts(handle, ids, complete_characters(handle, trace.ids, ids))
    kept = trace.attention_kept
    return {
        "model": trace.model_name, "text": trace.text, "n_tokens": trace.n_tokens,
        "tokens": [t.to_json() for t in trace.tokens],
        # depth 0 is the token embeddings; depth d is the residual stream after block d-1
        "lens_last_position": [
            {"depth": d, "top": [{"text": lens.top_texts[d][last][j],
                                  "id": int(lens.top_ids[d, last, j]),
                                  "p": round(float(lens.top_probs[d, last, j]), 6)}
                                 for j in range(lens.top_ids.shape[-1])]}
            for d in range(lens.top_ids.shape[0])],
        "attention": {"layer": layer, "head": head, "tokens_kept": kept,
                      "weights": [[round(float(w), 6) for w in row]
                                  for row in trace.attention_pattern[layer, head]]},
        "next_token_top": [{"text": text, "id": int(i), "p": round(float(p), 6)}
                           for text, i, p in zip(texts, ids, values)],
    }
