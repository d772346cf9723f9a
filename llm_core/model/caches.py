"""Every cache of a server, in one table: what it keeps, by which key, its budget
and how long an entry lives. One mechanism behind all of them (memo.ByteCache:
bounded, expiring, computed once per key even when a class asks at once), and
one janitor that expires them when nobody looks (startup starts it).

Caches of a few entries bounded in count (`swept=False`) expire at their
look-ups; the janitor paces itself by the ones that hold memory.

Not caches: a model loaded once per process (registry._LOADED: the embedded and
the server's own models stay for the process's life), the jobs running now and
how long each page's job last took (ui/jobs.py), and constants computed once:
by an argument-free `functools.lru_cache` (GPT-2's byte table, the tiny model's
vocabulary, the GGUF header's format) or once per language (its strings,
ui/i18n.py; its page list, ui/pages.py). tests/test_caches.py finds any other.
"""
from __future__ import annotations

import os

from llm_core.model.limits import HUB_MODELS
from llm_core.model.memo import DEFAULT_TTL, ByteCache

MB = 2**20
NEVER = float("inf")


def _count(_value) -> int:
    """Weigh each entry as one: a cache bounded in entries (a model handle's
    weights are not what the bound is about: how many may be loaded is)."""
    return 1


# --- models (llm_core/model/registry.py) ---------------------------------------------------
# key: the Hub id. The most recently used HUB_MODELS stay loaded (hundreds of MB each).
HUB_HANDLES = ByteCache("hub_models", HUB_MODELS, NEVER, sizeof=_count, swept=False)
# key: the Hub id → what its ModelUnavailable said (message, code, parameters):
# asked again within a minute, the same answer at once instead of another wait
# for the network.
HUB_FAILURE_S = 60.0
HUB_FAILURES = ByteCache("hub_failures", 256, HUB_FAILURE_S, sizeof=_count, swept=False)
# key: (the server's model folder, its entries and their times) → the offers
# read from their headers; looked at again after RESCAN_S even if nothing changed.
RESCAN_S = 10.0
FOLDER_SCANS = ByteCache("folder_scans", 8, RESCAN_S, sizeof=_count, swept=False)

# --- what the model computed, shared by every session (ui/models.py) -----------------------
# key: (model name, text, max_tokens). A 300-token trace keeps ~105 MB
# (attention of 256 tokens × 30 layers × 9 heads, the residual stream, logits).
TRACES = ByteCache("traces", int(os.environ.get("LLM_XRAY_TRACE_CACHE_MB", 512)) * MB)
# key: (model name, text, tokens traced, layer). One layer's every step: ~10 MB.
LAYER_DETAILS = ByteCache("layer_details",
                          int(os.environ.get("LLM_XRAY_DETAIL_CACHE_MB", 192)) * MB)
# key: "glove" or ("model", model name): GloVe (400,000 words × 50 dims, twice:
# vectors and unit vectors, plus the words: ~215 MB) and a decoder's one-token words
# (SmolLM2: ~100 MB; a larger model's more). Bounded in entries, not bytes: the
# embeddings page shows two spaces at once, and a byte bound smaller than a large
# model's space would rebuild both on every run. They go when nobody asked for DEFAULT_TTL.
WORD_SPACES = ByteCache("word_spaces", 3, sizeof=_count)
# key: the model name → its tokenizer's merges by pair (49,000 for SmolLM2, ~10 MB):
# the tokens lesson's byte-pair steps.
MERGE_RANKS = ByteCache("merge_ranks", 64 * MB, sizeof=lambda ranks: 200 * len(ranks))
# key: (page, what, its settings …, model name). The results of long jobs (a
# quantization run, a fine-tuned probe): a class pressing the default runs it once.
JOB_RESULTS = ByteCache("job_results", 128 * MB)


def shared_part(key: tuple, compute, work, phase: str):
    """The part of a long job that every such job reuses: the float model's
    baseline (quantization), the model before training on a fact (fine-tuning),
    the teacher's stories (distillation). The shared weights never change
    (copies.py), so it is measured once per model, as the steps of the first job
    that needs it, and kept in JOB_RESULTS while it lives there (LLM_XRAY_CACHE_TTL
    from when it was measured, 10 minutes by default): a class pressing with other
    settings, a second CLI command in a script, reuse it. `key` names the model by
    its handle's name, which names its weights (a handle is loaded once per name).
    A job asking while another measures it waits, showing `phase` (its `work` may
    cancel the wait)."""
    return JOB_RESULTS.get(key, compute, waiting=lambda: work.progress(phase, 0, 0))


# --- a page's own views (ui.cache.shared) ---------------------------------------------------
# "page.function" → MB. The key is the function's arguments; an argument whose
# name starts with "_" counts by its `cache_key` (a trace: model, text, tokens;
# a handle: its name) or not at all (a callback). Entries live DEFAULT_TTL s.
PAGE_MB = {
    "anatomy.counted": 2,            # parameter counts per model
    "anatomy.view_of": 64,           # a weight matrix's heatmap cells
    "attention.summary": 32,         # every head's summaries of one trace
    "attention_step.layer_weights": 96,   # one layer's W_Q, W_K, W_V, W_O
    "block.act_histogram": 16,
    "block.shape_of": 1,
    "block.shapes_figure": 8,        # one figure per model pair and language
    "context_window.demo": 64,       # the secret-code demo per window size
    "embeddings.cached_analogy": 16,
    "embeddings.cached_plural": 16,
    "encoder_decoder.share_all_heads": 1,
    "hallucination.lab_answers": 16,
    "logit_lens.cached_lens": 96,    # vocab-sized logits of layers × positions
    "next_token.cached_logits": 48,  # one position's 49,152 logits per text
    "next_token.cached_curve": 4,
    "pipeline.overview": 64,         # the five figures of one text and language
    "quantization.view": 4,
    "tokens.tokenize": 64,           # every token of a text up to BOX_CHARS
}
PAGE_TTL = DEFAULT_TTL
