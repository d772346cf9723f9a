"""Concepts 5–6: an embedding is a table lookup (token id → a row of a matrix),
and meaning is direction: king − man + woman ≈ queen, cats − cat = 'plural'."""
from contextlib import contextmanager
from itertools import zip_longest

import streamlit as st

from llm_core.embeddings import (analogy_view, direction_view, known_words, pick_tokens,
                                      similarity, split_words, token_row, vectors_of)
from llm_core.model.errors import InputError
from llm_core.embeddings import analogy_rank, load_word_vectors, model_word_space
from llm_core.model.limits import WORD_LIST_CHARS
from ui import fig_embeddings as fig
from ui.classroom import predict_reveal
from ui.cache import shared
from ui.errors import guard
from ui.i18n import t
from ui.markdown import md_escape
from ui.models import get_handle, model_name
from ui.widgets import LINKED
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

# The seeds' analogies (002, 003) plus one about capitals; extra words make the picture.
PRESETS = {"king": ("king", "man", "woman", "prince princess boy girl father mother husband wife"),
           "germany": ("Germany", "Japan", "sushi", "France Italy pizza pasta bratwurst beer sake tea"),
           "paris": ("Paris", "France", "Italy", "Rome Madrid Spain Berlin Germany London England Tokyo")}
EXPECTED = {"king": "queen", "germany": "bratwurst", "paris": "Rome"}   # what each lesson expects
SPACES = ("glove", "model")


@st.cache_resource(show_spinner=False)
def cached_space(kind: str, name: str, _handle):
    return load_word_vectors() if kind == "glove" else model_word_space(_handle)


def space(kind: str):
    with st.spinner(t("embeddings.loading_glove") if kind == "glove" else t("loading.model", name=model_name())):
        return cached_space(kind, model_name() if kind == "model" else "", handle)


@shared(max_mb=16)
def cached_analogy(key, a, b, c, extras, method, dims, _space):
    return analogy_view(_space, a, b, c, extras, n=8, method=method, dims=dims)


@shared(max_mb=16)
def cached_direction(key, plus, minus, words, nouns, _space):
    return direction_view(_space, plus, minus, words, nouns)


def option_labels(prefix: str, options):  # a dict: the right label even outside this run
    return {k: t(f"{prefix}{k}") for k in options}.get


@contextmanager
def words_guard():
    """An unknown word gets this page's message with a hint; anything else the usual one."""
    with guard():
        try:
            yield
        except InputError as err:
            if err.code != "unknown_word":
                raise
            p = err.params
            hint = (t("embeddings.try_hint", hint=p["hint"]) if p.get("hint") else
                    t("embeddings.lowercase_hint") if p.get("lowercase") else t("embeddings.model_hint"))
            st.warning(t("embeddings.unknown_word", word=p.get("word", ""), space=p.get("space", ""))
                       + " " + hint, icon="🔎")


def load_preset():
    a, b, c, extras = PRESETS[st.session_state["embeddings.preset"]]
    st.session_state.update({"embeddings.a": a, "embeddings.b": b, "embeddings.c": c,
                             "embeddings.extras": extras})


if "embeddings.a" not in st.session_state:
    st.session_state["embeddings.preset"] = "king"
    load_preset()

st.title(t("nav.embeddings"))
st.info(t("embeddings.notice"), icon="👀")
handle = get_handle()
if handle is None:
    st.stop()
vocab, d_model = handle.arch.token_embedding_matrix().shape

# --- 1. one token's row ---------------------------------------------------------------------
st.header(t("embeddings.row_header"))
st.caption(t("embeddings.row_intro", vocab=f"{vocab:,}", d=d_model))
by = st.radio(t("embeddings.pick_by"), ["text", "id"], horizontal=True, key="embeddings.pick_by",
              format_func=option_labels("embeddings.by_", ("text", "id")))
token_id = None
if by == "text":
    left, right = st.columns([3, 2])
    text = left.text_input(t("embeddings.token_text"), value="king", key="embeddings.token_text")
    space_before = right.checkbox(t("embeddings.space_before"), value=True, key="embeddings.space_before")
    with guard():
        tokens = pick_tokens(handle, (" " if space_before and not text.startswith(" ") else "") + text)
        if tokens:
            pick = st.selectbox(t("embeddings.which_token"), range(len(tokens)), key="embeddings.which",
                                format_func=lambda i: f"{i + 1}. “{tokens[i].text}” · ID {tokens[i].id}")
            token_id = tokens[min(pick or 0, len(tokens) - 1)].id
else:
    token_id = st.number_input(t("embeddings.token_id"), 0, vocab - 1, 1_000, key="embeddings.token_id")
if token_id is not None:
    row = token_row(handle, token_id)
    m1, m2, m3 = st.columns(3)
    m1.metric(t("embeddings.metric_token"), f"“{row.text}”")
    m2.metric("Token ID", row.id)
    m3.metric(t("embeddings.metric_norm"), f"{row.norm:.3f}")
    shown = st.slider(t("embeddings.dims_shown"), 8, int(d_model), min(64, int(d_model)),
                      key="embeddings.dims")
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
mspace = space("model")
known, unknown = known_words(mspace, split_words(words_text, 24))
if unknown:
    st.caption(t("embeddings.skipped", words=md_escape(", ".join(unknown)[:300])))
if len(known) >= 2:
    sim = similarity(known, vectors_of(mspace, known))
    chart(fig.similarity_heatmap(known, sim.cosine if measure == "cosine" else sim.dot, {
        "value": t(f"embeddings.measure_{measure}")}), width="stretch", key="embeddings.chart1")
    st.caption(t("embeddings.sim_explain"))
else:
    st.info(t("embeddings.need_two"))

# --- 3. word arithmetic in two spaces ------------------------------------------------------
st.header(t("embeddings.arith_header"))
st.caption(t("embeddings.arith_intro"))
st.selectbox(t("embeddings.preset"), list(PRESETS), key="embeddings.preset", on_change=load_preset,
             format_func=option_labels("embeddings.preset_", PRESETS))
ca, cb, cc = st.columns(3)
a = ca.text_input("A", key="embeddings.a", **LINKED)
b = cb.text_input("− B", key="embeddings.b", **LINKED)
c = cc.text_input("+ C", key="embeddings.c", **LINKED)
best, ranks = {}, {}
preset = st.session_state.get("embeddings.preset")
expected = EXPECTED.get(preset) if PRESETS.get(preset, ())[:3] == (a, b, c) else None
answer = None
with words_guard():   # the class guesses the classic word vectors' answer
    answer = cached_analogy(f"{SPACES[0]}:{model_name()}", a, b, c, (), "pca", 2,
                            space(SPACES[0])).results[0][0]
if answer is not None and not predict_reveal("embeddings", t(
        "embeddings.guess_question", a=md_escape(a), b=md_escape(b), c=md_escape(c)), answer):
    st.stop()
for col, kind in zip(st.columns(2), SPACES):
    with col:
        st.markdown(f"**{t(f'embeddings.space_{kind}')}**")
        with words_guard():
            view = cached_analogy(f"{kind}:{model_name()}", a, b, c, (), "pca", 2, space(kind))
            chart(fig.neighbours_bar(view.results, {"score": t("embeddings.cosine")}),
                            width="stretch", key=f"embeddings.bars_{kind}")
            best[kind] = view.results[0][0]
            if expected:
                ranks[kind] = analogy_rank(space(kind), a, b, c, expected)
if len(best) == 2:   # both spaces answered: say what is on screen, from these results
    st.caption(t("embeddings.arith_explain", glove=f"“{md_escape(best['glove'])}”",
                 model=f"“{md_escape(best['model'])}”"))
    if len(ranks) == 2:
        st.caption(t("embeddings.arith_expect", word=expected, **{
            k: t("embeddings.rank", rank=r) if r else t("embeddings.rank_missing")
            for k, r in ranks.items()}))

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
with words_guard():
    chosen = space(kind)
    words = tuple(split_words(extras))
    skipped = known_words(chosen, words)[1]
    if skipped:
        st.caption(t("embeddings.skipped", words=md_escape(", ".join(skipped)[:300])))
    view = cached_analogy(f"{kind}:{model_name()}", a, b, c, words, method, dims, chosen)
    chart(fig.analogy_projection(view, {
        "axis": t(f"embeddings.method_{method}"), "words": t("embeddings.other_words"),
        "corners": t("embeddings.corners"), "computed": f"{a} − {b} + {c}"}), width="stretch", key="embeddings.chart3")
    st.caption(t("embeddings.proj_explain_pca" if method == "pca" else "embeddings.proj_explain_tsne"))

# --- 5. the plural direction ----------------------------------------------------------------
st.header(t("embeddings.plural_header"))
st.caption(t("embeddings.plural_intro", space=t(f"embeddings.space_{kind}")))
q1, q2 = st.columns(2)
singular = q1.text_input(t("embeddings.singular"), "dog apple car house child idea student",
                         key="embeddings.singular")
plural = q2.text_input(t("embeddings.plural"), "dogs apples cars houses children ideas students",
                       key="embeddings.plural")
with words_guard():
    sing, plur = split_words(singular, 40), split_words(plural, 40)
    pairs = [w for pair in zip_longest(sing, plur) for w in pair if w]  # dog, dogs, apple, apples …
    view = cached_direction(f"{kind}:{model_name()}", "cats", "cat", tuple(pairs), tuple(sing[:8]),
                            space(kind))
    groups = [0 if w in sing else 1 for w in view.words]
    chart(fig.direction_bars(view.words, view.scores, groups, {
        0: t("embeddings.singular"), 1: t("embeddings.plural"), "score": t("embeddings.plural_score")}),
        width="stretch", key="embeddings.chart4")
    means = [sum(s for s, g in zip(view.scores, groups) if g == k) / max(1, groups.count(k)) for k in (0, 1)]
    st.caption(t("embeddings.plural_means", singular=f"{means[0]:.2f}", plural=f"{means[1]:.2f}"))
    if view.applied:
        st.table({t("embeddings.noun"): [n for n, _, _ in view.applied],
                  t("embeddings.noun_plus"): [w for _, w, _ in view.applied],
                  t("embeddings.cosine"): [f"{s:.3f}" for _, _, s in view.applied]})
st.caption(t("embeddings.plural_explain"))
