"""From logits to a choice: temperature, top-k, top-p, entropy, seeded sampling,
and step-by-step generation that yields each step's distribution."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from .errors import InputError

MAX_TEMPERATURE = 100.0


def check_temperature(temperature) -> float:
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise InputError(f"Temperature must be a number, not '{str(temperature)[:20]}'.",
                         code="bad_temperature", value=str(temperature)[:20]) from None
    if not math.isfinite(t) or t < 0:
        raise InputError("Temperature must be 0 or more (0 = always the top token).",
                         code="bad_temperature", value=str(temperature)[:20])
    if t > MAX_TEMPERATURE:
        raise InputError(f"Temperature must be at most {MAX_TEMPERATURE:g}.",
                         code="bad_temperature", value=str(temperature)[:20])
    return t


def check_top_k(top_k) -> int | None:
    if top_k is None:
        return None
    try:
        k = int(top_k)
    except (TypeError, ValueError):
        raise InputError("top-k must be a whole number ≥ 1.", code="bad_top_k") from None
    if k < 1:
        raise InputError("top-k must be a whole number ≥ 1.", code="bad_top_k")
    return k


def check_top_p(top_p) -> float | None:
    if top_p is None:
        return None
    try:
        p = float(top_p)
    except (TypeError, ValueError):
        raise InputError("top-p must be a number in (0, 1].", code="bad_top_p") from None
    if not (0 < p <= 1):
        raise InputError("top-p must be a number in (0, 1].", code="bad_top_p")
    return p


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """softmax(logits / T). T = 0 puts all probability on the top token (argmax)."""
    t = check_temperature(temperature)
    logits = logits.float()
    if t == 0:
        idx = logits.argmax(dim=-1, keepdim=True)
        return torch.zeros_like(logits).scatter(-1, idx, 1.0)
    return torch.softmax(logits / t, dim=-1)


def entropy(probs: torch.Tensor) -> float:
    """Shannon entropy in bits."""
    p = probs.float()
    p = p[p > 0]
    return max(0.0, float(-(p * p.log2()).sum()))


def filter_mask(probs: torch.Tensor, top_k: int | None = None, top_p: float | None = None
                ) -> torch.Tensor:
    """Boolean mask (vocab) of the tokens that survive top-k then top-p.

    top-p keeps the smallest set of most likely tokens whose mass reaches p
    (always at least one)."""
    top_k, top_p = check_top_k(top_k), check_top_p(top_p)
    keep = torch.ones_like(probs, dtype=torch.bool)
    order = torch.argsort(probs, descending=True)
    if top_k is not None and top_k < probs.numel():
        keep[:] = False
        keep[order[:top_k]] = True
    if top_p is not None and top_p < 1:
        sorted_p = torch.where(keep[order], probs[order], torch.zeros(()))
        before = torch.cumsum(sorted_p, 0) - sorted_p       # mass strictly before each token
        survive = (before < top_p) & keep[order]
        survive[0] = True
        keep = torch.zeros_like(keep)
        keep[order[survive]] = True
    return keep


def renormalize(probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    kept = torch.where(mask, probs, torch.zeros(()))
    return kept / kept.sum()


@dataclass(frozen=True)
class Distribution:
    """One step's choice, explained: probabilities at T, what top-k/top-p keep,
    the renormalised distribution that is sampled from."""

    logits: torch.Tensor       # vocab
    probs: torch.Tensor        # vocab, softmax(logits / T)
    kept: torch.Tensor         # vocab bool
    final: torch.Tensor        # vocab, renormalised over kept
    temperature: float

    @property
    def entropy(self) -> float:
        return entropy(self.final)

    def top(self, n: int = 10) -> list[tuple[int, float, float]]:
        """[(token id, logit, final prob)] for the n most likely tokens."""
        p, idx = torch.topk(self.probs, min(n, self.probs.numel()))
        return [(int(i), float(self.logits[i]), float(self.final[i])) for i in idx]


def distribution(logits: torch.Tensor, temperature: float = 1.0, top_k=None, top_p=None
                 ) -> Distribution:
    probs = softmax_with_temperature(logits, temperature)
    kept = filter_mask(probs, top_k, top_p)
    return Distribution(logits.float(), probs, kept, renormalize(probs, kept),
                        check_temperature(temperature))


def sample(dist: Distribution, generator: torch.Generator | None = None) -> int:
    if dist.temperature == 0:
        return int(dist.final.argmax())
    return int(torch.multinomial(dist.final, 1, generator=generator))


def make_generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(time.time_ns() % 2**31))
    return gen


@dataclass(frozen=True)
class Step:
    index: int
    token_id: int
    token: str
    prob: float                 # probability of the chosen token under the final distribution
    entropy: float              # bits
    alternatives: list          # [(id, text, prob)] the most likely tokens at this step
    dist: Distribution


MAX_NEW_TOKENS = 512


def check_generation(handle, prompt_ids: torch.Tensor, max_new_tokens, temperature, top_k, top_p,
                     limit: int = MAX_NEW_TOKENS):
    """Validated (max_new_tokens, temperature, top_k, top_p) for a generation, or
    InputError: bad numbers, an encoder, or more tokens than the context holds."""
    temperature = check_temperature(temperature)
    top_k, top_p = check_top_k(top_k), check_top_p(top_p)
    try:
        max_new_tokens = int(max_new_tokens)
    except (TypeError, ValueError):
        raise InputError("max-new-tokens must be a whole number.", code="bad_max_new",
                         max=limit) from None
    if not 1 <= max_new_tokens <= limit:
        raise InputError(f"max-new-tokens must be between 1 and {limit}.",
                         code="bad_max_new", max=limit)
    if handle.kind != "decoder":
        raise InputError("Generation needs a decoder model.", code="needs_decoder")
    context = handle.arch.max_positions
    if prompt_ids.numel() + max_new_tokens > context:
        raise InputError(f"Prompt plus new tokens exceed the context window ({context} tokens).",
                         code="context_full", context=context)
    return max_new_tokens, temperature, top_k, top_p


def generate_steps(handle, prompt_ids: torch.Tensor, *, max_new_tokens: int = 40,
                   temperature: float = 0.7, top_k=None, top_p=None, seed: int | None = 0,
                   n_alternatives: int = 5, stop=None, time_limit: float | None = None
                   ) -> Iterator[Step]:
    """Predict, sample, append, repeat — yielding every step's distribution.

    Uses the model's key/value cache, so each step costs one token's forward.
    `stop()` returning True (e.g. a Stop button) ends the loop early."""
    max_new_tokens, temperature, top_k, top_p = check_generation(
        handle, prompt_ids, max_new_tokens, temperature, top_k, top_p)
    choose = step_chooser(handle, temperature, top_k, top_p, seed, n_alternatives)
    yield from decode_loop(handle, prompt_ids, max_new_tokens, choose, stop, time_limit)


def step_chooser(handle, temperature: float, top_k=None, top_p=None, seed: int | None = 0,
                 n_alternatives: int = 5):
    """`choose(i, logits) -> Step` for one answer: its own seeded generator."""
    gen = make_generator(seed)

    def choose(i, logits):
        dist = distribution(logits, temperature, top_k, top_p)
        token_id = sample(dist, gen)
        alts = [(tid, handle.decode([tid]), p) for tid, _l, p in dist.top(n_alternatives)]
        return Step(i, token_id, handle.decode([token_id]), float(dist.final[token_id]),
                    dist.entropy, alts, dist)
    return choose


def decode_loop(handle, prompt_ids: torch.Tensor, max_new_tokens: int, choose,
                stop=None, time_limit: float | None = None, prefilled=None) -> Iterator:
    """The autoregressive loop every generation shares: forward, `choose(i, logits)`
    (returns a step with `.token_id`), yield it, append, repeat. The model's
    key/value cache makes each step one token's forward pass. Ends at an
    end-of-sequence token, after max_new_tokens, when `stop()` is true, or after
    time_limit seconds. `prefilled` = (last logits, key/value cache of the prompt):
    a caller that has already run the prompt need not run it again."""
    eos = handle.eos_ids
    model, device = handle.model, handle.device
    started = time.monotonic()
    with torch.inference_mode():
        if prefilled is None:
            out = model(input_ids=prompt_ids.reshape(1, -1).to(device), use_cache=True,
                        logits_to_keep=1)
            logits, cache = out.logits[0, -1], out.past_key_values
        else:
            logits, cache = prefilled
        for i in range(max_new_tokens):
            step = choose(i, logits.float().cpu())
            yield step
            if step.token_id in eos or i + 1 == max_new_tokens:
                return
            if (stop is not None and stop()) or (
                    time_limit is not None and time.monotonic() - started > time_limit):
                return
            out = model(input_ids=torch.tensor([[step.token_id]], device=device),
                        past_key_values=cache, use_cache=True, logits_to_keep=1)
            logits, cache = out.logits[0, -1], out.past_key_values


def decode_batch(handle, prompt_ids: torch.Tensor, chooses: list, max_new_tokens: int,
                 stop=None, time_limit: float | None = None) -> Iterator[list]:
    """`decode_loop` for several answers to one prompt at once, each with its own
    `choose` (its own temperature and seeded generator): the prompt is read once
    and every step is one batched forward pass. Yields per step a list with one
    step per answer (None once that answer has ended)."""
    n = len(chooses)
    eos = handle.eos_ids
    filler = min(eos) if eos else 0              # fed to answers that have ended
    model, device = handle.model, handle.device
    started = time.monotonic()
    alive = [True] * n
    with torch.inference_mode():
        out = model(input_ids=prompt_ids.reshape(1, -1).to(device), use_cache=True,
                    logits_to_keep=1)
        cache, logits = out.past_key_values, out.logits[:, -1].expand(n, -1)   # answer vocab
        if n > 1:
            cache.batch_repeat_interleave(n)
        for i in range(max_new_tokens):
            logits = logits.float().cpu()
            row = [choose(i, logits[a]) if alive[a] else None for a, choose in enumerate(chooses)]
            yield row
            for a, step in enumerate(row):
                if step is not None and step.token_id in eos:
                    alive[a] = False
            if not any(alive) or i + 1 == max_new_tokens:
                return
            if (stop is not None and stop()) or (
                    time_limit is not None and time.monotonic() - started > time_limit):
                return
            nxt = [step.token_id if step is not None else filler for step in row]
            out = model(input_ids=torch.tensor(nxt, device=device).reshape(n, 1),
                        past_key_values=cache, use_cache=True, logits_to_keep=1)
            cache, logits = out.past_key_values, out.logits[:, -1]
