"""Logit lens: the residual stream after every layer, read through the final norm
and the unembedding (反嵌入), shows the next-token guess forming layer by layer."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.model.tokens import is_piece
from llm_core.logit_lens import DEFAULT_POSITIONS, MAX_POSITIONS, first_top, logit_lens, settles_at
from llm_core.model.limits import BOX_CHARS
from ui import fig_logit_lens
from ui.cache import shared
from ui.errors import guard
from ui.fig_common import code_label, token_label
from ui.i18n import t
from ui.models import get_handle, get_trace
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.logit_lens"))
with notice():
    st.markdown(t("logit_lens.notice"))


@shared
def cached_lens(model: str, text: str, last_n: int, _handle, _trace):
    """One lens per (model, text, N): a widget that changes neither never recomputes it."""
    return logit_lens(_handle, _trace, last_n)


text = st.text_area(t("common.text"), value=t("logit_lens.default_text"),
                    key="logit_lens.text", **LINKED, max_chars=BOX_CHARS)
handle = get_handle()
trace = get_trace(text) if handle is not None else None
if trace is None:
    st.stop()

last_n = st.slider(t("logit_lens.positions"), 1, MAX_POSITIONS, DEFAULT_POSITIONS,
                   key="logit_lens.last_n")
lens = None
with guard():
    with st.spinner(t("logit_lens.computing")):
        lens = cached_lens(handle.name, trace.text, last_n, handle, trace)
if lens is None:
    st.stop()
if lens.limited:
    st.caption(t("logit_lens.limited", n=lens.n_tokens, shown=len(lens.positions),
                 first=lens.positions[0], last=lens.positions[-1], max=MAX_POSITIONS))

texts = trace.token_texts
emb = t("logit_lens.embedding")
chart(fig_logit_lens.lens_grid(
    lens, texts, dict(title=t("logit_lens.grid_title"), x_title=t("logit_lens.grid_x"),
                      y_title=t("logit_lens.grid_y"), embedding=emb, colour_title=t("logit_lens.colour"),
                      hover_input=t("logit_lens.hover_input"), hover_depth=t("logit_lens.hover_depth"),
                      hover_next=t("logit_lens.hover_next"), hover_top=t("logit_lens.hover_top"))),
    key="logit_lens.fig_grid")
if any(is_piece(x) or "\ufffd" in x for depth in lens.top_texts for row in depth for x in row[:1]):
    st.caption(t("common.pieces_note"))

# --- one position, layer by layer ------------------------------------------------
st.subheader(t("logit_lens.line_header"))
shown = list(lens.positions)
position_labels = {i: t("logit_lens.line_option", i=i, text=token_label(texts[i], 20, escape=False))
                   for i in shown}
position = st.selectbox(t("logit_lens.line_position"), shown, index=len(shown) - 1,
                        key="logit_lens.position", format_func=position_labels.get)
index = shown.index(position) if position in shown else len(shown) - 1
final_text = lens.top_texts[-1][index][0]
next_id = int(lens.next_ids[index])
next_text = texts[lens.positions[index] + 1] if next_id >= 0 else ""
chart(fig_logit_lens.lens_line(
    lens, index, dict(title=t("logit_lens.line_title", text=token_label(texts[lens.positions[index]], 20)),
                      x_title=t("logit_lens.line_x"), y_title=t("logit_lens.line_y"), embedding=emb,
                      final_name=t("logit_lens.final_name", text=token_label(final_text, 20)),
                      next_name=t("logit_lens.next_name", text=token_label(next_text, 20)),
                      rank_word=t("logit_lens.rank_word"))), key="logit_lens.fig_line")
depth, first = settles_at(lens, index), first_top(lens, index)   # depth d = after layer d - 1
prob = float(lens.final_probs[-1, index])
if depth == 0:
    st.markdown(t("logit_lens.line_summary_emb", final=code_label(final_text),
                  emb=float(lens.final_probs[0, index]), prob=prob))
elif first == depth:
    st.markdown(t("logit_lens.line_summary", final=code_label(final_text), first=depth - 1, prob=prob))
else:       # on top early, then lost the lead, then on top for good
    when = t("logit_lens.at_embedding") if first == 0 else t("logit_lens.after_layer", n=first - 1)
    st.markdown(t("logit_lens.line_summary_back", final=code_label(final_text), when=when,
                  stays=depth - 1, prob=prob))

unembed = handle.arch.unembedding_matrix()
st.markdown(t("logit_lens.explain", norm=handle.arch.norm_kind or "norm",
              vocab=unembed.shape[0], d=unembed.shape[1]))
