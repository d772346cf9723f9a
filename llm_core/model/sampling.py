"""From logits to a choice: temperature, top-k, top-p, entropy, one seeded
draw — and the one decode loop every generation shares.

The rule is the one Hugging Face transformers applies (its logits processors
in `generate`): divide the logits by T, keep the top k (ties with the k-th
kept), renormalise, keep the smallest set of most likely survivors whose mass
reaches p (at least one). The mass is summed in float64: in float32 the
rounding at the boundary drops a token the rule keeps. Every ranked list is in
logit order, which is the order at every T > 0 and the meaningful one at T = 0,
where the probabilities are one-hot.

`pick` is the only function that chooses a token; `step_chooser` wraps it for
one answer with its own seeded generator; `decode_batch` is the only decode
loop (one answer or several to one prompt)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Iterator

import torch

from llm_core.model.errors import InputError
from llm_core.model.limits import MAX_NEW_TOKENS, MAX_TEMPERATURE
from llm_core.model.tokens import padded, readable
from llm_core.model.work import Work

SHOWN_TOP = 20                # candidates a Step keeps (for bars and alternatives)
LN2 = math.log(2.0)


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
    return max(0.0, float(torch.special.entr(probs.double()).sum()) / LN2)


def model_probs(logits: torch.Tensor, ids=None) -> torch.Tensor:
    """The model's own confidence: softmax(logits) at T = 1 (float64) of `ids`
    (all tokens when None), whatever temperature picked the token."""
    wide = logits.double()
    lse = torch.logsumexp(wide, 0)
    return torch.exp((wide if ids is None else wide[ids]) - lse)


# --- the one rule: which tokens may be drawn ----------------------------------------

def kept_count(scores: torch.Tensor, top_k: int | None, top_p: float | None) -> int:
    """How many of the most likely tokens survive top-k then top-p, as
    transformers' TopK and TopP warpers decide. `scores`: float64 logits / T
    (any per-vector constant may be added). Only as much of the vocabulary is
    sorted as the rule needs."""
    vocab = scores.numel()
    n = vocab
    if top_k is not None and top_k < vocab:
        kth = torch.topk(scores, top_k).values[-1]
        n = int((scores >= kth).sum())            # ties with the k-th survive, as in transformers
    if top_p is None or top_p >= 1:
        return n
    top = torch.topk(scores, n).values if n < vocab else scores
    lse = torch.logsumexp(top, 0)                 # renormalise over the top-k survivors first
    m = min(n, 64)
    while True:
        q = torch.exp(torch.topk(scores, m).values - lse)
        before = torch.cumsum(q, 0) - q           # mass strictly before each token
        below = int((before < top_p).sum())
        if below < m or m == n:                   # the cut lies inside what was sorted
            return max(1, below)
        m = min(n, m * 8)


def kept_support(scores: torch.Tensor, top_k, top_p) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(the kept ids, None when every token is kept; the log of their summed
    exp-scores): a kept token's probability, renormalised over the kept, is
    exp(score − that). `scores`: float64 logits / T."""
    n_kept = kept_count(scores, top_k, top_p)
    if n_kept >= scores.numel():
        return None, torch.logsumexp(scores, 0)
    kept = kept_ids(scores, n_kept)
    return kept, torch.logsumexp(scores[kept], 0)


def kept_ids(scores: torch.Tensor, n: int) -> torch.Tensor:
    """The `n` kept token ids (`kept_count`). Where the cut falls inside a run of
    exactly tied scores, the tied tokens that stay are the ones transformers'
    top-p leaves: it sorts ascending (torch.sort) and keeps the end, so the same
    tokens are drawable, not only as many. Only then is the vocabulary sorted."""
    vals, ids = torch.topk(scores, n)
    if n == scores.numel() or int((scores == vals[-1]).sum()) == int((vals == vals[-1]).sum()):
        return ids                                  # no run of ties is cut
    order = torch.sort(scores.reshape(1, -1), descending=False).indices[0]
    return order[-n:].flip(0)


@dataclass(frozen=True)
class TopView:
    """The most likely next tokens under temperature T and top-k/top-p, plus the
    numbers that summarise the whole vocabulary. Lists are in logit order."""

    ids: tuple[int, ...]
    logits: tuple[float, ...]
    probs: tuple[float, ...]        # softmax(logits / T), before top-k/top-p
    kept: tuple[bool, ...]          # survives top-k then top-p
    final: tuple[float, ...]        # renormalised over the kept tokens (0 where cut)
    model_probs: tuple[float, ...]  # softmax(logits) at T = 1: the model's own confidence
    temperature: float
    entropy: float                  # bits, of the final distribution (what is drawn from)
    n_kept: int                     # vocabulary tokens that survive the filters
    vocab: int

    @property
    def outside_mass(self) -> float:
        """Final probability of all tokens not in this list."""
        return max(0.0, 1.0 - sum(self.final))


def _view(logits: torch.Tensor, temperature: float, top_k, top_p, n_show: int):
    """(TopView, support): support = (ids or None for the whole vocabulary,
    float64 probabilities) is what a token is drawn from; None at T = 0."""
    logits = logits.float()
    vocab = logits.numel()
    n_show = max(1, min(n_show, vocab))
    vals, ids = torch.topk(logits, n_show)        # logit order, at every T
    wide = logits.double()
    shown = dict(ids=tuple(ids.tolist()), logits=tuple(vals.tolist()),
                 model_probs=tuple(model_probs(logits, ids).tolist()),
                 temperature=temperature, vocab=vocab)
    if temperature == 0:                          # all probability on the top token
        one_hot = tuple(float(i == 0) for i in range(n_show))
        return TopView(probs=one_hot, kept=tuple(i == 0 for i in range(n_show)), final=one_hot,
                       entropy=0.0, n_kept=1, **shown), None
    scores = wide / temperature
    kept, lse_kept = kept_support(scores, top_k, top_p)
    probs = torch.softmax(scores, 0)
    support = (None, probs) if kept is None else (kept, torch.exp(scores[kept] - lse_kept))
    inside = torch.ones(n_show, dtype=torch.bool) if kept is None else torch.isin(ids, kept)
    final = torch.where(inside, torch.exp(scores[ids] - lse_kept), 0.0)
    return TopView(probs=tuple(probs[ids].tolist()), kept=tuple(inside.tolist()),
                   final=tuple(final.tolist()), entropy=entropy(support[1]),
                   n_kept=vocab if kept is None else kept.numel(), **shown), support


def top_view(logits: torch.Tensor, temperature: float = 1.0, top_k=None, top_p=None,
             n: int = 10) -> TopView:
    """The n most likely next tokens (in logit order) at temperature T with what
    top-k/top-p keep, the entropy and the mass outside the list."""
    view, _ = _view(logits, check_temperature(temperature), check_top_k(top_k),
                    check_top_p(top_p), n)
    return view


def draw(ids: torch.Tensor | None, probs: torch.Tensor, generator: torch.Generator
         ) -> tuple[int, float]:
    """(token id, its probability): one draw by inverting the cumulative
    distribution with a single uniform number from the seeded generator
    (torch.multinomial draws one random number per vocabulary entry: about ten
    times slower over 49,152 tokens). `ids` None: probs is indexed by token id."""
    cdf = torch.cumsum(probs.double(), 0)
    u = torch.rand(1, generator=generator, dtype=torch.float64) * cdf[-1]
    i = min(int(torch.searchsorted(cdf, u, right=True)), probs.numel() - 1)
    return (i if ids is None else int(ids[i])), float(probs[i])


def pick(logits: torch.Tensor, temperature: float, top_k, top_p,
         generator: torch.Generator | None, n_show: int = SHOWN_TOP
         ) -> tuple[int, float, TopView]:
    """The one token-picking function: (token id, its probability in the
    distribution drawn from, the view of that step). T = 0 takes the top logit."""
    view, support = _view(logits, temperature, top_k, top_p, n_show)
    if support is None:
        return view.ids[0], 1.0, view
    return (*draw(*support, generator), view)


def make_generator(seed: int | None) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(time.time_ns() % 2**31))
    return gen


# --- a full-vocabulary view (for the CLI's long lists and for checks) ----------------

@dataclass(frozen=True)
class Distribution:
    """One step's choice over the whole vocabulary: probabilities at T, what
    top-k/top-p keep, the renormalised distribution that is drawn from."""

    logits: torch.Tensor       # vocab
    probs: torch.Tensor        # vocab, softmax(logits / T)
    kept: torch.Tensor         # vocab bool
    final: torch.Tensor        # vocab float64, renormalised over kept
    temperature: float

    @property
    def entropy(self) -> float:
        return entropy(self.final)

    def top(self, n: int = 10) -> list[tuple[int, float, float]]:
        """[(token id, logit, final prob)] for the n tokens of highest logit."""
        _, idx = torch.topk(self.logits, min(n, self.logits.numel()))
        return [(int(i), float(self.logits[i]), float(self.final[i])) for i in idx]


def filter_mask(logits: torch.Tensor, temperature: float = 1.0, top_k=None, top_p=None
                ) -> torch.Tensor:
    """Boolean mask (vocab) of the tokens top-k then top-p keep: `distribution(…).kept`
    (kept as a name for scripts that use it; the rule is kept_support's)."""
    return distribution(logits, temperature, top_k, top_p).kept


def distribution(logits: torch.Tensor, temperature: float = 1.0, top_k=None, top_p=None
                 ) -> Distribution:
    """The whole vocabulary's choice, by the rule `pick` draws with (kept_support)."""
    temperature = check_temperature(temperature)
    logits = logits.float()
    probs = softmax_with_temperature(logits, temperature)
    if temperature == 0:                          # all probability on the top token
        return Distribution(logits, probs, probs > 0, probs.double(), temperature)
    scores = logits.double() / temperature
    kept, lse = kept_support(scores, check_top_k(top_k), check_top_p(top_p))
    mask = torch.ones(logits.numel(), dtype=torch.bool)
    if kept is not None:
        mask = torch.zeros_like(mask).index_fill_(0, kept, True)
    final = torch.where(mask, torch.exp(scores - lse), 0.0)
    return Distribution(logits, probs, mask, final, temperature)


# --- generation -----------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One step of generation: the chosen token and the SHOWN_TOP candidates of
    highest logit at that step."""

    index: int
    token_id: int
    token: str                    # readable text of the chosen token
    prob: float                   # its probability in the distribution drawn from
    model_prob: float             # its probability at T = 1: the model's own confidence
    entropy: float                # bits, of the distribution drawn from
    top: TopView
    top_tokens: tuple[str, ...]   # readable text of top.ids

    def alternatives(self, n: int = 5) -> list[tuple[str, float]]:
        """[(token, probability)] of the n candidates of highest logit other than the chosen one."""
        out = [(text, p) for tid, text, p in zip(self.top.ids, self.top_tokens, self.top.final)
               if tid != self.token_id]
        return out[:n]


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
    handle.need_decoder("Generation")
    context = handle.arch.max_positions
    if prompt_ids.numel() + max_new_tokens > context:
        raise InputError(f"Prompt plus new tokens exceed the context window ({context} tokens).",
                         code="context_full", context=context)
    return max_new_tokens, temperature, top_k, top_p


def step_chooser(handle, temperature: float, top_k=None, top_p=None, seed: int | None = 0,
                 n_show: int = SHOWN_TOP):
    """`choose(i, logits) -> Step` for one answer, with its own seeded generator."""
    gen = make_generator(seed)

    def choose(i, logits):
        token_id, prob, view = pick(logits, temperature, top_k, top_p, gen, n_show)
        texts = readable(handle, (token_id,) + view.ids)
        model_prob = float(model_probs(logits, token_id))
        return Step(i, token_id, texts[0], prob, model_prob, view.entropy, view, tuple(texts[1:]))
    return choose


def generate_steps(handle, prompt_ids: torch.Tensor, *, max_new_tokens: int = 40,
                   temperature: float = 0.7, top_k=None, top_p=None, seed: int | None = 0,
                   n_show: int = SHOWN_TOP, stop=None, time_limit: float | None = None,
                   limit: int = MAX_NEW_TOKENS, work: Work | None = None) -> Iterator[Step]:
    """Predict, pick, append, repeat — yielding every step as soon as it is chosen.
    `stop()` returning True (e.g. a Stop button) ends the loop early."""
    max_new_tokens, temperature, top_k, top_p = check_generation(
        handle, prompt_ids, max_new_tokens, temperature, top_k, top_p, limit)
    choose = step_chooser(handle, temperature, top_k, top_p, seed, n_show)
    yield from decode_loop(handle, prompt_ids, max_new_tokens, choose, stop, time_limit,
                           work=work)


def _masked(mask, positions, device) -> dict:
    """The padding mask and each row's own positions, for a batch that has padding."""
    return {} if mask is None else dict(attention_mask=mask.to(device),
                                        position_ids=positions.to(device))


def cache_bytes(handle, answers: int, tokens: int) -> int:
    """Bytes of the key/value cache `decode_batch` holds at most for `answers`
    answers of `tokens` tokens each (prompt and new; in a padded batch every
    answer holds the longest prompt): a key and a value per layer, kv head and
    token. What a short job holds while it runs (ui/jobs admits by it)."""
    arch = handle.arch
    width = next(handle.model.parameters()).element_size()
    return answers * tokens * arch.n_layers * 2 * arch.n_kv_heads * arch.d_head * width


def decode_loop(handle, prompt_ids: torch.Tensor, max_new_tokens: int, choose,
                stop=None, time_limit: float | None = None, prefilled=None,
                work: Work | None = None) -> Iterator:
    """`decode_batch` for one answer: yields its steps."""
    for row in decode_batch(handle, prompt_ids, [choose], max_new_tokens, stop, time_limit,
                            prefilled, work):
        yield row[0]


def decode_batch(handle, prompt_ids: torch.Tensor, chooses: list, max_new_tokens: int,
                 stop=None, time_limit: float | None = None, prefilled=None,
                 work: Work | None = None) -> Iterator[list]:
    """The autoregressive loop every generation shares: forward, `choose(i, logits)`
    for each answer (returns a step with `.token_id`; each answer has its own
    temperature and seeded generator), yield the row, append, repeat. The prompt
    is read once and every step is one batched forward pass with the model's
    key/value cache. Yields per step a list with one step per answer (None once
    that answer has ended). Ends when every answer has ended, after
    max_new_tokens, when `stop()` is true, or after time_limit seconds.
    `prefilled` = (last logits, key/value cache of the prompt), one answer only:
    a caller that has already run the prompt need not run it again.
    `prompt_ids` may also be a list, one prompt per answer (several questions
    answered together): the prompts are padded on the left, masked, and each
    keeps its own positions, so an answer is its prompt's alone (to float32
    rounding: the batch's other shape may sum in another order). Every
    forward pass takes its turn as a step of `work` (llm_core.model.work): a
    cancelled job stops between two tokens, and others get the machine between
    them."""
    work = work or Work.none()
    n = len(chooses)
    many = isinstance(prompt_ids, (list, tuple))           # a prompt per answer
    if many and (len(prompt_ids) != n or prefilled is not None):
        raise ValueError("one prompt per answer, none prefilled")
    eos = handle.eos_ids
    filler = min(eos) if eos else 0              # fed to answers that have ended
    model, device = handle.model, handle.device
    started = time.monotonic()
    alive = [True] * n
    mask = positions = None                      # one prompt: no padding, positions implied
    with torch.inference_mode():
        if many:
            ids, mask = padded([q.reshape(-1) for q in prompt_ids], filler, left=True)
            if bool(mask.all()):
                mask = None                      # one length: nothing padded, positions implied
            else:
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with work.turn():
                out = model(input_ids=ids.to(device), use_cache=True, logits_to_keep=1,
                            **_masked(mask, positions, device))
            cache, logits = out.past_key_values, out.logits[:, -1]
            if positions is not None:
                positions = positions[:, -1:]
        elif prefilled is None:
            with work.turn():
                out = model(input_ids=prompt_ids.reshape(1, -1).to(device), use_cache=True,
                            logits_to_keep=1)
            cache, logits = out.past_key_values, out.logits[:, -1].expand(n, -1)   # answer vocab
        else:
            logits, cache = prefilled
            logits = logits.reshape(1, -1).expand(n, -1)
        if n > 1 and not many:                   # one prompt, n answers: its cache n times
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
            if mask is not None:                 # the new token: seen, one position on
                mask = torch.cat([mask, torch.ones(n, 1, dtype=mask.dtype)], dim=1)
                positions = positions + 1
            with work.turn():
                out = model(input_ids=torch.tensor(nxt, device=device).reshape(n, 1),
                            past_key_values=cache, use_cache=True, logits_to_keep=1,
                            **_masked(mask, positions, device))
            cache, logits = out.past_key_values, out.logits[:, -1]
