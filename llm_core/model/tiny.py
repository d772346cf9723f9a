"""Small stand-ins that need no download: tokenizers and 2-layer models of each
traced architecture with random weights, saved as a server's model folder would
hold them (safetensors with `save_pretrained`, or a GGUF file written with the
`gguf` package). The tests load them through LLM_XRAY_MODELS and check every
trace against transformers' own outputs; the CUDA check uses a SmolLM2-shaped one."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from llm_core.model.tokens import _byte_decoder

# Every tiny model: 2 layers, width 64, 4 query heads (2 key/value heads where the
# architecture groups them), an MLP of 128. Larger weights than transformers'
# default (0.02) so the attention patterns are not all flat.
LAYERS, WIDTH, HEADS, KV_HEADS, MLP, CONTEXT = 2, 64, 4, 2, 128, 256
INIT = 0.1
DECODERS = ("llama", "qwen2", "mistral", "gpt2")
# Merges for a few common pairs, so a text is more than one token per byte.
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"),
          ("Ġ", "c"), ("a", "t"), ("Ġc", "at"), ("Ġ", "s"), ("Ġ", "m"), ("æ", "ĺ")]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


class ByteTokenizer:
    """One token per UTF-8 byte (ids 0–255): the smallest tokenizer a handle needs."""

    all_special_ids: list = []

    def __call__(self, text, **_):
        ids, offsets = [], []
        for i, ch in enumerate(text):
            for b in ch.encode("utf-8"):
                ids.append(b)
                offsets.append((i, i + 1))
        return {"input_ids": ids, "offset_mapping": offsets}

    def convert_ids_to_tokens(self, ids):
        return [f"<{i:02x}>" for i in ids]

    def decode(self, ids, **_):
        return bytes(int(i) % 256 for i in ids).decode("utf-8", "replace")


@lru_cache(maxsize=1)
def bpe_vocab() -> tuple[list[str], list[tuple[str, str]]]:
    """Byte-level BPE pieces (GPT-2's stand-in characters): 256 bytes, the merged
    pieces, then the special tokens."""
    pieces = sorted(_byte_decoder(), key=_byte_decoder().get)
    for a, b in MERGES:
        pieces.append(a + b)
    return pieces + SPECIALS, list(MERGES)


def bpe_tokenizer():
    """A byte-level BPE tokenizer over `bpe_vocab`, with a chat template."""
    # lazy: the tiny models serve tests; a server start needs none of this
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    pieces, merges = bpe_vocab()
    core = Tokenizer(models.BPE({p: i for i, p in enumerate(pieces)}, merges))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token=SPECIALS[0], eos_token=SPECIALS[2],
                                  unk_token=SPECIALS[0], pad_token=SPECIALS[0])
    tok.add_special_tokens({"additional_special_tokens": SPECIALS[1:]})
    tok.chat_template = CHAT_TEMPLATE
    return tok


def wordpiece_tokenizer(folder: Path):
    """A lowercase WordPiece tokenizer (BERT's) with letters, digits and a few words."""
    # lazy: as above (tests only)
    from transformers import BertTokenizerFast

    words = ["the", "cat", "sat", "on", "mat", "a", "is", "was", "it", "and", "dog", "apple"]
    vocab = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz0123456789.,!?")
             + ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"] + words + list("大语言模型我你喜欢"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    return BertTokenizerFast(str(folder / "vocab.txt"), do_lower_case=True)


def config_of(family: str, vocab: int):
    # lazy: as above (tests only)
    from transformers import AutoConfig

    if family == "gpt2":
        return AutoConfig.for_model("gpt2", n_layer=LAYERS, n_head=HEADS, n_embd=WIDTH,
                                    n_positions=CONTEXT, vocab_size=vocab, initializer_range=INIT,
                                    bos_token_id=0, eos_token_id=vocab - 1)
    if family == "bert":
        return AutoConfig.for_model("bert", vocab_size=vocab, hidden_size=WIDTH,
                                    num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                    intermediate_size=MLP, max_position_embeddings=CONTEXT,
                                    initializer_range=INIT)
    extra = {"sliding_window": None} if family == "mistral" else {}
    return AutoConfig.for_model(family, vocab_size=vocab, hidden_size=WIDTH, intermediate_size=MLP,
                                num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                                num_key_value_heads=KV_HEADS, max_position_embeddings=CONTEXT,
                                rms_norm_eps=1e-5, rope_theta=10000.0, initializer_range=INIT,
                                tie_word_embeddings=False, bos_token_id=0,
                                eos_token_id=vocab - 1, **extra)


def tiny_model(family: str, seed: int = 0, vocab: int | None = None):
    """(model, tokenizer) of one family, random weights from `seed`, eager attention."""
    # lazy: as above (tests only)
    from transformers import AutoModel, AutoModelForCausalLM

    tokenizer = None if family == "bert" else bpe_tokenizer()
    size = vocab or (len(tokenizer) if tokenizer is not None else 0)
    torch.manual_seed(seed)
    config = config_of(family, size or 256)
    config._attn_implementation = "eager"
    cls = AutoModel if family == "bert" else AutoModelForCausalLM
    return cls.from_config(config).eval(), tokenizer


def save_checkpoint(folder: Path, family: str, seed: int = 0) -> Path:
    """A model folder as `save_pretrained` writes it (config, safetensors, tokenizer)."""
    folder = Path(folder)
    if family == "bert":
        tokenizer = wordpiece_tokenizer(folder)
        model, _ = tiny_model("bert", seed, vocab=len(tokenizer))
    else:
        model, tokenizer = tiny_model(family, seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's order of a query or key projection's rows (its RoPE pairs
    neighbours); transformers undoes it when it reads a GGUF file."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def save_gguf(path: Path, seed: int = 0, odd_type: bool = False):
    """A tiny llama as a GGUF file (float32 tensors, the BPE tokenizer inside).
    `odd_type`: one tensor stored as Q8_1, which cannot be de-quantized here.
    Returns the model the file was written from."""
    # lazy: as above (tests only)
    import gguf

    model, _ = tiny_model("llama", seed)
    pieces, merges = bpe_vocab()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-llama")
    w.add_context_length(CONTEXT)
    w.add_embedding_length(WIDTH)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(MLP)
    w.add_rope_dimension_count(WIDTH // HEADS)
    w.add_rope_freq_base(10000.0)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(pieces))
    w.add_tokenizer_model("gpt2")
    w.add_token_list(pieces)
    w.add_token_types([1] * (len(pieces) - len(SPECIALS)) + [3] * len(SPECIALS))
    w.add_token_merges([f"{a} {b}" for a, b in merges])
    w.add_bos_token_id(pieces.index(SPECIALS[0]))
    w.add_eos_token_id(pieces.index(SPECIALS[2]))
    w.add_chat_template(CHAT_TEMPLATE)
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
             "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
             "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(LAYERS):
        for hf, gg in names.items():
            t = sd[f"model.layers.{i}.{hf}.weight"]
            if gg == "attn_q":
                t = _permute(t, HEADS)
            elif gg == "attn_k":
                t = _permute(t, KV_HEADS)
            if odd_type and i == 0 and gg == "ffn_up":
                qtype = gguf.GGMLQuantizationType.Q8_1
                block, size = gguf.GGML_QUANT_SIZES[qtype]
                raw = np.zeros((t.shape[0], t.shape[1] // block * size), dtype=np.uint8)
                w.add_tensor(f"blk.{i}.{gg}.weight", raw, raw_dtype=qtype)
                continue
            w.add_tensor(f"blk.{i}.{gg}.weight", t)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model


def smollm2_shaped_llama(seed: int = 0, layers: int = 30):
    """A llama with SmolLM2-135M's shape (30 layers, d 576, 9 query / 3 kv heads,
    RoPE θ 100,000, tied embeddings) and random weights."""
    # lazy: as above (tests only)
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=layers, num_attention_heads=9, num_key_value_heads=3,
                         head_dim=64, max_position_embeddings=8192, rms_norm_eps=1e-5,
                         rope_theta=100000.0, tie_word_embeddings=True)
    config._attn_implementation = "eager"
    return LlamaForCausalLM(config)


def tiny_gpt2(seed: int = 0):
    model, _ = tiny_model("gpt2", seed, vocab=300)
    return model
