"""Concepts 5–6: an embedding is a table lookup (token id → a row of a matrix),
and meaning is direction: king − man + woman ≈ queen, cats − cat = 'plural'."""
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.embeddings import (ANALOGIES, EXPECTED, analogy_rank, analogy_view,
                                 plural_view, split_words, token_row, words_similarity)
from llm_core.model.limits import WORD_LIST_CHARS
from ui import fig_embeddings as fig
from ui.classroom import predict_reveal
from ui.cache import shared
from ui.errors import guard
from ui.i18n import labels, t
from ui.markdown import md_escape
from ui.models import get_handle, word_space
from ui.widgets import LINKED, example_picker, option_labels, token_picker
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

SPACES = ("glove", "model")


def space(kind: str):
    return word_space(kind, handle)


@shared
def cached_analogy(a, b, c, extras, method, dims, _space):
    return analogy_view(_space, a, b, c, extras, n=8, method=method, dims=dims)


@shared
def cached_plural(singular, plural, _space):
    return plural_view(_space, singular, plural)


st.title(t("nav.embeddings"))
st.info(t("embeddings.notice"), icon="👀")
handle = get_handle()
if handle is None:
    st.stop()
vocab, d_model = handle.arch.token_embedding_matrix().shape

# --- 1. one token's row ---------------------------------------------------------------------
st.header(t("embeddings.row_header"))
st.caption(t("embeddings.row_intro", vocab=f"{vocab:,}", d=d_model))
token_id = token_picker(handle, vocab)
if token_id is not None:
    row = token_row(handle, token_id)
    m1, m2, m3 = st.columns(3)
    m1.metric(t("embeddings.metric_token"), f"“{row.text}”")
    m2.metric("Token ID", row.id)
    m3.metric(t("embeddings.metric_norm"), f"{row.norm:.3f}")
    shown = st.slider(t("embeddings.dims_shown"), 8, int(d_model), min(64, int(d_model)), key="embeddings.dims")
    chart(fig.row_strip(row.vector[:shown], row.text, {
        "dim": t("embeddings.dim"), "value": t("embeddings.value")}), width="stretch", key="embeddings.chart0")
    st.caption(t("embeddings.row_explain", id=row.id, d=d_model, shown=shown))

# --- 2. similarity between tokens ----------------------------------------------------------
st.header(t("embeddings.sim_header"))
st.caption(t("embeddings.sim_intro"))
words_text = st.text_input(t("embeddings.sim_words"), "king, queen, man, woman, apple, banana, cat, dog",
                           key="embeddings.sim_words")
measure = st.radio(t("embeddings.measure"), ["cosine", "dot"], horizontal=True, key="embeddings.measure",
                   format_func=option_labels("embeddings.measure_", ("cosine", "dot")))
sims = words_similarity(space("model"), words_text)
if sims.unknown:
    st.caption(t("embeddings.skipped", words=md_escape(", ".join(sims.unknown)[:300])))
if sims.similarity is not None:
    chart(fig.similarity_heatmap(sims.known, getattr(sims.similarity, measure), {
        "value": t(f"embeddings.measure_{measure}")}), width="stretch", key="embeddings.chart1")
    st.caption(t("embeddings.sim_explain"))
else:
    st.info(t("embeddings.need_two"))

# --- 3. word arithmetic in two spaces ------------------------------------------------------
st.header(t("embeddings.arith_header"))
st.caption(t("embeddings.arith_intro"))
preset = example_picker(t("embeddings.preset"), ANALOGIES, lambda k: dict(zip(
    ("embeddings.a", "embeddings.b", "embeddings.c", "embeddings.extras"), ANALOGIES[k])),
    key="embeddings.preset", default="king", format_func=option_labels("embeddings.preset_", ANALOGIES))
ca, cb, cc = st.columns(3)
a = ca.text_input("A", key="embeddings.a", **LINKED)
b = cb.text_input("− B", key="embeddings.b", **LINKED)
c = cc.text_input("+ C", key="embeddings.c", **LINKED)
best, ranks = {}, {}
expected = EXPECTED.get(preset) if ANALOGIES.get(preset, ())[:3] == (a, b, c) else None
answer = None
with guard():   # the class guesses the classic word vectors' answer
    answer = cached_analogy(a, b, c, (), "pca", 2, space(SPACES[0])).results[0][0]
if answer is not None and not predict_reveal("embeddings", "embeddings.guess_question", dict(
        a=md_escape(a), b=md_escape(b), c=md_escape(c)), answer):
    st.stop()
for col, kind in zip(st.columns(2), SPACES):
    with col:
        st.markdown(f"**{t(f'embeddings.space_{kind}')}**")
        with guard():
            view = cached_analogy(a, b, c, (), "pca", 2, space(kind))
            chart(fig.neighbours_bar(view.results, {"score": t("embeddings.cosine")}), key=f"embeddings.bars_{kind}")
            best[kind] = view.results[0][0]
            if expected:
                ranks[kind] = analogy_rank(space(kind), a, b, c, expected)
if len(best) == 2:   # both spaces answered: say what is on screen, from these results
    st.caption(t("embeddings.arith_explain", glove=f"“{md_escape(best['glove'])}”",
                 model=f"“{md_escape(best['model'])}”"))
    if len(ranks) == 2:   # not first somewhere: why (the lesson's example is from larger vectors)
        missed = [best[k] for k in SPACES if ranks[k] not in (1, None)]   # None: not a word there
        st.caption(t("embeddings.arith_expect", word=expected, **{
            k: t("embeddings.rank", rank=r) if r else t("embeddings.rank_missing") for k, r in ranks.items()})
            + (" " + t("embeddings.arith_smaller", word=f"“{md_escape(missed[0])}”", **{
                f"{k}_dims": space(k).dims for k in SPACES}) if missed else ""))

# --- 4. the parallelogram -------------------------------------------------------------------
st.header(t("embeddings.proj_header"))
p1, p2, p3 = st.columns(3)
kind = p1.radio(t("embeddings.space"), SPACES, key="embeddings.space",
                format_func=option_labels("embeddings.space_", SPACES))
method = p2.radio(t("embeddings.method"), ["pca", "tsne"], key="embeddings.method",
                  format_func=option_labels("embeddings.method_", ("pca", "tsne")))
dims = p3.radio(t("embeddings.dims"), [2, 3], key="embeddings.proj_dims", horizontal=True)
extras = st.text_area(t("embeddings.extras"), key="embeddings.extras", height=70,
                      max_chars=WORD_LIST_CHARS)
with guard():
    view = cached_analogy(a, b, c, tuple(split_words(extras)), method,
                          dims, space(kind))
    if view.unknown:
        st.caption(t("embeddings.skipped", words=md_escape(", ".join(view.unknown)[:300])))
    chart(fig.analogy_projection(view, {
        "axis": t(f"embeddings.method_{method}"), "words": t("embeddings.other_words"),
        "corners": t("embeddings.corners"), "computed": f"{a} − {b} + {c}"}), width="stretch", key="embeddings.chart3")
    st.caption(t(f"embeddings.proj_explain_{method}"))

# --- 5. the plural direction ----------------------------------------------------------------
st.header(t("embeddings.plural_header"))
st.caption(t("embeddings.plural_intro", space=t(f"embeddings.space_{kind}")))
q1, q2 = st.columns(2)
singular = q1.text_input(t("embeddings.singular"), "dog apple car house child idea student",
                         key="embeddings.singular")
plural = q2.text_input(t("embeddings.plural"), "dogs apples cars houses children ideas students",
                       key="embeddings.plural")
with guard():
    pv = cached_plural(singular, plural, space(kind))
    chart(fig.direction_bars(pv.view.words, pv.view.scores, pv.groups, {
        0: t("embeddings.singular"), 1: t("embeddings.plural"), "score": t("embeddings.plural_score")}),
        width="stretch", key="embeddings.chart4")
    st.caption(t("embeddings.plural_means", singular=f"{pv.means[0]:.2f}", plural=f"{pv.means[1]:.2f}"))
    if pv.view.applied:
        st.table(fig.applied_table(pv.view.applied, labels("embeddings", "noun", "noun_plus", "cosine")))
st.caption(t("embeddings.plural_explain"))
