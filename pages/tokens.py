"""Concept 4: text → tokens → IDs, and back. Two tokenizers side by side.
Tokenizing needs no forward pass, so no trace is made here."""
import pandas as pd
import streamlit as st
import ui  # noqa: F401,I001 — first: the model core is imported whole, once (ui/__init__.py)
import llm_core
from llm_core.tokens import split
from llm_core.model.tokens import tokens_of
from llm_core.model.limits import CHIPS as MAX_CHIPS, PREVIEW_CHARS
from ui.chips import chips_html
from ui.cache import shared
from ui.errors import guard
from ui.fig_tokens import byte_rows, counts_bar, is_content
from ui.markdown import md_escape
from ui.i18n import t
from ui.models import ENCODER, encoder, get_handle, model_label, model_name, short_model_name
from ui.widgets import LINKED, whole_number
from ui.export import chart
from ui.pages import inside_app

inside_app()   # first: see ui/pages.py

PRESETS = ["The cat sat on the mat", "Hello, world! This is a tokenization demo.",
           "大语言模型,一个巨大的矩阵", "我有一只小猫", "I ❤️ 🍎 and 🐱! 👋🏽"]


@shared
def tokenize(name: str, text: str):
    return split(llm_core.load_model(name), text, max_tokens=10**9)  # count every token, no cut


def use_preset():
    if st.session_state.get("tokens.preset"):
        st.session_state["tokens.text"] = st.session_state["tokens.preset"]


st.title(t("nav.tokens"))
st.info(t("tokens.notice"), icon="👀")
st.session_state.setdefault("tokens.text", PRESETS[0])
st.selectbox(t("tokens.preset"), PRESETS, index=None, placeholder=t("tokens.preset_placeholder"),
             key="tokens.preset", on_change=use_preset)
text = st.text_area(t("tokens.text"), key="tokens.text", **LINKED, height=100)

decoder, enc = get_handle(), encoder()
result = None
if decoder is not None:
    with guard():
        result = tokenize(model_name(), text)
if result is None:
    st.stop()
clean, tokens, decoded = result.text, result.tokens, result.decoded

# --- tokens of the decoder ---------------------------------------------------------------
st.subheader(t("tokens.tokens_of", model=model_label(decoder.name)))
content = [tok for tok in tokens if is_content(tok)]
cols = st.columns(4)
cols[0].metric(t("tokens.chars"), f"{len(clean):,}")
cols[1].metric(t("tokens.bytes"), f"{len(clean.encode('utf-8')):,}")
cols[2].metric(t("tokens.tokens"), f"{len(tokens):,}")
cols[3].metric(t("tokens.chars_per_token"), f"{len(clean) / max(1, len(content)):.2f}")
st.html(chips_html(tokens[:MAX_CHIPS], source_text=clean))
st.caption(t("tokens.chip_help"))
if len(tokens) > MAX_CHIPS:
    st.caption(t("tokens.chips_capped", shown=MAX_CHIPS, n=len(tokens)))

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
labels = {k: t(f"tokens.col_{k}") for k in ("index", "token", "id", "bytes", "holds")}
labels.update(whole=t("tokens.whole"), part=t("tokens.part"), part_one=t("tokens.part_one"))
if all(tok.byte_values is None for tok in tokens):
    st.caption(t("tokens.bytes_unavailable"))
else:
    st.caption(t("tokens.bytes_intro"))
    rows = byte_rows(tokens, clean, labels)
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, height=min(400, 38 + 35 * len(rows)))
    else:
        st.caption(t("tokens.bytes_none"))

# --- two tokenizers --------------------------------------------------------------------------
st.subheader(t("tokens.compare_header"))
st.caption(t("tokens.compare_intro"))
handles = [h for h in (decoder, enc) if h is not None]
results = {decoder.name: result}
if enc is not None:
    with guard():
        results[ENCODER] = tokenize(ENCODER, text)
cols = st.columns(len(results))
names, n_content, n_special = [], [], []
for col, handle in zip(cols, [h for h in handles if h.name in results]):
    r = results[handle.name]
    h_clean, h_tokens, h_decoded = r.text, r.tokens, r.decoded
    with col:
        st.markdown(f"**{md_escape(model_label(handle.name))}**")
        st.caption(t("tokens.vocab", kind=r.tokenizer_kind, size=f"{r.vocab_size:,}"))
        st.html(chips_html(h_tokens[:MAX_CHIPS], source_text=h_clean))
        if r.n_unknown:
            st.warning(t("tokens.unk_count", n=r.n_unknown), icon="❓")
        if handle.kind == "encoder":
            if h_decoded != h_clean:
                st.caption(t("tokens.lowercase", preview=md_escape(h_decoded[:120])))
            else:
                st.caption(t("tokens.encoder_round_trip_ok"))
    names.append(short_model_name(handle.name))
    n_content.append(sum(1 for tok in h_tokens if is_content(tok)))
    n_special.append(len(h_tokens) - n_content[-1])
chart(counts_bar(names, n_content, n_special,
                           {"content": t("tokens.content"), "special": t("tokens.special"),
                            "x": t("tokens.count_axis")}), key="tokens.counts")

# --- look-ups --------------------------------------------------------------------------------
st.subheader(t("tokens.lookup_header"))
choices = {t("tokens.encoder_choice" if h.name == ENCODER else "tokens.decoder_choice",
               name=h.name): h for h in handles if h.name in results}
handle = choices[st.radio(t("tokens.lookup_model"), list(choices), horizontal=True,
                          key="tokens.lookup_model")]
choice = handle.name
left, right = st.columns(2)
with left:
    st.markdown(f"**{t('tokens.id_to_token')}**")
    size = results[choice].vocab_size
    tid = whole_number(t("tokens.token_id", max=size - 1), 0, size - 1, min(result.ids[0], size - 1),
                       key=f"tokens.lookup_id_{choice}")
    token = tokens_of(handle, [int(tid)])[0]
    st.caption(t("tokens.piece"))
    st.code(token.piece, language=None)
    st.html(chips_html([token]))
    if token.special:
        st.caption(t("tokens.special_token", piece=md_escape(token.piece)))
with right:
    st.markdown(f"**{t('tokens.token_to_id')}**")
    word = st.text_input(t("tokens.token_text"), value=" cat", key="tokens.lookup_text")
    with guard():
        found = [tok for tok in tokenize(choice, word).tokens if is_content(tok)]
        if len(found) == 1:
            st.success(t("tokens.is_one_token", text=md_escape(word), id=found[0].id))
        else:
            st.info(t("tokens.not_one_token", text=md_escape(word), n=len(found)))
        st.html(chips_html(found[:MAX_CHIPS]))
    st.caption(t("tokens.space_hint"))
