"""Hallucination lab: the model must always say *something*.

Softmax turns any logits into probabilities that sum to 1, so even for a
question with no true answer some token wins at every step. This module asks a
question, records how confident the model was about every token it wrote,
samples several answers and measures how much they agree, and asks again with
the fact given in the prompt (grounding)."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from itertools import combinations

import torch

from llm_core.model.errors import InputError
from llm_core.model.sampling import (cache_bytes, check_generation, decode_batch, entropy, model_probs,
                                     step_chooser)
from llm_core.model.tokens import character_spans, tokens_of
from llm_core.model.work import Work
from llm_core.model.text import clean_text
from llm_core.model.limits import HALLUCINATION_ANSWER_TOKENS as MAX_ANSWER_TOKENS
from llm_core.model.limits import HALLUCINATION_QUESTION_TOKENS as MAX_QUESTION_TOKENS

SAMPLE_SEEDS = (11, 22, 33, 44, 55, 66, 77, 88)


@dataclass(frozen=True)
class Preset:
    key: str          # names the label in the UI's string table
    question: str
    fact: str         # what grounding puts in front of the question
    known: bool       # True when the model can know the answer


# Questions with no true answer beside ones a small model knows. The Chinese
# ones are there because the lesson is taught in Chinese too; SmolLM2 was
# trained mostly on English text, so its Chinese answers are weak.
PRESETS = (
    Preset("france", "What is the capital of France?", "The capital of France is Paris.", True),
    Preset("mars", "Who was the first person to walk on Mars?",
           "No person has ever walked on Mars. Only robots have landed there.", False),
    Preset("nobel", "Which Nobel Prize did Dr. Elara Vostrikova win?",
           "Dr. Elara Vostrikova has never won a Nobel Prize.", False),
    Preset("veltravia", "What is the capital of the Republic of Veltravia?",
           "The capital of Veltravia is Morwick.", False),
    Preset("water", "What is the chemical formula of water?",
           "The chemical formula of water is H2O.", True),
    Preset("zh_france", "法国的首都是哪里？", "法国的首都是巴黎。", True),
    Preset("zh_mars", "第一个在火星上行走的人是谁？", "至今没有人在火星上行走过，只有机器人登陆过火星。",
           False),
    Preset("zh_veltravia", "维尔特拉维亚共和国的首都是哪里？", "维尔特拉维亚的首都是莫尔维克。", False),
)
PRESETS_BY_KEY = {p.key: p for p in PRESETS}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def grounded_prompt(question: str, fact: str) -> str:
    """The same question with the fact given in front of it."""
    if _CJK.search(question + fact):
        return f"背景：{fact.strip()}\n问题：{question.strip()}"
    return f"Context: {fact.strip()}\nQuestion: {question.strip()}"


def question_ids(handle, question: str, *, max_tokens: int = MAX_QUESTION_TOKENS) -> torch.Tensor:
    """Chat-prompt token ids for one question; refuses empty or overlong questions."""
    question = clean_text(question)
    n = len(handle.encode(question, max_tokens=max_tokens + 1)[1])
    if n > max_tokens:
        raise InputError(f"The question is too long: keep it under {max_tokens} tokens.",
                         code="question_too_long", limit=max_tokens)
    return handle.chat_ids(question)


# --- one answer, token by token ------------------------------------------------

@dataclass(frozen=True)
class AnswerPiece:
    """One shown piece of the answer: usually one token; several when a character
    (e.g. Chinese) is split across tokens' bytes, so the piece is readable."""

    text: str
    token_ids: tuple[int, ...]
    prob: float                     # the model's probability of this piece (softmax at T = 1)
    entropy: float                  # bits, at the piece's first token (T = 1)
    alternatives: tuple[tuple[str, float], ...]   # the runner-ups at that step (T = 1)
    end: bool = False               # the end-of-answer token
    step_probs: tuple[float, ...] = ()   # each token's own probability
    total: float = float("nan")     # sum of the whole softmax at the first token's step

    @property
    def rest(self) -> float:
        """Probability of every other token at the first step (not chosen, not a runner-up)."""
        return self.total - self.step_probs[0] - sum(q for _, q in self.alternatives)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    pieces: tuple[AnswerPiece, ...]
    temperature: float
    seed: int | None
    finished: bool                  # False when it stopped at the token cap

    def _probs(self) -> list[float]:
        return [p.prob for p in self.pieces if not p.end]

    @property
    def mean_confidence(self) -> float:
        probs = self._probs()
        return sum(probs) / len(probs) if probs else float("nan")

    @property
    def min_confidence(self) -> float:
        probs = self._probs()
        return min(probs) if probs else float("nan")


def _token_stats(logits: torch.Tensor, token_id: int, tokenizer_decode, n_alt: int = 3):
    """Probability, entropy and runner-ups at T = 1: the model's own confidence,
    whatever temperature picked the token."""
    probs = model_probs(logits)
    top_p, top_i = torch.topk(probs, n_alt + 1)
    alts = tuple((tokenizer_decode([int(i)]), float(p))
                 for p, i in zip(top_p, top_i) if int(i) != token_id)[:n_alt]
    return float(probs[token_id]), entropy(probs), alts, float(probs.double().sum())


@dataclass(frozen=True)
class _ScoredStep:
    token_id: int
    stats: tuple            # _token_stats of the step: the model's confidence at T = 1


def _scored(handle, choose):
    """`choose` (the one token picker) plus each step's confidence at T = 1."""
    return lambda i, logits: _ScoredStep(
        (tid := choose(i, logits).token_id), _token_stats(logits, tid, handle.decode))


def group_pieces(handle, ids: list[int], probs: list[float], entropies: list[float],
                 alternatives: list, totals: list | None = None) -> tuple[AnswerPiece, ...]:
    """Join tokens that only hold part of a character's bytes into one readable
    piece (tokens.character_spans); its probability is the product of its
    tokens' probabilities."""
    eos = set(handle.eos_ids)
    totals = totals or [float("nan")] * len(ids)
    joined = {start: end for start, end, _text in character_spans(tokens_of(handle, ids))}
    out, i = [], 0
    while i < len(ids):
        j = joined.get(i, i + 1)
        prob = 1.0
        for p in probs[i:j]:
            prob *= p
        out.append(AnswerPiece(handle.decode(ids[i:j]), tuple(ids[i:j]), prob, entropies[i],
                               alternatives[i], end=ids[i] in eos, step_probs=tuple(probs[i:j]),
                               total=totals[i]))
        i = j
    return tuple(out)


def ask(handle, question: str, *, temperature: float = 0.0, seed: int | None = 0,
        max_new_tokens: int = 48, prompt_ids: torch.Tensor | None = None,
        work: Work | None = None) -> Answer:
    """Generate one chat answer and keep each token's confidence."""
    ids = question_ids(handle, question) if prompt_ids is None else prompt_ids
    return ask_many(handle, question, ids, [(temperature, seed)], max_new_tokens=max_new_tokens,
                    work=work)[0]


def ask_many(handle, question: str, prompt_ids: torch.Tensor, settings, *,
             max_new_tokens: int = 48, work: Work | None = None,
             steps: tuple[int, int] | None = None) -> list[Answer]:
    """Several answers to one prompt, one per (temperature, seed), generated
    together in one batch (a step for six answers costs little more than one).
    Each token is a step of `work`; `steps` = (steps done before this batch, all
    steps of the job) when it is part of a larger one."""
    work = work or Work.none()
    before, total = steps or (0, int(max_new_tokens))
    if not 1 <= int(max_new_tokens) <= MAX_ANSWER_TOKENS:
        raise InputError(f"Answers are capped at {MAX_ANSWER_TOKENS} tokens.",
                         code="bad_max_new", max=MAX_ANSWER_TOKENS)
    checked = [check_generation(handle, prompt_ids, max_new_tokens, t, None, None)[1]
               for t, _seed in settings]
    chooses = [_scored(handle, step_chooser(handle, t, seed=seed, n_show=1))
               for t, (_t, seed) in zip(checked, settings)]
    rows = [dict(ids=[], probs=[], ents=[], alts=[], totals=[], finished=False) for _ in settings]
    for i, step_row in enumerate(decode_batch(handle, prompt_ids, chooses, int(max_new_tokens),
                                              work=work)):
        for row, step in zip(rows, step_row):
            if step is None:
                continue
            p, h, a, total = step.stats
            row["ids"].append(step.token_id)
            row["probs"].append(p)
            row["ents"].append(h)
            row["alts"].append(a)
            row["totals"].append(total)
            row["finished"] |= step.token_id in handle.eos_ids
        work.progress("answers", before + i + 1, total)
    answers = []
    for row, t, (_t, seed) in zip(rows, checked, settings):
        pieces = group_pieces(handle, row["ids"], row["probs"], row["ents"], row["alts"],
                              row["totals"])
        text = "".join(p.text for p in pieces if not p.end).strip()
        answers.append(Answer(question, text, pieces, float(t), seed, row["finished"]))
    return answers


# --- the whole lab for one question ---------------------------------------------

@dataclass(frozen=True)
class Job:
    kind: str               # "greedy", "sample" or "grounded"
    prompt: str
    temperature: float
    seed: int


def lab_jobs(question: str, fact: str, temperature: float, n_samples: int) -> list[Job]:
    """What the lab asks: the greedy answer, `n_samples` samples at `temperature`
    with fixed seeds, and — when a fact is given — the grounded question."""
    jobs = [Job("greedy", question, 0.0, 0)]
    jobs += [Job("sample", question, float(temperature), s) for s in SAMPLE_SEEDS[:n_samples]]
    if fact.strip():
        jobs.append(Job("grounded", grounded_prompt(question, fact), 0.0, 0))
    return jobs


@dataclass(frozen=True)
class LabResult:
    greedy: Answer
    samples: tuple[Answer, ...]
    grounded: Answer | None

    @classmethod
    def from_answers(cls, jobs: list[Job], answers: list[Answer]) -> "LabResult":
        by_kind = {j.kind: a for j, a in zip(jobs, answers)}
        samples = tuple(a for j, a in zip(jobs, answers) if j.kind == "sample")
        return cls(by_kind["greedy"], samples, by_kind.get("grounded"))


def lab_bytes(handle, jobs: list[Job], max_tokens: int) -> int:
    """The largest key/value cache the lab holds at once (one prompt's answers
    run as one batch, one prompt after the other): what its short job is admitted by."""
    return max(cache_bytes(handle, n, question_ids(handle, prompt).numel() + int(max_tokens))
               for prompt, n in Counter(job.prompt for job in jobs).items())


def run_lab(jobs: list[Job], max_tokens: int, answer_group) -> LabResult:
    """Every job's answer, the jobs of one prompt in one batch:
    `answer_group(prompt, ((T, seed), …), (steps before, all steps))` → answers in
    that order (the page's shared cache; at most `max_tokens` steps a batch)."""
    groups: dict[str, list[Job]] = {}          # the plain question's answers run together
    for job in jobs:
        groups.setdefault(job.prompt, []).append(job)
    answers = {}
    for g, (prompt, group) in enumerate(groups.items()):
        settings = tuple((job.temperature, job.seed) for job in group)
        answers.update(zip(group, answer_group(prompt, settings,
                                               (g * max_tokens, len(groups) * max_tokens))))
    return LabResult.from_answers(jobs, [answers[job] for job in jobs])


CONFIDENCE_BINS = (0.3, 0.6)   # low < 0.3 ≤ mid < 0.6 ≤ high: the class's three guesses


def confidence_bin(answer: Answer) -> int:
    """0, 1 or 2: how sure the model is of an answer, by its mean per-token confidence."""
    return sum(answer.mean_confidence >= x for x in CONFIDENCE_BINS)


# --- do several samples agree? ----------------------------------------------------

_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]|[^\W_]+", re.UNICODE)
_ENTITY = re.compile(r"\b[A-Z][\w'\-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'\-]*)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Capitalised only because they open a sentence (or a question), not names.
_NOT_NAMES = {"the", "a", "an", "it", "in", "on", "at", "this", "that", "there", "he", "she",
              "they", "his", "her", "their", "i", "as", "however", "yes", "no", "dr", "mr",
              "mrs", "ms", "while", "although", "after", "before", "since", "if", "when",
              "where", "what", "who", "whom", "whose", "which", "why", "how", "so", "but", "and",
              "or", "maybe", "perhaps", "also", "then", "because", "for", "with", "we", "you",
              "my", "our", "its", "these", "those", "here", "some", "unfortunately", "sorry",
              "answer", "question", "context", "note", "please"}
_POSSESSIVE = re.compile(r"['’]s?$")


def words(text: str) -> set[str]:
    """Lower-cased words (each Chinese character counts as a word)."""
    return {w.lower() for w in _WORD.findall(text)}


def jaccard(a: str, b: str) -> float:
    """|shared words| / |all words|: 1 for the same words, 0 for none shared."""
    wa, wb = words(a), words(b)
    if not wa and not wb:
        return 1.0
    return len(wa & wb) / len(wa | wb)


def claims(text: str, question: str = "") -> set[str]:
    """Names and numbers an answer commits to, minus those already in the question."""
    found = set()
    for match in _ENTITY.findall(text):
        # "Veltravia's" names Veltravia; a sentence's opening word names nothing.
        parts = [_POSSESSIVE.sub("", w) for w in match.split()]
        parts = [w for w in parts if w and re.split(r"['’]", w.lower().strip("."))[0] not in _NOT_NAMES]
        if parts:
            found.add(" ".join(parts))
    found |= set(_NUMBER.findall(text))
    asked = words(question)
    return {c for c in found if not words(c) <= asked}


@dataclass(frozen=True)
class Agreement:
    word_overlap: float             # mean pairwise Jaccard of the answers' word sets
    claims: tuple[frozenset, ...]   # per answer: named entities and numbers
    top_claim: str | None           # the name/number most answers share (None: none shared)
    top_share: float                # share of answers naming top_claim (0 when there is none)
    distinct: int                   # how many different answer texts

    @property
    def n(self) -> int:
        return len(self.claims)


def agreement(texts: list[str], question: str = "") -> Agreement:
    """How much several answers to the same question agree."""
    texts = list(texts)
    if not texts:
        return Agreement(float("nan"), (), None, 0.0, 0)
    pairs = list(combinations(texts, 2))
    overlap = sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else 1.0
    per = tuple(frozenset(claims(t, question)) for t in texts)
    # A name counts for every answer that contains it, also inside a longer
    # match ("Maybe Nova Haven" still names "Nova Haven").
    counts = Counter({c: sum(bool(re.search(rf"(?<!\w){re.escape(c)}(?!\w)", t)) for t in texts)
                      for c in set().union(*per)})
    top, share = None, 0.0
    if counts:
        # Most answers first, then the longer (more specific) name, then alphabetical.
        top, k = min(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))
        share = k / len(texts)
        if k < 2 <= len(texts):     # every answer names something different
            top, share = None, 0.0
    distinct = len({" ".join(t.split()).lower() for t in texts})
    return Agreement(overlap, per, top, share, distinct)


def confidence_change(plain: Answer, grounded: Answer) -> tuple[float, float]:
    """(Δ mean confidence, Δ min confidence) from the plain to the grounded answer."""
    return (grounded.mean_confidence - plain.mean_confidence,
            grounded.min_confidence - plain.min_confidence)


def confidence_way(plain: Answer, grounded: Answer) -> str:
    """"up", "down" or "same": how the mean confidence went with the fact given,
    as the two numbers on screen read (two decimals)."""
    before, after = round(plain.mean_confidence, 2), round(grounded.mean_confidence, 2)
    return "up" if after > before else "down" if after < before else "same"
