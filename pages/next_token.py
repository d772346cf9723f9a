"""Next token & temperature: the last position's vector → logits (反嵌入) →
softmax(logits / T) → probabilities; top-k / top-p decide which tokens may be
drawn. Temperature and filters re-shape cached logits: the model runs once per prompt."""

import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
import llm_core
from llm_core import next_token as nt
from llm_core.model.limits import BOX_CHARS
from llm_core.model.tokens import is_piece
from ui import fig_next_token as fig
from ui.cache import shared
from ui.classroom import predict_reveal, token_choices
from ui.fig_common import visible
from ui.errors import guard
from ui.i18n import t
from ui.models import get_handle, get_trace, model_name, native_example
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.next_token"))
with notice():
    st.markdown(t("next_token.notice"))

CURVE_T = [i / 20 for i in range(41)]       # 0, 0.05 … 2.0


@shared
def cached_logits(model: str, text: str, chat: bool, _trace=None):
    """(prompt ids, next-token logits, readable prompt tokens) per (model, text, mode):
    read-only, shared; a slider never re-runs the model."""
    handle = llm_core.load_model(model)
    ids, logits = nt.next_token_logits(handle, text, chat=chat, trace=_trace)
    return ids, logits, nt.readable_sequence(handle, ids), nt.top_completions(handle, ids, logits)


@shared
def cached_curve(model: str, text: str, chat: bool, _trace=None):
    return nt.temperature_curve(cached_logits(model, text, chat, _trace)[1], CURVE_T)


modes = {m: t(f"next_token.mode_{m}") for m in ("model", "toy")}  # labels fixed per run
mode = st.radio(t("next_token.mode"), list(modes), horizontal=True, key="next_token.mode", **LINKED,
                format_func=modes.get)
logits = names = curve = None
if mode == "model":
    text = st.text_area(t("next_token.prompt"), value=native_example("next_token.default_prompt"),
                        key="next_token.prompt", **LINKED, max_chars=BOX_CHARS, height=90)
    chat = st.toggle(t("next_token.chat"), key="next_token.chat", **LINKED, help=t("next_token.chat_help"))
    handle = get_handle()
    if handle is None:
        st.stop()
    with guard():
        # A plain prompt's logits come from its trace (batched with the class's, shared
        # with the other pages); a too-long prompt is refused first, never cut.
        trace = None
        if not chat:
            nt.prompt_ids(handle, text)
            trace = get_trace(text)
        _ids, logits, prompt_tokens, completed = cached_logits(model_name(), text, chat, trace)
        curve = cached_curve(model_name(), text, chat, trace)   # the same trace: the same logits
    if logits is None:
        st.stop()
    st.caption(t("next_token.last_vector", n=len(prompt_tokens),
                 last=fig.code_label(prompt_tokens[-1]), vocab=logits.numel(),
                 limit=nt.PROMPT_TOKEN_LIMIT))
    names_for = lambda view: nt.candidate_texts(handle, view.ids, completed)  # noqa: E731
else:
    st.markdown(t("next_token.toy_intro"))
    base = pd.DataFrame({"token": t("next_token.toy_tokens").split("|"),
                         "logit": [3.2, 0.9, -2.0]})
    table = st.data_editor(base, num_rows="dynamic", key="next_token.toy", hide_index=True,
                           column_config={
                               "token": st.column_config.TextColumn(t("next_token.toy_token")),
                               "logit": st.column_config.NumberColumn(
                                   t("next_token.toy_logit"), min_value=-100.0, max_value=100.0,
                                   step=0.1, format="%.2f")})
    rows = nt.toy_rows(table.to_dict("records"))
    if not rows:
        st.warning(t("next_token.toy_empty"), icon="⚠️")
        st.stop()
    toy_tokens = [tok for tok, _ in rows]
    logits = nt.toy_logits([v for _, v in rows])
    curve = nt.temperature_curve(logits, CURVE_T)
    names_for = lambda view: [toy_tokens[i] for i in view.ids]  # noqa: E731

# --- controls: none of them re-runs the model ----------------------------------------
c1, c2, c3, c4 = st.columns(4)
temperature = c1.slider(t("next_token.temperature"), 0.0, 2.0, 1.0, 0.05,
                        key="next_token.temperature", **LINKED, help=t("next_token.temperature_help"))
top_k = c2.slider(t("next_token.top_k"), 0, 100, 0, key="next_token.top_k", **LINKED,
                  help=t("next_token.top_k_help"))
top_p = c3.slider(t("next_token.top_p"), 0.01, 1.0, 1.0, 0.01, key="next_token.top_p", **LINKED,
                  help=t("next_token.top_p_help"))
n_bars = c4.slider(t("next_token.n_bars"), 3, 30, 12, key="next_token.n_bars",
                   disabled=mode == "toy")
fixed = st.toggle(t("common.fixed_scale"), value=True, key="next_token.fixed_scale",
                  help=t("common.fixed_scale_help"))
n_show = logits.numel() if mode == "toy" else n_bars

view = None
with guard():
    view = nt.top_view(logits, temperature, top_k or None, top_p, n_show)
if view is None:
    st.stop()
tokens = names_for(view)
# a token question is answered by choosing: the model's top few and others from its
# list, as tokens read (␣ for a space), the answer from the same list
pool = [visible(x) for x in names_for(nt.top_view(logits, n=12))] if mode == "model" else []
if mode == "model" and not predict_reveal(
        "next_token", "next_token.guess_question", {"text": fig.code_label(text[-60:], 64)},
        pool[0], token_choices(pool, seed=f"{model_name()}\x1f{text}")):
    st.stop()

chart(fig.next_token_bars(
    view, tokens, dict(title=t("next_token.bars_title", T=temperature), logit_axis=t("common.logit"),
                       prob_axis=t("next_token.prob_axis"), token_axis=t("next_token.token_axis"),
                       kept_name=t("next_token.kept"), cut_name=t("next_token.cut"),
                       hover_logit=t("common.logit"), hover_prob=t("next_token.hover_prob", T=temperature),
                       hover_final=t("next_token.hover_final"), model_name=t("common.model_prob")),
    fixed_scale=fixed), key="next_token.fig_bars")
if mode == "model" and any(is_piece(x) for x in tokens):
    st.caption(t("common.pieces_note"))
if temperature == 0:
    st.info(t("next_token.t0_note", token=fig.code_label(tokens[0])), icon="🎯")

m1, m2, m3, m4 = st.columns(4)
m1.metric(t("next_token.top_token", token=fig.code_label(tokens[0])), f"{view.final[0]:.1%}")
m2.metric(t("next_token.entropy"), f"{view.entropy:.2f} bit", help=t("next_token.entropy_help"))
m3.metric(t("next_token.outside", n=len(view.ids)), f"{view.outside_mass:.1%}",
          help=t("next_token.outside_help"))
m4.metric(t("next_token.n_kept"), f"{view.n_kept:,}", help=t("next_token.n_kept_help",
                                                                vocab=view.vocab))

if mode == "toy" and len(view.ids) >= 2 and temperature > 0 and view.kept[1]:
    a, b = view.ids[0], view.ids[1]
    st.markdown(t("next_token.toy_ratio", a=fig.code_label(tokens[0]), b=fig.code_label(tokens[1]),
                  ratio=view.final[0] / max(view.final[1], 1e-300), za=float(logits[a]),
                  zb=float(logits[b]), T=temperature))

chart(fig.temperature_curve(
    curve, temperature, dict(title=t("next_token.curve_title"), t_axis=t("next_token.curve_t"),
                             top_name=t("next_token.curve_top"), entropy_name=t("next_token.curve_entropy"),
                             entropy_axis=t("next_token.curve_entropy_axis"))), key="next_token.fig_curve")
st.markdown(t("next_token.explain"))
