"""LLM X-Ray's model core: load a real model, run it once on a text, keep its insides.

Never imports streamlit or plotly; the pages are thin views over this package.
"""
from .errors import InputError, ModelUnavailable, XRayError
from .models import DEFAULT_MODEL, EMBEDDED, ModelHandle, handle_from_model, load_model
from .tokens import Token
from .trace import ATTENTION_CAP, Trace
from .arch import LayerDetail, attention_math

__all__ = [
    "ATTENTION_CAP", "DEFAULT_MODEL", "EMBEDDED", "InputError", "LayerDetail", "ModelHandle",
    "ModelUnavailable", "Token", "Trace", "XRayError", "attention_math", "handle_from_model",
    "load_model",
]
