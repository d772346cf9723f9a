"""Concept 4: text → tokens → IDs, and back. Two tokenizers side by side.
Tokenizing needs no forward pass, so no trace is made here."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
import llm_core
from llm_core.tokens import bpe_words, merge_steps, split
from llm_core.model.tokens import tokens_of
from llm_core.model.limits import PREVIEW_CHARS
from ui.cache import shared
from ui.errors import guard
from ui.fig_common import token_label
from ui.fig_tokens import byte_rows, counts_bar, is_content, merge_rows
from ui.markdown import md_escape, plain_table
from ui.i18n import t
from ui.models import ENCODER, encoder, get_handle, model_label, model_name, short_model_name
from ui.widgets import LINKED, pick_one, token_chips, whole_number
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

PRESETS = ["The cat sat on the mat", "Hello, world! This is a tokenization demo.",
           "大语言模型,一个巨大的矩阵", "我有一只小猫", "I ❤️ 🍎 and 🐱! 👋🏽"]


@shared
def tokenize(name: str, text: str):
    return split(llm_core.load_model(name), text, max_tokens=10**9)  # count every token, no cut


st.title(t("nav.tokens"))
st.info(t("tokens.notice"), icon="👀")
st.session_state.setdefault("tokens.text", PRESETS[0])
st.selectbox(t("tokens.preset"), PRESETS, index=None, placeholder=t("tokens.preset_placeholder"),
             key="tokens.preset", on_change=lambda: st.session_state.update(
                 {"tokens.text": st.session_state["tokens.preset"] or st.session_state["tokens.text"]}))
text = st.text_area(t("tokens.text"), key="tokens.text", **LINKED, height=100)

decoder, enc, result = get_handle(), encoder(), None
with guard():
    result = tokenize(model_name(), text) if decoder is not None else None
if result is None:
    st.stop()
clean, tokens, decoded = result.text, result.tokens, result.decoded

# --- tokens of the decoder ---------------------------------------------------------------
st.subheader(t("tokens.tokens_of", model=model_label(decoder.name)))
for col, (key, value) in zip(st.columns(4), {
        "chars": f"{len(clean):,}", "bytes": f"{len(clean.encode('utf-8')):,}", "tokens": f"{len(tokens):,}",
        "chars_per_token": f"{len(clean) / max(1, sum(map(is_content, tokens))):.2f}"}.items()):
    col.metric(t(f"tokens.{key}"), value)
token_chips(tokens, source_text=clean)
st.caption(t("tokens.chip_help"))

st.markdown(f"**{t('tokens.round_trip')}**")
st.code(decoded[:PREVIEW_CHARS], language=None, wrap_lines=True)
if len(decoded) > PREVIEW_CHARS:
    st.caption(t("tokens.round_trip_preview", n=PREVIEW_CHARS))
if decoded == clean:
    st.success(t("tokens.round_trip_ok", n=len(clean)), icon="✅")
else:
    st.warning(t("tokens.round_trip_diff"), icon="⚠️")

# --- byte pieces -----------------------------------------------------------------------------
st.subheader(t("tokens.bytes_header"))
labels = ({k: t(f"tokens.col_{k}") for k in ("index", "token", "id", "bytes", "holds")}
          | {k: t(f"tokens.{k}") for k in ("whole", "part", "part_one")})
if result.tokenizer_kind != "byte-level BPE":    # the byte view is for a byte-level vocabulary
    st.caption(t("tokens.bytes_unavailable"))
else:
    st.caption(t("tokens.bytes_intro"))
    rows = byte_rows(tokens, clean, labels)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, height=min(400, 38 + 35 * len(rows)))
    else:
        st.caption(t("tokens.bytes_none"))

# --- how byte-pair encoding merged a word ------------------------------------------------------
st.subheader(t("tokens.bpe_header"))
words = bpe_words(decoder, clean)
if not words:
    st.caption(t("tokens.bpe_unavailable", kind=result.tokenizer_kind))
else:   # the longest word first: the most steps
    word = pick_one(t("tokens.bpe_word"), words, key="tokens.bpe_word", prefer=lambda w: len(w.encode()),
                    format_func=lambda w: token_label(w, None, escape=False))
    with guard():
        merges = merge_steps(decoder, word)    # None: the tokenizer's own tokens differ from its merges
        st.caption(t("tokens.bpe_intro", n=f"{merges.n_rules:,}") if merges else t("tokens.bpe_not_shown"))
        if merges:
            columns = {k: t(f"tokens.bpe_{k}") for k in ("step", "pair", "rule", "parts", "bytes", "rule_of")}
            st.table(plain_table(pd.DataFrame(merge_rows(merges, columns))), hide_index=True)
            st.markdown(t("tokens.bpe_result", steps=len(merges.steps), n_bytes=len(merges.start),
                          n_tokens=len(merges.tokens)))

# --- two tokenizers --------------------------------------------------------------------------
st.subheader(t("tokens.compare_header"))
st.caption(t("tokens.compare_intro"))
results = {decoder.name: result}
if enc is not None:
    with guard():
        results[ENCODER] = tokenize(ENCODER, text)
handles = [h for h in (decoder, enc) if h is not None and h.name in results]
for col, handle in zip(st.columns(len(handles)), handles):
    r = results[handle.name]
    with col:
        st.markdown(f"**{md_escape(model_label(handle.name))}**")
        st.caption(t("tokens.vocab", kind=r.tokenizer_kind, size=f"{r.vocab_size:,}"))
        token_chips(r.tokens, source_text=r.text)
        if r.n_unknown:
            st.warning(t("tokens.unk_count", n=r.n_unknown), icon="❓")
        if handle.kind == "encoder":
            st.caption(t("tokens.lowercase", preview=md_escape(r.decoded[:120])) if r.decoded != r.text
                       else t("tokens.encoder_round_trip_ok"))
n_content = [sum(1 for tok in results[h.name].tokens if is_content(tok)) for h in handles]
chart(counts_bar([short_model_name(h.name) for h in handles], n_content,
                 [len(results[h.name].tokens) - n for h, n in zip(handles, n_content)],
                 {"content": t("tokens.content"), "special": t("tokens.special"),
                  "x": t("tokens.count_axis")}), key="tokens.counts")

# --- look-ups --------------------------------------------------------------------------------
st.subheader(t("tokens.lookup_header"))
choices = {t("tokens.encoder_choice" if h.name == ENCODER else "tokens.decoder_choice",
               name=h.name): h for h in handles}
handle = choices[st.radio(t("tokens.lookup_model"), list(choices), horizontal=True,
                          key="tokens.lookup_model")]
left, right = st.columns(2)
with left:
    st.markdown(f"**{t('tokens.id_to_token')}**")
    size = results[handle.name].vocab_size
    tid = whole_number(t("tokens.token_id", max=size - 1), 0, size - 1, min(result.ids[0], size - 1),
                       key=f"tokens.lookup_id_{handle.name}")
    token = tokens_of(handle, [int(tid)])[0]
    st.caption(t("tokens.piece"))
    st.code(token.piece, language=None)
    token_chips([token])
    if token.special:
        st.caption(t("tokens.special_token", piece=md_escape(token.piece)))
with right:
    st.markdown(f"**{t('tokens.token_to_id')}**")
    word = st.text_input(t("tokens.token_text"), value=" cat", key="tokens.lookup_text")
    with guard():
        found = [tok for tok in tokenize(handle.name, word).tokens if is_content(tok)]
        if len(found) == 1:
            st.success(t("tokens.is_one_token", text=md_escape(word), id=found[0].id))
        else:
            st.info(t("tokens.not_one_token", text=md_escape(word), n=len(found)))
        token_chips(found)
    st.caption(t("tokens.space_hint"))
