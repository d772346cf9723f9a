"""The CUDA path, where a GPU is present (skipped elsewhere): a SmolLM2-shaped
llama with random weights traced on the GPU gives the same attention from Q/K
and the same layer outputs as the model's own forward pass."""
from __future__ import annotations

import math

import pytest
import torch

import llm_core
from llm_core.model.tiny import ByteTokenizer, smollm2_shaped_llama
from harness.floats import assert_close, reorder_bound

# One layer recomputed step by step vs the model's kernels: its longest sums
# (the MLP's 1,536 products) in another order (harness.floats).
ONE_LAYER = reorder_bound(1536)

pytestmark = [pytest.mark.tiny,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


@pytest.fixture(scope="module")
def gpu_handle():
    model = smollm2_shaped_llama(layers=4).to("cuda")
    return llm_core.handle_from_model("smollm2-shaped", model, ByteTokenizer())


def test_trace_on_cuda_matches_recomputation(gpu_handle):
    assert gpu_handle.device.type == "cuda"
    trace = gpu_handle.trace("The quick brown fox jumps over the lazy dog. 大语言模型")
    assert trace.residual.device.type == "cpu"                 # traces are CPU tensors
    n = trace.n_tokens
    for layer in range(4):
        d = gpu_handle.layer_detail(trace, layer)
        assert_close(d.out, trace.residual[layer + 1], ONE_LAYER)
        for h in range(9):
            scores = d.q[h] @ d.k[h // 3].T / math.sqrt(64)
            scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), -math.inf)
            assert_close(torch.softmax(scores, -1), trace.attention_pattern[layer, h], ONE_LAYER)


def test_generation_on_cuda(gpu_handle):
    from llm_core.model.sampling import generate_steps

    _, ids, _ = gpu_handle.encode("hello")
    a = [s.token_id for s in generate_steps(gpu_handle, ids, max_new_tokens=5, temperature=1.0, seed=1)]
    b = [s.token_id for s in generate_steps(gpu_handle, ids, max_new_tokens=5, temperature=1.0, seed=1)]
    assert a == b and len(a) == 5
