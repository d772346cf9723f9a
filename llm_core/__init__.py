"""LLM X-Ray's model core: load a real model, run it once on a text, keep its insides.

Never imports streamlit or plotly; the pages are thin views over this package.
"""
from .memo import tune_allocator

tune_allocator()   # before any tensor exists: see memo.tune_allocator

from .errors import InputError, ModelUnavailable, XRayError  # noqa: E402
from .models import (DEFAULT_MODEL, EMBEDDED, ModelHandle, handle_from_model,  # noqa: E402
                     load_model)
from .tokens import Token  # noqa: E402
from .trace import ATTENTION_CAP, Trace  # noqa: E402
from .arch import LayerDetail, attention_math  # noqa: E402

__all__ = [
    "ATTENTION_CAP", "DEFAULT_MODEL", "EMBEDDED", "InputError", "LayerDetail", "ModelHandle",
    "ModelUnavailable", "Token", "Trace", "XRayError", "attention_math", "handle_from_model",
    "load_model",
]
