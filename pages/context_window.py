"""Context window: a fact at the start of a long text, a question at the end,
and a window that keeps only the last W tokens. Runs are cached by their real
inputs, so moving a slider back shows the earlier answer at once."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
import llm_core
from llm_core import context_window as win
from llm_core.model.limits import WINDOW_CODE_CHARS
from llm_core.model.errors import XRayError
from ui import fig_context_window as fig
from ui.cache import shared
from ui.errors import show_error
from ui.i18n import lang, t
from ui.models import decoder_or_stop, model_name, short_model_name
from ui.widgets import LINKED, notice
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

st.title(t("nav.context_window"))
handle = decoder_or_stop()
context = handle.arch.max_positions
st.info(t("context_window.limit", model=short_model_name(), n=context), icon="🪟")
with notice():
    st.markdown(t("context_window.notice"))
if lang() == "zh":
    st.caption(t("context_window.zh_note"))

c1, c2, c3 = st.columns([1, 2, 2])
code = c1.text_input(t("context_window.code"), "7492", max_chars=WINDOW_CODE_CHARS, key="context_window.code",
                     help=t("context_window.code_help"))
n_filler = c2.slider(t("context_window.filler"), 0, win.MAX_FILLER, 8, key="context_window.filler")
size = c3.slider(t("context_window.window"), 32, min(1024, context), 128, 16,
                 key="context_window.window", **LINKED, help=t("context_window.window_help", n=context))


@shared
def demo(name: str, code: str, n_filler: int, size: int):
    return win.run_demo(llm_core.load_model(name), code, n_filler, size)


def run_or_stop(window: int):
    """The demo for one window size, or a message and the end of the page."""
    try:
        return demo(model_name(), code, n_filler, window)
    except XRayError as err:
        show_error(err, "context_window")
        st.stop()


with st.spinner(t("loading.trace")):
    cut = run_or_stop(size)
w, tokens = cut.run.window, cut.tokens
f0, f1 = w.fact
params = dict(n=w.n_tokens, kept=w.kept, start=w.start, last=w.n_tokens - 1, f0=f0, f1=f1 - 1,
              inside=w.fact_tokens_inside, total=f1 - f0)
state = "inside" if w.fact_inside else ("partly" if w.fact_tokens_inside else "outside")
st.markdown(t(f"context_window.status_{state}", **params))
names = {k: t(f"context_window.kind_{k}") for k in ("out", "in", "fact_in", "fact_out")}
chart(fig.window_strip(tokens, w, dict(title=t("context_window.strip_title"),
                                      position_axis=t("context_window.position_axis"), names=names)),
      width="stretch", key="context_window.chart0")
with st.expander(t("context_window.cut_header"), expanded=True):
    st.caption(t("context_window.start_label"))
    st.html(fig.window_chips(tokens, w, range(0, min(len(tokens), f1 + 6))))
    if w.start > 0:
        st.caption(t("context_window.cut_label"))
        around = range(max(0, w.start - 8), min(len(tokens), w.start + 8))
        st.html(fig.window_chips(tokens, w, around))

expected = cut.expected.strip()
left, right = st.columns(2)


def show_run(col, run, title: str) -> None:
    with col.container(border=True):
        st.markdown(f"**{title}**")
        st.caption(t("context_window.answer"))
        st.code(run.answer.strip() or "∅", language=None)
        st.metric(t("context_window.p_answer"), f"{run.answer_prob:.2g}",
                  help=t("context_window.p_answer_help", code=expected))
        if run.says(expected):
            st.success(t("context_window.says_yes"), icon="✅")
        else:
            st.warning(t("context_window.says_no"), icon="❌")


# Your window's answer first; the whole text (a longer run) streams in beside it.
show_run(right, cut.run, t("context_window.cut_header_run", w=w.kept))
with left, st.spinner(t("loading.trace")):
    # The model's own window holds the whole text.
    whole = cut if w.start == 0 else run_or_stop(context)
show_run(left, whole.run, t("context_window.full_header", n=w.n_tokens))

chart(fig.answer_token_probs(
    cut.expected_tokens, {t("context_window.full_header", n=w.n_tokens): whole.run,
                          t("context_window.cut_header_run", w=w.kept): cut.run},
    dict(title=t("context_window.probs_title"), token_axis=t("context_window.token_axis"),
         prob_axis=t("context_window.prob_axis"))), width="stretch", key="context_window.chart1")
with st.expander(t("context_window.seen_text")):
    st.text(handle.decode([tok.id for tok in tokens[w.start:]]))
st.markdown(t("context_window.explain", n=context))
