"""LLM X-Ray's model core: load a real model, run it once on a text, keep its insides.

The machinery every lesson shares is in `llm_core.model`; each lesson's own math is
the module named like its page (pages/X.py → llm_core/X.py); the CLI is cli.py.
Never imports streamlit or plotly; the pages are thin views over this package.
"""
from llm_core.model.memo import tune_allocator

tune_allocator()   # before any tensor exists: see memo.tune_allocator

from llm_core.model.errors import InputError, ModelUnavailable, XRayError  # noqa: E402
from llm_core.model.load import (DEFAULT_MODEL, EMBEDDED, ModelHandle,  # noqa: E402
                                 handle_from_model, load_model)
from llm_core.model.tokens import Token  # noqa: E402
from llm_core.model.trace import ATTENTION_CAP, Trace  # noqa: E402
from llm_core.model.arch import LayerDetail, attention_math  # noqa: E402

__all__ = [
    "ATTENTION_CAP", "DEFAULT_MODEL", "EMBEDDED", "InputError", "LayerDetail", "ModelHandle",
    "ModelUnavailable", "Token", "Trace", "XRayError", "attention_math", "handle_from_model",
    "load_model",
]
