"""Quantization: the grid arithmetic against an independent numpy version, the
sizes from the bit counts, KL ordered by bits and by grouping on the real model,
the shared model bit-identical after every job, the stored GGUF format, the CLI
and the page in both languages."""
from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch

from harness.apptest import app_test, assert_clean, figures, shown
from harness.cli import run_cli
from llm_core import quantization as qz
from llm_core.model import copies
from harness.floats import assert_close, reorder_bound

# A number that passed all 30 layers of SmolLM2, computed in another order.
MODEL_DEPTH = reorder_bound(1536, 30)


def numpy_quantize(w: np.ndarray, bits: int, group: str) -> np.ndarray:
    """Round-to-nearest on 2^bits levels between each group's min and max, scale
    and min rounded to float16: written without torch, group by group."""
    out = np.empty_like(w)
    rows, cols = w.shape

    def one(block):
        lo = np.float32(np.float16(block.min()))
        step = np.float32(np.float16((block.max() - lo) / np.float32(2 ** bits - 1)))
        step = step if step > 0 else np.float32(1)
        q = np.clip(np.round((block - lo) / step), 0, 2 ** bits - 1)
        return (q * step + lo).astype(np.float32)

    if group == "tensor":
        return one(w.reshape(-1)).reshape(w.shape)
    size = cols if group == "channel" else int(group)
    for r in range(rows):
        for c0 in range(0, cols, size):
            out[r, c0:c0 + size] = one(w[r, c0:c0 + size])
    return out


@pytest.mark.parametrize("bits,group", [(8, "tensor"), (4, "channel"), (3, "64"), (2, "32"),
                                        (4, "128")])
def test_fake_quantize_matches_numpy(bits, group):
    gen = torch.Generator().manual_seed(bits)
    w = torch.randn(12, 200, generator=gen) * 0.05     # 200 is not a multiple of 64 or 128
    w[3, 7] = 1.5                                       # an outlier
    ours, n_groups = qz.fake_quantize(w, bits, group)
    ref = numpy_quantize(w.numpy(), bits, group)
    # Same float32 operations in the same order; one rounding step at a .5 tie may
    # differ, so allow one grid step on at most a handful of weights.
    diff = np.abs(ours.numpy() - ref)
    assert (diff > 1e-6).sum() <= 3, diff.max()
    expected_groups = {"tensor": 1, "channel": 12}.get(group) or 12 * math.ceil(200 / int(group))
    assert n_groups == expected_groups


def test_values_sit_on_the_grid():
    w = torch.randn(8, 128, generator=torch.Generator().manual_seed(0))
    q, _ = qz.fake_quantize(w, 3, "32")
    for block in q.reshape(-1, 32):
        assert len(torch.unique(block)) <= 8


def test_pi_table_error_falls_with_digits():
    rows = qz.pi_table()
    assert [r[0] for r in rows] == list(range(1, 9))
    assert rows[2][1] == 3.14
    errors = [r[3] for r in rows]
    assert errors[-1] < 1e-7 < errors[0]
    assert errors[0] > errors[2] > errors[4] > errors[7]


@pytest.fixture(scope="module")
def measured(decoder):
    """Reports for the settings the lesson's claims rest on, with the shared
    model's fingerprint before and after all of them."""
    before = copies.weights_fingerprint(decoder.model)
    base = qz.shared_baseline(decoder)      # the one the CLI and the page then reuse
    settings = [(8, "128"), (4, "tensor"), (4, "channel"), (4, "64"), (2, "32")]
    reports = {s: qz.run(decoder, *s, base) for s in settings}
    return before, copies.weights_fingerprint(decoder.model), reports


def test_shared_model_is_bit_identical_after_jobs(measured):
    before, after, _ = measured
    assert before == after


def test_kl_rises_as_bits_fall(measured):
    r = measured[2]
    assert r[(8, "128")].kl < r[(4, "64")].kl < r[(2, "32")].kl
    assert r[(8, "128")].kl < 0.01                      # 8 bits: nearly free
    assert r[(2, "32")].kl > 1.0                        # 2 bits: broken
    assert r[(8, "128")].top1_agreement > 0.95 > r[(2, "32")].top1_agreement


def test_grouping_rescues_four_bits(measured):
    r = measured[2]
    assert r[(4, "64")].kl < r[(4, "channel")].kl < r[(4, "tensor")].kl
    assert r[(4, "tensor")].perplexity > r[(4, "64")].perplexity > r[(4, "64")].float_perplexity


def test_four_bits_in_32s_is_exact_on_every_block_matrix(decoder):
    """The file stored these matrices as Q4_1 (asymmetric, blocks of 32), so rounding
    to 4 bits in 32s again changes nothing (and the model's outputs with it: no KL to
    measure). Exact, not nearly: each stored run of 32 is a float16 minimum + a float16 step
    × 0…15, so the same grid is found and q × step + lo (an elementwise multiply and
    add, IEEE-rounded alike on every CPU) lands on the same float32 values."""
    mats = copies.matrices(decoder.arch)
    assert len(mats) == 210
    for m in mats:
        w = m.weight().detach()
        assert torch.equal(qz.fake_quantize(w, 4, "32")[0], w), (m.layer, m.kind)
    w = mats[0].weight().detach()
    assert not torch.equal(qz.fake_quantize(w, 4, "64")[0], w)      # a coarser grid is not


def test_sizes_follow_from_bit_counts(decoder, measured):
    mats = copies.matrices(decoder.arch)
    n_matrix = sum(m.weight().numel() for m in mats)
    total = sum(p.numel() for p in decoder.model.parameters())
    for (bits, group), r in measured[2].items():
        groups = sum({"tensor": 1, "channel": m.weight().shape[0]}.get(group)
                     or m.weight().shape[0] * math.ceil(m.weight().shape[1] / int(group))
                     for m in mats)
        bits_total = n_matrix * bits + groups * 32
        assert r.size_mb == pytest.approx(((total - n_matrix) * 4 + bits_total / 8) / 1e6,
                                          rel=1e-9)
        assert r.bits_per_weight == pytest.approx(bits_total / n_matrix, rel=1e-9)
        assert r.float_size_mb == pytest.approx(total * 4 / 1e6, rel=1e-9)
    assert measured[2][(4, "64")].bits_per_weight == pytest.approx(4.5)


def test_error_grid_covers_every_matrix(decoder, measured):
    r = measured[2][(4, "tensor")]
    assert r.layers == decoder.arch.n_layers
    assert set(r.kinds) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                            "down_proj"}
    flat = [v for row in r.errors for v in row]
    # Per tensor at 4 bits a matrix whose grid an outlier stretches can err by more
    # than its own norm (most weights rounded to a level far from them).
    assert len(flat) == 30 * 7 and all(0 < v < 10 for v in flat)
    # Coarser settings round harder, matrix by matrix.
    fine = measured[2][(4, "64")].errors
    assert all(a > b for ra, rb in zip(r.errors, fine) for a, b in zip(ra, rb))


def test_answers_side_by_side(measured):
    r = measured[2][(8, "128")]
    assert [a[0] for a in r.answers] == list(qz.QUESTIONS)
    assert "Paris" in r.answers[0][1]
    assert all(a[2] for a in r.answers)
    assert qz.verdict(r) == "free" and qz.verdict(measured[2][(2, "32")]) == "broken"


@pytest.mark.model
def test_stored_format_read_from_the_file():
    stored = qz.stored_format()
    rows = {name: (n, w, b) for name, n, w, b in stored.rows}
    # GGUF block layouts: Q4_1 = 32 weights in 2 fp16 + 16 bytes (5 bits each);
    # Q8_0 = 32 weights in 1 fp16 + 32 bytes (8.5 bits each).
    assert rows["Q4_1"][2] == 5.0 and rows["Q8_0"][2] == 8.5 and rows["F32"][2] == 32.0
    assert rows["Q4_1"][0] == 210                       # 30 layers × 7 matrices
    assert 5.0 < stored.bits_per_weight < 6.0
    assert 90 < stored.file_mb < 110


def test_quantized_matrix_shows_the_outlier_grid(decoder):
    whole = qz.quantized_matrix(decoder, 3, "down_proj", 4, "tensor")
    (g,) = whole.groups                                 # one grid: one group, the matrix
    assert g.which == "widest" and g.size == 576 * 1536
    assert len(g.grid) == 16 and sum(g.before) == sum(g.after) == g.size
    assert whole.max_abs > 3 * whole.p999_abs           # one weight stretches the grid …
    assert g.levels_used <= 16 and max(g.after) > 0.5 * g.size   # … most land on one level
    assert g.grid[0] == pytest.approx(-whole.max_abs, abs=g.step) or \
        g.grid[-1] == pytest.approx(whole.max_abs, abs=g.step)
    assert whole.distinct_per_32 <= 16                  # stored as Q4_1
    grouped = qz.quantized_matrix(decoder, 3, "down_proj", 4, "64")
    widest, typical = grouped.groups
    assert widest.size == typical.size == 64
    assert widest.step > typical.step                   # the outlier's group is coarser
    assert sum(widest.before) == sum(widest.after) == 64
    assert grouped.rel_error < whole.rel_error


def test_bad_settings_are_input_errors(decoder):
    from llm_core.model.errors import InputError
    for bits, group in [(5, "64"), ("x", "64"), (4, "17"), (4, None)]:
        with pytest.raises(InputError) as err:
            qz.check_setting(bits, group)
        assert err.value.code in ("bad_bits", "bad_group")


def test_concurrent_jobs_and_traces_keep_their_numbers(decoder, measured):
    """Two quantization jobs and a trace of the shared model at once: each gets
    the numbers it gets alone."""
    base = qz.shared_baseline(decoder)
    solo_trace = decoder.trace("The quick brown fox jumps over the lazy dog.").logits
    out, errors = {}, []

    def job(setting):
        try:
            out[setting] = qz.run(decoder, *setting, base)
        except BaseException as err:   # noqa: BLE001 — reported below
            errors.append(err)

    def tracer():
        for _ in range(3):
            out.setdefault("traces", []).append(
                decoder.trace("The quick brown fox jumps over the lazy dog.").logits)

    threads = [threading.Thread(target=job, args=(s,)) for s in [(8, "128"), (2, "32")]]
    threads.append(threading.Thread(target=tracer))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    for s in [(8, "128"), (2, "32")]:
        # The same float32 kernels on a private copy, maybe in another order: the
        # KL sums logits that passed 30 layers (harness.floats), so a relative bound.
        assert out[s].kl == pytest.approx(measured[2][s].kl, rel=MODEL_DEPTH)
        assert [a[2] for a in out[s].answers] == [a[2] for a in measured[2][s].answers]
    # A trace may run alone or batched with another's: float32 reassociation only.
    for logits in out["traces"]:
        assert_close(logits, solo_trace, MODEL_DEPTH, "logits")


def test_cli_quantize_json(measured):
    run = run_cli(["quantize", "--bits", "8", "--group", "128", "--json"])
    assert run.returncode == 0, run.stderr
    # Its steps on stderr; the float model's baseline is the one this process measured.
    assert "quantize: step 5 of" in run.stderr and "baseline" not in run.stderr, run.stderr
    out = json.loads(run.stdout)
    assert {"bits", "group", "size_mb", "float_size_mb", "kl", "top1_agreement", "perplexity",
            "answers"} <= set(out)
    assert out["bits"] == 8 and out["group"] == "128" and out["kl"] < 0.01
    assert out["size_mb"] < out["float_size_mb"] / 2
    assert len(out["answers"]) == 3 and "Paris" in out["answers"][0]["float"]


@pytest.mark.model
def test_cli_quantize_bad_bits():
    run = run_cli(["quantize", "--bits", "5"])
    assert run.returncode == 1
    assert run.stderr.strip() == "error: bits must be one of 8, 6, 4, 3, 2."


@pytest.mark.app
@pytest.mark.parametrize("lang,word", [("en", "Quantize a copy"), ("zh", "量化一个副本")])
def test_page_before_running(lang, word):
    at = app_test("pages/quantization.py", lang, timeout=300)
    assert_clean(at)
    assert any(word in b.label for b in at.button)
    # π error, and one matrix's two groups (the default groups of 64)
    assert len(at.get("plotly_chart")) == 3
    captions = " ".join(c.value for c in at.caption)
    assert ("Q4_1" in " ".join(i.value for i in at.info))
    assert ("levels; its weights land on" if lang == "en" else "个等级") in captions


@pytest.mark.app
def test_page_runs_and_shows_what_it_costs(measured):
    at = app_test("pages/quantization.py", "en", timeout=300,
                  state={"quantization.bits": 2, "quantization.group": "32"})
    at.button(key="quantization.run").click().run()
    assert_clean(at)
    r = measured[2][(2, "32")]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["KL to the original"] == f"{r.kl:.4f}"
    assert metrics["Size"] == f"{r.size_mb:.0f} MB"
    assert any("The model breaks" in m.value for m in at.markdown)
    table = next(d.value for d in at.table if "Question" in d.value.columns)
    assert [shown(x) for x in table.iloc[:, 2]] == [a[2] for a in r.answers]   # escaped, read back
    heat = next(f for f in figures(at) if f["data"][0]["type"] == "heatmap")
    assert heat["data"][0]["z"] == [list(row) for row in r.errors]
    assert heat["data"][0]["x"] == list(r.kinds)
    # The setting now shows to a second session without a job.
    other = app_test("pages/quantization.py", "zh", timeout=300,
                     state={"quantization.bits": 2, "quantization.group": "32"})
    assert_clean(other)
    assert not [b for b in other.button if b.key == "quantization.run"]
    assert {m.label: m.value for m in other.metric}["与原模型的 KL"] == f"{r.kl:.4f}"
