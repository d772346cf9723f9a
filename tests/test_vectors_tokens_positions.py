"""Vectors & matrices, tokens and positions: the maths against the formulas and
the real models, and each page through AppTest in both languages."""
from __future__ import annotations

import math
import re

import pytest
import torch

from harness.apptest import app_test, assert_clean, rendered
from llm_core.model.errors import InputError
from llm_core.vectors import compare, cosine_matrix, named_vectors, rotate, rotation_matrix
from llm_core.positions import (apply_rope, order_experiment, rope_angles, rope_frequencies,
                                rope_pair, rope_params, sinusoidal)
from ui.chips import chips_html
from ui.fig_tokens import byte_rows, is_content

XSS = "<img src=x onerror=alert(1)>"
LONG = " ".join(["the", "cat", "sat", "on", "a", "mat", "and", "looked", "around", "quietly"] * 500)
TOKEN_PRESETS = ["The cat sat on the mat", "Hello, world! This is a tokenization demo.",
                 "大语言模型,一个巨大的矩阵", "我有一只小猫", "I ❤️ 🍎 and 🐱! 👋🏽"]
LABELS = {"index": "#", "token": "token", "id": "id", "bytes": "bytes", "holds": "holds",
          "whole": "'{ch}'", "part": "'{ch}' bytes {i}-{j} of {n}",
          "part_one": "'{ch}' byte {i} of {n}"}


# --- vectors & matrices ---------------------------------------------------------------------

def test_compare_shows_the_seed_arithmetic():
    c = compare([0.7, 0.3, 0.6], [0.2, 0.8, 0.4])   # apple, lemon
    assert c.products == pytest.approx((0.14, 0.24, 0.24))
    assert c.dot == pytest.approx(0.62)
    assert c.norm_a == pytest.approx(math.sqrt(0.94))
    assert c.cosine == pytest.approx(0.62 / (math.sqrt(0.94) * math.sqrt(0.84)))
    assert c.angle_deg == pytest.approx(math.degrees(math.acos(c.cosine)))
    assert c.distance == pytest.approx(math.sqrt(0.25 + 0.25 + 0.04))
    assert compare([0, 0, 0], [1, 2, 3]).cosine is None     # zero vector: no direction


def test_rotation_matrix_turns_and_keeps_length():
    assert rotate([1.0, 0.0], 90).tolist() == pytest.approx([0.0, 1.0], abs=1e-12)
    m = rotation_matrix(30)
    assert torch.allclose(m @ m.T, torch.eye(2, dtype=torch.float64))
    shape = torch.tensor([[0.9, 0.1], [1.4, 0.95]], dtype=torch.float64)
    assert torch.allclose(rotate(shape, 73).norm(dim=1), shape.norm(dim=1))


# --- positions: sinusoidal and RoPE -------------------------------------------------------

def test_sinusoidal_matches_the_formula():
    pe = sinusoidal(50, 16)
    assert pe.shape == (50, 16)
    for p, i in [(0, 0), (1, 0), (7, 3), (49, 7)]:
        angle = p / 10000 ** (2 * i / 16)
        assert float(pe[p, 2 * i]) == pytest.approx(math.sin(angle), abs=1e-6)
        assert float(pe[p, 2 * i + 1]) == pytest.approx(math.cos(angle), abs=1e-6)
    sim = cosine_matrix(pe)
    assert torch.allclose(sim.diagonal(), torch.ones(50), atol=1e-5)
    assert float(sim[10, 11]) > float(sim[10, 40])   # neighbours are more alike


def test_rope_rotation_reproduces_the_models_q_and_k(decoder):
    params = rope_params(decoder.model.config)
    assert params is not None and params.head_dim == decoder.arch.d_head
    inv_freq = decoder.model.model.rotary_emb.inv_freq.double().cpu()
    assert torch.allclose(rope_frequencies(params), inv_freq, rtol=1e-6)
    trace = decoder.trace("The cat sat on the mat because it was warm")
    angles = rope_angles(params, trace.n_tokens)
    for layer in (0, trace.n_layers - 1):
        d = decoder.layer_detail(trace, layer)
        assert not torch.allclose(d.q_before_rope, d.q, atol=1e-3)   # RoPE does change q
        assert torch.allclose(apply_rope(d.q_before_rope, angles), d.q, atol=1e-4)
        assert torch.allclose(apply_rope(d.k_before_rope, angles), d.k, atol=1e-4)
    pair = rope_pair(params, d.q_before_rope, d.q, head=2, position=5, pair=3)
    assert pair.angle == pytest.approx(5 * params.theta ** (-6 / params.head_dim))
    assert pair.max_error < 1e-4
    assert torch.allclose(pair.matrix @ pair.matrix.T, torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize("a,b", [("The dog bites the man", "The man bites the dog"),
                                 ("我喜欢你", "你喜欢我")])
def test_order_same_bag_different_outcome(decoder, a, b):
    ta, tb = decoder.trace(a), decoder.trace(b)
    r = order_experiment(ta, tb)
    assert r.same_bag and not r.only_in_a and not r.only_in_b
    assert r.embedding_sum_diff < 1e-4
    assert len(r.matched) == ta.n_tokens
    # Layer 0 is the token embeddings alone: each shared token has the same vector.
    assert all(m.cosine_by_layer[0] == pytest.approx(1.0, abs=1e-6) for m in r.matched)
    moved = [m for m in r.matched if m.pos_a != m.pos_b]
    assert moved and all(min(m.cosine_by_layer[1:]) < 0.99 for m in moved)
    assert r.final_cosine is not None and r.final_cosine < 0.99
    probs_a, probs_b = dict(r.top_a), dict(r.top_b)
    assert len(r.top_a) == 5 and sum(probs_a.values()) <= 1.0 + 1e-6
    assert probs_a != probs_b


def test_order_without_leading_space_is_not_the_same_bag(decoder):
    r = order_experiment(decoder.trace("dog bites man"), decoder.trace("man bites dog"))
    assert not r.same_bag and r.only_in_a and r.only_in_b


# --- tokens ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["The cat sat on the mat", "我有一只小猫", "I ❤️ 🍎 and 🐱! 👋🏽"])
def test_decoder_round_trip(decoder, text):
    tokens, ids, _ = decoder.encode(text)
    assert decoder.decode(ids.tolist()) == text
    assert b"".join(bytes(t.byte_values) for t in tokens) == text.encode("utf-8")


def test_byte_pieces_name_the_character(decoder):
    text = "我有一只小猫"
    tokens, _, _ = decoder.encode(text)
    rows = byte_rows(tokens, text, LABELS)
    assert rows, "Chinese text should produce byte pieces"
    holds = " ".join(row["holds"] for row in rows)
    assert "'我' bytes 1-2 of 3" in holds and "'我' byte 3 of 3" in holds
    assert all(row["bytes"] for row in rows)


def test_encoder_and_decoder_split_chinese_differently(decoder, encoder):
    text = "大语言模型,一个巨大的矩阵"
    dec = [t for t in decoder.encode(text)[0] if is_content(t)]
    enc_tokens = encoder.encode(text)[0]
    enc = [t for t in enc_tokens if is_content(t)]
    assert len(dec) != len(enc)
    assert any(t.id == encoder.tokenizer.unk_token_id for t in enc)        # [UNK] honestly shown
    assert len(enc_tokens) == len(enc) + 2                                 # [CLS] … [SEP]


def chip_text(html_out: str) -> str:
    """The chips' visible texts joined (each chip's text sits in a bare <div>)."""
    return "".join(re.findall(r"<div>(.*?)</div>", html_out))


def test_chips_escape_markup(decoder):
    tokens, _, _ = decoder.encode(XSS)
    out = chips_html(tokens, source_text=XSS)
    assert "<img" not in out
    assert chip_text(out) == "&lt;img␣src=x␣onerror=alert(1)&gt;"


# --- pages through AppTest --------------------------------------------------------------

def markdown_bodies(at) -> list[str]:
    return rendered(at)


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_vectors_page(lang):
    at = app_test("pages/vectors.py", lang)
    assert_clean(at)
    latex = " ".join(l.value for l in at.latex)
    assert "= 0.620" in latex and "0.698" in latex          # apple · lemon, cosine
    at.slider(key="vectors.angle").set_value(90).run()
    assert_clean(at)
    latex = " ".join(l.value for l in at.latex)
    assert "-0.300" in latex and "0.700" in latex            # M·(0.7, 0.3) at 90°


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tokens_page_presets(lang):
    at = app_test("pages/tokens.py", lang)
    assert_clean(at)
    for preset in TOKEN_PRESETS:
        at.selectbox(key="tokens.preset").set_value(preset).run()
        assert_clean(at)
        assert at.text_area(key="tokens.text").value == preset
        assert any("reversible" in s.value or "可逆" in s.value for s in at.success)
        assert len(at.metric) >= 4


@pytest.mark.app
def test_tokens_page_escapes_and_edge_cases():
    at = app_test("pages/tokens.py", "en")
    at.text_area(key="tokens.text").input(XSS).run()
    assert_clean(at)
    bodies = " ".join(markdown_bodies(at))
    assert "<img" not in bodies
    assert "&lt;img␣src=x␣onerror=alert(1)&gt;" in [chip_text(b) for b in markdown_bodies(at)]
    at.text_area(key="tokens.text").input("").run()        # empty: a clear message
    assert_clean(at)
    assert at.warning and "empty" in at.warning[0].value.lower()
    at.text_area(key="tokens.text").input("cat").run()      # a single token
    assert_clean(at)
    assert at.metric[2].value == "1"
    at.text_area(key="tokens.text").input(LONG).run()       # a 5,000-word paste
    assert_clean(at)
    assert int(at.metric[2].value.replace(",", "")) >= 5000
    assert any("400" in c.value for c in at.caption)        # chips capped, said so
    at.text_input(key="tokens.lookup_text").input(" cat").run()
    assert_clean(at)
    assert any("ID" in s.value for s in at.success)


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_positions_page_presets(lang):
    at = app_test("pages/positions.py", lang, timeout=600)
    assert_clean(at)
    assert len(at.success) >= 2                               # RoPE matches; same bag
    for index in (1, 2, 0):
        at.selectbox(key="positions.pair").set_value(index).run()
        assert_clean(at)
        same_bag = index != 2
        assert bool(at.warning) == (not same_bag)
        assert not any("e+00" in s.value for s in at.success)   # a zero is said as equal


@pytest.mark.app
def test_positions_page_edge_cases():
    at = app_test("pages/positions.py", "en", timeout=600)
    at.text_input(key="positions.text_a").input("").run()
    assert_clean(at)
    assert any("empty" in w.value.lower() for w in at.warning)
    at.text_input(key="positions.text_a").input("cat").run()
    at.text_input(key="positions.text_b").input("cat").run()
    assert_clean(at)
    # One text twice: the sums are equal, said as such (not "differs by at most 0.0e+00").
    bag = [s.value for s in at.success if "Same bag" in s.value]
    assert len(bag) == 1 and "exactly equal" in bag[0] and "e+00" not in bag[0]
    at.text_input(key="positions.rope_text").input("cat").run()   # one position only
    assert_clean(at)
    at.text_input(key="positions.text_a").input(LONG).run()       # cut to the first tokens
    assert_clean(at)
    cut = [i.value for i in at.info if "the first 64 here" in i.value]
    assert len(cut) == 1 and re.search(r"Your text has \d+ tokens", cut[0])   # said once, not twice


def test_a_table_of_vectors_keeps_complete_rows_with_unique_names():
    rows = [{"name": "apple", "a": 0.7, "b": 0.3}, {"name": " apple ", "a": 0.5, "b": 0.6},
            {"name": "", "a": 0.1, "b": 0.2}, {"name": None, "a": 0.1, "b": 0.2},
            {"name": "pear", "a": float("nan"), "b": 0.2}, {"name": "fig", "a": None, "b": 0.1},
            {"name": "kiwi", "a": 1, "b": 0}]
    found = named_vectors(rows, ("a", "b"))
    assert found.vectors == {"apple": [0.7, 0.3], "apple (2)": [0.5, 0.6], "kiwi": [1.0, 0.0]}
    assert found.dropped == 4 and found.renamed
    assert not named_vectors(rows[:1], ("a", "b")).renamed


def test_a_turn_is_the_rotation_matrix_times_the_point():
    from llm_core.vectors import SHAPE, turn
    r = turn((0.7, 0.3), 90)
    # float64 trigonometry: cos 90° = 6e-17, so 1e-12 is far above rounding
    assert r.turned == pytest.approx((-0.3, 0.7), abs=1e-12)
    assert [x for row in r.matrix for x in row] == pytest.approx([0.0, -1.0, 1.0, 0.0], abs=1e-12)
    assert r.norm_before == pytest.approx(r.norm_after, rel=1e-12)   # a rotation keeps lengths
    assert r.turned_shape[0] == pytest.approx((-SHAPE[0][1], SHAPE[0][0]), abs=1e-12)
    assert len(r.shape) == len(r.turned_shape) == len(SHAPE)


def test_a_split_tells_the_round_trip_and_the_unknown_pieces(decoder, encoder):
    from llm_core.tokens import split
    s = split(decoder, "大语言模型 🙂 cat")
    assert s.round_trip and s.decoded == s.text and s.tokenizer_kind == "byte-level BPE"
    assert [t.id for t in s.tokens] == s.ids and s.n_unknown == 0
    assert s.vocab_size == len(decoder.tokenizer)
    e = split(encoder, "苹果 apple")          # MiniLM has no Chinese characters: [UNK]
    assert e.tokenizer_kind == "WordPiece" and e.n_unknown >= 1 and not e.round_trip
    assert split(decoder, "a " * 3000, max_tokens=100).truncated_from > 100


def test_sentencepiece_byte_fallback_pieces_join_into_their_character():
    """A tokenizer without the character keeps its UTF-8 bytes as "<0xE8>" pieces:
    they read as the character and its parts, never as byte codes."""
    from llm_core.model.tokens import Token, character_spans, fallback_byte, readable_texts
    assert fallback_byte("<0xE8>") == b"\xe8" and fallback_byte("▁语") is None
    raw = "语".encode()
    tokens = [Token(1, "▁I", "▁I", 0, 0)] + [
        Token(10 + k, f"‹{b:02x}›", f"<0x{b:02X}>", 0, 0, (b,), True) for k, b in enumerate(raw)]
    assert character_spans(tokens) == [(1, 4, "语")]
    assert readable_texts(tokens) == ["▁I", "语[1/3]", "语[2/3]", "语[3/3]"]


# --- how byte-pair encoding built a word ------------------------------------------------------

MERGE_TEXTS = ["The cat sat on the mat", "unbelievable tokenization 2024", "大语言模型,一个巨大的矩阵",
               "I ❤️ 🍎 and 🐱! 👋🏽", "naïve café — “quotes”\ttab"]


def test_merge_steps_end_on_the_tokenizers_own_tokens(decoder):
    """Each step merges the neighbouring pair learned earliest, so the rules come
    in rising order (a pair holding a part made by a merge was learned after it);
    the parts the steps end with are the tokens the tokenizer itself gives the
    word, labelled as every page labels tokens (no byte codes)."""
    from llm_core.model.tokens import readable_texts, tokens_of
    from llm_core.tokens import bpe_words, merge_steps
    seen = 0
    for text in MERGE_TEXTS:
        for word in bpe_words(decoder, text):
            steps = merge_steps(decoder, word)
            assert len(steps.start) == len(word.encode("utf-8"))            # one part per byte
            rules = [m.rule for m in steps.steps]
            assert rules == sorted(set(rules)) and all(1 <= r <= steps.n_rules for r in rules)
            assert [len(m.parts) for m in steps.steps] == sorted(
                {len(m.parts) for m in steps.steps}, reverse=True)          # each step merges
            own = decoder.tokenizer(word, add_special_tokens=False)["input_ids"]
            assert list(steps.tokens) == readable_texts(tokens_of(decoder, own)), word
            labels = list(steps.start) + [p for m in steps.steps for p in (m.left, m.right, *m.parts)]
            assert not any("‹" in label for label in labels), word
            seen += len(steps.steps)
    assert seen > 60


def test_merge_steps_of_a_chinese_word_join_bytes_into_characters(decoder):
    from llm_core.tokens import merge_steps
    steps = merge_steps(decoder, "大语言模型")
    assert steps.start[:3] == ("大[1/3]", "大[2/3]", "大[3/3]")               # 3 bytes, read as 大
    assert steps.n_rules == 48_900
    assert "大" in steps.tokens and len(steps.tokens) < 15


def test_an_encoder_has_no_merges_and_a_long_word_is_refused(decoder, encoder):
    from llm_core.model.limits import MERGE_WORD_BYTES
    from llm_core.tokens import bpe_words, merge_steps
    assert bpe_words(encoder, "the cat") == [] and merge_steps(encoder, "cat") is None
    long_word = "a" * (MERGE_WORD_BYTES + 1)
    assert bpe_words(decoder, f"cat {long_word} dog") == ["cat", " dog"]
    with pytest.raises(InputError) as err:
        merge_steps(decoder, long_word)
    assert err.value.code == "word_too_long"


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_tokens_page_shows_how_a_word_was_merged(lang):
    at = app_test("pages/tokens.py", lang)
    at.selectbox(key="tokens.preset").set_value("大语言模型,一个巨大的矩阵").run()
    assert_clean(at)
    assert at.selectbox(key="tokens.bpe_word").value == "一个巨大的矩阵"     # the longest word
    table = at.table[-1].value
    assert len(table) == 10 and table.iloc[0, 0] == 0                       # its bytes + 9 merges
    assert "一" in table.iloc[-1, -1] and "‹" not in table.to_string()
    assert any(("(merge steps: 9)" if lang == "en" else "9 次合并") in m.value for m in at.markdown)
    at.selectbox(key="tokens.bpe_word").set_value(",").run()
    assert_clean(at)
    assert len(at.table[-1].value) == 1                                     # a byte with no merge
