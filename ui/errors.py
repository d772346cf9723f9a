"""Turn problems into a clear message in the user's language, never a traceback."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

from llm_core.model.errors import XRayError
from ui.i18n import has, t
from ui.markdown import md_escape

log = logging.getLogger("llm_xray")


def message(err: XRayError) -> str:
    """The translated sentence; what the user typed (a model id, a word) is
    escaped, since alerts render markdown."""
    key = f"errors.{err.code}"
    if not has(key):
        return md_escape(str(err))
    params = {k: md_escape(v) if isinstance(v, str) else v for k, v in err.params.items()}
    text = t(key, **params)
    if err.code == "unknown_word":   # what the word space does know
        p = err.params
        text += " " + (t("errors.unknown_word_try", hint=params["hint"]) if p.get("hint") else
                       t("errors.unknown_word_lowercase") if p.get("lowercase") else
                       t("errors.unknown_word_model"))
    return text


def show_error(err: Exception) -> None:
    if isinstance(err, XRayError):
        st.warning(message(err), icon="⚠️")
    else:
        log.exception("unexpected error", exc_info=err)
        st.error(t("errors.unexpected"), icon="🛑")


@contextmanager
def guard():
    """Run a block; a user error or a bug becomes a message and the page goes on.
    Streamlit's own control-flow exceptions (rerun, stop) pass through."""
    try:
        yield
    except XRayError as err:
        show_error(err)
    except Exception as err:  # noqa: BLE001 — the page must keep serving
        if type(err).__module__.startswith("streamlit"):
            raise
        show_error(err)
