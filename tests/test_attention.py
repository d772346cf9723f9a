"""Attention: one head step by step equals the model; encoder vs decoder masks;
head summaries; the figures; the three pages in both languages."""
from __future__ import annotations

import importlib
import math
import re

import pytest
import torch

from harness.apptest import app_test, assert_clean, shown

from llm_core.attention import head_summary, query_row, row_entropy, strongest_key, top_heads
from llm_core.attention_step import (attention_weights, contribution_lengths, head_contributions, head_steps,
                                     length, pattern_difference, top_keys, visible_keys)
from llm_core.encoder_decoder import future_share
from llm_core.positions import apply_rope, rope_angles, rope_params
from llm_core.model.errors import InputError
from harness.floats import assert_close, reorder_bound

# One layer recomputed step by step vs the model's kernels: its longest sums
# (the MLP's 1,536 products) in another order (harness.floats).
ONE_LAYER = reorder_bound(1536)

TEXT = "The cat sat on the mat because it was tired."
LONG = "The cat sat on the mat, and the dog watched it from the door. " * 30   # > 256 tokens
PAGES = ["pages/attention.py", "pages/attention_step.py", "pages/encoder_decoder.py"]


@pytest.fixture(scope="module")
def dec_trace(decoder):
    return decoder.trace(TEXT)


@pytest.fixture(scope="module")
def enc_trace(encoder):
    return encoder.trace(TEXT)


# --- one head, step by step, against the model -------------------------------------------

@pytest.mark.parametrize("layer", [0, 17, 29])
def test_head_steps_equal_the_model(decoder, dec_trace, layer):
    detail = decoder.layer_detail(dec_trace, layer)
    weights = attention_weights(decoder.arch, layer)
    n = dec_trace.n_tokens
    for head in range(dec_trace.n_heads):
        for query in (0, n // 2, n - 1):
            s = head_steps(detail, head, query, weights)
            assert s.kv_head == head // 3 and s.group == 3
            # the pattern row, recomputed here from q and k, is the model's own
            assert_close(s.pattern, dec_trace.attention_pattern[layer, head, query], ONE_LAYER)
            assert torch.isinf(s.masked[query + 1:]).all() and torch.isfinite(s.masked[:query + 1]).all()
            assert s.pattern[query + 1:].sum() == 0
            assert math.isclose(s.scale, 1 / math.sqrt(64))
            assert_close(s.output, detail.head_output[head, query], ONE_LAYER)
    # all heads × their slices of W_O, summed (+ bias), is what attention adds …
    for query in range(n):
        parts = head_contributions(detail, weights, query)              # head d_model
        total = parts.sum(0) + (weights.b_o if weights.b_o is not None else 0)
        assert_close(total, detail.attn_out[query], ONE_LAYER)
        # … and its length equals the one measured in the real forward pass
        assert abs(float(total.norm()) - float(dec_trace.attn_out_norm[layer, query])) < 1e-3 * (
            1 + float(dec_trace.attn_out_norm[layer, query]))
    s = head_steps(detail, 4, n - 1, weights)
    assert_close(s.head_contribution, head_contributions(detail, weights, n - 1)[4], ONE_LAYER)


def test_what_the_step_page_reads_from_a_head(decoder, dec_trace, enc_trace, encoder):
    """The page's summaries of one head step: what the query sees, its strongest
    keys, the by-hand pattern against the model's, each head's share."""
    layer, n = 5, dec_trace.n_tokens
    detail = decoder.layer_detail(dec_trace, layer)
    weights = attention_weights(decoder.arch, layer)
    s = head_steps(detail, 2, 4, weights)
    assert visible_keys(s) == 5                              # itself and the four before it
    seen = s.pattern[:5].tolist()
    assert top_keys(s, 3) == sorted(range(5), key=lambda j: -seen[j])[:3]
    assert top_keys(s, 9) == sorted(range(5), key=lambda j: -seen[j])   # never a key it cannot see
    model = dec_trace.attention_pattern[layer, 2, 4]
    assert pattern_difference(s, model) == float((s.pattern - model).abs().max()) < 1e-4
    assert pattern_difference(s, model + 0.5) > 0.49          # a wrong pattern shows
    lengths = contribution_lengths(detail, weights, 4)
    parts = head_contributions(detail, weights, 4)
    assert lengths.shape == (dec_trace.n_heads,)
    # the same float32 sums in another order: relative error ~1e-6 for 576 numbers
    assert torch.allclose(lengths, torch.stack([p.norm() for p in parts]), rtol=1e-5)
    assert length(torch.tensor([3.0, 4.0])) == 5.0
    enc_detail = encoder.layer_detail(enc_trace, 0)
    assert visible_keys(head_steps(enc_detail, 0, 1)) == enc_trace.n_tokens   # an encoder sees all
    assert n > 5


def test_the_overview_page_reads_rows_and_top_heads():
    pattern = torch.softmax(torch.randn(2, 4, 4, generator=torch.Generator().manual_seed(3)), -1)
    assert query_row(pattern, 1, 2, causal=True).tolist() == pattern[1, 2, :3].tolist()
    assert query_row(pattern, 1, 2, causal=False).tolist() == pattern[1, 2].tolist()
    assert strongest_key(torch.tensor([0.1, 0.7, 0.2])) == 1
    values = torch.tensor([[0.1, 0.9, 0.3], [0.5, 0.2, 0.8]])   # layer head
    assert top_heads(values, 3) == [(0, 1, pytest.approx(0.9)), (1, 2, pytest.approx(0.8)),
                                    (1, 0, pytest.approx(0.5))]


@pytest.mark.parametrize("layer", [2, 21])
def test_pattern_recomputed_from_weights_alone(decoder, dec_trace, layer):
    """Independent of LayerDetail: RMSNorm, W_Q/W_K, RoPE, GQA, scale, mask, softmax by hand."""
    arch = decoder.arch
    block = arch.layers()[layer]
    w = attention_weights(arch, layer)
    x = dec_trace.residual[layer]                                            # pos d_model
    norm = block.input_layernorm
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    x = x * norm.weight.detach().float().cpu()
    n, d_head = x.shape[0], arch.d_head
    q = (x @ w.w_q.T).view(n, arch.n_heads, d_head).transpose(0, 1)         # head pos d_head
    k = (x @ w.w_k.T).view(n, arch.n_kv_heads, d_head).transpose(0, 1)      # kv_head pos d_head
    angles = rope_angles(rope_params(decoder.model.config), n)              # the positions lesson's RoPE
    q, k = apply_rope(q, angles), apply_rope(k, angles)
    group = arch.n_heads // arch.n_kv_heads
    for head in range(arch.n_heads):
        scores = q[head] @ k[head // group].T / math.sqrt(d_head)          # query key
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -math.inf)
        pattern = torch.softmax(scores, -1)
        assert_close(pattern, dec_trace.attention_pattern[layer, head], ONE_LAYER)


def test_rope_rotation_is_the_models(decoder, dec_trace):
    detail = decoder.layer_detail(dec_trace, 5)
    params = rope_params(decoder.model.config)
    assert params.theta == 100000.0
    angles = rope_angles(params, dec_trace.n_tokens)
    assert_close(apply_rope(detail.q_before_rope, angles), detail.q, ONE_LAYER)
    assert_close(apply_rope(detail.k_before_rope, angles), detail.k, ONE_LAYER)
    # a rotation keeps lengths
    assert torch.allclose(detail.q.norm(dim=-1), detail.q_before_rope.norm(dim=-1), atol=1e-4)


def test_bad_head_or_position(decoder, dec_trace):
    detail = decoder.layer_detail(dec_trace, 0)
    with pytest.raises(InputError) as err:
        head_steps(detail, 9, 0)
    assert err.value.code == "bad_head"
    with pytest.raises(InputError) as err:
        head_steps(detail, 0, dec_trace.n_tokens)
    assert err.value.code == "bad_position"


# --- encoder vs decoder ---------------------------------------------------------------

def test_encoder_is_bidirectional(encoder, enc_trace):
    p = enc_trace.attention_pattern                                        # layer head query key
    assert p.shape[-1] == enc_trace.n_tokens and not enc_trace.causal
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5)
    assert (p > 0).all()                                                   # no mask anywhere
    assert future_share(p) > 0.05
    assert enc_trace.tokens[0].text == "[CLS]" and enc_trace.tokens[-1].text == "[SEP]"
    detail = encoder.layer_detail(enc_trace, 3)
    s = head_steps(detail, 7, 2, attention_weights(encoder.arch, 3))
    assert s.q_before_rope is None and torch.equal(s.masked, s.scaled)
    assert_close(s.pattern, p[3, 7, 2], ONE_LAYER)
    assert (head_contributions(detail, attention_weights(encoder.arch, 3), 2).sum(0)
            + attention_weights(encoder.arch, 3).b_o - detail.attn_out[2]).abs().max() < 1e-4


def test_decoder_upper_triangle_is_exactly_zero(dec_trace):
    p = dec_trace.attention_pattern
    n = p.shape[-1]
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
    assert (p[..., upper] == 0).all()
    assert (p[..., ~upper] >= 0).all() and future_share(p) == 0.0
    assert torch.allclose(p.sum(-1), torch.ones(p.shape[:-1]), atol=1e-5)


# --- summaries ------------------------------------------------------------------------

def test_head_summary_on_known_patterns():
    n = 4
    eye = torch.eye(n)                                 # each token looks at itself
    prev = torch.zeros(n, n)
    prev[0, 0] = 1
    prev[torch.arange(1, n), torch.arange(n - 1)] = 1  # each token looks one back
    uniform = torch.tril(torch.ones(n, n))
    uniform = uniform / uniform.sum(-1, keepdim=True)
    s = head_summary(torch.stack([eye, prev, uniform])[None])  # 1 layer, 3 heads
    assert s.self_token[0].tolist() == [1.0, 0.0, pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3, rel=1e-5)]
    assert s.previous_token[0, 1] == 1.0 and s.previous_token[0, 0] == 0.0
    assert s.entropy[0, 0] == 0 and s.entropy[0, 1] == 0
    assert s.entropy[0, 2] == pytest.approx((1 + math.log2(3) + 2) / 3, rel=1e-5)
    assert s.strongest_key_distance[0].tolist()[:2] == [0.0, 1.0]
    assert row_entropy(torch.tensor([0.5, 0.5, 0.0])) == pytest.approx(1.0)


def test_head_summary_on_the_trace(dec_trace):
    p = dec_trace.attention_pattern
    s = head_summary(p)
    assert s.entropy.shape == (30, 9)
    assert torch.allclose(s.first_token[7, 2], p[7, 2, 1:, 0].mean())
    assert ((s.first_token >= 0) & (s.first_token <= 1)).all()
    assert (s.entropy >= 0).all() and (s.entropy <= math.log2(p.shape[-1]) + 1e-4).all()


def test_one_token(decoder):
    trace = decoder.trace("Hi")
    assert trace.n_tokens == 1
    s = head_steps(decoder.layer_detail(trace, 0), 0, 0)
    assert s.pattern.tolist() == [1.0]
    summary = head_summary(trace.attention_pattern)
    assert (summary.entropy == 0).all() and (summary.first_token == 1).all()


# --- figures --------------------------------------------------------------------------

def test_figures(dec_trace):
    import numpy as np
    from ui.fig_attention import head_grid, md_token, pattern_heatmap, token_labels
    from ui.fig_attention_step import vector_strips

    labels = token_labels(dec_trace.tokens)
    assert len(set(labels)) == len(labels) and labels[1] == "1:␣cat"   # as every page labels a token
    assert token_labels(["a", " a", "\n", "<b>x"]) == ["0:a", "1:␣a", "2:↵", "3:<b>x"]
    marked = pattern_heatmap(torch.eye(2), ["0:<b>x", "1:&"], {"x_title": "k", "y_title": "q",
                                                             "color_title": "w"}, causal=True)
    assert list(marked.data[0].x) == ["0:&lt;b&gt;x", "1:&amp;"]          # text, never markup
    axes = {"x_title": "key", "y_title": "query", "color_title": "w"}
    fig = pattern_heatmap(dec_trace.attention_pattern[3, 0], labels, axes, causal=True)
    z = np.array(fig.data[0].z, dtype=float)
    n = len(labels)
    assert np.isnan(z[np.triu_indices(n, 1)]).all() and not np.isnan(z[np.tril_indices(n)]).any()
    assert list(fig.data[0].x) == labels and fig.layout.xaxis.title.text == "key"
    assert not fig.layout.shapes
    framed = pattern_heatmap(dec_trace.attention_pattern[3, 0], labels, axes, causal=True,
                             highlight_query=2)
    assert [(sh.y0, sh.y1) for sh in framed.layout.shapes] == [(1.5, 2.5)]
    grid = head_grid(dec_trace.attention_pattern[3], labels,
                     {"head_titles": [f"h{h}" for h in range(9)], "x_title": "k", "y_title": "q",
                      "color_title": "w"}, causal=True)
    assert len(grid.data) == 9 and {d.coloraxis for d in grid.data} == {"coloraxis"}
    assert grid.layout.coloraxis.cmin == 0 and grid.layout.coloraxis.cmax == 1
    strips = vector_strips([("a", torch.ones(100)), ("b", -torch.ones(100))],
                           {"x_title": "d", "color_title": "v"}, n_dims=16)
    assert np.array(strips.data[0].z).shape == (2, 16)
    assert md_token("*[x]") == "“\\*\\[x\\]”"


@pytest.mark.parametrize("name", ["attention", "attention_step", "encoder_decoder"])
def test_core_module_has_no_ui_imports(name):
    mod = importlib.import_module(f"llm_core.{name}")
    source = open(mod.__file__, encoding="utf-8").read()
    assert not re.search(r"^\s*(import|from)\s+(streamlit|plotly)", source, re.M)


# --- pages ------------------------------------------------------------------------------

def _charts(at):
    return at.get("plotly_chart")


def _all_text(at):
    """What a reader sees (markdown escapes removed)."""
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "subheader")
             for e in getattr(at, kind)]
    return shown("\n".join(str(p) for p in parts))


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", PAGES)
def test_page_renders(page, lang):
    at = app_test(page, lang, timeout=600)
    assert_clean(at)
    assert len(_charts(at)) >= 2
    text = _all_text(at)
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", text)
    if page == "pages/attention_step.py":
        diff = re.search(r"(?:largest difference|最大差别) ([0-9.e+-]+)", text)
        assert diff and float(diff.group(1).rstrip("。.")) < 1e-4
    if page == "pages/encoder_decoder.py":
        shares = re.findall(r"\*\*([0-9.]+)%\*\*", text)
        assert len(shares) == 2 and float(shares[0]) > 0 and float(shares[1]) == 0.0


@pytest.mark.app
def test_attention_page_controls():
    at = app_test("pages/attention.py", "en", timeout=600)
    at.slider(key="attention.layer").set_value(3).run()
    at.slider(key="attention.head").set_value(8).run()
    at.selectbox(key="attention.token").set_value(2).run()
    assert_clean(at)
    assert "2:␣didn" in _all_text(at)
    at.radio(key="attention.view").set_value("grid").run()
    assert_clean(at)
    assert len(_charts(at)) == 1 and "layer 3" in _all_text(at)
    at.radio(key="attention.view").set_value("overview").run()
    at.selectbox(key="attention.metric").set_value("previous_token").run()
    assert_clean(at)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 5


@pytest.mark.app
def test_step_page_controls():
    at = app_test("pages/attention_step.py", "zh", timeout=600)
    at.slider(key="attention_step.layer").set_value(0).run()
    at.slider(key="attention_step.head").set_value(5).run()
    at.selectbox(key="attention_step.token").set_value(1).run()
    assert_clean(at)
    text = _all_text(at)
    assert "第 **1** 个键/值头" in text                # head 5 → kv head 1 (GQA)
    table = next(d.value for d in at.dataframe if "+ 掩码" in d.value.columns)
    assert list(table.iloc[2:, 3]) == ["−∞"] * (len(table) - 2)   # keys after token 1 masked


@pytest.mark.app
@pytest.mark.parametrize("page,lang", [(p, lang) for p in PAGES for lang in ("en", "zh")][::2])
def test_page_empty_text(page, lang):
    key = page.split("/")[1].removesuffix(".py") + ".text"
    at = app_test(page, lang, state={key: "   "}, timeout=600)
    assert_clean(at)
    assert at.warning                                          # the input message, no crash


@pytest.mark.app
@pytest.mark.parametrize("page", PAGES)
def test_page_one_token(page):
    key = page.split("/")[1].removesuffix(".py") + ".text"
    at = app_test(page, "zh", state={key: "Hi"}, timeout=600)
    assert_clean(at)
    assert _charts(at)
    if page == "pages/attention.py":
        assert any("只有一个 Token" in i.value for i in at.info)


@pytest.mark.app
@pytest.mark.parametrize("page", PAGES)
def test_page_long_text_says_what_it_shows(page):
    key = page.split("/")[1].removesuffix(".py") + ".text"
    at = app_test(page, "en", state={key: LONG}, timeout=600)
    assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert "Attention is kept for the first 256 of" in captions


@pytest.mark.parametrize("heads,cols", [(1, None), (3, None), (4, None), (9, None), (12, None),
                                        (15, None), (32, None), (9, 2), (7, 5)])
def test_the_head_grid_is_laid_out_as_make_subplots_lays_it_out(heads, cols):
    """The grid's layout is computed in make_subplots' own arithmetic (without its
    ~35 ms): the same axis domains and subplot titles, number for number."""
    import json

    from plotly.subplots import make_subplots

    from ui.fig_attention import _grid
    cols = cols or math.ceil(math.sqrt(heads))
    rows = math.ceil(heads / cols)
    titles = [f"Head {h} <b>" if h != 1 else "" for h in range(heads)]   # an empty title: none
    want = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.03,
                         vertical_spacing=0.06).to_plotly_json()["layout"]
    want.pop("template")
    assert json.loads(json.dumps(_grid(rows, cols, titles))) == json.loads(json.dumps(want))


def test_a_head_grid_too_big_for_its_spacing_is_refused_as_make_subplots_refuses_it():
    from ui.fig_attention import _grid
    for rows, cols in [(18, 1), (1, 35)]:
        with pytest.raises(ValueError):
            _grid(rows, cols, [])
