"""Fine-tuning one fact on a private copy: the answer's probability rises while
the capital of France stays Paris, only the chosen weights move, Revert gives
the original outputs back exactly, the shared model is bit-identical, a stop
ends training, the CLI's JSON, and the page in both languages."""
from __future__ import annotations

import json

import pytest
import torch

from harness.apptest import app_test, assert_clean, figures, shown
from harness.cli import run_cli
from llm_core import finetune as ft
from llm_core.model import copies
from llm_core.model.errors import InputError


@pytest.fixture(scope="module")
def before(decoder):
    """The untouched model on the default fact, measured once in this process for
    this file's trainings, the CLI's and the page's (as for a class)."""
    return ft.shared_before(decoder, ft.DEFAULT_FACT)


@pytest.fixture(scope="module")
def tuned(decoder, before):
    fingerprint = copies.weights_fingerprint(decoder.model)
    result = ft.train(decoder, ft.DEFAULT_FACT, "lora", 8, ft.DEFAULT_STEPS, seed=0, before=before)
    return fingerprint, copies.weights_fingerprint(decoder.model), result


def _p(result, role, side):
    snap = getattr(result, side)
    return [p for p, probe in zip(snap.p_answer, result.probes) if probe.role == role]


def test_answer_becomes_likely(tuned):
    r = tuned[2]
    assert _p(r, "fact", "before")[0] < 0.01
    assert _p(r, "fact", "after")[0] > 0.5
    assert "Lutz" in r.after.answers[0] and "Lutz" not in r.before.answers[0]
    losses = [s.loss for s in r.steps]
    assert r.steps[0].step == 0 and losses[-1] < losses[0] / 3
    # The curve ends where training ended: its last point is the "after" measurement.
    assert r.steps[-1].p_answer == pytest.approx(_p(r, "fact", "after")[0], rel=1e-4)


def test_it_generalises_to_a_paraphrase(tuned):
    r = tuned[2]
    before, after = _p(r, "paraphrase", "before"), _p(r, "paraphrase", "after")
    # Weaker than on the fact's own question (that is the lesson), but far above before.
    assert all(a > 10 * b for a, b in zip(after, before)) and max(after) > 0.05


def test_the_capital_of_france_stays_paris(tuned):
    r = tuned[2]
    neighbours = [(probe, b, a) for probe, b, a in zip(r.probes, r.before.p_answer,
                                                       r.after.p_answer)
                  if probe.role == "neighbour"]
    france = next(n for n in neighbours if "France" in n[0].question)
    assert france[1] > 0.9 and france[2] > 0.5         # still the likeliest answer
    assert "Paris" in r.after.answers[2]
    assert 0 < r.kl_unrelated < 0.5


def test_a_fall_of_ten_points_is_flagged_even_above_half(tuned):
    r = tuned[2]
    falls = {probe.question: b - a for probe, b, a in zip(r.probes, r.before.p_answer, r.after.p_answer)
             if probe.role == "neighbour"}
    assert [p.question for p, _b, _a in ft.lost_facts(r)] == [q for q, d in falls.items() if d >= 0.10]


@pytest.mark.unit
def test_lost_facts_follow_the_fall_not_the_half_line():
    from types import SimpleNamespace as NS
    probes = [ft.Probe("q", "", " Lutz", "fact"), ft.Probe("Paris?", "", " Paris", "neighbour"),
              ft.Probe("Rome?", "", " Rome", "neighbour"), ft.Probe("Tokyo?", "", " Tokyo", "neighbour")]
    r = NS(probes=probes, before=NS(p_answer=[0.001, 0.951, 0.849, 0.40]),
           after=NS(p_answer=[0.9, 0.650, 0.80, 0.30]))
    assert [p.answer for p, *_ in ft.lost_facts(r)] == [" Paris", " Tokyo"]   # 30 and 10 points
    assert [lost for *_, lost in ft.probe_changes(r)] == [False, True, False, True]


def test_shared_model_is_bit_identical(tuned):
    assert tuned[0] == tuned[1]


def test_only_the_chosen_weights_moved(decoder, tuned):
    r = tuned[2]
    moved = {(li, k) for li, row in enumerate(r.changed) for k, v in zip(r.kinds, row) if v > 0}
    assert {li for li, _ in moved} == set(ft.lora_layers(8, decoder.arch.n_layers))
    assert {k for _, k in moved} == {"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"}
    # Rank-8 adapters: r × (in + out) numbers per adapted matrix.
    mats = [m for m in copies.matrices(decoder.arch) if (m.layer, m.kind) in moved]
    assert r.trainable == sum(8 * sum(m.weight().shape) for m in mats)
    assert r.total == sum(p.numel() for p in decoder.model.parameters())


def test_delta_rebuilds_the_tuned_model(decoder, tuned):
    r = tuned[2]
    assert ft.ask(decoder, r.delta, r.fact.question) == r.after.answers[0]
    assert ft.ask(decoder, None, r.fact.question) == r.before.answers[0]


def test_an_adapter_adds_exactly_its_delta_w(decoder):
    """The heatmap's ‖ΔW‖ and the adapter the model runs are one rule: the adapted
    matrix acts as W + (α/r)·B A (to float32 rounding of a 576-long sum:
    reorder_bound(576, 1))."""
    from harness.floats import assert_close, reorder_bound

    variant = copies.private_copy(decoder)
    params, get_delta = ft.attach(variant, "lora", 5)
    with torch.no_grad():
        for p in params:
            p.add_(0.01)                          # B starts at 0: a change that shows
    adapter = next(mod for mod in variant.model.modules() if isinstance(mod, ft.LoRA))
    A, B = adapter.A.detach(), adapter.B.detach()
    assert any(torch.equal(A, a) and torch.equal(B, b) for a, b in get_delta().tensors.values())
    x = torch.randn(3, A.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert_close(adapter(x), x @ (adapter.base.weight + ft.lora_delta(A, B)).T,
                     reorder_bound(A.shape[1], 1))
    assert float(ft.lora_delta(A, B).norm()) > 0


def test_one_mlp_matrix_trains_only_that_matrix(decoder, before):
    """Also: a training handed its "before" (as the page's shared one) measures
    the model before no more and reports that measurement."""
    from llm_core.model.work import Work
    fingerprint = copies.weights_fingerprint(decoder.model)
    phases = []
    r = ft.train(decoder, ft.DEFAULT_FACT, "mlp", 8, 3, seed=0, before=before,
                 work=Work(lambda p: phases.append(p.phase)))
    assert copies.weights_fingerprint(decoder.model) == fingerprint
    assert "before" not in phases and phases[0] == "train" and r.before is before.snapshot
    other = ft.Fact("The capital of Zubrowka is Lutz.", "Capital of Zubrowka?", "Lutz", ())
    with pytest.raises(ValueError):                      # another fact's measurement
        ft.train(decoder, other, "mlp", 8, 3, before=before)
    moved = [(li, k) for li, row in enumerate(r.changed) for k, v in zip(r.kinds, row) if v > 0]
    assert moved == [(8, "down_proj")]
    assert r.trainable == 576 * 1536 and [s.step for s in r.steps] == [0, 1, 2, 3]
    assert r.steps[-1].p_answer > r.steps[0].p_answer


def test_a_cancelled_training_stops_within_a_step_and_keeps_nothing(decoder, before):
    """Cancelled after its second training step, the job ends at its next check
    (no third step), and the shared model is as it was."""
    from llm_core.model.work import Cancelled, Work
    weights = {k: v.clone() for k, v in decoder.model.state_dict().items()}
    seen = []

    def report(p):
        seen.append((p.phase, p.done))
        if p.phase == "train" and p.done == 2:
            job.cancel()
    job = Work(report)
    with pytest.raises(Cancelled):
        ft.train(decoder, ft.DEFAULT_FACT, "lora", 20, 10, work=job, before=before)
    trained = [done for phase, done in seen if phase == "train"]
    assert trained == [0, 1, 2]                         # no step after the cancel
    assert [phase for phase, _ in seen][:1] == ["train"]
    for k, v in decoder.model.state_dict().items():
        assert torch.equal(v, weights[k]), k


@pytest.mark.parametrize("fact,question,answer,code", [
    ("The capital of Zubrowka is Lutz.", "Capital?", "Berlin", "answer_not_in_fact"),
    ("Lutz", "Capital?", "Lutz", "answer_not_in_fact"),
    ("The capital of Zubrowka is Lutz.", "   ", "Lutz", "empty"),
    ("x" * 400, "Capital?", "x", "too_long"),
])
def test_bad_facts_are_input_errors(fact, question, answer, code):
    with pytest.raises(InputError) as err:
        ft.check_fact(fact, question, answer)
    assert err.value.code in (code, "empty_field")


def test_bad_training_settings(decoder):
    for method, layer, steps, code in [("full", 3, 5, "bad_training_method"), ("lora", 30, 5, "bad_layer"),
                                       ("lora", 3, 0, "bad_steps"), ("mlp", 3, 999, "bad_steps")]:
        with pytest.raises(InputError) as err:
            ft.check_training(method, layer, steps, decoder.arch.n_layers)
        assert err.value.code == code


def test_cli_finetune_json(before):
    run = run_cli(["finetune", "--method", "mlp", "--steps", "2", "--json"])
    assert run.returncode == 0, run.stderr
    # Its steps on stderr; the model before training is the one this process measured.
    assert "train: step 2 of 2" in run.stderr and "before" not in run.stderr, run.stderr
    out = json.loads(run.stdout)
    assert {"before", "after", "locality", "changed"} <= set(out)
    assert set(out["before"]) == {"p_answer", "answer"}
    assert out["after"]["p_answer"] > out["before"]["p_answer"]
    assert [c["layer"] for c in out["changed"]] == [8] and out["steps"][-1]["step"] == 2
    assert [n["answer"] for n in out["locality"]] == ["Paris", "Berlin", "Rome"]


@pytest.mark.model
def test_cli_finetune_bad_answer():
    run = run_cli(["finetune", "--answer", "Paris"])
    assert run.returncode == 1
    assert run.stderr.strip() == ("error: The answer must appear in the fact, as the words "
                                  "that complete it.")


@pytest.mark.app
@pytest.mark.parametrize("lang,message", [
    ("en", "The answer must appear in the fact"), ("zh", "答案必须出现在事实里")])
def test_page_says_a_bad_fact_at_once(lang, message):
    at = app_test("pages/finetune.py", lang, timeout=300)
    assert_clean(at)
    assert not at.warning
    at.text_input(key="finetune.answer").input("Berlin").run()
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
    assert at.button(key="finetune.train").disabled


@pytest.mark.app
def test_page_trains_shows_and_reverts():
    at = app_test("pages/finetune.py", "en", timeout=600, state={"finetune.steps": 3})
    from ui.i18n import table
    assert [c.value for c in at.caption if c.value.startswith(table("en")["finetune.press"])] == [
        table("en")["finetune.press"]]                      # no time given before one was measured
    at.button(key="finetune.train").click().run()
    assert_clean(at)
    (r,) = at.session_state["finetune.result"].values()     # what this press trained
    assert r.steps[-1].step <= 3 and r.method == "lora"
    # The model before training is kept for the class: a press with other settings reuses it.
    from llm_core.model.caches import JOB_RESULTS
    assert JOB_RESULTS.peek(("finetune", "before", "smollm2", r.fact)).snapshot is r.before
    answers = at.table[0].value                            # the answers, wrapped
    assert [shown(x) for x in answers["after"]] == list(r.after.answers)     # escaped, read back
    assert [shown(x) for x in answers["before"]] == list(r.before.answers)
    assert {m.label: m.value for m in at.metric}["Trained numbers"] == f"{r.trainable:,}"
    changes = at.table[1].value                              # every probe's change
    assert [shown(q) for q in changes["Question"]] == [p.question for p in r.probes]
    lost = {p.question for p, *_ in ft.lost_facts(r)}
    flags = changes[table("en")["finetune.col_flag"].format(points=10)]
    assert [shown(q) for q, f in zip(changes["Question"], flags) if f] == [
        p.question for p in r.probes if p.question in lost]
    assert any(("Side effect" if lost else "Locality") in m.value for m in at.markdown)
    curve, bars, heat = figures(at)
    assert curve["data"][1]["y"] == [s.p_answer for s in r.steps]
    assert bars["data"][0]["x"] == list(r.before.p_answer)
    assert bars["data"][1]["x"] == list(r.after.p_answer)
    assert heat["data"][0]["z"] == [[None if v == 0 else v for v in row] for row in r.changed]
    at.button(key="finetune.revert").click().run()
    assert_clean(at)
    assert any("Reverted" in s.value for s in at.success)
    assert not at.get("plotly_chart")
    # The press caption now says how long that run took on this machine.
    assert any("The last one on this server took" in c.value for c in at.caption)


@pytest.mark.unit
@pytest.mark.parametrize("label", ["Other fact: What is the capital of the fictional country Zubrowka?",
                                   "其他事实: 维尔特拉维亚共和国的首都是哪里？请用一个词回答这个问题",
                                   "这个事实：维尔特拉维亚共和国的首都是哪里？"])
def test_a_bar_label_wraps_instead_of_running_off_the_chart(label):
    from ui.fig_common import _columns, wrapped

    rows = wrapped(label).split("<br>")
    assert len(rows) > 1 and all(_columns(r) <= 34 for r in rows)
    assert "".join(rows).replace(" ", "").rstrip("…") in label.replace(" ", "")   # nothing reordered
