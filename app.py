"""LLM X-Ray: entry point. Page config, navigation over lessons/, and the shared
sidebar (language, model)."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import streamlit as st

from llm_core.models import EMBEDDED
from ui.i18n import LANG_KEY, LANGS, t
from ui.models import MODEL_KEY

ROOT = Path(__file__).parent

# (section key, page file, url path, icon). One page per concept of the curriculum.
PAGES = [
    ("start", "home.py", "pipeline", "🔬"),
    ("text", "vectors.py", "vectors", "📐"),
    ("text", "tokens.py", "tokens", "🧩"),
    ("text", "embeddings.py", "embeddings", "🧭"),
    ("text", "positions.py", "positions", "📍"),
    ("text", "context.py", "context", "🍎"),
    ("inside", "anatomy.py", "anatomy", "🧮"),
    ("inside", "attention.py", "attention", "👀"),
    ("inside", "attention_step.py", "attention-step", "🔎"),
    ("inside", "encoder_decoder.py", "encoder-decoder", "↔️"),
    ("inside", "block.py", "block", "🧱"),
    ("inside", "logit_lens.py", "logit-lens", "🔭"),
    ("predict", "next_token.py", "next-token", "🎲"),
    ("predict", "generate.py", "generate", "✍️"),
    ("predict", "hallucination.py", "hallucination", "👻"),
    ("predict", "context_window.py", "context-window", "🪟"),
    ("change", "quantization.py", "quantization", "🗜️"),
    ("change", "finetune.py", "finetune", "🎯"),
    ("change", "distillation.py", "distillation", "🧪"),
]

st.set_page_config(page_title="LLM X-Ray", page_icon="🔬", layout="wide")

# A link may carry ?lang=zh so a classroom opens in Chinese; a new link value wins.
_wanted = st.query_params.get("lang")
if _wanted in LANGS and st.session_state.get("shared.lang_from_link") != _wanted:
    st.session_state[LANG_KEY] = st.session_state["shared.lang_from_link"] = _wanted
st.session_state.setdefault(LANG_KEY, "en")


def sidebar() -> None:
    with st.sidebar:
        st.radio(t("sidebar.language"), list(LANGS), format_func=LANGS.get, key=LANG_KEY,
                 horizontal=True)
        choices = list(k for k in EMBEDDED if k != "minilm") + ["hub"]
        current = st.session_state.get(MODEL_KEY, "smollm2")
        choice = st.selectbox(
            t("sidebar.model"), choices, index=0 if current in EMBEDDED else len(choices) - 1,
            format_func=lambda k: EMBEDDED.get(k) if k != "hub" else t("sidebar.hub_option"),
            key="sidebar.model_choice")
        if choice == "hub":
            hub_id = st.text_input(t("sidebar.hub_id"), value="" if current in EMBEDDED else current,
                                   placeholder="gpt2", max_chars=96, key="sidebar.hub_id")
            st.caption(t("sidebar.hub_help"))
            st.session_state[MODEL_KEY] = hub_id.strip() or "smollm2"
        else:
            st.session_state[MODEL_KEY] = choice
        st.caption(t("sidebar.about"))


pages: dict[str, list] = {}
for section, file, url, icon in PAGES:
    pages.setdefault(t(f"nav.section_{section}"), []).append(
        st.Page(str(ROOT / "lessons" / file), title=t(f"nav.{url.replace('-', '_')}"), icon=icon,
                url_path=url, default=(file == "home.py")))

sidebar()
st.navigation(pages, expanded=True).run()
