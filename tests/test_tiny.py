"""Every traced architecture, proven offline on 2-layer random models written
the way a server's folder holds them (safetensors folders and a GGUF file),
offered through LLM_XRAY_MODELS: each trace against transformers' own outputs,
the batcher, the lens, the listing of what cannot be used and why."""
from __future__ import annotations

import json
import struct
import threading

import pytest
import torch

from harness.cli import run_cli
from harness.floats import assert_close, reorder_bound
from llm_core.model import caches, registry, tiny
from llm_core.model.errors import ModelUnavailable

pytestmark = pytest.mark.tiny

# Two layers, sums of at most 128 products (the MLP), a few more for norms.
BOUND = reorder_bound(tiny.MLP, tiny.LAYERS)
TEXT = "the cat sat on the mat"
GOOD = {"llama": "decoder", "qwen2": "decoder", "mistral": "decoder", "gpt2": "decoder",
        "bert": "encoder", "tiny-gguf": "decoder"}


def test_the_folder_is_listed_with_sizes_and_reasons(offered, tiny_folder):
    for name, kind in GOOD.items():
        offer = offered[name]
        assert offer.usable and offer.kind == kind, offer
        assert offer.parameters > 0 and offer.memory_bytes == int(offer.parameters * 4 * 2)
    assert offered["llama"].architecture == "llama" and offered["tiny-gguf"].source == "gguf"
    reasons = {name: o.reason for name, o in offered.items() if not o.usable}
    assert reasons == {"cut": "unreadable", "unknown-arch": "unsupported_arch", "big": "too_big",
                       "odd-type": "unsupported_gguf", "fake": "unreadable", "smollm2": "name_taken"}
    # The folder's "smollm2" is listed as taken; the embedded one is what the name means.
    smollm2 = [o for o in registry.offered_models() if o.name == "smollm2"]
    assert [o.source for o in smollm2] == ["embedded", "folder"] and "notes" not in offered
    big = tiny_folder[1]["big parameters"]
    assert offered["big"].parameters == big
    assert offered["big"].detail == f"needs {big * 8 / 2**20:.0f} MB of memory; 40 MB are available"


def test_the_cli_lists_them_as_json(offered):
    out = run_cli(["models", "--json"])
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert listed["folder_set"] is True
    by_name = {m["name"]: m for m in listed["models"] if m["source"] != "embedded"}
    assert by_name["qwen2"]["usable"] is True and by_name["qwen2"]["architecture"] == "qwen2"
    assert by_name["big"]["usable"] is False and "MB of memory" in by_name["big"]["detail"]
    assert {"name", "source", "kind", "architecture", "parameters", "memory_bytes", "usable",
            "reason", "detail", "facts"} == set(by_name["llama"])
    assert by_name["big"]["facts"] == {"need": by_name["big"]["detail"].split()[1] + " MB",
                                       "budget": "40 MB"}


@pytest.mark.parametrize("name", ["cut", "unknown-arch", "big", "odd-type", "fake"])
def test_an_unusable_model_is_refused_with_its_reason(offered, name):
    with pytest.raises(ModelUnavailable) as err:
        registry.load_model(name)
    assert err.value.code == f"local_{offered[name].reason}"
    assert offered[name].detail in str(err.value) and "\n" not in str(err.value)
    assert not registry.is_loaded(name)
    out = run_cli(["tokens", "hi", "--model", name])
    assert out.returncode == 1 and out.stderr.startswith("error: ") and out.stderr.count("\n") == 1


def _reference(folder, name: str, family: str):
    """The same checkpoint through transformers alone: eager attention, every
    hidden state and attention pattern returned."""
    from transformers import AutoModel, AutoModelForCausalLM
    cls = AutoModel if family == "bert" else AutoModelForCausalLM
    return cls.from_pretrained(str(folder / name), attn_implementation="eager").eval()


def _check_trace(handle, model, family: str) -> None:
    trace = handle.trace(TEXT)
    with torch.no_grad():
        out = model(input_ids=trace.ids[None], output_hidden_states=True, output_attentions=True)
    n_layers = trace.n_layers
    assert n_layers == tiny.LAYERS == len(out.attentions)
    for layer in range(n_layers):
        assert_close(trace.attention_pattern[layer], out.attentions[layer][0], BOUND, f"pattern {layer}")
    if family == "bert":                    # post-norm: each layer's output is the stream
        for layer in range(n_layers + 1):
            assert_close(trace.residual[layer], out.hidden_states[layer][0], BOUND, f"layer {layer}")
        return
    # A decoder's last hidden state is after the final norm: the trace's final_residual.
    for layer in range(n_layers):
        assert_close(trace.residual[layer], out.hidden_states[layer][0], BOUND, f"residual {layer}")
    assert_close(trace.final_residual, out.hidden_states[n_layers][0], BOUND, "final norm")
    assert_close(trace.logits, out.logits[0, trace.logits_start:], BOUND, "logits")
    for layer in range(n_layers):            # every step of a layer, recomputed by hand
        detail = handle.layer_detail(trace, layer)
        assert_close(detail.out, trace.residual[layer + 1], BOUND, f"detail {layer}")


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral", "gpt2", "bert"])
def test_each_architecture_traces_as_transformers_computes(offered, tiny_folder, family):
    handle = registry.load_model(family)
    assert handle.kind == GOOD[family] and handle.arch.family == {"qwen2": "llama",
                                                                  "mistral": "llama"}.get(family, family)
    _check_trace(handle, _reference(tiny_folder[0], family, family), family)


def test_a_gguf_file_is_converted_once_and_traces_as_its_source(offered, tiny_folder, tmp_path):
    handle = registry.load_model("tiny-gguf")
    source = tiny_folder[1]["tiny-gguf"]                     # the model the file was written from
    for (name, ours), theirs in zip(handle.model.state_dict().items(), source.state_dict().values()):
        assert torch.equal(ours, theirs), name          # float32 in, float32 out: exactly
    _check_trace(handle, source, "llama")
    converted = [p.name for p in (tmp_path / "cache").iterdir()]
    assert len(converted) == 1 and converted[0].startswith("local-tiny-gguf-")
    registry._LOADED.pop("tiny-gguf")
    messages = []
    registry.load_model("tiny-gguf", progress=messages.append)   # from the cache: no conversion
    assert not any("Converting" in m for m in messages)


def test_concurrent_traces_of_other_lengths_equal_their_solo_traces(offered):
    """The batcher runs texts of one padded length together; each trace is its own,
    to float32 rounding, whoever shared the batch."""
    handle = registry.load_model("llama")
    texts = ["a", "the cat", "the cat sat on the mat " * 3, "你喜欢我", "on " * 40, "at the mat"]
    solo = {t: handle.trace(t) for t in texts}
    failures, traced = [], handle._batcher.traced

    def student(text):
        for _ in range(3):
            got = handle.trace(text)
            try:
                assert got.tokens == solo[text].tokens
                for field in ("residual", "attention_pattern", "logits"):
                    assert_close(getattr(got, field), getattr(solo[text], field), BOUND, field)
            except AssertionError as err:
                failures.append(f"{text[:10]!r}: {err}")

    threads = [threading.Thread(target=student, args=(t,)) for t in texts * 2]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures, failures[:3]
    assert handle._batcher.traced - traced == len(threads) * 3


def test_the_lens_reads_the_last_layer_as_the_logits(offered):
    from llm_core.logit_lens import lens_logits
    handle = registry.load_model("qwen2")
    trace = handle.trace(TEXT)
    positions = list(range(trace.logits_start, trace.n_tokens))
    assert_close(lens_logits(handle, trace, trace.n_layers, positions), trace.logits, BOUND, "lens")


def test_a_folder_without_models_offers_the_embedded_ones(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_XRAY_MODELS", str(tmp_path))
    caches.FOLDER_SCANS.clear()
    assert [o.name for o in registry.offered_models()] == ["smollm2", "minilm"]
    monkeypatch.setenv("LLM_XRAY_MODELS", str(tmp_path / "missing"))
    assert [o.name for o in registry.offered_models()] == ["smollm2", "minilm"]
    caches.FOLDER_SCANS.clear()


def test_a_safetensors_header_promising_more_than_the_file_holds_is_unreadable(tmp_path):
    header = json.dumps({"w": {"dtype": "F32", "shape": [1000, 1000], "data_offsets": [0, 4_000_000]}})
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header.encode() + b"\0" * 100)
    with pytest.raises(ValueError, match="truncated"):
        registry._safetensors_parameters(path)


def test_an_interrupted_conversion_leaves_nothing_a_later_load_would_take(tmp_path, monkeypatch):
    """The conversion writes into a temporary folder and renames it into place
    only when complete: killed while saving, nothing is left in the cache."""
    from transformers import PreTrainedModel

    from llm_core.model import convert
    tiny.save_gguf(tmp_path / "m.gguf")
    cache = tmp_path / "cache"
    monkeypatch.setenv("LLM_XRAY_CACHE", str(cache))

    def boom(self, path, *a, **k):
        (path / "partial.bin").write_bytes(b"x")
        raise KeyboardInterrupt
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", boom)
    with pytest.raises(KeyboardInterrupt):
        convert.convert_gguf(tmp_path, "m.gguf", "tiny-f32", lambda _m: None)
    assert list(cache.iterdir()) == []


def test_a_same_size_corruption_is_noticed_and_converted_again(offered, tmp_path, monkeypatch):
    """A converted GGUF in the cache gets 4 kB overwritten inside its weights with
    the file's time put back (bit rot, a restore): the next process notices at its
    first load (every hash is read once per process), says so, converts again and
    serves the same numbers; a killed conversion's folder is gone too. (A new
    process here: the model forgotten and no folder's hashes checked yet.)"""
    import os

    from llm_core.model import convert

    def new_process_load():
        registry._LOADED.pop("tiny-gguf", None)
        monkeypatch.setattr(convert, "_VERIFIED", set())
        said = []
        handle = registry.load_model("tiny-gguf", progress=said.append)
        return said, float(handle.trace(TEXT).last_logits.max())

    said, first = new_process_load()
    assert any("Converting" in m for m in said)
    (converted,) = (tmp_path / "cache").iterdir()
    weights = converted / "model.safetensors"
    st = weights.stat()
    with open(weights, "r+b") as f:
        f.seek(st.st_size // 2)
        f.write(b"\x7f" * 4096)
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert weights.stat().st_size == st.st_size and weights.stat().st_mtime_ns == st.st_mtime_ns
    (tmp_path / "cache" / (".tmp-" + converted.name + "-killed")).mkdir()   # a killed conversion
    said, again = new_process_load()
    assert any("damaged" in m for m in said) and any("Converting" in m for m in said)
    assert again == first                                       # the same numbers again
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [converted.name]
    said, _ = new_process_load()
    assert not any("damaged" in m or "Converting" in m for m in said)   # healthy now


def test_a_handle_is_a_decoder_exactly_when_its_architecture_is_causal():
    from llm_core.model.errors import InputError
    from llm_core.model.handle import ModelHandle, pick_device
    bert, tokenizer = tiny.tiny_model("bert")
    with pytest.raises(ValueError, match="a bert model is an encoder, not 'decoder'"):
        ModelHandle("b", bert.eval(), tokenizer, pick_device(), "decoder")
    encoder = ModelHandle("b", bert.eval(), tokenizer, pick_device(), "encoder")
    with pytest.raises(InputError) as err:
        encoder.need_decoder("Generation")
    assert err.value.code == "needs_decoder" and str(err.value) == "Generation needs a decoder model."


def test_a_bpe_tokenizer_that_is_not_byte_level_shows_no_merge_steps():
    """A SentencePiece-style BPE (no byte-level pre-tokenizer): not called
    byte-level, no words to merge, no steps (never a traceback)."""
    import threading
    from types import SimpleNamespace

    from tokenizers import Tokenizer
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    from llm_core.tokens import bpe_words, merge_steps, tokenizer_kind
    vocab = {"▁": 0, "c": 1, "a": 2, "t": 3, "ca": 4, "cat": 5, "▁cat": 6}
    merges = [("c", "a"), ("ca", "t"), ("▁", "cat")]
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(BPE(vocab, merges)))
    handle = SimpleNamespace(name="sp", kind="decoder", tokenizer=fast, _lock=threading.RLock())
    assert tokenizer_kind(handle) == "BPE"
    assert bpe_words(handle, "▁cat") == [] and merge_steps(handle, "▁cat") is None
