"""Concept 8: context changes meaning. The same word in several sentences,
followed through the decoder's residual stream layer by layer."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
from llm_core.context import MODES, experiment, find_word, sense_gap
from llm_core.embeddings import projection
from llm_core.model.errors import InputError
from llm_core.model.limits import CONTEXT_SENTENCES as MAX_SENTENCES, CONTEXT_TOKENS as MAX_TOKENS
from llm_core.model.limits import SENSE_NAME_CHARS, WORD_CHARS
from ui.fig_context import sense_projection, similarity_lines
from ui.errors import guard
from ui.i18n import LANGS, lang, t, table
from ui.markdown import md_escape
from ui.models import ENCODER, get_handle, get_traces
from ui.widgets import LINKED, option_labels
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

# (word, sense keys, sentences of sense A, sentences of sense B). In a decoder a word sees only
# what comes before it, so each clue stands before the word.
PRESETS = {
    "apple": ("apple", ("fruit", "company"),
              ["For lunch I ate a crunchy apple.", "She sliced a green apple.",
               "The orchard farmer picked a ripe apple."],
              ["The tech giant Apple.", "Steve Jobs founded Apple.",
               "My new iPhone is made by Apple."]),
    "pingguo": ("苹果", ("fruit", "company"),
                ["这个又红又甜的苹果很好吃。", "果园里挂满了成熟的苹果。", "妈妈削了一个苹果。"],
                ["乔布斯创立的苹果公司。", "这部手机的品牌是苹果。", "科技巨头苹果发布了新手机。"]),
    # The word first (like the lesson's 苹果手机很好用 / 苹果很好吃): only the encoder can tell
    # these apart, and its vocabulary has no Chinese characters, so the example is English.
    "apple_first": ("apple", ("company", "fruit"),
                    ["Apple makes the iPhone.", "Apple sells laptops and phones."],
                    ["Apple pie is sweet.", "Apple trees grow in the orchard."]),
    "bank": ("bank", ("river", "money"),
             ["We sat on the bank of the river.", "The boat drifted toward the muddy bank.",
              "Fish swim near the bank of the lake."],
             ["I deposited money at the bank.", "The bank raised its interest rates.",
              "She works at a bank in London."]),
}


def load_preset():
    word, senses, first, second = PRESETS[st.session_state["context.preset"]]
    st.session_state.update({
        "context.word": word, "context.text_a": "\n".join(first), "context.text_b": "\n".join(second),
        "context.name_a": t(f"context.sense_{senses[0]}"), "context.name_b": t(f"context.sense_{senses[1]}")})


def retranslate_names():
    """A preset's sense names follow the language switch (names a user typed stay)."""
    for key in ("context.name_a", "context.name_b"):
        value = st.session_state.get(key)
        for sense in ("fruit", "company", "river", "money"):
            if value in {table(code).get(f"context.sense_{sense}") for code in LANGS}:
                st.session_state[key] = t(f"context.sense_{sense}")


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:MAX_SENTENCES]


if "context.word" not in st.session_state:    # the lesson's own example in Chinese
    st.session_state["context.preset"] = "pingguo" if lang() == "zh" else "apple"
    load_preset()
retranslate_names()

st.title(t("nav.context"))
st.info(t("context.notice"), icon="👀")
handle = get_handle()
if handle is None:
    st.stop()

st.selectbox(t("context.preset"), list(PRESETS), key="context.preset", on_change=load_preset,
             format_func=option_labels("context.preset_", PRESETS))
word = st.text_input(t("context.word"), key="context.word", **LINKED, max_chars=WORD_CHARS)
col_a, col_b = st.columns(2)
name_a = col_a.text_input(t("context.sense_name"), key="context.name_a", max_chars=SENSE_NAME_CHARS)
text_a = col_a.text_area(t("context.sentences"), key="context.text_a", **LINKED, height=120)
name_b = col_b.text_input(t("context.sense_name"), key="context.name_b", max_chars=SENSE_NAME_CHARS)
text_b = col_b.text_area(t("context.sentences"), key="context.text_b", **LINKED, height=120)
readers = {r: t(f"context.reader_{r}") for r in ("decoder", "encoder")}
reader = st.radio(t("context.reader"), list(readers), format_func=readers.get, horizontal=True,
                  key="context.reader", **LINKED, help=t("context.reader_help"))
st.caption(t(f"context.reader_note_{reader}"))
c1, c2 = st.columns(2)
mode = c1.radio(t("context.mode"), MODES, key="context.mode", horizontal=True,
                format_func=option_labels("context.mode_", MODES))
centre = c2.checkbox(t("context.centre"), key="context.centre", help=t("context.centre_help"))
st.caption(t("context.limits", n=MAX_SENTENCES, tokens=MAX_TOKENS))

# One cached forward pass per sentence; keep the sentences that contain the word.
traces, senses, missing = [], [], []
if word.strip():
    pairs = [(name_a or "A", s) for s in lines(text_a)] + [(name_b or "B", s) for s in lines(text_b)]
    made = get_traces([sentence for _, sentence in pairs], name=ENCODER if reader == "encoder" else None,
                      max_tokens=MAX_TOKENS)   # traced together, in one batch
    for (sense, sentence), trace in zip(pairs, made):
        if trace is None:
            continue
        try:
            find_word(trace, word)
        except InputError:
            missing.append(sentence)
            continue
        traces.append(trace)
        senses.append(sense)
if missing:
    st.caption(t("context.missing", word=md_escape(word.strip()[:40]),
                 sentences=md_escape(" · ".join(s[:60] for s in missing)[:400])))
if len(traces) < 2:
    st.info(t("context.need_two"))
    st.stop()

with guard():
    exp = experiment(traces, senses, word, mode=mode, centre=centre)
    st.dataframe(pd.DataFrame({
        t("context.col_sense"): senses,
        t("context.col_sentence"): exp.sentences,
        t("context.col_tokens"): [" | ".join(x.replace(" ", "␣") for x in sp.tokens) for sp in exp.spans],
        t("context.col_same"): ["✓" if s else "✗" for s in exp.same_token],
    }), hide_index=True, width="stretch")
    if any(len(sp.positions) > 1 for sp in exp.spans):
        st.caption(t("context.split_note", mode=t(f"context.mode_{mode}")))

    st.subheader(t("context.lines_header"))
    labels = {"layer": t("common.layer"), "cosine": t("context.cosine"), "reference": t("context.reference")}
    chart(similarity_lines(exp.similarity, exp.sentences, senses, [name_a, name_b], labels),
                    width="stretch", key="context.chart0")
    same_layer0 = all(exp.same_token)
    gap = sense_gap(exp)            # what the chart shows, in numbers: the sentence says that
    st.caption(t("context.layer0_same" if same_layer0 else "context.layer0_diff", n=exp.n_layers)
               + " " + t("context.lines_explain") + ("" if gap is None else " " + t(
                   f"context.gap_{gap.trend}", first=gap.first, last=gap.last, most=gap.most,
                   widest=gap.widest)))

    st.subheader(t("context.proj_header"))
    layer = st.slider(t("common.layer"), 0, exp.n_layers, min(exp.n_layers, 2 * exp.n_layers // 3),
                      key="context.layer", **LINKED)
    points = projection(exp.at_layer(layer), "pca", 2)
    chart(sense_projection(points, exp.sentences, senses, [name_a, name_b],
                                     {"axis": "PCA"}), width="stretch", key="context.chart1")
    st.caption(t("context.proj_explain", layer=layer))

st.subheader(t("common.what_to_notice"))
st.markdown(t("context.explain"))
