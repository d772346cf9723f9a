"""The next_token lesson: a prompt's next-token logits, the temperature curve,
and the candidates as a student reads them (a piece of a split character shown
with what the model completes it to). Turning logits into a distribution under
T, top-k and top-p, and choosing a token, live in `llm_core.model.sampling`: one
rule for the pages, the labs and the CLI."""
from __future__ import annotations

import math

import torch

from llm_core.model.errors import InputError
from llm_core.model.limits import PROMPT_TOKEN_LIMIT
# the lesson's names that sampling computes, so a page reads them from its lesson:
from llm_core.model.sampling import LN2, TopView, check_temperature, entropy, top_view  # noqa: F401
from llm_core.model.tokens import (candidate_texts, complete_characters, readable,  # noqa: F401
                                   readable_sequence)


def toy_rows(rows) -> list[tuple[str, float]]:
    """The rows of the toy table a student edits that hold a finite logit, as
    (token, logit); a token left blank reads "?". rows: dicts with token, logit."""
    out = []
    for row in rows:
        try:
            value = float(row.get("logit"))
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            token = row.get("token")
            out.append((token if isinstance(token, str) else "?", value))
    return out


def toy_logits(values) -> torch.Tensor:
    """Hand-made logits (e.g. the article's [3.2, 0.9, -2.0]) as a vocab tensor."""
    logits = torch.tensor([float(v) for v in values], dtype=torch.float32)
    if logits.numel() == 0 or not bool(torch.isfinite(logits).all()):
        raise InputError("Toy logits must be finite numbers, at least one.", code="bad_toy_logits")
    return logits


def temperature_curve(logits: torch.Tensor, temperatures) -> list[tuple[float, float, float]]:
    """[(T, probability of the top token, entropy in bits)] for each T (no filters),
    every T > 0 in one batched pass (41 temperatures: one pass, not 41).

    With d = (top logit − logit) ≥ 0 and e = exp(−d/T) ≤ 1, the partition is
    Z = c + R (c tokens tie at the top, R the rest), the top token's probability
    1/Z and the entropy ln Z + Σ e·d / (T·Z) nats: both terms ≥ 0, so nothing
    cancels, and R is summed alone, so a nearly one-hot T keeps its tiny entropy
    as long as float32 holds it: within ~1e-6 relative of a float64 softmax (the
    tests bound it at 1e-5) while the runner-up's exp(−d/T) is a normal float32
    (d/T < 87); past that the entropy, under 1e-36 bit, reads 0. A quarter of
    the CPU of softmax plus a float64 entropy (a class of 30 draws 30 curves at
    once). Logits with NaN or +inf, or only −inf, have no distribution: NaN rows."""
    temps = [check_temperature(temp) for temp in temperatures]
    warm = [temp for temp in temps if temp > 0]
    rows = {}
    top_logit = logits.float().max()
    if warm and not bool(torch.isfinite(top_logit)):
        rows = {temp: (temp, math.nan, math.nan) for temp in warm}
    elif warm:
        d = (top_logit - logits.float()).clamp_max(1e30)   # vocab, ≥ 0; a −inf logit: e = 0
        top = d == 0
        # 1/T in float64 first: a T under float32's range would make it inf (and 0·inf)
        inv = (1.0 / torch.tensor(warm, dtype=torch.float64)).clamp_max(1e30).float()[:, None]
        rest = torch.exp(-inv * d.masked_fill(top, math.inf))        # T vocab, 0 at the top
        ties = float(top.sum())
        r = rest.sum(-1)
        nats = math.log(ties) + torch.log1p(r / ties) + (rest * d).sum(-1) * inv[:, 0] / (ties + r)
        tops = (1.0 / (ties + r)).tolist()
        bits = (nats / LN2).clamp_min(0).tolist()
        rows = {temp: (temp, top_p, h) for temp, top_p, h in zip(warm, tops, bits)}
    return [rows[temp] if temp > 0 else (0.0, 1.0, 0.0) for temp in temps]


# --- prompts -----------------------------------------------------------------------

def prompt_ids(handle, text: str, *, chat: bool = False, limit: int = PROMPT_TOKEN_LIMIT
               ) -> torch.Tensor:
    """Token ids of a prompt: the text itself, or (chat) the model's chat template
    around it, ending where the assistant speaks. Too long → InputError
    'prompt_too_long' (never a silent cut: the prediction would be for other text)."""
    handle.need_decoder("Generation")
    limit = min(limit, handle.arch.max_positions)
    if chat:
        ids = handle.chat_ids(text)
        n = ids.numel()
    else:
        _tokens, ids, truncated_from = handle.encode(text, max_tokens=limit)
        n = truncated_from or ids.numel()
    if n > limit:
        raise InputError(f"The prompt has {n:,} tokens; at most {limit:,} are taken.",
                         code="prompt_too_long", n=n, limit=limit)
    return ids


def top_completions(handle, ids: torch.Tensor, logits: torch.Tensor, n: int = 30
                    ) -> dict[int, str]:
    """`complete_characters` for the `n` most likely next tokens (the most a page shows)."""
    return complete_characters(handle, ids, logits.topk(min(n, logits.numel())).indices.tolist())


def next_token_logits(handle, text: str, *, chat: bool = False, limit: int = PROMPT_TOKEN_LIMIT,
                      trace=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt ids, logits of the next token): only the last position's vector
    predicts. From `trace` (the text's shared trace, which a class's burst runs as
    one batch) when given, else one bare forward pass (a chat prompt)."""
    ids = prompt_ids(handle, text, chat=chat, limit=limit)
    if trace is not None and not chat and torch.equal(trace.ids, ids):
        return ids, trace.last_logits
    return ids, handle.forward_logits(ids)
