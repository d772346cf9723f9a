"""Distillation: the tiny student is causal and counts its parameters right, the
loss is Hinton's, soft labels end closer to the teacher than hard labels on
held-out stories, the shared model is untouched, the CLI and the page."""
from __future__ import annotations

import json

import pytest
import torch

from harness.apptest import app_test, assert_clean, figures
from harness.cli import run_cli
from llm_core import distillation as ds
from llm_core.model import copies
from llm_core.model.errors import InputError


def test_student_is_causal():
    student = ds.TinyGPT(vocab=50, seed=1).eval()
    ids = torch.randint(0, 50, (2, 20), generator=torch.Generator().manual_seed(0))
    later = ids.clone()
    later[:, 12:] = (later[:, 12:] + 7) % 50
    with torch.no_grad():
        a, b = student(ids), student(later)
    assert torch.equal(a[:, :12], b[:, :12])       # the same operations on the same inputs
    assert not torch.allclose(a[:, 12:], b[:, 12:])


def test_student_parameter_count():
    v, d, n_layers, ctx = 300, 64, 2, 64
    per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (4 * d * d + 4 * d) + (4 * d * d + d)
    expected = v * d + ctx * d + n_layers * per_block + 2 * d
    assert ds.TinyGPT(v, d=d, layers=n_layers, context=ctx).n_params == expected


def test_loss_is_hintons():
    gen = torch.Generator().manual_seed(0)
    s, t = torch.randn(3, 5, 11, generator=gen), torch.randn(3, 5, 11, generator=gen)
    T, a = 2.5, 0.7
    pt = torch.softmax(t / T, -1)
    kl = (pt * (torch.log(pt) - torch.log_softmax(s / T, -1))).sum(-1).mean()
    ce = torch.nn.functional.cross_entropy(s.reshape(-1, 11), t.argmax(-1).reshape(-1))
    assert ds.loss_fn(s, t, T, a) == pytest.approx(float(a * T * T * kl + (1 - a) * ce), rel=1e-5)
    assert ds.loss_fn(s, t, T, 0.0) == pytest.approx(float(ce), rel=1e-6)


@pytest.fixture(scope="module")
def corpus(decoder):
    """The teacher's stories once in this process: this file's trainings, the CLI's
    and the page's (as for a class)."""
    return ds.shared_corpus(decoder)


def test_teacher_corpus(decoder, corpus):
    assert corpus.train_ids.shape[0] == ds.N_TRAIN and corpus.held_ids.shape[0] == ds.N_HELD_OUT
    assert corpus.train_logits.shape[:2] == corpus.train_ids.shape
    assert corpus.train_logits.shape[2] == len(corpus.vocab)
    assert all(s.startswith(ds.PROMPT) for s in corpus.stories)
    assert 0.5 < corpus.mass <= 1.0
    # Student ids map back to the teacher's tokens of the stories.
    text = decoder.decode([corpus.vocab[i] for i in corpus.train_ids[0].tolist()])
    assert text == corpus.stories[0]


def test_soft_labels_beat_hard_labels(decoder, corpus):
    before = copies.weights_fingerprint(decoder.model)
    r = ds.distill(decoder, corpus, steps=120, temperature=2.0, soft_weight=1.0)
    assert copies.weights_fingerprint(decoder.model) == before
    assert r.kl_soft < r.kl_hard
    assert r.soft.held_kl[-1][0] == r.hard.held_kl[-1][0] == 120
    assert r.soft.held_kl[-1][1] < r.soft.held_kl[0][1]          # it learned
    assert r.student_params < r.teacher_params / 100
    assert r.teacher_text and r.soft_text
    # the hard student gets closer, then learns the stories by heart and moves away
    # (3.7 → 5.9 here: far beyond float32's reach on any CPU)
    drift = ds.moves_away(r.hard)
    assert drift is not None and drift.best_step < 120
    assert drift.best == min(v for _s, v in r.hard.held_kl) and drift.final == r.hard.held_kl[-1][1]


@pytest.mark.unit
def test_moving_away_is_the_end_above_the_best():
    curve = lambda *kl: ds.Curve((), tuple(zip(range(0, 10 * len(kl), 10), kl)))   # noqa: E731
    assert ds.moves_away(curve(4.9, 3.7, 4.5, 5.9)) == ds.Drift(10, 3.7, 5.9)
    assert ds.moves_away(curve(4.9, 3.7, 3.6, 3.8)) is None        # a wobble at the bottom
    assert ds.moves_away(curve(4.9, 3.0, 2.0)) is None              # still getting closer
    assert ds.moves_away(curve()) is None


def test_a_cancelled_distillation_stops_at_its_next_step(decoder, corpus):
    from llm_core.model.work import Cancelled, Work
    steps = []

    def report(p):
        steps.append(p.done)
        if p.done == 3:
            job.cancel()
    job = Work(report)
    with pytest.raises(Cancelled):
        ds.distill(decoder, corpus, steps=100, work=job)
    assert steps == [0, 1, 2, 3]


@pytest.mark.parametrize("steps,temperature,mix,code", [
    (0, 2, 1, "bad_steps"), (10, 0.1, 1, "bad_distill_temperature"),
    (10, "nan", 1, "bad_distill_temperature"), (10, 2, 1.5, "bad_mix"), ("x", 2, 1, "bad_number")])
def test_bad_settings(steps, temperature, mix, code):
    with pytest.raises(InputError) as err:
        ds.check_settings(steps, temperature, mix)
    assert err.value.code == code


@pytest.mark.model
def test_cli_distill_json(corpus):
    run = run_cli(["distill", "--steps", "8", "--json"])
    assert run.returncode == 0, run.stderr
    # Its steps on stderr; the teacher's stories are the ones this process had written.
    assert "train: step 5 of 8" in run.stderr and "stories" not in run.stderr, run.stderr
    out = json.loads(run.stdout)
    assert {"student_params", "teacher_params", "kl_soft", "kl_hard", "curves"} <= set(out)
    assert len(out["curves"]["soft"]["loss"]) == 8 == len(out["curves"]["hard"]["loss"])
    assert out["teacher_params"] == 134515008


@pytest.mark.app
@pytest.mark.parametrize("lang,verdict", [("en", "closer to the teacher"), ("zh", "更接近教师")])
def test_page_distils(lang, verdict):
    at = app_test("pages/distillation.py", lang, timeout=600,
                  state={"distillation.steps": 60})
    assert_clean(at)
    at.button(key="distillation.run").click().run()
    assert_clean(at)
    result = next(iter(at.session_state["distillation.result"].values()))
    assert result.steps == 60
    shown_verdict = " ".join(m.value for m in at.markdown)
    assert (verdict in shown_verdict) == (result.kl_soft < result.kl_hard)
    assert f"{result.kl_soft:.2f}" in shown_verdict and f"{result.kl_hard:.2f}" in shown_verdict
    drift = ds.moves_away(result.hard)
    assert ("★" in shown_verdict) == (drift is not None or ds.moves_away(result.soft) is not None)
    if drift is not None:
        assert f"{drift.best:.2f}" in shown_verdict and f"{drift.final:.2f}" in shown_verdict
    kl, loss, sizes = figures(at)
    stars = [d for d in kl["data"] if d.get("marker", {}).get("symbol") == "star"]
    assert [(s["x"][0], s["y"][0]) for s in stars] == [
        (d.best_step, d.best) for d in (ds.moves_away(result.soft), drift) if d]
    assert kl["data"][0]["y"] == [v for _s, v in result.soft.held_kl]
    assert kl["data"][1]["y"] == [v for _s, v in result.hard.held_kl]
    assert loss["data"][0]["y"] == list(result.soft.loss)
    assert sizes["data"][0]["x"] == [result.teacher_params, result.student_params]
