"""Next-token probabilities under temperature and step-by-step generation:
numbers against the real decoder and torch, and both pages through AppTest in
English and Chinese (T = 0, T = 2, top-p near 0, empty prompt, context limit)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from harness.apptest import app_test, assert_clean, rendered
from harness.floats import assert_close, reorder_bound

from llm_core import generate as gen

from llm_core import next_token as nt
from llm_core.model.errors import InputError
from llm_core.model.sampling import distribution, draw, entropy, softmax_with_temperature

PROMPT = "The capital of France is"
STORY = "Once upon a time, in a small village,"


@pytest.fixture(scope="module")
def logits(decoder):
    return nt.next_token_logits(decoder, PROMPT)[1]


@pytest.fixture(scope="module")
def at_limit(decoder):
    """A plain prompt of exactly PROMPT_TOKEN_LIMIT tokens, and one token more."""
    limit = nt.PROMPT_TOKEN_LIMIT
    text = "cat" + " cat" * (limit - 1)
    assert decoder.encode(text, max_tokens=limit + 5)[1].numel() == limit
    return text, text + " cat"


# --- softmax, temperature, filters --------------------------------------------------

def test_softmax_t1_equals_torch(logits):
    # torch's float32 softmax sums 49,152 exponentials in an order its CPU kernel
    # picks (AVX2 and AVX-512 differ); the view's is float64. Measured: 9e-6 of the
    # largest probability on one CPU, 2e-5 with AVX2 kernels; the bound is float32's
    # reordered-sum bound for that many terms (harness/floats.py): 2.1e-4.
    bound = reorder_bound(logits.numel())
    ref = torch.softmax(logits, -1)
    assert_close(softmax_with_temperature(logits, 1.0), ref, bound, "T = 1")
    view = nt.top_view(logits, 1.0, n=10)
    assert_close(torch.tensor(view.probs, dtype=torch.float64), ref[list(view.ids)], bound, "view")
    assert abs(sum(ref.tolist()) - 1) < logits.numel() * 2.0 ** -24   # worst-case float32 sum


@pytest.mark.parametrize("temperature", [0, 1e-4])
def test_low_temperature_is_argmax(logits, temperature):
    probs = softmax_with_temperature(logits, temperature)
    assert int(probs.argmax()) == int(logits.argmax())
    assert float(probs.max()) > 0.999
    view = nt.top_view(logits, temperature, n=5)
    assert view.ids[0] == int(logits.argmax()) and view.final[0] > 0.999
    assert view.entropy < 0.01


def test_entropy_rises_with_temperature(logits):
    curve = nt.temperature_curve(logits, [0, 0.25, 0.5, 1.0, 1.5, 2.0])
    entropies = [c[2] for c in curve]
    tops = [c[1] for c in curve]
    assert entropies == sorted(entropies) and entropies[-1] > entropies[1] + 1
    assert tops == sorted(tops, reverse=True) and tops[0] == 1.0
    # the curve's numbers are the reference entropy of the reference softmax
    assert abs(curve[3][2] - entropy(torch.softmax(logits, -1))) < 1e-3


def _reference_curve(logits, temperatures):
    """(top probability, entropy in bits) of the softmax at each T > 0, in float64,
    token by token: p = e/Z and −ln p = ln Z + d/T. ln Z is log1p of the mass
    outside the top: a float64 softmax rounds a top probability of 1 − 1e-20 to 1
    and its entropy term to 0 (2 % of a nearly one-hot entropy)."""
    out = []
    for temp in temperatures:
        gap = (logits.double().max() - logits.double()) / temp      # −ln(p/p_top), ≥ 0
        top = gap == 0
        outside = float(torch.exp(-gap[~top]).sum())
        ties = float(top.sum())
        log_z = math.log(ties) + math.log1p(outside / ties)
        probs = torch.exp(-gap) / (ties + outside)
        nats = float((probs * (log_z + gap.nan_to_num(posinf=0.0))).sum())
        out.append((1.0 / (ties + outside), nats / math.log(2)))
    return out


@pytest.mark.parametrize("case", ["model", "ties and -inf", "toy"])
def test_temperature_curve_is_a_float64_softmax_to_float32_rounding(logits, case):
    """Every point, nearly one-hot (T = 0.05: entropy ~1e-6 bit) to flat (T = 2).
    Bound: each value within 1e-5 of itself, plus 1e-30 for an entropy float32
    cannot hold (a runner-up more than 87·T below the top). Float32 pairwise sums
    of non-negative terms over 49,152 tokens err by at most log2(49,152)·u ≈ 1e-6
    relative, the exponentials by a few u each; nothing cancels (ln Z and E[d/T]
    are both ≥ 0)."""
    if case == "ties and -inf":
        logits = logits.clone()
        logits[logits.argsort(descending=True)[1]] = logits.max()      # two tokens tie at the top
        logits[:100] = -math.inf                                       # never drawable
    elif case == "toy":
        logits = torch.tensor([3.2, 0.9, -2.0])
    temps = [0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
    curve = nt.temperature_curve(logits, [0.0] + temps)
    assert curve[0] == (0.0, 1.0, 0.0)
    for (temp, top, bits), (want_top, want_bits) in zip(curve[1:], _reference_curve(logits, temps)):
        assert abs(top - want_top) <= 1e-5 * want_top, (temp, top, want_top)
        assert abs(bits - want_bits) <= 1e-5 * want_bits + 1e-30, (temp, bits, want_bits)
    if case == "model":
        assert curve[1][2] < 1e-4 and curve[1][2] > 0      # nearly one-hot, still not zero


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_temperature_curve_of_logits_without_a_distribution_is_nan(bad):
    logits = torch.tensor([1.0, bad, 0.5])
    curve = nt.temperature_curve(logits, [0.0, 1e-40, 1.0])
    assert curve[0] == (0.0, 1.0, 0.0)
    assert all(math.isnan(top) and math.isnan(bits) for _, top, bits in curve[1:])
    assert math.isnan(nt.temperature_curve(torch.full((3,), -math.inf), [1.0])[0][1])


def test_temperature_curve_at_a_temperature_below_float32s_range():
    (_, top, bits), = nt.temperature_curve(torch.tensor([1.0, 0.5, 1.0]), [1e-40])
    assert top == 0.5 and bits == 1.0       # two tokens tie at the top, the third is gone


@pytest.mark.parametrize("p", [0.001, 0.3, 0.77, 0.9, 0.99])
def test_top_p_keeps_smallest_set_reaching_p(logits, p):
    kept = distribution(logits, 1.0, top_p=p).kept
    n = int(kept.sum())
    ordered = torch.sort(torch.softmax(logits.double(), -1), descending=True).values
    # The mass is summed in float64 (relative error ≲ n·2⁻⁵³ ≈ 5e-12 over the vocabulary),
    # so "reaches p" is checked exactly at that precision, not with a float32 slack.
    assert n >= 1
    assert float(ordered[:n].sum()) >= p - 1e-9    # reaches p …
    assert float(ordered[: n - 1].sum()) < p        # … and one fewer would not
    assert set(torch.nonzero(kept).flatten().tolist()) == set(torch.topk(logits, n).indices.tolist())
    assert nt.top_view(logits, 1.0, top_p=p, n=5).n_kept == n


@pytest.mark.parametrize("k", [1, 5, 40])
def test_top_k_keeps_k(logits, k):
    assert int(distribution(logits, 1.0, top_k=k).kept.sum()) == k
    view = nt.top_view(logits, 1.0, top_k=k, n=50)
    assert view.n_kept == k and sum(view.kept) == k and view.kept[:k] == (True,) * k
    assert abs(sum(view.final) - 1) < 1e-9 and view.outside_mass < 1e-9   # float64 sums


# --- the rule is transformers' rule, the order is the logits' ------------------------

def _transformers_kept(logits, temperature, k, p):
    """What Hugging Face transformers' own warpers (as `generate` chains them:
    temperature, top-k, top-p) leave drawable, run on float64 logits."""
    from transformers.generation.logits_process import (TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)
    scores = logits.double().reshape(1, -1)
    scores = TemperatureLogitsWarper(temperature)(None, scores)
    if k is not None:
        scores = TopKLogitsWarper(k)(None, scores)
    if p is not None:
        scores = TopPLogitsWarper(p)(None, scores)
    return scores[0]


GRID = [(t, k, p) for t in (0.3, 1.0, 2.0) for k in (None, 1, 5, 50, 1000)
        for p in (None, 0.05, 0.5, 0.9, 0.99)]


@pytest.mark.parametrize("settings", GRID, ids=str)
def test_filters_equal_transformers_processors(logits, settings):
    temperature, k, p = settings
    ref = _transformers_kept(logits, temperature, k, p)
    ref_kept = torch.isfinite(ref)
    ours = distribution(logits, temperature, k, p).kept
    assert torch.equal(ours, ref_kept), (int(ours.sum()), int(ref_kept.sum()))
    view = nt.top_view(logits, temperature, k, p, n=30)
    assert view.n_kept == int(ref_kept.sum())
    # the distribution drawn from is softmax over what transformers leaves, in float64:
    # both are exp(s − logsumexp) of the same float64 scores, equal to ~1e-15.
    ref_p = torch.softmax(ref, -1)
    assert all(abs(f - float(ref_p[i])) < 1e-12 for i, f in zip(view.ids, view.final))


@pytest.mark.unit
@pytest.mark.parametrize("p", [0.35, 0.5, 0.7])
def test_top_p_keeps_the_same_tied_tokens_as_transformers(p):
    """Five exactly tied tokens at the cut: the same ones stay drawable, not only
    as many (transformers sorts ascending and keeps the end: the higher ids)."""
    logits = torch.full((40,), -5.0)
    logits[[3, 9, 17, 22, 31]] = 1.0            # tied
    logits[5] = 2.0
    ref_kept = torch.isfinite(_transformers_kept(logits, 1.0, None, p))
    assert 0 < int(ref_kept[[3, 9, 17, 22, 31]].sum()) < 5     # the cut falls inside the tie
    assert torch.equal(distribution(logits, 1.0, None, p).kept, ref_kept)
    view = nt.top_view(logits, 1.0, None, p, n=8)
    assert {i for i, k in zip(view.ids, view.kept) if k} == set(ref_kept.nonzero().flatten().tolist())
    assert abs(sum(view.final) - 1) < 1e-12


def test_top_k_then_top_p_renormalises_first(logits):
    """T = 2, k = 50, p = 0.5 on the France prompt: the nucleus is measured on the
    50 survivors renormalised (transformers' order), which keeps a handful of
    tokens; measured on the unrenormalised mass it would keep all 50."""
    n = nt.top_view(logits, 2.0, 50, 0.5).n_kept
    unrenormalised = torch.softmax(logits.double() / 2, -1).sort(descending=True).values[:50]
    assert float(unrenormalised.sum()) < 0.5          # the old rule would keep all 50 …
    assert n < 50 and n == int(torch.isfinite(_transformers_kept(logits, 2.0, 50, 0.5)).sum())


@pytest.mark.parametrize("temperature", [0, 0.01, 0.5])
def test_runners_up_are_in_logit_order(logits, decoder, temperature):
    """At T = 0 the probabilities are one-hot and at T = 0.01 they underflow: the
    list must still be ranked by logit (' Paris', then ' the', ' London' …), never
    by ties among zeros (which put special tokens second)."""
    view = nt.top_view(logits, temperature, n=6)
    assert list(view.ids) == torch.topk(logits, 6).indices.tolist()
    assert list(view.logits) == sorted(view.logits, reverse=True)
    names = [decoder.decode([i]) for i in view.ids]
    assert names[:3] == [" Paris", " the", " London"]
    assert not set(view.ids) & set(decoder.tokenizer.all_special_ids)
    # the model's own probabilities (T = 1) stand beside the one-hot ones
    ref = torch.softmax(logits.double(), -1)
    assert all(abs(m - float(ref[i])) < 1e-12 for i, m in zip(view.ids, view.model_probs))
    full = distribution(logits, temperature)
    assert [i for i, _l, _p in full.top(6)] == list(view.ids)


@pytest.mark.parametrize("settings", [(1.0, None, None), (0.7, 50, 0.9), (2.0, None, 0.95),
                                      (1.3, 3, None), (0.5, None, 0.01), (0, 10, 0.5)])
def test_top_view_matches_reference_distribution(logits, settings):
    temperature, k, p = settings
    ref = distribution(logits, temperature, k, p)
    view = nt.top_view(logits, temperature, k, p, n=15)
    ref_top = ref.top(15)
    if temperature == 0:   # one-hot: the reference's order among the zeros is arbitrary
        ref_top = ref_top[:1]
    assert [i for i, _l, _p in ref_top] == list(view.ids[: len(ref_top)])
    # Both normalise by a float32 sum over the n = 49,152 vocabulary entries, in
    # different orders: each sum is within n·u of the exact one (u = 2⁻²⁴, unit
    # round-off), so every probability agrees to a relative n·u ≈ 2.9e-3, and the
    # entropy (a sum of p·log2 p, |log2 p| ≤ log2 n for the mass that counts) to
    # n·u·log2 n. Any real difference in the rule (a wrong filter, a missing
    # renormalisation) moves these by far more.
    n_u = logits.numel() * 2.0 ** -24
    assert all(abs(a - b) <= n_u * max(a, b) for (_i, _l, a), b in zip(ref_top, view.final))
    assert abs(ref.entropy - view.entropy) <= n_u * math.log2(logits.numel())
    assert abs(sum(pr for _i, _l, pr in ref_top) - sum(view.final[: len(ref_top)])) <= n_u


def test_bad_settings_are_input_errors(logits, decoder):
    for kwargs in ({"temperature": -1}, {"top_k": 0}, {"top_p": 0}, {"top_p": 1.5}):
        with pytest.raises(InputError):
            nt.top_view(logits, **{"temperature": 1.0, **kwargs})
    ids = nt.prompt_ids(decoder, STORY)
    with pytest.raises(InputError) as err:
        list(gen.generate(decoder, ids, max_new_tokens=gen.PAGE_MAX_NEW_TOKENS + 1))
    assert err.value.code == "bad_max_new"


def test_prompt_limit_is_a_clear_error(decoder, at_limit):
    fits, too_long = at_limit
    assert nt.prompt_ids(decoder, fits).numel() == nt.PROMPT_TOKEN_LIMIT
    with pytest.raises(InputError) as err:
        nt.prompt_ids(decoder, too_long)
    assert err.value.code == "prompt_too_long"
    assert err.value.params == {"n": nt.PROMPT_TOKEN_LIMIT + 1, "limit": nt.PROMPT_TOKEN_LIMIT}
    with pytest.raises(InputError):
        nt.prompt_ids(decoder, "   ")


def test_draw_follows_the_distribution():
    probs = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.0])
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(5)
    for _ in range(4000):
        token, prob = draw(None, probs, generator)
        counts[token] += 1
        assert prob == float(probs[token]) > 0               # never a zero-probability token
    assert torch.allclose(counts / 4000, probs, atol=0.03)
    ids = torch.tensor([42, 7])                               # a kept subset, sorted by probability
    assert {draw(ids, torch.tensor([0.9, 0.1]), generator)[0] for _ in range(200)} == {42, 7}


# --- generation -----------------------------------------------------------------------

def test_same_seed_same_sample_and_seeds_differ(decoder):
    ids = nt.prompt_ids(decoder, STORY)
    run = lambda seed: [s.token_id for s in gen.generate(  # noqa: E731
        decoder, ids, max_new_tokens=6, temperature=1.2, seed=seed, time_limit=None)]
    first = run(7)
    assert first == run(7)
    answers = {tuple(row) for row in zip(*[
        [s.token_id if s else -1 for s in r] for r in gen.generate_many(
            decoder, ids, [1, 2, 3, 4], max_new_tokens=4, temperature=1.2, time_limit=None)])}
    assert len(answers) >= 2


def test_generation_stops_at_the_caps(decoder):
    ids = nt.prompt_ids(decoder, STORY)
    steps = list(gen.generate(decoder, ids, max_new_tokens=3, temperature=0.8, time_limit=None))
    assert len(steps) == 3
    done = gen.finish(decoder, ids.numel(), steps, 1.0, 0, max_new_tokens=3)
    assert done.finish == "length" and done.text == decoder.decode(done.token_ids)
    assert len(list(gen.generate(decoder, ids, max_new_tokens=50, time_limit=0.0))) == 1
    assert len(list(gen.generate(decoder, ids, max_new_tokens=50, stop=lambda: True))) == 1
    rows = list(gen.generate_many(decoder, ids, [0, 1], max_new_tokens=2, time_limit=None))
    assert len(rows) == 2 and all(len(r) == 2 for r in rows)


def test_step_view_is_compact_and_consistent(decoder):
    ids = nt.prompt_ids(decoder, PROMPT)
    step = next(gen.generate(decoder, ids, max_new_tokens=1, temperature=0.9, top_k=20, seed=3))
    assert len(step.top.ids) == gen.SHOWN_TOP and step.top.n_kept == 20
    assert step.token_id in step.top.ids          # top-k 20: the draw is among the shown
    assert abs(step.prob - step.top.final[step.top.ids.index(step.token_id)]) < 1e-6
    # the runners-up: the shown candidates in logit order, the chosen one (by id) left out
    others = [(text, p) for tid, text, p in zip(step.top.ids, step.top_tokens, step.top.final)
              if tid != step.token_id]
    assert step.alternatives(3) == others[:3] and len(others) == gen.SHOWN_TOP - 1


def test_greedy_chat_answer_knows_paris(decoder):
    answer = gen.answer(decoder, "What is the capital of France?", max_new_tokens=16)
    assert "Paris" in answer.text
    assert all(s.prob == 1.0 for s in answer.steps)          # T = 0: no randomness
    # … but the model's own confidence (T = 1) is not 1 everywhere
    assert all(0 < s.model_prob <= 1 for s in answer.steps)
    assert min(s.model_prob for s in answer.steps) < 0.99
    batch = list(gen.generate_many(decoder, nt.prompt_ids(decoder, "What is the capital of "
                                   "France?", chat=True), [0, 5], max_new_tokens=8,
                                   temperature=0, time_limit=None))
    assert [r[0].token_id for r in batch] == [r[1].token_id for r in batch] == list(
        answer.token_ids[: len(batch)])


def assert_each_answer_is_its_prompts_own(handle, prompts, max_new: int) -> int:
    """Answers to several prompts generated together (left-padded, masked, each with
    its own positions) equal each prompt's answer generated alone: the same tokens,
    up to a step where the solo answer's top two logits were within float32
    rounding of each other (a batch of another shape sums in another order:
    `reorder_bound` of the model's longest sum, all layers, times the logits'
    size), and the same probabilities within that bound. Returns the steps compared."""
    from llm_core.model.sampling import decode_batch, decode_loop, step_chooser

    cfg = handle.model.config
    longest = max(handle.arch.d_model, getattr(cfg, "intermediate_size", None) or 4 * handle.arch.d_model)
    rel = reorder_bound(longest, handle.arch.n_layers)
    together = list(decode_batch(handle, prompts, [step_chooser(handle, 0.0, seed=0) for _ in prompts],
                                 max_new))
    compared = 0
    for a, prompt in enumerate(prompts):
        alone = list(decode_loop(handle, prompt, max_new, step_chooser(handle, 0.0, seed=0)))
        mine = [row[a] for row in together if row[a] is not None]
        ids = torch.cat([prompt.reshape(-1), torch.tensor([s.token_id for s in alone])])
        with torch.inference_mode():
            logits = handle.model(input_ids=ids[None]).logits[0, prompt.numel() - 1:-1].float()
        top2 = logits.topk(2, dim=-1).values
        for i, (one, other) in enumerate(zip(alone, mine)):
            bound = rel * float(logits[i].abs().max())
            if float(top2[i, 0] - top2[i, 1]) <= 2 * bound:
                break                                 # a near-tie: either token is the model's
            assert other.token_id == one.token_id, (a, i, one.text, other.text)
            assert abs(other.model_prob - one.model_prob) <= bound, (a, i)
            compared += 1
        else:
            assert len(mine) == len(alone), a
    return compared


@pytest.mark.tiny
@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_answers_generated_together_are_each_prompts_own_on_tiny_models(family):
    """RoPE (llama) and learned positions (GPT-2): padding on the left must not
    move a prompt's positions."""
    from llm_core.model import tiny
    from llm_core.model.handle import handle_from_model

    model, tokenizer = tiny.tiny_model(family, seed=3)
    handle = handle_from_model(family, model, tokenizer)
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(5, len(tokenizer), (n,), generator=g) for n in (3, 9, 5, 9)]
    assert assert_each_answer_is_its_prompts_own(handle, prompts, 12) >= 24


def test_greedy_answers_together_are_each_questions_own(decoder):
    """The quantization and fine-tuning reports answer their questions together."""
    from llm_core import finetune as ft
    from llm_core import quantization as qz

    questions = list(qz.QUESTIONS) + [p.question for p in ft.probes(ft.DEFAULT_FACT)][:3]
    prompts = [nt.prompt_ids(decoder, q, chat=True) for q in questions]
    assert len({p.numel() for p in prompts}) > 1                    # padding happens
    assert assert_each_answer_is_its_prompts_own(decoder, prompts, 24) >= 60
    got = gen.greedy_answers(decoder, questions, max_new_tokens=24)
    assert "Paris" in got[0].text and got[0].finish == "eos"
    assert gen.greedy_answers(decoder, []) == []


def test_two_sessions_answering_together_at_once_get_their_own_answers(decoder):
    """Two jobs (a quantization report, a fine-tuning report) answer their questions at
    the same moment on the shared model: each gets the answers it gets alone (the
    same batches, so the same tokens; probabilities within float32 reordering)."""
    import threading

    from llm_core import finetune as ft
    from llm_core import quantization as qz

    sets = [list(qz.QUESTIONS), [p.question for p in ft.probes(ft.DEFAULT_FACT)][:3]]
    alone = [gen.greedy_answers(decoder, qs, max_new_tokens=16) for qs in sets]
    together, errors = [None, None], []

    def answer(k):
        try:
            together[k] = gen.greedy_answers(decoder, sets[k], max_new_tokens=16)
        except Exception as err:  # noqa: BLE001 — reported below
            errors.append(err)

    threads = [threading.Thread(target=answer, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(300)
    assert not errors
    rel = reorder_bound(1536, decoder.arch.n_layers)      # SmolLM2's longest sum: the MLP's 1,536
    for mine, solo in zip(together, alone):
        assert [g.token_ids for g in mine] == [g.token_ids for g in solo]
        for g, h in zip(mine, solo):
            assert all(abs(a.model_prob - b.model_prob) <= rel for a, b in zip(g.steps, h.steps))


# --- pages ------------------------------------------------------------------------------

def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_next_token_page(lang, at_limit):
    at = app_test("pages/next_token.py", lang, timeout=600)
    assert_clean(at)
    values = list(metrics(at).values())
    assert "Paris" in list(metrics(at))[0]          # the top token, in the first metric's label
    entropy_t1 = float(values[1].split()[0])

    at.slider(key="next_token.temperature").set_value(0.0).run()
    assert_clean(at)
    values = list(metrics(at).values())
    assert values[0] == "100.0%" and values[1].startswith("0.00") and values[3] == "1"
    assert at.info and "Paris" in at.info[0].value

    at.slider(key="next_token.temperature").set_value(2.0).run()
    assert_clean(at)
    assert float(list(metrics(at).values())[1].split()[0]) > entropy_t1 + 2

    at.slider(key="next_token.top_p").set_value(0.01).run()
    assert_clean(at)
    values = list(metrics(at).values())
    assert values[3] == "1" and values[0] == "100.0%"

    # (radio labels are translated; AppTest formats them outside the session, so set the state)
    at.session_state["next_token.mode"] = "toy"
    at.run()
    at.slider(key="next_token.top_p").set_value(1.0).run()
    at.slider(key="next_token.temperature").set_value(1.0).run()
    assert_clean(at)
    values = list(metrics(at).values())
    assert values[0] == "90.4%" and values[3] == "3"          # softmax([3.2, 0.9, -2.0])
    assert any("9.97" in m.value for m in at.markdown)             # e^(3.2 - 0.9)

    at.session_state["next_token.mode"] = "model"
    at.run()
    at.text_area(key="next_token.prompt").input("   ").run()
    assert_clean(at)
    assert at.warning and not at.metric

    fits, too_long = at_limit
    at.text_area(key="next_token.prompt").input(too_long).run()
    assert_clean(at)
    assert at.warning and str(nt.PROMPT_TOKEN_LIMIT) in at.warning[0].value.replace(",", "")
    assert not at.metric
    if lang == "en":                      # one long forward pass is enough
        at.text_area(key="next_token.prompt").input(fits).run()
        assert_clean(at)
        assert not at.warning and len(at.metric) == 4


def generate_once(at, **sliders):
    for key, value in sliders.items():
        at.slider(key=f"generate.{key}").set_value(value).run()
    at.button(key="generate.run").click().run()
    assert_clean(at)
    return at


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_generate_page(lang, at_limit, decoder, monkeypatch):
    from llm_core.model.sampling import cache_bytes
    from ui import jobs

    admitted, slot = [], jobs.LANES["short"].slot

    def spy(waiting, cost=0):                 # what the short lane admits the generation by
        admitted.append(cost)
        return slot(waiting, cost)

    monkeypatch.setattr(jobs.LANES["short"], "slot", spy)
    at = app_test("pages/generate.py", lang, timeout=600)
    assert_clean(at)
    assert not at.button(key="generate.run").disabled and at.button(
        key="generate.stop_button").disabled

    # the first demo: a story, three samples at T = 0.7 (three different stories)
    assert at.session_state["generate.mode"] == "plain" and at.slider(key="generate.samples").value == 3
    assert at.slider(key="generate.temperature").value == 0.7
    at.session_state["generate.mode"] = "chat"
    at.run()
    generate_once(at, temperature=0.0, max_new=12, samples=1)       # chat: France
    texts = " ".join(rendered(at))
    assert "Paris" in texts
    assert not at.button(key="generate.run").disabled            # controls live again
    assert at.session_state["generate.result"].settings["T"] == 0.0
    # its key/value cache: one answer, the prompt and 12 new tokens
    assert admitted == [cache_bytes(decoder, 1, at.session_state["generate.result"].prompt_len + 12)]
    at.slider(key="generate.step").set_value(2).run()               # look inside, no regeneration
    assert_clean(at)
    result = at.session_state["generate.result"]
    assert len(result.steps[0]) >= 2 and result.settings["max_new"] == 12
    # T = 0 makes every drawn token's probability 1: the model's own (T = 1) stands beside it
    from ui.i18n import table
    step = result.steps[0][1]
    assert step.prob == 1.0 and step.model_prob < 1
    model_name = table(lang)["common.model_prob"]
    line = [c for c in at.get("plotly_chart") if "generate.fig_line" in c.proto.id][0]
    assert model_name in [trace.get("name") for trace in json.loads(line.proto.spec)["data"]]
    assert f"{step.model_prob:.1%}" in " ".join(m.value for m in at.markdown)

    generate_once(at, temperature=2.0, max_new=3, samples=3)
    result = at.session_state["generate.result"]
    assert result.seeds == [0, 1, 2] and all(len(s) == 3 for s in result.steps)
    assert len(at.radio(key="generate.which").options) == 3          # one choice per answer

    generate_once(at, top_p=0.01, samples=1, max_new=2)             # top-p ≈ 0: greedy
    steps = at.session_state["generate.result"].steps[0]
    assert all(s.top.n_kept == 1 and s.prob == 1.0 for s in steps)

    at.text_area(key="generate.prompt_chat").input("  ").run()
    assert_clean(at)                          # an empty prompt is refused as soon as it is typed
    assert at.warning and at.button(key="generate.run").disabled

    fits, too_long = at_limit
    at.session_state["generate.mode"] = "plain"
    at.run()
    at.text_area(key="generate.prompt_plain").input(too_long).run()
    at.button(key="generate.run").click().run()
    assert_clean(at)
    assert at.warning and str(nt.PROMPT_TOKEN_LIMIT) in at.warning[0].value.replace(",", "")
    if lang == "en":
        at.text_area(key="generate.prompt_plain").input(fits).run()
        generate_once(at, max_new=1)
        assert not at.warning
        assert at.session_state["generate.result"].prompt_len == nt.PROMPT_TOKEN_LIMIT


def test_the_toy_table_keeps_rows_with_a_finite_logit():
    rows = [{"token": "cat", "logit": 3.2}, {"token": None, "logit": "0.9"}, {"token": "x", "logit": None},
            {"token": "y", "logit": float("nan")}, {"token": "z", "logit": "abc"},
            {"token": "w", "logit": float("inf")}, {"token": "dog", "logit": -2}]
    assert nt.toy_rows(rows) == [("cat", 3.2), ("?", 0.9), ("dog", -2.0)]
    assert nt.toy_rows([]) == []


@pytest.mark.app
def test_a_new_prompt_runs_the_model_once_on_the_next_token_page(monkeypatch):
    """The logits of a prompt are computed once: the temperature curve reads the
    same shared entry as the bars (a key without the trace ran the model again)."""
    from ui import cache
    at = app_test("pages/next_token.py", "en", timeout=600)
    logits = next(c for where, c in cache._CACHES.items() if c.name == "next_token.cached_logits")
    before = logits.misses
    at.text_area(key="next_token.prompt").input("A prompt seen once by this test:").run(timeout=600)
    assert_clean(at)
    assert logits.misses - before == 1 and logits.hits >= 1


def test_filter_mask_is_the_one_rules_kept_tokens():
    from llm_core.model.sampling import filter_mask
    logits = torch.randn(5000, generator=torch.Generator().manual_seed(0))
    for args in [(1.0, 50, None), (0.7, None, 0.9), (1.3, 40, 0.8), (0, None, None)]:
        assert torch.equal(filter_mask(logits, *args), distribution(logits, *args).kept), args
    assert int(filter_mask(logits, 1.0, 50).sum()) == 50
