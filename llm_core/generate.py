"""The generate lesson: next-token prediction in a loop. Answers under the pages'
caps (one, or several side by side in one batch), and why an answer ended. The
decode loop itself is `llm_core.model.sampling`'s: the same seed gives the same
text on every page, in the labs and in the CLI."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from llm_core.model.errors import InputError
from llm_core.model.limits import MAX_SAMPLES, PAGE_MAX_NEW_TOKENS, PROMPT_TOKEN_LIMIT, TIME_LIMIT  # noqa: F401
from llm_core.model.sampling import (SHOWN_TOP, Step, cache_bytes, check_generation, decode_batch,  # noqa: F401
                                     generate_steps, step_chooser)
from llm_core.model.tokens import readable_sequence  # noqa: F401
from llm_core.model.work import Work
from llm_core.next_token import prompt_ids


# --- generation ----------------------------------------------------------------------

@dataclass(frozen=True)
class Generation:
    """A finished (or stopped) answer."""

    prompt_len: int
    token_ids: tuple[int, ...]
    steps: tuple[Step, ...]
    text: str                     # the new text, end-of-sequence token left out
    finish: str                   # "eos" | "length" | "time" | "stop"
    seconds: float
    seed: int | None

    @property
    def tokens_per_second(self) -> float:
        return len(self.steps) / self.seconds if self.seconds > 0 else 0.0

    @property
    def cut(self) -> bool:
        """Ended by a limit or a Stop, not because the model was done."""
        return self.finish != "eos"

    @property
    def shown_text(self) -> str:
        """The text as a report shows it: an answer cut short ends in "…", never
        passing for a whole one."""
        return self.text.rstrip() + " …" if self.cut else self.text


def generate(handle, prompt: torch.Tensor, *, max_new_tokens: int = 40,
             temperature: float = 0.7, top_k=None, top_p=None, seed: int | None = 0,
             n_show: int = SHOWN_TOP, stop: Callable[[], bool] | None = None,
             time_limit: float | None = TIME_LIMIT, work: Work | None = None) -> Iterator[Step]:
    """`sampling.generate_steps` under the pages' caps (PAGE_MAX_NEW_TOKENS, TIME_LIMIT)."""
    return generate_steps(handle, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, seed=seed, n_show=n_show, stop=stop,
                          time_limit=time_limit, limit=PAGE_MAX_NEW_TOKENS, work=work)


def generate_many(handle, prompt: torch.Tensor, seeds, *, max_new_tokens: int = 40,
                  temperature: float = 0.7, top_k=None, top_p=None, n_show: int = 5,
                  stop: Callable[[], bool] | None = None, time_limit: float | None = TIME_LIMIT,
                  work: Work | None = None) -> Iterator[list[Step | None]]:
    """Several answers to one prompt at the same settings, one per seed, in one
    batch (a step for five answers costs far less than five steps). Yields, per
    step, one Step per answer (None once that answer has ended). Answer i is
    the same text `generate` gives with seed i."""
    seeds = list(seeds)
    if not 1 <= len(seeds) <= MAX_SAMPLES:
        raise InputError(f"Between 1 and {MAX_SAMPLES} answers at a time.", code="bad_samples",
                         max=MAX_SAMPLES)
    max_new_tokens, temperature, top_k, top_p = check_generation(
        handle, prompt, max_new_tokens, temperature, top_k, top_p, limit=PAGE_MAX_NEW_TOKENS)
    chooses = [step_chooser(handle, temperature, top_k, top_p, s, n_show) for s in seeds]
    yield from decode_batch(handle, prompt, chooses, max_new_tokens, stop, time_limit, work=work)


def collect(handle, prompt: torch.Tensor, steps, *, seed: int | None = None,
            on_step: Callable[[Step], None] | None = None,
            max_new_tokens: int | None = None, time_limit: float | None = None) -> Generation:
    """Run a `generate(...)` iterator to the end (calling on_step after each step)
    and say why it ended."""
    started = time.monotonic()
    got: list[Step] = []
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
           time_limit: float | None = TIME_LIMIT, work: Work | None = None) -> Generation:
    """The whole answer to a prompt (greedy by default: T = 0 always takes the
    top token, so the answer is reproducible)."""
    prompt = prompt_ids(handle, text, chat=chat)
    steps = generate(handle, prompt, max_new_tokens=max_new_tokens, temperature=temperature,
                     top_k=top_k, top_p=top_p, seed=seed, time_limit=time_limit, work=work)
    return collect(handle, prompt, steps, seed=seed, max_new_tokens=max_new_tokens,
                   time_limit=time_limit)


def answer_bytes(handle, text: str, answers: int, max_new_tokens: int, *, chat: bool = True) -> int:
    """The key/value cache `answers` answers to `text` hold at most (a short job's size)."""
    return cache_bytes(handle, answers, prompt_ids(handle, text, chat=chat).numel() + max_new_tokens)


def greedy_answer(handle, question: str, *, max_new_tokens: int = 48,
                  work: Work | None = None) -> Generation:
    """The model's most likely chat answer (T = 0); see `greedy_answers`."""
    return greedy_answers(handle, [question], max_new_tokens=max_new_tokens, work=work)[0]


def greedy_answers(handle, questions, *, max_new_tokens: int = 48, work: Work | None = None,
                   on_step: Callable[[int], None] | None = None) -> list[Generation]:
    """The model's most likely chat answers (T = 0) to several questions, generated
    together (a step for three answers costs little more than one; each answer is
    its own question's, to float32 rounding: `decode_batch`). No time limit: it
    runs as a step-by-step part of its job, which a Cancel stops; an answer cut
    at `max_new_tokens` says so (`Generation.shown_text`). `on_step(i)` after the
    i-th decoding step (answers that have ended take no more)."""
    if not questions:
        return []
    prompts = [prompt_ids(handle, q, chat=True) for q in questions]
    for prompt in prompts:
        max_new_tokens = check_generation(handle, prompt, max_new_tokens, 0.0, None, None,
                                          PAGE_MAX_NEW_TOKENS)[0]
    started, got = time.monotonic(), [[] for _ in prompts]
    for i, row in enumerate(decode_batch(handle, prompts, [step_chooser(handle, 0.0, seed=0)
                                                             for _ in prompts],
                                         max_new_tokens, work=work)):
        for steps, step in zip(got, row):
            if step is not None:
                steps.append(step)
        if on_step is not None:
            on_step(i + 1)
    seconds = time.monotonic() - started
    return [finish(handle, prompt.numel(), steps, seconds, 0, max_new_tokens=max_new_tokens)
            for prompt, steps in zip(prompts, got)]


@dataclass
class Run:
    """Answers being generated side by side, kept in a page's session as they come,
    so a Stop keeps what came so far. `settings`: mode, T, k, p, seed, max_new."""

    settings: dict
    prompt_len: int
    seeds: list[int]
    steps: list[list[Step]]
    seconds: list[float]

    @classmethod
    def start(cls, settings: dict, prompt_len: int, seeds) -> "Run":
        seeds = list(seeds)
        return cls(dict(settings), prompt_len, seeds, [[] for _ in seeds], [0.0] * len(seeds))

    def add(self, row, elapsed: float) -> list[int]:
        """One step of generate_many (a Step per answer, None once it ended);
        the answers that grew."""
        grew = []
        for a, step in enumerate(row):
            if step is not None:
                self.steps[a].append(step)
                self.seconds[a] = elapsed
                grew.append(a)
        return grew

    @property
    def started(self) -> bool:
        return any(self.steps)

    def answers(self, handle, time_limit: float | None = TIME_LIMIT) -> list[Generation]:
        return [finish(handle, self.prompt_len, steps, seconds, seed,
                       max_new_tokens=self.settings["max_new"], time_limit=time_limit)
                for steps, seconds, seed in zip(self.steps, self.seconds, self.seeds)]
