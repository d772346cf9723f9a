"""The process-wide settings, made once by whoever starts the process (app.py,
the CLI): importing a module of llm_core changes nothing."""
from __future__ import annotations

import gc
import os
import threading

import torch
from transformers.utils import logging as hf_logging

from llm_core.model import memo

_DONE = False
_LOCK = threading.Lock()


def startup() -> None:
    """Allocator (before large tensors exist: memo.tune_allocator), torch threads
    (LLM_XRAY_THREADS, default one per core), quiet transformers, the thread
    that expires the shared caches, and the objects of every import set aside
    from the cycle collector. Safe to call on every script run."""
    global _DONE
    with _LOCK:
        if _DONE:
            return
        memo.tune_allocator()
        torch.set_num_threads(int(os.environ.get("LLM_XRAY_THREADS", 0)) or max(1, os.cpu_count() or 1))
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        memo.start_janitor()
        # What the imports made (~465,000 objects with streamlit, torch, transformers
        # and plotly) lives as long as the process: a full collection walked all of
        # it, holding every session up 0.29 s of CPU once every other wave of a
        # class of 30 (gc callbacks in the server, bench/load.py); frozen, 0.05 s.
        # Objects made later, sessions' included, are collected as before. No
        # collection first: it cost every CLI command 0.18 s to find 26 objects.
        gc.freeze()
        _DONE = True
