"""LLM X-Ray's model core: load a real model, run it once on a text, keep its insides.

The machinery every lesson shares is in `llm_core.model`; each lesson's own math is
the module named like its page (pages/X.py → llm_core/X.py); the CLI is cli.py.
Never imports streamlit or plotly; the pages are thin views over this package.
Importing it changes nothing in the process: `startup()` does the process-wide
settings, once (app.py and the CLI call it).
"""
from llm_core.model.arch import LayerDetail, attention_math
from llm_core.model.errors import InputError, ModelUnavailable, XRayError
from llm_core.model.handle import ModelHandle, handle_from_model
from llm_core.model.registry import DEFAULT_MODEL, EMBEDDED, load_model, offered_models
from llm_core.model.startup import startup
from llm_core.model.tokens import Token
from llm_core.model.trace import ATTENTION_CAP, Trace

__all__ = [
    "ATTENTION_CAP", "DEFAULT_MODEL", "EMBEDDED", "InputError", "LayerDetail", "ModelHandle",
    "ModelUnavailable", "Token", "Trace", "XRayError", "attention_math", "handle_from_model",
    "load_model", "offered_models", "startup",
]
