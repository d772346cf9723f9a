"""What a link carries besides the widgets bound to it (ui.widgets.LINKED): the
language, the model, presenter mode, the lesson-path step, a class room code.
Bad values are never an error: they are dropped and the user is told once."""
from __future__ import annotations

import math

import streamlit as st

from ui.i18n import LANG_KEY, LANGS, t
from ui.markdown import md_escape

# The app's own parameters (not widget keys).
LANG, MODEL, PRESENT, STEP, ROOM, ME = "lang", "model", "present", "step", "room", "me"
OWN = (LANG, MODEL, PRESENT, STEP, ROOM, ME)
# How each of them is checked (ui.lesson_path adds the step's check).
VALID = {LANG: lambda v: v in LANGS, PRESENT: lambda v: v in ("0", "1")}
FIRST_KEY = "links.first"      # the query parameters the session was opened with
CHECKED_KEY = "links.checked"
NAMES_SHOWN = 4


def opened_with() -> dict[str, str]:
    """The parameters of the link this session opened (read once, on its first run).
    A number no widget can hold (inf, nan, 1e999, more digits than a float keeps)
    is taken out of the URL before any widget reads it, and the run starts again
    without it; the notice of dropped parameters names it."""
    if FIRST_KEY not in st.session_state:
        first = {k: st.query_params.get(k) for k in st.query_params}
        st.session_state[FIRST_KEY] = first
        bad = [k for k, v in first.items() if k not in OWN and not _sane_number(v)]
        if bad:
            for k in bad:
                del st.query_params[k]
            st.rerun()
    return st.session_state[FIRST_KEY]


def _sane_number(text: str) -> bool:
    """False for a value that reads as a number but not as one a widget can take."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        return True           # not a number: the widget itself decides (and Streamlit drops it)
    return math.isfinite(x) and abs(x) < 2**53


def browser_lang() -> str:
    """The browser's language on a first visit: Chinese for any zh-* locale."""
    locale = str(getattr(st.context, "locale", "") or "")
    return "zh" if locale.lower().startswith("zh") else "en"


def first_lang() -> None:
    """?lang=… wins, then the browser's language; afterwards the sidebar's choice."""
    if LANG_KEY in st.session_state:
        return
    wanted = opened_with().get(LANG)
    st.session_state[LANG_KEY] = wanted if wanted in LANGS else browser_lang()


def link_model(default: str) -> str:
    """The model a link asks for (an embedded key or a Hub id), else `default`."""
    wanted = (opened_with().get(MODEL) or "").strip()
    return wanted[:96] if wanted else default


def own_params(lang: str, model: str, present: bool, step: int | None) -> dict[str, str | None]:
    """The app's own parameters of a view; None where the default needs none."""
    return {LANG: lang if lang != "en" else None,
            MODEL: model if model != "smollm2" else None,
            PRESENT: "1" if present else None,
            STEP: str(step + 1) if step is not None else None}


def follow(lang: str, model: str, present: bool, step: int | None) -> None:
    """Keep the URL equal to what is on screen: a copied link opens the same view
    (the language switch included: English drops ?lang=zh)."""
    for key, value in own_params(lang, model, present, step).items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def _same(value, text: str) -> bool:
    if isinstance(value, bool):
        return str(value).lower() == str(text).lower()
    if isinstance(value, (int, float)):
        try:
            return float(text) == float(value)
        except ValueError:
            return False
    return str(value) == text


def announce_dropped() -> None:
    """After the session's first page has run: a parameter of its link that no
    widget took (Streamlit drops ?temperature=abc or a layer past the last, and
    cuts a text longer than its box) or that nothing knows gets one notice."""
    if st.session_state.get(CHECKED_KEY):
        return
    st.session_state[CHECKED_KEY] = True
    first, now = opened_with(), {k: st.query_params.get(k) for k in st.query_params}
    dropped = []
    for key, value in first.items():
        if key in OWN:
            ok = VALID.get(key, lambda v: True)(value)
        else:   # taken: still in the URL, or gone from it because it equals the default
            ok = key in st.session_state and (now.get(key) == value or (
                key not in now and _same(st.session_state[key], value)))
        if not ok:
            dropped.append(key)
    st.session_state[FIRST_KEY] = {}   # a 1 MB hostile text is not kept for the session
    if dropped:
        shown = ", ".join(md_escape(" ".join(k.split())[:40]) for k in dropped[:NAMES_SHOWN])
        more = len(dropped) - NAMES_SHOWN
        st.toast(t("links.dropped", keys=shown + (f" +{more}" if more > 0 else "")), icon="🔗")
