"""Distillation (蒸馏): a big teacher trains a small student.

The teacher (the loaded decoder) writes short stories that all begin the same
way; a tiny transformer — written out plainly below in the classic form: token +
position embedding, multi-head causal attention, a 4× GELU MLP, residual +
LayerNorm — learns from them twice, from the same start: once on the teacher's
whole next-token distributions softened by a temperature (soft labels), once on
the teacher's top token only (hard labels). Both are then compared with the
teacher on held-out stories of the same kind.

The student knows only the tokens of these stories (plus the teacher's five
likeliest at every position); the teacher's distribution is compared on those
tokens, renormalised, and the share of its probability they hold is reported."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from llm_core.model import copies
from llm_core.model.caches import shared_part
from llm_core.model.errors import InputError
from llm_core.model.sampling import decode_batch, decode_loop, step_chooser
from llm_core.model.limits import DISTILL_MAX_STEPS as MAX_STEPS
from llm_core.model.work import Work

DEFAULT_STEPS = 150

PROMPT = "Once upon a time, there was a little"
N_TRAIN, N_HELD_OUT = 24, 8
STORY_TOKENS = 24
TEACHER_TOP = 5
EVAL_EVERY = 10
LEARNING_RATE = 3e-3


# --- the student: a tiny GPT --------------------------------------------------------

class Attention(nn.Module):
    """Multi-head causal self-attention: every position mixes the values of the
    positions up to itself, weighted by softmax(q·k / √d_head)."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads, self.d_head = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (t.reshape(b, n, self.heads, self.d_head).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=x.device), 1)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), -1)
        return self.out((weights @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """x + attention(LayerNorm x), then x + MLP(LayerNorm x), the MLP 4× wide with GELU."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(d), Attention(d, heads)
        self.norm2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyGPT(nn.Module):
    """Token + position embedding → blocks → LayerNorm → logits (the output matrix
    is the token embedding, tied)."""

    def __init__(self, vocab: int, d: int = 64, heads: int = 4, layers: int = 2,
                 context: int = 64, seed: int = 0):
        super().__init__()
        self.context = context
        self.tokens = nn.Embedding(vocab, d)
        self.positions = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        # GPT-2's initialisation, from a generator of its own: the global one is
        # shared by every session's thread, so a seed set there is not ours.
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "norm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02, generator=gen)

    def forward(self, ids):                       # (batch, n) → (batch, n, vocab)
        n = ids.shape[1]
        if n > self.context:
            raise InputError(f"The student reads at most {self.context} tokens.",
                             code="student_context", limit=self.context)
        x = self.tokens(ids) + self.positions(torch.arange(n, device=ids.device))
        for block in self.blocks:
            x = block(x)
        return self.norm(x) @ self.tokens.weight.t()

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


# --- the teacher's texts ------------------------------------------------------------

@dataclass(frozen=True)
class Corpus:
    """The teacher's stories as student-vocabulary ids, and the teacher's log-probs
    over that vocabulary at every position (T = 1, renormalised on it)."""
    vocab: tuple[int, ...]              # student id → teacher id
    train_ids: torch.Tensor             # (N_TRAIN, n)
    held_ids: torch.Tensor
    train_logits: torch.Tensor          # teacher logits on the student's vocabulary
    held_logits: torch.Tensor
    mass: float                         # mean share of the teacher's probability on it
    prompt_len: int
    teacher_text: str                   # the teacher's own greedy story
    stories: tuple[str, ...]


def shared_corpus(handle, work: Work | None = None) -> Corpus:
    """`teacher_corpus` once per model (caches.shared_part): the same stories for every
    student's training, whatever its settings."""
    work = work or Work.none()
    return shared_part(("distillation", "corpus", handle.name), lambda: teacher_corpus(handle, work),
                       work, "stories_shared")


def teacher_corpus(handle, work: Work | None = None) -> Corpus:
    """The teacher writes N_TRAIN + N_HELD_OUT stories from PROMPT (T = 1, one
    seed each, all in one batch), then reads them back once for its distributions.
    A job of steps (`work`): each token of the stories, then the reading."""
    work = work or Work.none()
    handle.need_decoder("Distillation's teacher")
    prompt = torch.tensor(handle.plain_ids(PROMPT), dtype=torch.long)
    n = N_TRAIN + N_HELD_OUT
    chooses = [step_chooser(handle, 1.0, None, None, seed, 1) for seed in range(n)]
    eos = handle.eos_ids
    stories = [[] for _ in range(n)]
    work.start_phase("stories", STORY_TOKENS)
    for i, row in enumerate(decode_batch(handle, prompt, chooses, STORY_TOKENS, work=work)):
        for a, step in enumerate(row):
            if step is not None and step.token_id not in eos:
                stories[a].append(step.token_id)
        work.progress("stories", i + 1, STORY_TOKENS)
    # Every story as long as the shortest, so a batch needs no padding.
    length = min(len(s) for s in stories)
    if length < 4:
        raise InputError("The teacher's stories came out too short to learn from.",
                         code="short_stories")
    full = torch.stack([torch.cat([prompt, torch.tensor(s[:length])]) for s in stories])
    with torch.no_grad(), work.turn():
        logits = handle.model(input_ids=full.to(handle.device)).logits.float().cpu()
    top = logits.topk(TEACHER_TOP, -1).indices
    vocab = sorted(set(full.flatten().tolist()) | set(top.flatten().tolist()))
    index = torch.tensor(vocab)
    lookup = {t: i for i, t in enumerate(vocab)}
    student_ids = torch.tensor([[lookup[t] for t in row] for row in full.tolist()])
    sub = logits[..., index]
    mass = float((torch.logsumexp(sub, -1) - torch.logsumexp(logits, -1)).exp().mean())
    return Corpus(tuple(vocab), student_ids[:N_TRAIN], student_ids[N_TRAIN:],
                  sub[:N_TRAIN], sub[N_TRAIN:], mass, prompt.numel(),
                  greedy_text(handle, prompt, work),
                  tuple(handle.decode(row) for row in full.tolist()))


def greedy_text(handle, prompt: torch.Tensor, work: Work | None = None) -> str:
    ids = [s.token_id for s in decode_loop(handle, prompt, STORY_TOKENS,
                                           step_chooser(handle, 0.0, None, None, 0, 1), work=work)
           if s.token_id not in handle.eos_ids]
    return handle.decode(ids)


# --- training -----------------------------------------------------------------------

def check_settings(steps, temperature, soft_weight) -> tuple[int, float, float]:
    try:
        steps, temperature, soft_weight = int(steps), float(temperature), float(soft_weight)
    except (TypeError, ValueError):
        raise InputError("steps, temperature and mix must be numbers.", code="bad_number") \
            from None
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be between 1 and {MAX_STEPS}.", code="bad_steps",
                         max=MAX_STEPS)
    if not (0.5 <= temperature <= 10) or math.isnan(temperature):
        raise InputError("The distillation temperature must be between 0.5 and 10.",
                         code="bad_distill_temperature")
    if not 0 <= soft_weight <= 1:
        raise InputError("The soft/hard mix must be between 0 and 1.", code="bad_mix")
    return steps, temperature, soft_weight


def kl_to_teacher(student: TinyGPT, ids: torch.Tensor, teacher_logits: torch.Tensor,
                  start: int = 0) -> float:
    """Mean KL(teacher ‖ student) per position from `start` (the position that
    predicts a story's first token: the shared prompt is not "unseen"), at T = 1,
    on the student's vocabulary."""
    with torch.no_grad():
        s = torch.log_softmax(student(ids)[:, start:].double(), -1)
        t = torch.log_softmax(teacher_logits[:, start:].double(), -1)
        return float((t.exp() * (t - s)).sum(-1).mean())


def loss_fn(student_logits, teacher_logits, temperature: float, soft_weight: float):
    """soft_weight · T² · KL(teacher_T ‖ student_T) + (1 − soft_weight) · CE(teacher's top token).
    T² keeps the soft term's gradients the same size whatever T (Hinton et al.)."""
    hard = nn.functional.cross_entropy(student_logits.reshape(-1, student_logits.shape[-1]),
                                       teacher_logits.argmax(-1).reshape(-1))
    if soft_weight == 0:
        return hard
    soft = nn.functional.kl_div(torch.log_softmax(student_logits / temperature, -1),
                                torch.log_softmax(teacher_logits / temperature, -1),
                                log_target=True, reduction="none").sum(-1).mean()
    return soft_weight * temperature ** 2 * soft + (1 - soft_weight) * hard


@dataclass(frozen=True)
class Curve:
    loss: tuple[float, ...]            # every step
    held_kl: tuple[tuple[int, float], ...]   # (step, KL) every EVAL_EVERY steps


# A student "moves away" from the teacher when its held-out KL ends this much
# (relative) above its best: more than the step-to-step wobble of a curve that
# has settled (a few %), far less than the hard student's 4.9 → 3.7 → 5.9.
DRIFT = 0.10


@dataclass(frozen=True)
class Drift:
    best_step: int      # where the student was closest to the teacher on unseen stories
    best: float
    final: float        # KL at the last step (higher than best by more than DRIFT)


def moves_away(curve: Curve) -> Drift | None:
    """When a student gets closer to the teacher on unseen stories and then farther
    again (learning the stories, not the teacher): its best point and its end."""
    if not curve.held_kl:
        return None
    best_step, best = min(curve.held_kl, key=lambda p: p[1])
    final = curve.held_kl[-1][1]
    return Drift(best_step, best, final) if final > best * (1 + DRIFT) else None


@dataclass(frozen=True)
class Result:
    soft: Curve
    hard: Curve
    kl_soft: float
    kl_hard: float
    student_params: int
    teacher_params: int
    vocab: int
    mass: float
    teacher_text: str
    soft_text: str
    hard_text: str
    prompt: str
    steps: int
    temperature: float
    soft_weight: float
    seconds: float
    stories: tuple[str, ...] = ()       # the teacher's, that the students learned from

    def as_json(self) -> dict:
        return {"student_params": self.student_params, "teacher_params": self.teacher_params,
                "student_vocab": self.vocab, "teacher_mass_on_vocab": self.mass,
                "kl_soft": self.kl_soft, "kl_hard": self.kl_hard, "steps": self.steps,
                "temperature": self.temperature, "soft_weight": self.soft_weight,
                "curves": {"soft": {"loss": list(self.soft.loss),
                                    "held_out_kl": [list(p) for p in self.soft.held_kl]},
                           "hard": {"loss": list(self.hard.loss),
                                    "held_out_kl": [list(p) for p in self.hard.held_kl]}},
                "texts": {"prompt": self.prompt, "teacher": self.teacher_text,
                          "soft_student": self.soft_text, "hard_student": self.hard_text}}


def student_text(handle, corpus: Corpus, student: TinyGPT) -> str:
    """The student's greedy story from the prompt, in the teacher's tokens."""
    ids = corpus.train_ids[0, : corpus.prompt_len].tolist()
    with torch.no_grad():
        for _ in range(STORY_TOKENS):
            ids.append(int(student(torch.tensor([ids[-student.context:]]))[0, -1].argmax()))
    return handle.decode([corpus.vocab[i] for i in ids[corpus.prompt_len:]])


def distill(handle, corpus: Corpus, steps: int = DEFAULT_STEPS, temperature: float = 2.0,
            soft_weight: float = 1.0, seed: int = 0, work: Work | None = None) -> Result:
    """Train the soft student and the hard student side by side from the same
    start, a step of `work` each ("train": the held-out KL so far is the detail)."""
    steps, temperature, soft_weight = check_settings(steps, temperature, soft_weight)
    work = work or Work.none()
    started = time.monotonic()
    students = {"soft": TinyGPT(len(corpus.vocab), seed=seed),
                "hard": TinyGPT(len(corpus.vocab), seed=seed)}
    weights = {"soft": soft_weight, "hard": 0.0}
    opts = {k: torch.optim.Adam(s.parameters(), lr=LEARNING_RATE) for k, s in students.items()}
    losses = {k: [] for k in students}
    held = {k: [] for k in students}
    story = corpus.prompt_len - 1
    work.start_phase("train", steps)
    with torch.enable_grad():
        for step in range(1, steps + 1):
            with work.turn():
                for k, student in students.items():
                    loss = loss_fn(student(corpus.train_ids), corpus.train_logits, temperature,
                                   weights[k])
                    opts[k].zero_grad(set_to_none=True)
                    loss.backward()
                    opts[k].step()
                    losses[k].append(float(loss.detach()))
                    if step % EVAL_EVERY == 0 or step == steps:
                        held[k].append((step, kl_to_teacher(student, corpus.held_ids,
                                                            corpus.held_logits, story)))
            work.progress("train", step, steps, {k: tuple(v) for k, v in held.items()})
    done = len(losses["soft"])
    for k, student in students.items():
        if done and (not held[k] or held[k][-1][0] != done):
            held[k].append((done, kl_to_teacher(student, corpus.held_ids, corpus.held_logits,
                                                story)))
    final = {k: held[k][-1][1] if held[k] else float("nan") for k in students}
    return Result(Curve(tuple(losses["soft"]), tuple(held["soft"])),
                  Curve(tuple(losses["hard"]), tuple(held["hard"])),
                  final["soft"], final["hard"], students["soft"].n_params,
                  copies.parameter_count(handle), len(corpus.vocab),
                  corpus.mass, corpus.teacher_text, student_text(handle, corpus, students["soft"]),
                  student_text(handle, corpus, students["hard"]), PROMPT, done, temperature,
                  soft_weight, time.monotonic() - started, corpus.stories)
