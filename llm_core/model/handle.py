"""A loaded model and its tokenizer, shared read-only by every session: the
text goes in through its lock (the Rust tokenizer is not safe to share across
threads), one forward pass comes out as a `Trace`."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import torch

from llm_core.model.arch import arch_for
from llm_core.model.errors import InputError
from llm_core.model.limits import MAX_TRACE_TOKENS
from llm_core.model.text import clean_text
from llm_core.model.tokens import make_tokens
from llm_core.model.batcher import TraceBatcher
from llm_core.model.trace import TraceRequest, capture, install_hooks, layer_detail


def pick_device() -> torch.device:
    wanted = os.environ.get("LLM_XRAY_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(eq=False)
class ModelHandle:
    """A loaded model and its tokenizer. Read-only after loading: pages and
    sessions share one handle, so nothing here may change the weights."""

    name: str
    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    kind: str                      # "decoder" or "encoder"
    description: str = ""
    # How well it continues Chinese, measured once at load (llm_core/model/languages.py):
    # the mean probability of the expected next words of a few Chinese sentences.
    chinese: float = 0.0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self):
        self.arch = arch_for(self.model)
        # One answer to "is it a decoder": its architecture's causal mask.
        actual = "decoder" if self.arch.causal else "encoder"
        if self.kind != actual:
            raise ValueError(f"{self.name}: a {self.arch.family} model is an {actual}, not {self.kind!r}")
        install_hooks(self.arch)
        # Concurrent traces of a decoder run together in padded batches.
        self._batcher = TraceBatcher(self.arch, self.device) if self.arch.causal else None

    def need_decoder(self, what: str = "This lesson") -> None:
        """InputError unless this is a decoder (generation, next-token prediction …)."""
        if self.kind != "decoder":
            raise InputError(f"{what} needs a decoder model.", code="needs_decoder")

    @property
    def cache_key(self) -> str:
        """A handle's part of a shared value's key (ui.cache.shared): one model
        per name in a process."""
        return self.name

    # --- tokens -----------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        """Longest input a trace takes: the context window, capped so a trace
        of that length still fits in memory comfortably."""
        return min(self.arch.max_positions, MAX_TRACE_TOKENS)

    def encode(self, text: str, *, max_tokens: int | None = None):
        """(tokens, ids tensor, count before truncation or None). User text is
        never read as control tokens: "<|im_end|>" typed by a user stays text."""
        text = clean_text(text)
        with self._lock:  # the Rust tokenizer is not safe to share across threads
            enc = self.tokenizer(text, return_offsets_mapping=True, add_special_tokens=True,
                                 split_special_tokens=True)
        ids, offsets = list(enc["input_ids"]), list(enc["offset_mapping"])
        limit = max_tokens or self.max_tokens
        truncated_from = None
        if len(ids) > limit:
            truncated_from = len(ids)
            special_tail = self.kind == "encoder"  # keep [SEP] at the end
            if special_tail:
                ids, offsets = ids[: limit - 1] + ids[-1:], offsets[: limit - 1] + offsets[-1:]
            else:
                ids, offsets = ids[:limit], offsets[:limit]
        tokens = make_tokens(self.tokenizer, ids, offsets)
        return tokens, torch.tensor(ids, dtype=torch.long), truncated_from

    def plain_ids(self, text: str) -> list[int]:
        """Token ids of a piece of text to put inside a longer prompt (no special
        tokens added; typed control tokens stay text)."""
        with self._lock:
            return list(self.tokenizer(clean_text(text), add_special_tokens=False,
                                       split_special_tokens=True)["input_ids"])

    def decode(self, ids) -> str:
        with self._lock:
            return self.tokenizer.decode(list(ids), skip_special_tokens=self.kind == "encoder")

    # --- the trace ----------------------------------------------------------
    def trace(self, text: str, *, max_tokens: int | None = None, caller=None):
        """One forward pass over `text` → `Trace`, its own whatever else runs:
        concurrent calls on a decoder are batched, an encoder's run one by one.
        `caller`: who asks (the app passes its browser session), see TraceBatcher."""
        return self.trace_many([text], max_tokens=max_tokens, caller=caller)[0]

    def trace_many(self, texts: list[str], *, max_tokens: int | None = None,
                   caller=None) -> list:
        """`trace` of several texts at once: a decoder runs them in the same
        batches (with anyone else's), not one after another."""
        requests = []
        for text in texts:
            tokens, ids, truncated_from = self.encode(text, max_tokens=max_tokens)
            if truncated_from:
                text = text[: tokens[-1].end] if tokens[-1].end else text
            requests.append(TraceRequest(self.name, text, tokens, ids, truncated_from))
        if self._batcher is not None:
            return self._batcher.trace_many(requests, caller)
        with self._lock:  # encoder traces: one at a time, each with its own recorder
            return [capture(self.arch, request, self.device) for request in requests]

    def layer_detail(self, trace, layer: int):
        return layer_detail(self.arch, trace, layer, self.device)

    @torch.inference_mode()
    def forward_logits(self, ids: torch.Tensor) -> torch.Tensor:
        """Bare forward pass (no hooks): logits of the last position, float32 CPU."""
        self.need_decoder("Next-token prediction")
        out = self.model(input_ids=ids.reshape(1, -1).to(self.device), logits_to_keep=1)
        return out.logits[0, -1].float().cpu()

    # --- chat ------------------------------------------------------------------
    def chat_ids(self, user_text: str) -> torch.Tensor:
        """Token ids of a one-turn chat prompt, ending where the assistant speaks.
        The user's words are tokenized as plain text, so typed control tokens
        cannot close the turn early."""
        user_text = clean_text(user_text)
        marker = "\u2063USER\u2063"
        with self._lock:
            template = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": marker}], tokenize=False, add_generation_prompt=True)
            head, tail = template.split(marker)
            ids = (self.tokenizer(head, add_special_tokens=False)["input_ids"]
                   + self.tokenizer(user_text, add_special_tokens=False,
                                    split_special_tokens=True)["input_ids"]
                   + self.tokenizer(tail, add_special_tokens=False)["input_ids"])
        return torch.tensor(ids, dtype=torch.long)

    @property
    def eos_ids(self) -> set[int]:
        ids = set()
        for attr in ("eos_token_id",):
            value = getattr(self.tokenizer, attr, None)
            if value is not None:
                ids.add(int(value))
        gen = getattr(self.model, "generation_config", None)
        value = getattr(gen, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
        return ids


def handle_from_model(name: str, model, tokenizer, kind: str = "decoder") -> ModelHandle:
    """Wrap an already built model (e.g. a small GPT-2 made from a config)."""
    model.eval()
    return ModelHandle(name, model, tokenizer, next(model.parameters()).device, kind, name)
