"""The vectors lesson (向量, 矩阵): vectors compared by angle and distance, a matrix
as an operation (2-D rotation). Each function returns its intermediate steps so
a page can show the arithmetic with the actual numbers. Also the cosine helpers
other lessons use."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from llm_core.model.errors import InputError


def _vector(values, name: str = "vector") -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise InputError(f"The {name} must contain only numbers.", code="not_numbers") from None
    if not out or not all(math.isfinite(v) for v in out):
        raise InputError(f"The {name} must contain only numbers.", code="not_numbers")
    return out


@dataclass(frozen=True)
class NamedVectors:
    """The vectors of a table a student edits, ready to compare."""

    vectors: dict[str, list[float]]   # name → numbers, in the table's order
    dropped: int                      # rows left out: a name or a number missing
    renamed: bool                     # a repeated name got a number: "apple (2)"


def named_vectors(rows, dims) -> NamedVectors:
    """Complete rows only (a name and a finite number in every column of `dims`),
    each name unique so each can be picked. rows: dicts with "name" and dims."""
    vectors, seen, dropped = {}, {}, 0
    for row in rows:
        name = row.get("name")
        name = name.strip() if isinstance(name, str) else ""
        try:
            values = _vector([row.get(d) for d in dims])
        except InputError:
            values = None
        if not name or values is None:
            dropped += 1
            continue
        seen[name] = seen.get(name, 0) + 1
        vectors[name if seen[name] == 1 else f"{name} ({seen[name]})"] = values
    return NamedVectors(vectors, dropped, any(count > 1 for count in seen.values()))


@dataclass(frozen=True)
class Comparison:
    """a · b, |a|, |b|, cos θ, θ and the Euclidean distance, step by step."""

    a: tuple[float, ...]
    b: tuple[float, ...]
    products: tuple[float, ...]   # a_i × b_i
    dot: float
    norm_a: float
    norm_b: float
    cosine: float | None          # None when one vector is zero (no direction)
    angle_deg: float | None
    differences: tuple[float, ...]  # a_i − b_i
    distance: float


def compare(a, b) -> Comparison:
    a, b = _vector(a, "first vector"), _vector(b, "second vector")
    if len(a) != len(b):
        raise InputError("Both vectors need the same number of dimensions.", code="dim_mismatch",
                         a=len(a), b=len(b))
    products = [x * y for x, y in zip(a, b)]
    dot = sum(products)
    norm_a = math.sqrt(sum(x * x for x in a))
    norm_b = math.sqrt(sum(y * y for y in b))
    cosine = angle = None
    if norm_a > 0 and norm_b > 0:
        cosine = max(-1.0, min(1.0, dot / (norm_a * norm_b)))
        angle = math.degrees(math.acos(cosine))
    diffs = [x - y for x, y in zip(a, b)]
    distance = math.sqrt(sum(d * d for d in diffs))
    return Comparison(tuple(a), tuple(b), tuple(products), dot, norm_a, norm_b, cosine, angle,
                      tuple(diffs), distance)


def rotation_matrix(angle_deg: float) -> torch.Tensor:
    """2 × 2 matrix turning a vector counter-clockwise by `angle_deg` degrees."""
    theta = math.radians(float(angle_deg))
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def rotate(points, angle_deg: float) -> torch.Tensor:
    """points: n 2 (or a single 2-vector) → the same points turned by the angle."""
    p = torch.as_tensor(points, dtype=torch.float64)
    m = rotation_matrix(angle_deg)
    return p @ m.T  # (n 2) × (2 2)ᵀ: each row is M·p


# A letter F (corners as rows): not symmetric, so every turn is visible.
SHAPE = ((0.9, 0.1), (1.05, 0.1), (1.05, 0.45), (1.3, 0.45), (1.3, 0.6), (1.05, 0.6),
         (1.05, 0.8), (1.4, 0.8), (1.4, 0.95), (0.9, 0.95))


@dataclass(frozen=True)
class Turn:
    """A point and the letter F turned by M, the rotation matrix of `angle_deg`."""

    angle_deg: float
    matrix: tuple[tuple[float, float], tuple[float, float]]
    point: tuple[float, float]
    turned: tuple[float, float]           # M·p
    shape: list[tuple[float, float]]
    turned_shape: list[tuple[float, float]]
    norm_before: float                    # |p|
    norm_after: float                     # |M·p|: a rotation keeps lengths


def turn(point, angle_deg: float) -> Turn:
    p = _vector(point, "point")
    m = rotation_matrix(angle_deg)
    turned = rotate(p, angle_deg)
    return Turn(float(angle_deg), tuple(map(tuple, m.tolist())), tuple(p), tuple(turned.tolist()),
                [tuple(x) for x in SHAPE], [tuple(x) for x in rotate(SHAPE, angle_deg).tolist()],
                math.hypot(*p), float(turned.norm()))


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """n d → n n cosine similarity of every row with every other row."""
    x = x.double()
    unit = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return (unit @ unit.T).float()


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().flatten(), b.double().flatten()
    denom = float(a.norm() * b.norm())
    return float(a @ b) / denom if denom > 0 else 0.0


def robust_abs_max(x: torch.Tensor, q: float = 0.99) -> float:
    """The q-quantile of |x|: a colour range that a few outliers cannot wash out."""
    flat = x.detach().abs().flatten().float()
    return max(float(torch.quantile(flat[:1_000_000], q)), 1e-12)
