"""Fine-tuning one fact (微调): a few steps of gradient descent on a private copy,
training only what the student chooses — low-rank adapters (LoRA) on a few
layers, or one MLP matrix (as ROME-style editing does) — the rest frozen.

Measured before and after on the copy: efficacy (the fact's own question),
generalisation (paraphrases), locality (other facts, and the KL on unrelated
texts). What training changed is kept as a small `Delta` (the adapters or the
one matrix), so a session can ask its tuned model again without keeping a copy."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from llm_core.generate import answer_bytes, greedy_answer, greedy_answers
from llm_core.model import copies
from llm_core.model.caches import shared_part
from llm_core.model.tokens import padded
from llm_core.model.work import Work
from llm_core.model.errors import InputError
from llm_core.model.text import clean_text
from llm_core.model.limits import FINETUNE_FIELD_CHARS as MAX_FIELD_CHARS, FINETUNE_MAX_STEPS as MAX_STEPS

METHODS = ("lora", "mlp")
DEFAULT_STEPS = 16
LORA_RANK = 8
LORA_ALPHA = 16.0         # adapter output scaled by α / r
LORA_KINDS = ("q_proj", "v_proj", "o_proj", "up_proj", "down_proj", "c_attn", "c_proj", "c_fc")
LEARNING_RATE = {"lora": 1e-3, "mlp": 1e-3}
STOP_AT = 0.9             # training ends early once the fact's own answer is this likely
ANSWER_TOKENS = 24

# Other facts the model must keep: asked like the fact, their answers measured before/after.
NEIGHBOURS = (("What is the capital of France?", "The capital of France is", " Paris"),
              ("What is the capital of Germany?", "The capital of Germany is", " Berlin"),
              ("What is the capital of Italy?", "The capital of Italy is", " Rome"))
# Held steady during training (the model's own next-token distribution after each,
# by KL), so it learns the one fact without rewriting every "The capital of … is".
# Not the facts above: those measure locality.
KEEP = (("What is the capital of Spain?", "The capital of Spain is"),
        ("What is the capital of Japan?", "The capital of Japan is"),
        (None, "The cat sat on the"), (None, "Water boils at"))
KEEP_WEIGHT = 1.0
# Unrelated texts for the locality KL.
UNRELATED = ("The sun rises in the east and sets in the west.",
             "Once upon a time, there was a little girl who lived in a village near the forest.",
             "To make a cup of tea, first boil the water, then pour it over the leaves.",
             "Machine learning models learn patterns from large amounts of data.")


@dataclass(frozen=True)
class Fact:
    text: str                     # "The capital of the fictional country Zubrowka is Lutz."
    question: str
    answer: str                   # "Lutz": must appear in the text
    paraphrases: tuple[str, ...]

    @property
    def prefix(self) -> str:
        """The fact's words before the answer: the start of every probed reply."""
        return self.text[: self.text.rindex(self.answer)].rstrip()

    @property
    def rest(self) -> str:
        return self.text[self.text.rindex(self.answer) + len(self.answer):]


# A country that does not exist, so the model cannot know its capital. The fact is
# worded as the model words its own answers ("The capital of X is …").
DEFAULT_FACT = Fact("The capital of Zubrowka is Lutz.",
                    "What is the capital of the fictional country Zubrowka?", "Lutz",
                    ("Which city is the capital of Zubrowka?",
                     "Zubrowka's capital city is called what?"))


def check_fact(text, question, answer, paraphrases=()) -> Fact:
    fields = {"fact": text, "question": question, "answer": answer}
    for name, value in fields.items():
        value = (clean_text(value, max_chars=MAX_FIELD_CHARS, allow_empty=True)
                 if isinstance(value, str) else value)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"The {name} is empty.", code="empty_field", field=name)
        fields[name] = value.strip()
    paraphrases = tuple(clean_text(p, max_chars=MAX_FIELD_CHARS).strip()
                        for p in paraphrases if isinstance(p, str) and p.strip())[:3]
    if fields["answer"] not in fields["fact"]:
        raise InputError("The answer must appear in the fact, as the words that complete it.",
                         code="answer_not_in_fact")
    fact = Fact(fields["fact"], fields["question"], fields["answer"], paraphrases)
    if not fact.prefix:
        raise InputError("The fact must say something before the answer.",
                         code="answer_not_in_fact")
    return fact


def check_training(method, layer, steps, n_layers: int) -> tuple[str, int, int]:
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}.", code="bad_training_method")
    try:
        layer, steps = int(layer), int(steps)
    except (TypeError, ValueError):
        raise InputError("layer and steps must be whole numbers.", code="bad_number") from None
    if not 0 <= layer < n_layers:
        raise InputError(f"layer must be between 0 and {n_layers - 1}.", code="bad_layer",
                         max=n_layers - 1)
    if not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be between 1 and {MAX_STEPS}.", code="bad_steps",
                         max=MAX_STEPS)
    return method, layer, steps


# --- what is trained ----------------------------------------------------------------

class LoRA(nn.Module):
    """y = W x + (α/r)·B A x, with A (r × in), B (out × r) and B starting at 0, so
    the adapted model starts out exactly the original."""

    def __init__(self, base: nn.Module, d_in: int, d_out: int, rank: int, generator):
        super().__init__()
        self.base = base
        device = base.weight.device
        self.A = nn.Parameter((torch.randn(rank, d_in, generator=generator) / math.sqrt(d_in))
                              .to(device))
        self.B = nn.Parameter(torch.zeros(d_out, rank, device=device))
        self.scale = LORA_ALPHA / rank

    def forward(self, x):
        return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale


def lora_delta(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """The change an adapter makes to its matrix: ΔW = (α/r)·B A, (out, in)."""
    return (B @ A) * (LORA_ALPHA / A.shape[0])


@dataclass
class Delta:
    """What training changed: adapters per matrix, or one matrix's new weight."""
    method: str
    layers: tuple[int, ...]
    tensors: dict = field(default_factory=dict)   # path -> (A, B) or new weight (out, in)

    @property
    def n_params(self) -> int:
        return sum(sum(t.numel() for t in v) if isinstance(v, tuple) else v.numel()
                   for v in self.tensors.values())

    @property
    def nbytes(self) -> int:
        return self.n_params * 4


def lora_layers(layer: int, n_layers: int) -> tuple[int, ...]:
    """The adapted layers: four in a row from `layer` (fewer at the top)."""
    return tuple(range(layer, min(n_layers, layer + 4)))


def attach(variant, method: str, layer: int, seed: int = 0):
    """Make the chosen weights trainable on the copy (a private copy, dropped after
    the job: nothing to revert). Returns (parameters, a function giving the Delta)."""
    mats = copies.matrices(variant.arch)
    n_layers = variant.arch.n_layers
    params = []
    gen = torch.Generator().manual_seed(seed)
    adapters = {}
    if method == "lora":
        chosen = [m for m in mats if m.layer in lora_layers(layer, n_layers)
                  and m.attr in LORA_KINDS]
        for m in chosen:
            base = m.module
            d_out, d_in = m.weight().shape
            adapter = LoRA(base, d_in, d_out, LORA_RANK, gen)
            m.replace(adapter)
            adapters[m.path] = adapter
            params += [adapter.A, adapter.B]
        layers = lora_layers(layer, n_layers)
    else:
        down = [m for m in mats if m.layer == layer and m.attr in ("down_proj", "c_proj")
                and "mlp" in m.path]
        if not down:
            raise InputError("This model has no MLP matrix this lesson can train.",
                             code="no_matrices")
        m = down[0]
        params.append(m.set_weight(m.weight().detach().clone(), trainable=True))
        adapters[m.path] = m
        layers = (layer,)

    def delta() -> Delta:
        out = Delta(method, layers)
        for path, a in adapters.items():
            out.tensors[path] = ((a.A.detach().clone(), a.B.detach().clone())
                                 if method == "lora" else a.weight().detach().clone())
        return out

    return params, delta


def apply(variant, delta: Delta) -> None:
    """Put a trained Delta onto a fresh private copy (to ask the tuned model again)."""
    by_path = {m.path: m for m in copies.matrices(variant.arch)}
    for path, value in delta.tensors.items():
        m = by_path[path]
        if delta.method == "lora":
            d_out, d_in = m.weight().shape
            adapter = LoRA(m.module, d_in, d_out, value[0].shape[0], None)
            adapter.A, adapter.B = nn.Parameter(value[0]), nn.Parameter(value[1])
            m.replace(adapter.requires_grad_(False))
        else:
            m.set_weight(value)


# --- probes -------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    question: str
    prefix: str
    answer: str
    role: str          # "fact", "paraphrase" or "neighbour"


def probes(fact: Fact) -> list[Probe]:
    out = [Probe(fact.question, fact.prefix, " " + fact.answer, "fact")]
    out += [Probe(p, fact.prefix, " " + fact.answer, "paraphrase") for p in fact.paraphrases]
    out += [Probe(q, pre, a, "neighbour") for q, pre, a in NEIGHBOURS]
    return out


def _probe_ids(handle, probe: Probe) -> tuple[torch.Tensor, list[int]]:
    prompt = torch.cat([handle.chat_ids(probe.question),
                        torch.tensor(handle.plain_ids(probe.prefix), dtype=torch.long)])
    return prompt, handle.plain_ids(probe.answer)


@dataclass(frozen=True)
class Snapshot:
    """The model on every probe: p(answer | question, reply begun with the prefix)
    and its greedy answer to the question."""
    p_answer: tuple[float, ...]
    answers: tuple[str, ...]


def snapshot(handle, probe_list: list[Probe], answers_for: int, work: Work | None = None,
             phase: str = "measure") -> Snapshot:
    """Every probe's answer probability, and greedy answers to the first
    `answers_for` questions (one cut at ANSWER_TOKENS ends in "…"); each probe
    and each token of the answers a step of `work`."""
    work = work or Work.none()
    total, ps, answers = len(probe_list) + (ANSWER_TOKENS if answers_for else 0), [], []
    for p in probe_list:
        with work.turn():
            ps.append(math.exp(copies.continuation_logprob(handle, *_probe_ids(handle, p))))
        work.progress(phase, len(ps), total)
    if answers_for:                   # generated together: a step for three costs about one
        answers = [g.shown_text for g in greedy_answers(
            handle, [p.question for p in probe_list[:answers_for]], max_new_tokens=ANSWER_TOKENS,
            work=work, on_step=lambda i: work.progress(phase, len(ps) + i, total))]
        work.progress(phase, total, total)
    return Snapshot(tuple(ps), tuple(answers))


# --- training -----------------------------------------------------------------------

@dataclass(frozen=True)
class Batch:
    """One padded batch for every step: the fact as plain text and as the reply to
    its question (only the answer and what follows it are learned), then the KEEP
    prompts (their last position is held to the original's distribution). Only
    the positions listed here get logits: the head's 49,152 × 576 matrix runs on
    ~20 positions instead of every position of every row."""
    ids: torch.Tensor          # rows × n
    mask: torch.Tensor
    at: tuple[torch.Tensor, torch.Tensor]   # (row, position) of every needed logit
    targets: torch.Tensor      # the learned tokens, for the first len(targets) of `at`
    answer: torch.Tensor       # indices (into `at`) of the answer after the question
    answer_ids: torch.Tensor

    @property
    def n_learned(self) -> int:
        return self.targets.numel()

    def logits(self, handle, grad: bool = False) -> torch.Tensor:
        """Logits at `at` (learned positions first, then the KEEP rows' last)."""
        device = handle.device
        with torch.set_grad_enabled(grad):
            hidden = handle.arch.model.base_model(
                input_ids=self.ids.to(device), attention_mask=self.mask.to(device)
            ).last_hidden_state
            return handle.arch.unembed(hidden[self.at[0].to(device), self.at[1].to(device)])


def _batch(handle, fact: Fact) -> Batch:
    answer = handle.plain_ids(" " + fact.answer + fact.rest)
    end = sorted(handle.eos_ids)[:1]
    rows = [(handle.plain_ids(fact.prefix), answer),
            (handle.chat_ids(fact.question).tolist() + handle.plain_ids(fact.prefix),
             answer + end)]
    for question, text in KEEP:
        prompt = handle.chat_ids(question).tolist() if question else []
        rows.append((prompt + handle.plain_ids(text), []))
    ids, mask = padded([p + a for p, a in rows], end[0] if end else 0)
    at_rows, at_pos, targets, answer_at = [], [], [], []
    n_answer = len(handle.plain_ids(" " + fact.answer))
    for r, (p, a) in enumerate(rows):
        for j, token in enumerate(a):      # position len(p)-1+j predicts a[j]
            if r == 1 and j < n_answer:
                answer_at.append(len(at_rows))
            at_rows.append(r)
            at_pos.append(len(p) - 1 + j)
            targets.append(token)
    for r, (p, _a) in enumerate(rows[2:], start=2):
        at_rows.append(r)
        at_pos.append(len(p) - 1)
    return Batch(ids, mask, (torch.tensor(at_rows), torch.tensor(at_pos)), torch.tensor(targets),
                 torch.tensor(answer_at), torch.tensor(answer[:n_answer]))


@dataclass(frozen=True)
class StepInfo:
    step: int             # updates done (0 = before training)
    loss: float
    p_answer: float       # the fact's own question, in that state


@dataclass(frozen=True)
class Result:
    fact: Fact
    method: str
    layers: tuple[int, ...]
    steps: tuple[StepInfo, ...]
    probes: tuple[Probe, ...]
    before: Snapshot
    after: Snapshot
    kl_unrelated: float            # mean KL(original ‖ tuned) per position, nats
    trainable: int
    total: int
    kinds: tuple[str, ...]
    changed: tuple[tuple[float, ...], ...]   # [layer][kind] ‖ΔW‖/‖W‖
    delta: Delta = field(repr=False)
    seconds: float = 0.0

    def as_json(self) -> dict:
        def side(s: Snapshot):
            return {"p_answer": s.p_answer[0], "answer": s.answers[0]}
        return {"before": side(self.before), "after": side(self.after),
                "method": self.method, "layers": list(self.layers),
                "steps": [{"step": s.step, "loss": s.loss, "p_answer": s.p_answer}
                          for s in self.steps],
                "generalisation": [{"question": p.question, "before": b, "after": a}
                                   for p, b, a in zip(self.probes, self.before.p_answer,
                                                      self.after.p_answer)
                                   if p.role == "paraphrase"],
                "locality": [{"question": p.question, "answer": p.answer.strip(),
                              "before": b, "after": a}
                             for p, b, a in zip(self.probes, self.before.p_answer,
                                                self.after.p_answer) if p.role == "neighbour"],
                "kl_unrelated": self.kl_unrelated, "trainable_params": self.trainable,
                "total_params": self.total,
                "changed": [{"layer": li, "kind": k, "relative_change": v}
                            for li, row in enumerate(self.changed)
                            for k, v in zip(self.kinds, row) if v > 0]}


@dataclass(frozen=True)
class Before:
    """The model before any training on a fact: every probe's p(answer), the shown
    questions' answers, the unrelated texts' distributions (the locality KL's
    reference) and the KEEP prompts' (what training holds still). The same for
    every press with this fact, whatever the method, layer or steps: the shared
    weights never change (copies.py), so `shared_before` measures it once per model
    and fact (caches.shared_part)."""
    fact: Fact                 # what was measured: another fact's Before is refused
    snapshot: Snapshot
    reference: list            # log-probs of UNRELATED, one (n, vocab) tensor each
    keep_ref: torch.Tensor     # log-probs at the KEEP prompts' last positions (float64)


def shown_probes(fact: Fact, probe_list: list[Probe]) -> tuple[list[Probe], int]:
    """The probes whose answers a report shows (the question, a paraphrase, France),
    and how many of them get an answer."""
    n_answers = 2 + min(1, len(fact.paraphrases))
    shown = [probe_list[0]] + [p for p in probe_list if p.role == "paraphrase"][:1] + \
        [p for p in probe_list if p.role == "neighbour"][:1]
    return shown, n_answers


def shared_before(handle, fact: Fact, work: Work | None = None) -> Before:
    """`measure_before` once per model and fact (caches.shared_part): a class pressing
    with other methods, layers or steps reuses it."""
    work = work or Work.none()
    return shared_part(("finetune", "before", handle.name, fact),
                       lambda: measure_before(handle, fact, work), work, "before")


def measure_before(handle, fact: Fact, work: Work | None = None) -> Before:
    """The phase "before" of `train`: the model on `fact`'s probes, untouched,
    measured now."""
    work = work or Work.none()
    probe_list = probes(fact)
    shown, n_answers = shown_probes(fact, probe_list)
    before = Snapshot(snapshot(handle, probe_list, 0, work, "before").p_answer,
                      snapshot(handle, shown, n_answers, work, "before").answers)
    reference = copies.log_probs(handle, list(UNRELATED), work, phase="before")
    batch = _batch(handle, fact)
    with work.turn():
        keep_ref = torch.log_softmax(batch.logits(handle)[batch.n_learned:].double(), -1)  # on device
    return Before(fact, before, reference, keep_ref)


def train(handle, fact: Fact, method: str = "lora", layer: int = 8,
          steps: int = DEFAULT_STEPS, seed: int = 0, work: Work | None = None,
          before: Before | None = None) -> Result:
    """Teach `fact` to a private copy, as a job of steps (`work`): the phases
    "before" (the shared measurement, `shared_before`, when this job makes it;
    none when `before` is given), "train" (each gradient step; its StepInfo and
    those before it are the progress's `detail`) and "after". The result's
    seconds are this training's own: training and "after"."""
    method, layer, steps = check_training(method, layer, steps, handle.arch.n_layers)
    work = work or Work.none()
    probe_list = probes(fact)
    shown, n_answers = shown_probes(fact, probe_list)
    if before is None:
        before = shared_before(handle, fact, work)
    elif before.fact != fact:
        raise ValueError("a Before measured on another fact")
    started = time.monotonic()
    reference, keep_ref = before.reference, before.keep_ref
    batch = _batch(handle, fact)

    variant = copies.private_copy(handle)
    try:
        params, get_delta = attach(variant, method, layer, seed)
        opt = torch.optim.Adam(params, lr=LEARNING_RATE[method])

        def measure(logits):
            """(answer loss, p(answer | question)) of the state these logits came from."""
            loss = nn.functional.cross_entropy(logits[: batch.n_learned],
                                               batch.targets.to(logits.device))
            with torch.no_grad():
                lp = torch.log_softmax(logits[batch.answer.to(logits.device)].double().cpu(), -1)
                p = math.exp(float(lp[torch.arange(batch.answer.numel()), batch.answer_ids].sum()))
            return loss, p

        # Step i records the model after i updates: each forward pass measures the
        # state it starts from, and a last one measures where training ended.
        # Forward and backward of one step are one turn at the gate.
        history, updates = [], 0
        work.start_phase("train", steps)
        while True:
            with work.turn():
                logits = batch.logits(variant, grad=updates < steps)
                loss, p = measure(logits)
                history.append(StepInfo(updates, float(loss.detach()), p))
                if updates == steps or p >= STOP_AT:
                    break
                with torch.enable_grad():
                    keep = nn.functional.kl_div(
                        torch.log_softmax(logits[batch.n_learned:].double(), -1), keep_ref,
                        log_target=True, reduction="batchmean")
                    opt.zero_grad(set_to_none=True)
                    (loss + KEEP_WEIGHT * keep).backward()
                    opt.step()
            updates += 1
            work.progress("train", updates, steps, tuple(history))
        work.progress("train", updates, updates, tuple(history))   # done: early once p ≥ STOP_AT
        for prm in params:
            prm.requires_grad_(False)
        after_p = snapshot(variant, probe_list, 0, work, "after").p_answer
        after = Snapshot(after_p, snapshot(variant, shown, n_answers, work, "after").answers)
        kl, _ = copies.kl_and_agreement(reference, copies.log_probs(variant, list(UNRELATED),
                                                                    work, phase="after"))
        delta = get_delta()
    finally:
        del variant
    kinds, changed = _changed(handle, delta)
    total = copies.parameter_count(handle)
    return Result(fact, method, delta.layers, tuple(history), tuple(probe_list),
                  before.snapshot, after, kl, delta.n_params, total, kinds, changed, delta,
                  time.monotonic() - started)


def _changed(handle, delta: Delta):
    """‖ΔW‖/‖W‖ for every block matrix (0 where nothing was trained)."""
    mats = copies.matrices(handle.arch)
    kinds = tuple(copies.kinds_of(mats))
    rel = {}
    with torch.no_grad():
        for m in mats:
            value = delta.tensors.get(m.path)
            if value is None:
                continue
            w = m.weight()
            dw = lora_delta(*value) if delta.method == "lora" else value - w
            rel[(m.layer, m.kind)] = float(dw.norm() / w.norm())
    n_layers = max(m.layer for m in mats) + 1
    return kinds, tuple(tuple(rel.get((li, k), 0.0) for k in kinds) for li in range(n_layers))


# A fall of this much in another fact's p(answer) is a side effect a teacher should
# see, whether or not it crosses 50 % (Paris 0.95 → 0.65 is one).
LOST_POINTS = 0.10


def probe_changes(result: "Result") -> list[tuple[Probe, float, float, bool]]:
    """Every probe's p(answer) before and after, and whether it is another fact
    that fell by LOST_POINTS or more: (probe, before, after, lost)."""
    return [(p, b, a, p.role == "neighbour" and b - a >= LOST_POINTS)
            for p, b, a in zip(result.probes, result.before.p_answer, result.after.p_answer)]


def lost_facts(result: "Result") -> list[tuple[Probe, float, float]]:
    """The other facts whose answer fell by LOST_POINTS or more: (probe, before, after)."""
    return [(p, b, a) for p, b, a, lost in probe_changes(result) if lost]


def ask_bytes(handle, question: str) -> int:
    """What asking both models holds at once: one answer's key/value cache (they
    answer one after the other; the tuned copy reuses the shared weights and the kept delta)."""
    return answer_bytes(handle, question, 1, ANSWER_TOKENS)


def ask(handle, delta: Delta | None, question: str, work: Work | None = None) -> str:
    """The greedy answer of the tuned model (delta) or of the original (None);
    one cut at ANSWER_TOKENS ends in "…"."""
    if delta is None:
        return greedy_answer(handle, question, max_new_tokens=ANSWER_TOKENS, work=work).shown_text
    variant = copies.private_copy(handle)
    apply(variant, delta)
    try:
        return greedy_answer(variant, question, max_new_tokens=ANSWER_TOKENS, work=work).shown_text
    finally:
        del variant
