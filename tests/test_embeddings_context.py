"""Embeddings, word arithmetic (concepts 5–6) and context (concept 8): numbers
from the real models, and both pages through AppTest in English and Chinese."""
from __future__ import annotations

import numpy as np
import pytest

from harness.apptest import app_test, assert_clean
from llm_core.context import experiment, find_word, word_vectors
from llm_core.embeddings import (analogy_view, direction_view, lookup, model_word_space,
                                 pick_tokens, projection, similarity, split_words, token_row)
from llm_core.model.errors import InputError
from ui.i18n import table

SINGULAR = "dog apple car house child idea student".split()
PLURAL = "dogs apples cars houses children ideas students".split()
LONG = " ".join(["the apple fell from the tree and"] * 715)   # ~5,000 words
TIMEOUT = 300


@pytest.fixture(scope="module")
def mspace(decoder):
    return model_word_space(decoder)


# --- word arithmetic ---------------------------------------------------------------------------

def test_king_minus_man_plus_woman_is_queen_in_glove(glove):
    view = analogy_view(glove, "king", "man", "woman")
    assert view.results[0][0] == "queen"
    assert {"king", "man", "woman"}.isdisjoint(w for w, _ in view.results)  # inputs excluded


def test_king_minus_man_plus_woman_is_queen_in_the_decoder_matrix(mspace):
    view = analogy_view(mspace, "king", "man", "woman")
    assert view.results[0][0] == "queen"
    scores = [s for _, s in view.results]
    assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_paris_minus_france_plus_italy_is_rome_in_glove(glove):
    assert analogy_view(glove, "Paris", "France", "Italy").results[0][0] == "rome"


@pytest.mark.parametrize("which", ["glove", "model"])
def test_plural_direction_separates_plurals_from_singulars(which, glove, mspace):
    space = glove if which == "glove" else mspace
    view = direction_view(space, "cats", "cat", SINGULAR + PLURAL, SINGULAR)
    score = dict(zip(view.words, view.scores))
    mean_plural = np.mean([score[w] for w in PLURAL])
    mean_singular = np.mean([score[w] for w in SINGULAR])
    assert mean_plural - mean_singular > 0.2
    assert sum(score[p] > score[s] for s, p in zip(SINGULAR, PLURAL)) >= 5  # pair by pair too
    # the direction added to singular nouns lands on their plural for most of them
    assert sum(best == noun + "s" or best == "children" for noun, best, _ in view.applied) >= 4


@pytest.mark.parametrize("method", ["pca", "tsne"])
@pytest.mark.parametrize("dims", [2, 3])
def test_projection_shapes(glove, method, dims):
    extras = "prince princess boy girl father mother husband wife".split()
    view = analogy_view(glove, "king", "man", "woman", extras, method=method, dims=dims)
    assert view.words[:4] == ["king", "man", "woman", "queen"]
    assert view.points.shape == (len(view.words) + 1, dims)   # + the point a − b + c
    assert np.isfinite(view.points).all()
    assert projection(np.random.default_rng(0).normal(size=(30, 50)), method, dims).shape == (30, dims)


def test_pca_keeps_the_parallelogram_of_a_linear_map(glove):
    # PCA is linear: the projected a − b + c equals proj(a) − proj(b) + proj(c)
    view = analogy_view(glove, "king", "man", "woman", ["prince", "girl"], method="pca", dims=2)
    p = view.points
    assert np.allclose(p[-1], p[0] - p[1] + p[2], atol=1e-6)


def test_unknown_words_raise_input_error_with_a_hint(glove, mspace):
    with pytest.raises(InputError) as err:
        lookup(mspace, "KING")
    assert err.value.code == "unknown_word" and err.value.params["hint"] == "king"
    with pytest.raises(InputError) as err:
        analogy_view(glove, "xyzzyqq", "man", "woman")
    assert err.value.code == "unknown_word"
    assert err.value.params["lowercase"] is True and err.value.params["word"] == "xyzzyqq"
    assert lookup(glove, "Paris") == lookup(glove, "paris")  # GloVe is lowercase: case folds


def test_token_row_is_a_row_of_the_embedding_matrix(decoder):
    tokens = pick_tokens(decoder, " king")
    assert len(tokens) == 1
    row = token_row(decoder, tokens[0].id)
    matrix = decoder.arch.token_embedding_matrix()
    assert np.array_equal(row.vector, matrix[tokens[0].id].detach().float().numpy())
    assert row.norm == pytest.approx(float(np.linalg.norm(row.vector)))
    assert row.text == " king"
    with pytest.raises(InputError) as err:
        token_row(decoder, matrix.shape[0])
    assert err.value.code == "bad_token_id"
    assert len(pick_tokens(decoder, LONG)) == 64


def test_similarity_dot_and_cosine(mspace):
    words = ["king", "queen", "banana"]
    vecs = np.stack([mspace.vector(w) for w in words])
    sim = similarity(words, vecs)
    assert np.allclose(np.diag(sim.cosine), 1)
    assert np.allclose(sim.dot, sim.dot.T)
    assert sim.dot[0, 1] == pytest.approx(float(vecs[0] @ vecs[1]), rel=1e-5)
    assert sim.cosine[0, 1] > sim.cosine[0, 2]   # king is nearer queen than banana


def test_split_words():
    assert split_words("king, queen，man  king\nwoman") == ["king", "queen", "man", "woman"]
    assert len(split_words(LONG)) <= 200


# --- context ------------------------------------------------------------------------------------

RIVER = ["We sat on the bank of the river.", "The boat drifted toward the muddy bank.",
         "Fish swim near the bank of the lake."]
MONEY = ["I deposited money at the bank.", "The bank raised its interest rates.",
         "She works at a bank in London."]


@pytest.fixture(scope="module")
def bank(decoder):
    traces = [decoder.trace(s) for s in RIVER + MONEY]
    return experiment(traces, ["river"] * 3 + ["money"] * 3, "bank")


def test_context_similarity_is_one_at_layer_zero_and_drops_later(bank):
    assert all(bank.same_token)
    assert np.allclose(bank.similarity[:, 0], 1.0, atol=1e-6)      # the embedding row itself
    deeper = bank.similarity[1:, bank.n_layers // 2:]
    assert (deeper < 0.99).all()                                   # context has moved every vector
    same, other = bank.similarity[1:3, -1].mean(), bank.similarity[3:, -1].mean()
    assert same > other + 0.05                                     # and more for the other sense


def test_centring_removes_the_shared_direction(decoder):
    traces = [decoder.trace(s) for s in RIVER[:2] + MONEY[:2]]
    raw = experiment(traces, ["r", "r", "m", "m"], "bank")
    centred = experiment(traces, ["r", "r", "m", "m"], "bank", centre=True)
    assert np.allclose(centred.similarity[:, 0], 1.0, atol=1e-6)
    assert centred.similarity[2:, -1].mean() < raw.similarity[2:, -1].mean()


def test_find_word_uses_token_spans(decoder):
    trace = decoder.trace("I like pineapple, but this apple is sour.")
    span = find_word(trace, "Apple")                    # case-insensitive, whole word
    assert trace.text[span.start:span.end] == "apple" and span.start > 20
    assert "".join(span.tokens).strip() == "apple"
    with pytest.raises(InputError) as err:
        find_word(decoder.trace("I like pineapple."), "apple")
    assert err.value.code == "word_not_found"
    zh = decoder.trace("妈妈削了一个苹果。")
    span = find_word(zh, "苹果")
    assert len(span.positions) > 1                      # 苹 is split into byte tokens
    last, mean = word_vectors(zh, span, "last"), word_vectors(zh, span, "mean")
    assert last.shape == mean.shape == (zh.n_layers + 1, decoder.arch.d_model)
    assert np.allclose(last, zh.residual[:, span.positions[-1]].double().numpy())
    assert not np.allclose(last, mean)


# --- pages ------------------------------------------------------------------------------------

def _charts(at) -> int:
    return len(at.get("plotly_chart"))


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_embeddings_page_presets(lang):
    at = app_test("pages/embeddings.py", lang, timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 6 and not at.warning       # row, heatmap, 2 × neighbours, projection, plural
    for preset in ("germany", "paris", "king"):
        at.selectbox(key="embeddings.preset").select(preset).run(timeout=TIMEOUT)
        assert_clean(at)
        assert at.text_input(key="embeddings.c").value == {"germany": "sushi", "paris": "Italy",
                                                           "king": "woman"}[preset]
        assert _charts(at) == 6, [w.value for w in at.warning]
        captions = " ".join(c.value for c in at.caption)
        # The lesson's answer not first somewhere (bratwurst 96th in GloVe, Rome 61st in the
        # decoder): why, with these vectors' sizes, naming the word that came first there;
        # queen first in both spaces: nothing to explain.
        why = {"germany": "“gourmet”", "paris": None, "king": None}[preset]
        assert ("GPT-3" in captions and "12,288" in captions and " 50 " in captions
                and " 576 " in captions) == (preset != "king"), (preset, captions)
        if why:
            assert why in captions.split("GPT-3")[1]
    at.radio(key="embeddings.method").set_value("tsne").run(timeout=TIMEOUT)
    at.radio(key="embeddings.proj_dims").set_value(3).run(timeout=TIMEOUT)
    at.radio(key="embeddings.space").set_value("model").run(timeout=TIMEOUT)
    at.radio(key="embeddings.measure").set_value("dot").run(timeout=TIMEOUT)
    at.radio(key="embeddings.pick_by").set_value("id").run(timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 6


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_embeddings_page_empty_single_long_and_unknown(lang):
    at = app_test("pages/embeddings.py", lang, timeout=TIMEOUT)
    at.text_input(key="embeddings.a").input("").run(timeout=TIMEOUT)      # empty word
    assert_clean(at)
    assert at.warning                                                     # said, not crashed
    at.text_input(key="embeddings.a").input("Xyzzyqq").run(timeout=TIMEOUT)
    assert_clean(at)
    text = " ".join(w.value for w in at.warning)
    assert "Xyzzyqq" in text and "GloVe" in text
    at.text_input(key="embeddings.a").input("king").run(timeout=TIMEOUT)
    at.text_input(key="embeddings.token_text").input("").run(timeout=TIMEOUT)
    at.text_input(key="embeddings.sim_words").input("king").run(timeout=TIMEOUT)  # one word
    assert_clean(at)
    assert table(lang)["embeddings.need_two"] in [i.value for i in at.info]
    at.text_input(key="embeddings.token_text").input("a").run(timeout=TIMEOUT)
    assert_clean(at)
    for key in ("embeddings.token_text", "embeddings.sim_words", "embeddings.singular"):
        at.text_input(key=key).input(LONG).run(timeout=TIMEOUT)
        assert_clean(at)
    at.text_area(key="embeddings.extras").input(LONG).run(timeout=TIMEOUT)
    at.text_input(key="embeddings.b").input(LONG).run(timeout=TIMEOUT)
    assert_clean(at)
    assert at.warning


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_context_page_presets(lang):
    at = app_test("pages/context.py", lang, timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 2
    for preset in ("pingguo", "bank", "apple"):
        at.selectbox(key="context.preset").select(preset).run(timeout=TIMEOUT)
        assert_clean(at)
        assert _charts(at) == 2, [i.value for i in at.info]
    assert at.text_input(key="context.name_a").value == ("fruit" if lang == "en" else "水果")
    at.slider(key="context.layer").set_value(0).run(timeout=TIMEOUT)
    at.checkbox(key="context.centre").check().run(timeout=TIMEOUT)
    at.radio(key="context.mode").set_value("mean").run(timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 2


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_context_page_empty_single_and_long(lang):
    at = app_test("pages/context.py", lang, timeout=TIMEOUT)
    at.text_input(key="context.word").input("").run(timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 0
    assert table(lang)["context.need_two"] in [i.value for i in at.info]
    at.text_input(key="context.word").input("apple").run(timeout=TIMEOUT)
    at.text_area(key="context.text_a").input("apple").run(timeout=TIMEOUT)  # one token each
    at.text_area(key="context.text_b").input("apple").run(timeout=TIMEOUT)
    assert_clean(at)
    # Same one-token sentence on both sides: the layer-by-layer chart shows them
    # identical, and the projection says there is nothing to spread out.
    assert _charts(at) == 1
    assert table(lang)["errors.identical_points"] in [w.value for w in at.warning]
    at.text_area(key="context.text_b").input(LONG).run(timeout=TIMEOUT)      # cut to 64 tokens
    assert_clean(at)
    assert _charts(at) == 2
    at.text_input(key="context.word").input("<img src=x onerror=alert(1)>").run(timeout=TIMEOUT)
    assert_clean(at)
    assert _charts(at) == 0


def test_a_word_first_is_the_same_vector_in_the_decoder_and_not_in_the_encoder(decoder, encoder):
    """The lesson's 苹果手机很好用 / 苹果很好吃 has the word first: a decoder's token sees
    nothing after it, so its vectors are identical at every layer; the encoder's
    token sees the whole sentence. (English: MiniLM's vocabulary has no Chinese.)"""
    from llm_core.context import experiment

    sentences = ["Apple makes the iPhone.", "Apple pie is sweet."]
    dec = experiment([decoder.trace(s) for s in sentences], ["a", "b"], "apple")
    enc = experiment([encoder.trace(s) for s in sentences], ["a", "b"], "apple")
    # float32 cosine of identical vectors: 1 within a few ulps of the sums (1e-5)
    assert np.allclose(dec.similarity[1], 1.0, atol=1e-5)
    assert enc.similarity[1][-1] < 0.95
    assert [t.text for t in encoder.trace("苹果很好吃").tokens[1:6]] == ["[UNK]"] * 5


def test_words_similarity_keeps_the_known_words_in_order(glove):
    from llm_core.embeddings import words_similarity
    ws = words_similarity(glove, "king, queen，qwxzzyq  apple king")
    assert ws.known == ["king", "queen", "apple"] and ws.unknown == ["qwxzzyq"]
    v = np.stack([glove.vectors[glove.lookup(w)] for w in ws.known]).astype(np.float64)
    # float64 products of float32 vectors: equal to ~1e-12
    assert np.allclose(ws.similarity.dot, v @ v.T, atol=1e-9)
    assert ws.similarity.cosine[0, 1] > ws.similarity.cosine[0, 2]    # king is nearer queen
    assert words_similarity(glove, "king").similarity is None


def test_plural_direction_scores_plurals_higher(glove):
    from llm_core.embeddings import plural_view
    pv = plural_view(glove, " ".join(SINGULAR), " ".join(PLURAL))
    assert pv.view.words[:2] == [SINGULAR[0], PLURAL[0]]                 # interleaved pairs
    assert pv.groups == [0 if w in SINGULAR else 1 for w in pv.view.words]
    mean = lambda k: np.mean([s for s, g in zip(pv.view.scores, pv.groups) if g == k])
    assert pv.means == pytest.approx((mean(0), mean(1)), abs=1e-12) and pv.means[1] > pv.means[0]


def test_an_unknown_word_says_what_the_space_knows(glove, decoder):
    from ui.errors import message
    with pytest.raises(InputError) as err:
        glove.lookup("Qwxzzyq")
    assert message(err.value) == (table("en")["errors.unknown_word"].format(word="Qwxzzyq", space="GloVe")
                                  + " " + table("en")["errors.unknown_word_lowercase"])
    space = model_word_space(decoder)
    with pytest.raises(InputError) as err:
        space.lookup("paris")                                  # the decoder has " Paris"
    assert err.value.params["hint"] == "Paris"
    assert message(err.value).endswith(table("en")["errors.unknown_word_try"].format(hint="Paris"))


def _gap_from_chart(fig: dict) -> list[float]:
    """The chart's own lines: mean of the solid (sentence 1's meaning) minus mean of
    the dashed (the other meaning), layer by layer."""
    import numpy as np

    from harness.apptest import values
    solid = [values(t["y"]) for t in fig["data"] if t["line"]["dash"] == "solid"]
    dashed = [values(t["y"]) for t in fig["data"] if t["line"]["dash"] == "dash"]
    return list(np.mean(solid, axis=0) - np.mean(dashed, axis=0))


@pytest.mark.app
@pytest.mark.parametrize("lang,preset,trend", [("en", None, "shrinks"), ("zh", None, "grows"),
                                               ("en", "bank", "grows"), ("zh", "apple", "shrinks")])
def test_the_sentence_under_the_lines_says_what_they_show(lang, preset, trend):
    """The default example (apple vs Apple: its tokens differ, the gap is widest at
    layer 0) and one chosen to go the other way: the caption's trend and numbers
    are read off the very lines on the chart."""
    at = app_test("pages/context.py", lang, timeout=TIMEOUT)
    if preset:
        at.selectbox(key="context.preset").select(preset).run(timeout=TIMEOUT)
    assert_clean(at)
    from harness.apptest import figures
    gap = _gap_from_chart(figures(at)[0])
    widest = max(range(len(gap)), key=gap.__getitem__)
    assert ("grows" if gap[-1] - gap[0] >= 0.02 else "shrinks" if gap[0] - gap[-1] >= 0.02
            else "flat") == trend
    expected = table(lang)[f"context.gap_{trend}"].format(
        first=gap[0], last=gap[-1], most=gap[widest], widest=widest)
    assert any(expected in c.value for c in at.caption), [c.value for c in at.caption]


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_link_to_an_example_shows_that_example_and_its_explanation(lang):
    """A link that fills A, B and C with a lesson's example: the picker names that
    example (not the default beside other words), and the page explains its
    answer as for the example picked by hand."""
    at = app_test("pages/embeddings.py", lang, timeout=TIMEOUT,
                  state={"embeddings.a": "Germany", "embeddings.b": "Japan", "embeddings.c": "sushi"})
    assert_clean(at)
    assert at.selectbox(key="embeddings.preset").value == "germany"
    captions = " ".join(c.value for c in at.caption)
    assert "GPT-3" in captions and "“gourmet”" in captions
