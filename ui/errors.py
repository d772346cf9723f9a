"""Turn problems into a clear message in the user's language, never a traceback."""
from __future__ import annotations

import logging
from contextlib import contextmanager

import streamlit as st

from llm_core.model.errors import XRayError
from ui.i18n import has, t
from ui.markdown import md_escape

log = logging.getLogger("llm_xray")


def message(err: XRayError, page: str | None = None) -> str:
    """The translated sentence: the page's own (`<page>.err_<code>`) where it has
    one, else the app's (`errors.<code>`). What the user typed (a model id, a
    word) is escaped, since alerts render markdown."""
    params = {k: md_escape(v) if isinstance(v, str) else v for k, v in err.params.items()}
    if page is not None and has(f"{page}.err_{err.code}"):
        return t(f"{page}.err_{err.code}", **params)
    key = f"errors.{err.code}"
    if not has(key):
        return md_escape(str(err))
    text = t(key, **params)
    if err.code == "unknown_word":   # what the word space does know
        p = err.params
        text += " " + (t("errors.unknown_word_try", hint=params["hint"]) if p.get("hint") else
                       t("errors.unknown_word_lowercase") if p.get("lowercase") else
                       t("errors.unknown_word_model"))
    return text


def show_error(err: Exception, page: str | None = None) -> None:
    if isinstance(err, XRayError):
        st.warning(message(err, page), icon="⚠️")
    else:
        log.exception("unexpected error", exc_info=err)
        st.error(t("errors.unexpected"), icon="🛑")


def is_ok(check, page: str | None = None) -> bool:
    """Run `check()`; a user error is shown at once (not only when a button is
    pressed) and gives False."""
    try:
        check()
        return True
    except XRayError as err:
        show_error(err, page)
        return False


def is_streamlit_control(err: BaseException) -> bool:
    """Streamlit's own exceptions (its control flow, its API errors) pass through
    our message handling untouched: Streamlit handles them."""
    return type(err).__module__.startswith("streamlit")


@contextmanager
def guard(page: str | None = None):
    """Run a block; a user error or a bug becomes a message (the `page`'s own
    where it has one) and the page goes on. Streamlit's own control-flow
    exceptions (rerun, stop) pass through."""
    try:
        yield
    except XRayError as err:
        show_error(err, page)
    except Exception as err:  # noqa: BLE001 — the page must keep serving
        if is_streamlit_control(err):
            raise
        show_error(err)
