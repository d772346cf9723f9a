"""Small stand-ins that need no download: a byte tokenizer and models built
from a config with random weights. Used to test the GPT-2 path, and to check
the CUDA path where the embedded weights are not at hand."""
from __future__ import annotations


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


def smollm2_shaped_llama(seed: int = 0, layers: int = 30):
    """A llama with SmolLM2-135M's shape (30 layers, d 576, 9 query / 3 kv heads,
    RoPE θ 100,000, tied embeddings) and random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                         num_hidden_layers=layers, num_attention_heads=9, num_key_value_heads=3,
                         head_dim=64, max_position_embeddings=8192, rms_norm_eps=1e-5,
                         rope_theta=100000.0, tie_word_embeddings=True)
    config._attn_implementation = "eager"
    return LlamaForCausalLM(config)


def tiny_gpt2(seed: int = 0):
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_head=4, n_embd=64, n_positions=128, vocab_size=300)
    config._attn_implementation = "eager"
    return GPT2LMHeadModel(config)
