"""How far two float32 computations of the same numbers may differ.

The same text traced alone or inside a batch, or one layer recomputed from the
trace, runs the same arithmetic in another order: other batch shapes, thread
counts and CPUs (AVX2, AVX-512) pick other BLAS kernels, which sum the products
of a dot product in another order. Each sum of n products then differs by a
rounding error that grows like √n·u, where u = 2⁻²⁴ is float32's unit roundoff
(the random-walk estimate; n·u is the worst case), and each of L layers adds its
own. Measured on one CPU: 0 (bit-equal); on another: 6e-7 of the largest
magnitude. Cross-talk between two texts differs by whole units."""
from __future__ import annotations

import math

import torch

U = 2.0 ** -24          # float32 unit roundoff


def reorder_bound(n_sum: int, layers: int = 1) -> float:
    """Relative bound (to the tensor's largest magnitude) for `layers` stacked
    computations, each with sums of up to `n_sum` float32 products added in
    another order: 16 · layers · √n_sum · u. The 16 covers the norms, softmaxes
    and products chained inside each layer and the tail of the rounding's
    distribution. For SmolLM2 (30 layers, sums of 1,536): 1.1e-3 of the largest
    value, 1,800 times the 6e-7 seen across two CPUs."""
    return 16.0 * layers * math.sqrt(n_sum) * U


def assert_close(got: torch.Tensor, want: torch.Tensor, rel: float, what: str = "") -> None:
    """|got − want| ≤ rel · max|want| everywhere (same shape, finite where want is)."""
    assert got.shape == want.shape, (what, tuple(got.shape), tuple(want.shape))
    got, want = got.double(), want.double()
    finite = torch.isfinite(want)
    assert torch.equal(finite, torch.isfinite(got)), f"{what}: non-finite values differ"
    if not finite.any():
        return
    scale = float(want[finite].abs().max())
    diff = float((got[finite] - want[finite]).abs().max())
    assert diff <= rel * max(scale, 1e-30), (
        f"{what}: differs by {diff:.3g}, over {rel:.2g} × {scale:.3g} = {rel * scale:.3g}")
