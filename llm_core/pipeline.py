"""The whole pipeline in numbers, for the overview page: text → tokens →
vectors → layers → next-token distribution → the chosen token."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from llm_core.model.sampling import top_view
from llm_core.model.tokens import candidate_texts, complete_characters


@dataclass(frozen=True)
class Pipeline:
    token_texts: list            # pos — the last `shown` tokens of the text
    shown_from: int              # index of the first token shown (long texts show their end)
    token_ids: list              # pos
    embedding_strip: torch.Tensor  # pos dims — the first dimensions of each token's vector
    d_model: int
    residual_norm: torch.Tensor  # layer+1 pos — ‖residual‖ after each layer
    last_similarity: torch.Tensor  # layer+1 — cosine(last token's vector at layer l, at the end)
    attention_last_layer: torch.Tensor  # query key — last layer, mean over heads
    attention_from: int          # index of the first token in the attention view
    attention_texts: list        # the tokens of the attention view
    candidates: list             # [(token text, id, logit, prob)] at T = 1
    entropy: float               # bits
    chosen: str                  # the most likely next token


def pipeline(handle, trace, n_dims: int = 48, n_top: int = 10, max_shown: int = 40) -> Pipeline:
    """Figures stay readable: per-token views cover the last `max_shown` tokens
    (attention: the last ones among those it keeps)."""
    start = max(0, trace.n_tokens - max_shown)
    residual = trace.residual[:, start:]                        # layer+1 pos d_model
    last = residual[:, -1]                                      # layer+1 d_model
    kept = trace.attention_kept
    a_start = max(0, kept - max_shown)
    attention = trace.attention_pattern[-1, :, a_start:kept, a_start:kept].mean(0)  # query key
    similarity = torch.nn.functional.cosine_similarity(last, last[-1:].expand_as(last), dim=-1)
    view = top_view(trace.last_logits, 1.0, n=n_top)           # the top n only: no full sort
    ids = list(view.ids)
    texts = candidate_texts(handle, ids, complete_characters(handle, trace.ids, ids))
    cands = list(zip(texts, ids, view.logits, view.final))
    return Pipeline(
        token_texts=trace.token_texts[start:], shown_from=start,
        token_ids=trace.ids[start:].tolist(), attention_from=a_start,
        attention_texts=trace.token_texts[a_start:kept],
        embedding_strip=trace.token_embedding[start:, :n_dims],
        d_model=trace.token_embedding.shape[1],
        residual_norm=residual.norm(dim=-1), last_similarity=similarity,
        attention_last_layer=attention,
        candidates=cands, entropy=view.entropy, chosen=cands[0][0])
