"""Generation helpers for the prediction pages: the next-token view of a prompt,
a fast step-by-step loop, several samples at once, and the greedy answer.

`llm_core.sampling` holds the reference definitions (softmax with temperature,
top-k/top-p, `distribution`, `generate_steps`). The functions here compute the
same numbers, but only what a page shows: the full-vocabulary sort and the four
vocabulary-sized tensors `Distribution` keeps per step are replaced by a `topk`
and a compact `StepView`, so a 200-token generation stores kilobytes, not
hundreds of megabytes, and the loop keeps pace with `model.generate`.
A token is drawn by inverting the cumulative distribution with one uniform
number from a seeded generator: the same seed gives the same answer (not the
same as `generate_steps`, whose `torch.multinomial` uses the generator
differently and costs far more per step).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from .errors import InputError
from .sampling import (check_generation, check_temperature, check_top_k, check_top_p,
                       decode_batch, decode_loop, make_generator)
from .tokens import make_tokens

# Prompts the prediction pages accept, in tokens. Far below SmolLM2's 8,192-token
# context window: one forward pass over 1,024 tokens already takes seconds on a
# shared 2-core CPU.
PROMPT_TOKEN_LIMIT = 1024
MAX_NEW_TOKENS = 200          # the pages' cap on new tokens per answer
TIME_LIMIT = 60.0             # seconds, the pages' cap on one generation
MAX_SAMPLES = 8               # answers generated side by side
SHOWN_TOP = 20                # candidates a StepView keeps (for bars and alternatives)
LN2 = math.log(2.0)


# --- one distribution, compactly ---------------------------------------------------

@dataclass(frozen=True)
class TopView:
    """The most likely next tokens under temperature T and top-k/top-p, plus the
    numbers that summarise the whole vocabulary. Lists are in order of logit."""

    ids: tuple[int, ...]
    logits: tuple[float, ...]
    probs: tuple[float, ...]      # softmax(logits / T), before top-k/top-p
    kept: tuple[bool, ...]        # survives top-k then top-p
    final: tuple[float, ...]      # renormalised over the kept tokens (0 where cut)
    temperature: float
    entropy: float                # bits, of the final distribution (what is sampled from)
    n_kept: int                   # vocabulary tokens that survive the filters
    vocab: int

    @property
    def outside_mass(self) -> float:
        """Final probability of all tokens not in this list."""
        return max(0.0, 1.0 - sum(self.final))


def _filtered(probs: torch.Tensor, top_k: int | None, top_p: float | None, n_show: int):
    """(sorted ids, sorted probs, n_kept) with at least the n_show most likely tokens.

    Same rule as `sampling.filter_mask`: top-k first, then top-p keeps the
    smallest prefix whose mass (before renormalising) reaches p, at least one.
    Only as many tokens are sorted as the rule needs (a `topk`, not a full sort)."""
    vocab = probs.numel()
    k = vocab if top_k is None else min(top_k, vocab)
    p = 1.0 if top_p is None else top_p
    m = min(vocab, max(n_show, min(k, 64) if p < 1 else min(k, n_show)))
    while True:
        vals, ids = torch.topk(probs, m)
        if p >= 1:
            n_kept = k
            break
        upto = min(k, m)
        before = torch.cumsum(vals[:upto], 0) - vals[:upto]  # mass strictly before each
        below = int((before < p).sum())
        if below < upto or upto == k:      # the cut lies inside what we sorted
            n_kept = max(1, below)
            break
        m = min(vocab, m * 8)
    return vals, ids, n_kept


def _view(logits: torch.Tensor, temperature: float, top_k, top_p, n_show: int):
    """(TopView, support) where support = (ids or None for the whole vocabulary,
    probabilities) is what a token is drawn from; None at T = 0."""
    logits = logits.float()
    vocab = logits.numel()
    n_show = max(1, min(n_show, vocab))
    if temperature == 0:
        # T = 0: all probability on the top token, whatever the filters say.
        vals, ids = torch.topk(logits, n_show)
        top = tuple(float(i == 0) for i in range(n_show))
        return TopView(tuple(ids.tolist()), tuple(vals.tolist()), top,
                       tuple(i == 0 for i in range(n_show)), top, 0.0, 0.0, 1, vocab), None
    probs = torch.softmax(logits / temperature, dim=-1)
    vals, ids, n_kept = _filtered(probs, top_k, top_p, n_show)
    if n_kept >= vocab:
        support = (None, probs)
        ent = float(torch.special.entr(probs).sum()) / LN2
        mass = 1.0
    else:
        kept_ids = ids[:n_kept] if n_kept <= ids.numel() else torch.topk(probs, n_kept).indices
        kept_p = probs[kept_ids]
        mass = float(kept_p.sum())
        support = (kept_ids, kept_p / mass)
        ent = float(torch.special.entr(support[1]).sum()) / LN2
    ids, vals = ids[:n_show], vals[:n_show]
    kept = tuple(i < n_kept for i in range(n_show))
    probs_shown = vals.tolist()
    final = tuple(v / mass if keep else 0.0 for v, keep in zip(probs_shown, kept))
    view = TopView(tuple(ids.tolist()), tuple(logits[ids].tolist()), tuple(probs_shown), kept,
                   final, temperature, ent, min(n_kept, vocab), vocab)
    return view, support


def draw(ids: torch.Tensor | None, probs: torch.Tensor, generator: torch.Generator
         ) -> tuple[int, float]:
    """(token id, its probability): one draw by inverting the cumulative
    distribution with a single uniform number from the seeded generator.
    (torch.multinomial draws one random number per vocabulary entry: about ten
    times slower over 49,152 tokens, and it dominated the step.) `ids` None:
    probs is indexed by token id."""
    cdf = torch.cumsum(probs, 0)
    u = torch.rand(1, generator=generator) * cdf[-1]
    i = min(int(torch.searchsorted(cdf, u, right=True)), probs.numel() - 1)
    return (i if ids is None else int(ids[i])), float(probs[i])


def top_view(logits: torch.Tensor, temperature: float = 1.0, top_k=None, top_p=None,
             n: int = 10) -> TopView:
    """The n most likely next tokens at temperature T with what top-k/top-p keep,
    the entropy and the mass outside the list — without sorting the vocabulary.
    Agrees with `sampling.distribution` (a test checks)."""
    view, _ = _view(logits, check_temperature(temperature), check_top_k(top_k),
                    check_top_p(top_p), n)
    return view


def toy_logits(values) -> torch.Tensor:
    """Hand-made logits (e.g. the article's [3.2, 0.9, -2.0]) as a vocab tensor."""
    logits = torch.tensor([float(v) for v in values], dtype=torch.float32)
    if logits.numel() == 0 or not bool(torch.isfinite(logits).all()):
        raise InputError("Toy logits must be finite numbers, at least one.", code="bad_toy_logits")
    return logits


def temperature_curve(logits: torch.Tensor, temperatures) -> list[tuple[float, float, float]]:
    """[(T, probability of the top token, entropy in bits)] for each T (no filters)."""
    logits = logits.float()
    out = []
    for temp in temperatures:
        temp = check_temperature(temp)
        if temp == 0:
            out.append((0.0, 1.0, 0.0))
            continue
        probs = torch.softmax(logits / temp, dim=-1)
        out.append((temp, float(probs.max()), float(torch.special.entr(probs).sum()) / LN2))
    return out


# --- prompts -----------------------------------------------------------------------

def prompt_ids(handle, text: str, *, chat: bool = False, limit: int = PROMPT_TOKEN_LIMIT
               ) -> torch.Tensor:
    """Token ids of a prompt: the text itself, or (chat) the model's chat template
    around it, ending where the assistant speaks. Too long → InputError
    'prompt_too_long' (never a silent cut: the prediction would be for other text)."""
    if handle.kind != "decoder":
        raise InputError("Generation needs a decoder model.", code="needs_decoder")
    limit = min(limit, handle.arch.max_positions)
    if chat:
        ids = handle.chat_ids(text)
        n = ids.numel()
    else:
        _tokens, ids, truncated_from = handle.encode(text, max_tokens=limit)
        n = truncated_from or ids.numel()
    if n > limit:
        raise InputError(f"The prompt has {n} tokens; this page takes at most {limit}.",
                         code="prompt_too_long", n=n, limit=limit)
    return ids


def next_token_logits(handle, text: str, *, chat: bool = False,
                      limit: int = PROMPT_TOKEN_LIMIT) -> tuple[torch.Tensor, torch.Tensor]:
    """(prompt ids, logits of the next token): one bare forward pass; only the
    last position's vector predicts."""
    ids = prompt_ids(handle, text, chat=chat, limit=limit)
    return ids, handle.forward_logits(ids)


def readable(handle, ids) -> list[str]:
    """Each token as a student should read it (split characters as ‹e5 a4›)."""
    ids = [int(i) for i in ids]
    with handle._lock:  # the Rust tokenizer is not safe to share across threads
        tokens = make_tokens(handle.tokenizer, ids, [(0, 0)] * len(ids))
    return [tok.text for tok in tokens]


# --- generation ----------------------------------------------------------------------

@dataclass(frozen=True)
class StepView:
    """One step of generation, what a page keeps of it: the chosen token and the
    SHOWN_TOP most likely candidates at that step."""

    index: int
    token_id: int
    token: str                    # readable text of the chosen token
    prob: float                   # its probability in the distribution sampled from
    entropy: float                # bits
    top: TopView
    top_tokens: tuple[str, ...]   # readable text of top.ids

    def alternatives(self, n: int = 5) -> list[tuple[str, float]]:
        """[(token, probability)] of the n most likely tokens other than the chosen one."""
        out = [(text, p) for tid, text, p in zip(self.top.ids, self.top_tokens, self.top.final)
               if tid != self.token_id]
        return out[:n]


@dataclass(frozen=True)
class Generation:
    """A finished (or stopped) answer."""

    prompt_len: int
    token_ids: tuple[int, ...]
    steps: tuple[StepView, ...]
    text: str                     # the new text, end-of-sequence token left out
    finish: str                   # "eos" | "length" | "time" | "stop"
    seconds: float
    seed: int | None

    @property
    def tokens_per_second(self) -> float:
        return len(self.steps) / self.seconds if self.seconds > 0 else 0.0


def _check(handle, prompt: torch.Tensor, max_new_tokens, temperature, top_k, top_p):
    return check_generation(handle, prompt, max_new_tokens, temperature, top_k, top_p,
                            limit=MAX_NEW_TOKENS)


def _choose(handle, logits, index, temperature, top_k, top_p, generator, n_show) -> StepView:
    view, support = _view(logits, temperature, top_k, top_p, n_show)
    token_id, prob = (view.ids[0], 1.0) if support is None else draw(*support, generator)
    texts = readable(handle, (token_id,) + view.ids)
    return StepView(index, token_id, texts[0], prob, view.entropy, view, tuple(texts[1:]))


def generate(handle, prompt: torch.Tensor, *, max_new_tokens: int = 40,
             temperature: float = 0.7, top_k=None, top_p=None, seed: int | None = 0,
             n_show: int = SHOWN_TOP, stop: Callable[[], bool] | None = None,
             time_limit: float | None = TIME_LIMIT) -> Iterator[StepView]:
    """Predict, sample, append, repeat: yields a StepView per new token as soon
    as it is chosen. Ends at an end-of-sequence token, after max_new_tokens,
    when `stop()` is true, or after time_limit seconds. The model's key/value
    cache makes each step one token's forward pass."""
    max_new_tokens, temperature, top_k, top_p = _check(handle, prompt, max_new_tokens,
                                                       temperature, top_k, top_p)
    gen = make_generator(seed)
    yield from decode_loop(
        handle, prompt, max_new_tokens,
        lambda i, logits: _choose(handle, logits, i, temperature, top_k, top_p, gen, n_show),
        stop, time_limit)


def generate_many(handle, prompt: torch.Tensor, seeds, *, max_new_tokens: int = 40,
                  temperature: float = 0.7, top_k=None, top_p=None, n_show: int = 5,
                  stop: Callable[[], bool] | None = None, time_limit: float | None = TIME_LIMIT
                  ) -> Iterator[list[StepView | None]]:
    """Several answers to one prompt at the same settings, one per seed, in one
    batch (a step for five answers costs far less than five steps). Yields, per
    step, one StepView per answer (None once that answer has ended)."""
    seeds = list(seeds)
    if not 1 <= len(seeds) <= MAX_SAMPLES:
        raise InputError(f"Between 1 and {MAX_SAMPLES} answers at a time.", code="bad_samples",
                         max=MAX_SAMPLES)
    max_new_tokens, temperature, top_k, top_p = _check(handle, prompt, max_new_tokens,
                                                       temperature, top_k, top_p)
    chooses = [lambda i, logits, g=make_generator(s): _choose(handle, logits, i, temperature,
                                                             top_k, top_p, g, n_show)
               for s in seeds]
    yield from decode_batch(handle, prompt, chooses, max_new_tokens, stop, time_limit)


def collect(handle, prompt: torch.Tensor, steps, *, seed: int | None = None,
            on_step: Callable[[StepView], None] | None = None,
            max_new_tokens: int | None = None, time_limit: float | None = None) -> Generation:
    """Run a `generate(...)` iterator to the end (calling on_step after each step)
    and say why it ended."""
    started = time.monotonic()
    got: list[StepView] = []
    for step in steps:
        got.append(step)
        if on_step is not None:
            on_step(step)
    seconds = time.monotonic() - started
    return finish(handle, prompt.numel(), got, seconds, seed, max_new_tokens=max_new_tokens,
                  time_limit=time_limit)


def finish(handle, prompt_len: int, steps, seconds: float, seed, *, max_new_tokens=None,
           time_limit=None) -> Generation:
    """A Generation from the steps so far, with the reason it ended (an answer
    that is neither complete, nor at a cap, was stopped)."""
    eos = handle.eos_ids
    ids = tuple(s.token_id for s in steps)
    if ids and ids[-1] in eos:
        why = "eos"
    elif max_new_tokens is not None and len(ids) >= max_new_tokens:
        why = "length"
    elif time_limit is not None and seconds > time_limit:
        why = "time"
    else:
        why = "stop"
    text = handle.decode([i for i in ids if i not in eos])
    return Generation(prompt_len, ids, tuple(steps), text, why, seconds, seed)


def answer(handle, text: str, *, chat: bool = True, max_new_tokens: int = 48,
           temperature: float = 0.0, top_k=None, top_p=None, seed: int | None = 0,
           time_limit: float | None = TIME_LIMIT) -> Generation:
    """The whole answer to a prompt (greedy by default: T = 0 always takes the
    top token, so the answer is reproducible)."""
    prompt = prompt_ids(handle, text, chat=chat)
    steps = generate(handle, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                     top_k=top_k, top_p=top_p, seed=seed, time_limit=time_limit)
    return collect(handle, prompt, steps, seed=seed, max_new_tokens=max_new_tokens,
                   time_limit=time_limit)


def greedy_answer(handle, question: str, *, max_new_tokens: int = 48) -> str:
    """The model's most likely chat answer (T = 0), as text."""
    return answer(handle, question, chat=True, max_new_tokens=max_new_tokens).text
