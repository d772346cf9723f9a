"""The transformer block, the logit lens and the model's anatomy: numbers
against the real models, and the three pages through AppTest in both languages."""
from __future__ import annotations

import re

import pytest
import torch

from harness.apptest import app_test, assert_clean

import llm_core
from llm_core.logit_lens import (DEFAULT_POSITIONS, MAX_POSITIONS, lens_logits, logit_lens,
                                 settles_at)
from llm_core.model.errors import InputError
from ui.i18n import table
from llm_core.anatomy import anatomy, block_average, matrix_view, weight_matrix
from llm_core.block import histogram, mlp_shape, norm_demo, residual_stats
from harness.floats import assert_close, reorder_bound

# One layer recomputed step by step vs the model's kernels: its longest sums
# (the MLP's 1,536 products) in another order (harness.floats).
ONE_LAYER = reorder_bound(1536)

TEXT = "The cat sat on the mat because it was tired, so it closed its eyes."
LONG = " ".join(f"Sentence {i} says that the weather was fine and the cat slept."
                for i in range(30))  # about 400 tokens: beyond the attention cap


@pytest.fixture(scope="module")
def trace(decoder):
    return decoder.trace(TEXT)


@pytest.fixture(scope="module")
def long_trace(decoder):
    return decoder.trace(LONG)


# --- anatomy ------------------------------------------------------------------------

@pytest.mark.model
@pytest.mark.parametrize("which", ["decoder", "encoder"])
def test_anatomy_sums_to_parameter_count(which, request):
    handle = request.getfixturevalue(which)
    anat = anatomy(handle)
    expected = sum(p.numel() for p in handle.model.parameters())
    assert sum(k.parameters for k in anat.kinds) == expected == anat.total


def test_anatomy_decoder_kinds(decoder):
    anat = anatomy(decoder)
    kinds = {k.kind: k for k in anat.kinds}
    assert anat.tied_embeddings and "unembedding" not in kinds
    assert kinds["embedding"].shape == (49152, 576)
    assert kinds["W_K"].shape == (192, 576)          # 3 key/value heads × 64
    assert kinds["mlp_gate"].matrices == 30


def test_weight_matrix_is_the_models_own(decoder):
    name, w = weight_matrix(decoder, "W_Q", 3)
    assert ".layers.3." in name and w is decoder.model.model.layers[3].self_attn.q_proj.weight
    corner = matrix_view(decoder, "W_Q", 3, corner=True)
    assert corner.block == (1, 1) and corner.shape == (576, 576)
    assert torch.equal(torch.from_numpy(corner.values), w.detach()[:256, :256])
    whole = matrix_view(decoder, "embedding")
    assert whole.shape == (49152, 576) and max(whole.values.shape) <= 256
    assert whole.block[0] * whole.values.shape[0] >= 49152


def test_block_average_exact():
    m = torch.arange(35, dtype=torch.float32).reshape(5, 7)
    values, block = block_average(m, max_cells=2)
    assert block == (3, 4) and values.shape == (2, 2)
    assert values[0, 0] == pytest.approx(m[:3, :4].mean().item())
    assert values[1, 1] == pytest.approx(m[3:, 4:].mean().item())   # a smaller last block


# --- the block ------------------------------------------------------------------------------

def test_mlp_shapes(decoder, encoder):
    dec, enc = mlp_shape(decoder), mlp_shape(encoder)
    assert (dec.kind, dec.d_model, dec.d_mlp) == ("SwiGLU", 576, 1536)
    assert [k for k, _ in dec.matrices] == ["mlp_gate", "mlp_up", "mlp_down"]
    assert dec.parameters == 3 * 576 * 1536
    assert (enc.kind, enc.d_model, enc.d_mlp, enc.ratio) == ("GELU", 384, 1536, 4.0)
    assert enc.parameters == 2 * 384 * 1536 + 1536 + 384


@pytest.mark.parametrize("layer", [0, 14, 29])
def test_contributions_match_layer_detail(decoder, trace, layer):
    detail = decoder.layer_detail(trace, layer)
    stats = residual_stats(trace)
    torch.testing.assert_close(detail.attn_out.norm(dim=-1), stats.attn_added[layer],
                               rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(detail.mlp_out.norm(dim=-1), stats.mlp_added[layer],
                               rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(detail.out.norm(dim=-1), stats.norm[layer + 1],
                               rtol=1e-4, atol=1e-3)
    attn_added, mlp_added = stats.added(3)
    assert torch.equal(attn_added, trace.attn_out_norm[:, 3])
    assert torch.equal(stats.added()[1], trace.mlp_out_norm.median(dim=1).values)
    big = stats.first_token_outlier()   # SmolLM2's first token ends far longer than the rest
    assert big is not None and big[0] == pytest.approx(float(trace.residual[-1, 0].norm()))
    hist = histogram(detail.mlp_post)
    assert hist.counts.sum() == hist.n == trace.n_tokens * 1536
    demo = norm_demo(detail, 3)
    assert demo["norm_in"] == pytest.approx(float(trace.residual[layer, 3].norm()), rel=1e-5)


# --- the logit lens ----------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["trace", "long_trace"])
def test_lens_last_layer_equals_logits(decoder, which, request):
    tr = request.getfixturevalue(which)
    positions = list(range(tr.logits_start, tr.n_tokens))
    lens_out = lens_logits(decoder, tr, tr.n_layers, positions)
    assert_close(lens_out, tr.logits, ONE_LAYER)
    lens = logit_lens(decoder, tr, 8)
    assert lens.positions == tuple(range(tr.n_tokens - 8, tr.n_tokens))
    # The last 8 positions' next-token logits, computed here from the residual stream
    # with the model's own final norm and head (the trace keeps the last one only).
    with torch.no_grad():
        ref = decoder.arch.unembed(decoder.arch.final_norm()(tr.residual[-1, -8:]))
    assert_close(ref[-1:], tr.logits, ONE_LAYER, "the kept logits")
    model_probs = torch.softmax(ref, -1)
    assert torch.equal(lens.top_ids[-1, :, 0], ref.argmax(-1))
    assert_close(lens.top_probs[-1, :, 0], model_probs.max(-1).values, ONE_LAYER, "top probs")
    assert (lens.final_ranks[-1] == 0).all()


def test_lens_shapes_and_next_token(decoder, trace):
    lens = logit_lens(decoder, trace, 100)
    n = trace.n_tokens
    assert len(lens.positions) == min(n, MAX_POSITIONS) and lens.top_ids.shape == (31, n, 3)
    assert (lens.top_probs[..., :-1] >= lens.top_probs[..., 1:]).all()
    assert lens.next_ids[:-1].tolist() == trace.ids[1:].tolist() and lens.next_ids[-1] == -1
    assert torch.isnan(lens.next_probs[:, -1]).all()
    # the embedding row of a tied model mostly reads back the input token itself
    assert (lens.top_ids[0, :, 0] == trace.ids).float().mean() > 0.5
    depth = settles_at(lens, n - 2)
    assert (lens.final_ranks[depth:, n - 2] == 0).all()
    assert depth == 0 or lens.final_ranks[depth - 1, n - 2] > 0
    with pytest.raises(InputError) as err:
        lens_logits(decoder, trace, 31, [0])                  # 30 layers: 0 … 30 are depths
    assert err.value.code == "bad_layer" and err.value.params["max"] == 30


def test_lens_needs_a_decoder(encoder):
    with pytest.raises(InputError):
        logit_lens(encoder, encoder.trace("hello world"))


# --- the pages -----------------------------------------------------------------------------------

PAGES = {  # page: (text key, what a layer-like switch sets)
    "block": ("block.text", ("slider", "block.layer", 12)),
    "logit_lens": ("logit_lens.text", ("selectbox", "logit_lens.position", None)),
    "anatomy": (None, ("selectbox", "anatomy.kind", "mlp_down")),
}
TITLES = {("block", "zh"): "Transformer 块", ("logit_lens", "zh"): "逐层预测",
          ("anatomy", "zh"): "大模型 = 矩阵 W", ("block", "en"): "The block",
          ("logit_lens", "en"): "Logit lens", ("anatomy", "en"): "Model anatomy"}


def _switch(at, widget):
    kind, key, value = widget
    element = getattr(at, kind)(key=key)
    if value is None:  # the first option of a position list, shown as "i: token"
        value = int(re.match(r"\d+", element.options[0]).group())
    element.set_value(value).run()


def _count_traces(monkeypatch):
    from llm_core.model.handle import ModelHandle
    calls = []
    original = ModelHandle.trace

    def counting(self, text, **kwargs):
        calls.append(text)
        return original(self, text, **kwargs)

    monkeypatch.setattr(ModelHandle, "trace", counting)
    return calls


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("page", list(PAGES))
def test_page(page, lang, monkeypatch):
    text_key, widget = PAGES[page]
    calls = _count_traces(monkeypatch)
    at = app_test(f"pages/{page}.py", lang, timeout=600)
    assert_clean(at)
    assert TITLES[(page, lang)] in at.title[0].value
    assert at.get("plotly_chart"), "the page draws figures"
    before = len(calls)
    _switch(at, widget)
    assert_clean(at)
    assert len(calls) == before, "a widget that does not change the text re-ran the model"
    if text_key is None:
        return
    at.text_area(key=text_key).input("Hi").run()      # one token
    assert_clean(at)
    assert at.get("plotly_chart")
    at.text_area(key=text_key).input(LONG).run()       # beyond the attention cap
    assert_clean(at)
    captions = [c.value for c in at.caption]
    n = llm_core.load_model("smollm2").encode(LONG)[1].numel()
    expected = (table(lang)["block.act_cap"].format(kept=llm_core.ATTENTION_CAP, n=n) if page == "block" else
                table(lang)["logit_lens.limited"].format(n=n, shown=DEFAULT_POSITIONS,
                                                         first=n - DEFAULT_POSITIONS, last=n - 1,
                                                         max=MAX_POSITIONS))
    assert expected in captions, captions
    at.text_area(key=text_key).input("   ").run()      # empty: a message, no crash
    assert_clean(at)
    assert at.warning


@pytest.mark.app
def test_anatomy_page_encoder(monkeypatch):
    at = app_test("pages/anatomy.py", "en", timeout=600)
    at.selectbox(key="anatomy.kind").set_value("mlp_gate").run()
    at.radio(key="anatomy.which").set_value("encoder").run()
    assert_clean(at)
    values = [m.value for m in at.metric]
    assert values[0] == values[1] == f"{22_713_216:,}"
    at.radio(key="anatomy.view").set_value(True).run()
    assert_clean(at)
    at.selectbox(key="anatomy.kind").set_value("mlp_up").run()     # the encoder has no gate
    at.slider(key="anatomy.layer").set_value(2).run()
    assert_clean(at)
    view = matrix_view(llm_core.load_model("minilm"), "mlp_up", 2, corner=True)
    rows, cols = view.shape
    assert (rows, cols) == (1536, 384)                       # up-projection: 384 → 1536 (out × in)
    assert at.main.caption[-1].value == table("en")["anatomy.matrix_corner_note"].format(
        rows=rows, cols=cols, n=rows * cols, r=view.values.shape[0], c=view.values.shape[1])


def test_anatomy_and_weights_of_a_gpt2_shaped_model():
    """A hub-style GPT-2 (fused Q/K/V, learned positions, untied head), built small
    from a config: the counts still add up and W_Q is a third of c_attn."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from llm_core.model.handle import handle_from_model

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=50, n_positions=32,
                        tie_word_embeddings=False)
    handle = handle_from_model("tiny-gpt2", GPT2LMHeadModel(config), tokenizer=None)
    anat = anatomy(handle)
    assert sum(k.parameters for k in anat.kinds) == sum(
        p.numel() for p in handle.model.parameters())
    assert not anat.tied_embeddings
    name, w_q = weight_matrix(handle, "W_Q", 1)
    fused = handle.model.transformer.h[1].attn.c_attn.weight
    assert name.startswith("transformer.h.1.") and torch.equal(w_q, fused[:, :16])
    assert torch.equal(weight_matrix(handle, "W_V", 0)[1], handle.model.transformer.h[0]
                       .attn.c_attn.weight[:, 32:])
    assert mlp_shape(handle).d_mlp == 64 and mlp_shape(handle).kind == "GELU"


def _depths(decoder, text: str, last_n: int) -> tuple[int, int]:
    """(first depth the final prediction is on top, depth from which it stays), read
    here from the lens's ranks of the last position."""
    lens = logit_lens(decoder, decoder.trace(text), last_n)
    ranks = lens.final_ranks[:, -1].tolist()
    stays = len(ranks) - 1
    while stays > 0 and ranks[stays - 1] == 0:
        stays -= 1
    return ranks.index(0), stays


@pytest.mark.app
@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("text", [None, "The capital of France is"])
def test_the_lens_sentence_says_when_the_guess_leads_and_when_it_stays(decoder, lang, text):
    """The default text's last position (its final guess leads early, loses the
    lead and wins it back) and one where it takes the lead once: the sentence
    under the line says which, with the layers the ranks give."""
    from harness.apptest import shown
    from ui.i18n import table
    from llm_core.logit_lens import DEFAULT_POSITIONS
    at = app_test("pages/logit_lens.py", lang)
    if text:
        at.text_area(key="logit_lens.text").input(text).run()
    assert_clean(at)
    first, stays = _depths(decoder, text or table(lang)["logit_lens.default_text"], DEFAULT_POSITIONS)
    words = table(lang)
    said = " ".join(shown(m.value) for m in at.markdown)
    if first == stays:
        assert shown(words["logit_lens.line_summary"]).split("{final}")[1].split("{first}")[0] in said
        assert f"**{stays - 1}**" in said
    else:
        when = words["logit_lens.at_embedding"] if first == 0 else words["logit_lens.after_layer"].format(n=first - 1)
        assert shown(when) in said and f"**{stays - 1}**" in said
        assert shown(words["logit_lens.line_summary_back"]).split("{when}")[1].split("{stays}")[0] in said
