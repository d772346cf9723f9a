"""Teaching fidelity: the rules are the standard ones (3CosAdd, the encoder's
input), every caption and claim describes the run on screen, figures that
compare settings keep one scale, and the app speaks the student's words."""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from harness import ROOT
from harness.apptest import app_test, assert_clean, shown

from llm_core import next_token as nt
from llm_core import hallucination as hal
from llm_core.embeddings import analogy, analogy_rank, model_word_space

ANALOGIES = [("king", "man", "woman"), ("Paris", "France", "Italy"), ("Germany", "Japan", "sushi"),
             ("dogs", "dog", "cat")]


@pytest.fixture(scope="module")
def mspace(decoder):
    return model_word_space(decoder)


def _numpy_3cosadd(vectors: np.ndarray, words: list, a, b, c, n):
    """3CosAdd written out independently in float64 numpy (gensim's most_similar)."""
    index = {w: i for i, w in enumerate(words)}
    unit = vectors.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=1, keepdims=True), 1e-8)
    query = unit[index[a]] - unit[index[b]] + unit[index[c]]
    scores = unit @ (query / np.linalg.norm(query))
    scores[[index[a], index[b], index[c]]] = -np.inf
    return [words[i] for i in np.argsort(-scores)[:n]]


@pytest.mark.parametrize("which", ["glove", "model"])
@pytest.mark.parametrize("query", ANALOGIES, ids="-".join)
def test_analogy_is_3cosadd_on_unit_vectors(which, query, glove, mspace):
    space = glove if which == "glove" else mspace
    a, b, c = (w.lower() for w in query) if which == "glove" else query
    ours = [w for w, _ in analogy(space, a, b, c, 8).results]
    # float32 vs float64 scores may swap two words whose cosines agree to ~1e-7;
    # no such near-tie exists in these lists, so the order must be equal.
    assert ours == _numpy_3cosadd(space.vectors, list(space.words), a, b, c, 8)
    best = ours[0]
    assert analogy_rank(space, a, b, c, best) == 1
    assert analogy_rank(space, a, b, c, ours[4]) == 5


def test_3cosadd_differs_from_raw_sums_where_the_issue_saw_it(mspace):
    """Raw a − b + c gave Italians for Paris − France + Italy in the model space;
    the standard rule gives Milan."""
    assert analogy(mspace, "Paris", "France", "Italy", 1).results[0][0] == "Milan"


def test_3cosmul_equals_numpy(glove):
    words = list(glove.words)
    index = {w: i for i, w in enumerate(words)}
    unit = glove.vectors.astype(np.float64)
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)
    cos = lambda w: (unit @ unit[index[w]] + 1) / 2          # noqa: E731
    scores = cos("king") * cos("woman") / (cos("man") + 1e-3)
    scores[[index["king"], index["man"], index["woman"]]] = -np.inf
    expected = [words[i] for i in np.argsort(-scores)[:5]]
    assert [w for w, _ in analogy(glove, "king", "man", "woman", 5, rule="3cosmul").results] == expected


def test_encoder_input_is_layernorm_of_word_position_and_type(encoder):
    """What the positions page says: the encoder's input is
    LayerNorm(word + position + token type), computed here from the tables."""
    emb = encoder.model.embeddings
    _, ids, _ = encoder.encode("The cat sat on the mat")
    n = ids.numel()
    with torch.inference_mode():
        by_hand = emb.LayerNorm(emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:n]
                                + emb.token_type_embeddings.weight[0])
        model = emb(input_ids=ids[None])[0]
    # float32, 384 numbers per LayerNorm: the same operations in the same order
    assert torch.allclose(by_hand, model, atol=1e-5)
    assert not torch.allclose(by_hand, emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:n],
                              atol=1e-2)                    # the plain sum is not the input


# --- captions describe the example on screen ---------------------------------------

@pytest.mark.app
def test_analogy_caption_names_the_answers_on_screen():
    at = app_test("pages/embeddings.py", "en", timeout=300)
    at.selectbox(key="embeddings.preset").select("germany").run(timeout=300)
    assert_clean(at)
    captions = " ".join(shown(c.value) for c in at.caption)
    assert "king → queen" not in captions and "German foods" not in captions
    import llm_core
    from llm_core.embeddings import load_word_vectors
    g = analogy(load_word_vectors(), "Germany", "Japan", "sushi", 1).results[0][0]
    m = analogy(model_word_space(llm_core.load_model()), "Germany", "Japan", "sushi", 1).results[0][0]
    assert f"“{g}” in GloVe, “{m}” in the decoder's matrix" in captions
    rank = analogy_rank(load_word_vectors(), "Germany", "Japan", "sushi", "bratwurst")
    assert f"expects “bratwurst”: it ranks #{rank} in GloVe, it is not a word of this space" in captions
    at.text_input(key="embeddings.c").input("pizza").run(timeout=300)   # not the example any more
    assert "expects" not in " ".join(c.value for c in at.caption)


SMALL = {"hallucination.max_tokens": 16, "hallucination.n_samples": 2}


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_grounding_claim_matches_the_numbers_shown(lang):
    from ui.i18n import table
    at = app_test("pages/hallucination.py", lang, state=SMALL, timeout=900)
    at.selectbox(key="hallucination.preset").set_value("france").run()
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    result = next(iter(at.session_state["hallucination.result"].values()))
    before, after = round(result.greedy.mean_confidence, 2), round(result.grounded.mean_confidence, 2)
    metric = {m.label: m.value for m in at.metric}
    assert metric[table(lang)["hallucination.delta_mean"]] == f"{after:.2f}"
    assert metric[table(lang)["hallucination.mean_conf"]] == f"{before:.2f}"
    way = "up" if after > before else "down" if after < before else "same"
    claim = table(lang)[f"hallucination.grounded_claim_{way}"].split("{")[0]
    body = " ".join(shown(m.value) for m in at.markdown)
    assert claim in body and f"{after:.2f}" in body
    others = {"up", "down", "same"} - {way}
    assert not any(table(lang)[f"hallucination.grounded_claim_{o}"].split("{")[0] in body for o in others)


@pytest.mark.app
def test_editing_the_question_clears_the_examples_fact():
    at = app_test("pages/hallucination.py", "en", state=SMALL, timeout=900)
    veltravia = hal.PRESETS_BY_KEY["veltravia"]
    assert at.text_input(key="hallucination.fact").value == veltravia.fact
    at.text_area(key="hallucination.question").input("Who was the first person to walk on Mars?").run()
    assert_clean(at)
    assert at.text_input(key="hallucination.fact").value == ""
    assert at.selectbox(key="hallucination.preset").value == "custom"
    assert any("no longer fits" in i.value for i in at.info)
    at.button(key="hallucination.ask").click().run()
    assert_clean(at)
    result = next(iter(at.session_state["hallucination.result"].values()))
    assert result.grounded is None                 # never Veltravia's fact in front of Mars
    assert not any("Veltravia" in c.value for c in at.code)


# --- figures that compare keep one scale; ticks never repeat ------------------------

def _ticks(axis: dict, n: int = 6) -> list[str]:
    """The tick labels plotly would draw (five-ish ticks at a 1-2-5 step)."""
    low, high = axis["range"]
    raw = (high - low) / 5
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw))
    fmt = axis["tickformat"]
    decimals = int(re.search(r"\.(\d+)%", fmt).group(1))
    return [f"{v * 100:.{decimals}f}%" for v in np.arange(0, high + 1e-12, step)][:n]


@pytest.mark.parametrize("upper", [1.0, 0.5, 0.2, 0.06, 0.022, 0.004, 0.0003])
def test_percent_ticks_never_repeat(upper):
    from ui.fig_common import percent_axis
    ticks = _ticks(percent_axis(upper))
    assert len(ticks) == len(set(ticks)), ticks


def test_a_figure_built_without_validation_is_the_validated_one():
    """ui/fig_common.figure skips plotly's validation for speed: what it draws must
    be the validated figure (a named colorscale spelled out as plotly spells it, the
    fonts written in full), what validation would turn into something else is
    caught while the tests run, and later changes are validated again."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    from ui import fig_common
    assert fig_common.CHECK_AGAINST_VALIDATED              # tests/conftest.py
    traces = [dict(type="heatmap", z=np.arange(6, dtype=np.float32).reshape(2, 3), colorscale="RdBu",
                   reversescale=True, hovertemplate="%{z}")]
    fast = fig_common.figure(traces, title="t", xaxis=dict(title=dict(text="x")))
    slow = go.Figure(data=traces, layout=fig_common.layout(title="t", xaxis=dict(title=dict(text="x"))))
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(slow, validate=False))
    assert fast.data[0].colorscale[3] == (0.3, "rgb(244,165,130)")  # plotly's RdBu, not plotly.js's
    assert fast.layout.hoverlabel.font.size == 13
    with pytest.raises(AssertionError, match="differs from plotly's validation"):
        fig_common.figure([dict(type="bar", x=[1])], yaxis=dict(title_font_size=3))
    with pytest.raises(ValueError):
        fast.update_layout(height="tall")                  # a value validation would refuse
    with pytest.raises(ValueError):
        fast.update_traces(zmin="low")


def test_next_token_axis_keeps_its_scale_across_temperatures(decoder):
    from llm_core.model.sampling import top_view
    from ui.fig_next_token import next_token_bars
    logits = nt.next_token_logits(decoder, "The capital of France is")[1]
    names = dict(title="", logit_axis="", prob_axis="", token_axis="", kept_name="", cut_name="",
                 hover_logit="", hover_prob="", hover_final="")
    ranges = []
    for temperature in (0.3, 1.0, 2.0):
        view = top_view(logits, temperature, n=10)
        fig = next_token_bars(view, [str(i) for i in view.ids], names)
        ranges.append(tuple(fig.layout.xaxis2.range))
    assert ranges == [(0, 1.04)] * 3                    # 0–100 %, with room for the 100 % tick
    assert fig.layout.xaxis2.dtick == 0.2 and fig.layout.xaxis2.tickformat == ".0%"
    zoomed = next_token_bars(top_view(logits, 2.0, n=10), ["x"] * 10, names, fixed_scale=False)
    assert zoomed.layout.xaxis2.range[1] < 1.0
    # at T = 0 the model's own probabilities are drawn beside the one-hot bars
    greedy = next_token_bars(top_view(logits, 0.0, n=10), ["x"] * 10, dict(names, model_name="T=1"))
    marks = [d for d in greedy.data if d.name == "T=1"]
    assert marks and list(marks[0].x) == list(top_view(logits, 0.0, n=10).model_probs)


def test_positions_pair_shares_one_scale():
    from ui.fig_positions import top_tokens_pair
    fig = top_tokens_pair([("a", 0.18), ("b", 0.1)], [("c", 0.38), ("d", 0.2)],
                          {"title_a": "x", "title_b": "y", "prob_title": "p"})
    assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.xaxis2.range)


def test_vector_strips_give_each_row_its_own_scale():
    from ui.fig_attention_step import vector_strips
    fig = vector_strips([("x normalised", torch.linspace(-1, 1, 16)),
                         ("residual", torch.linspace(-20, 20, 16))],
                        {"x_title": "d", "color_title": "v"}, n_dims=16)
    z = np.array(fig.data[0].z)
    assert np.allclose(np.abs(z).max(axis=1), 1.0)          # neither row fades to white
    assert np.isclose(np.array(fig.data[0].customdata)[1].max(), 20.0)   # hover: the true values


def test_window_log_axis_stops_at_probability_one():
    from ui.fig_context_window import answer_token_probs
    fig = answer_token_probs(["A", "B"], {"w": SimpleNamespace(answer_probs=[0.9, 1e-4])},
                             {"title": "", "token_axis": "", "prob_axis": ""})
    assert fig.layout.yaxis.range[1] == 0                    # 10⁰ = 1


# --- the student's words -------------------------------------------------------------

def test_no_words_from_our_making_in_the_app():
    """A student has lessons and examples, never a 'seed article'."""
    for path in (ROOT / "ui" / "locales").rglob("*.toml"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"seed article|the seed's|\barticles?\b", text, re.I), path.name
        assert "原文" not in text, path.name
    for path in (ROOT / "pages").glob("*.py"):
        assert "seed article" not in path.read_text(encoding="utf-8"), path.name

