"""Tokens as a student should see them: readable text, id, character span, and
for byte-level BPE the raw bytes (a Chinese character or an emoji is often
split into several tokens, each holding some of its UTF-8 bytes). One rule
joins a split character back (`character_spans`): in a traced text, in a
generated answer and for a candidate next token (`complete_characters`)."""
from __future__ import annotations

import re

from dataclasses import dataclass
from functools import lru_cache

import torch


@dataclass(frozen=True)
class Token:
    id: int
    text: str            # readable: the decoded text, or the bytes when a character is split
    piece: str           # the tokenizer's own vocabulary entry (e.g. "Ġcat", "##ing")
    start: int           # character span in the input text (end exclusive)
    end: int
    byte_values: tuple[int, ...] | None = None  # UTF-8 bytes, for byte-level tokenizers
    partial: bool = False  # True when the bytes are only part of a character
    special: bool = False  # [CLS], <|im_start|> …

    def to_json(self) -> dict:
        out = {"id": self.id, "text": self.text, "start": self.start, "end": self.end}
        if self.byte_values is not None:
            out["bytes"] = " ".join(f"{b:02x}" for b in self.byte_values)
        if self.partial:
            out["partial"] = True
        if self.special:
            out["special"] = True
        return out


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable stand-ins for bytes ("Ġ" = space), inverted."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


@lru_cache(maxsize=1)
def _byte_encoder() -> dict[int, str]:
    return {b: c for c, b in _byte_decoder().items()}


def byte_chars(raw: bytes) -> str:
    """Bytes as a byte-level BPE writes them: one printable stand-in each (" " → "Ġ")."""
    return "".join(_byte_encoder()[b] for b in raw)


def byte_token(tid: int, piece: str, raw: bytes, start: int = 0, end: int = 0) -> Token:
    """A token holding `raw` bytes: its text is the characters they make, with hex
    for a split character's fragments (‹e8 af›), and then it is partial."""
    text = show_bytes(raw)
    return Token(int(tid), text, piece, int(start), int(end), tuple(raw), "‹" in text)


def is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None)
    return decoder is not None and "ByteLevel" in repr(decoder)


def piece_bytes(piece: str) -> bytes | None:
    """The bytes a byte-level BPE piece stands for, or None if it is not one."""
    table = _byte_decoder()
    try:
        return bytes(table[c] for c in piece)
    except KeyError:
        return None


_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def fallback_byte(piece: str) -> bytes | None:
    """A SentencePiece byte-fallback piece ("<0xE5>": one byte of a character
    its vocabulary lacks), or None."""
    match = _FALLBACK.fullmatch(piece or "")
    return bytes([int(match.group(1), 16)]) if match else None


def show_bytes(raw: bytes) -> str:
    """Readable form of a token's bytes: the text if they are whole characters,
    else the complete characters plus hex for the fragments, e.g. '‹e5 a4›'."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    out, i = [], 0
    while i < len(raw):
        for size in (4, 3, 2, 1):
            chunk = raw[i:i + size]
            try:
                out.append(chunk.decode("utf-8"))
                i += size
                break
            except UnicodeDecodeError:
                continue
        else:
            out.append("‹" + f"{raw[i]:02x}" + "›")
            i += 1
    text = "".join(out)
    return text.replace("›‹", " ")


_PART = re.compile(r"(?<=.)\[(\d+)/(\d+)\]$")


def is_piece(label: str) -> bool:
    """Whether a label reads a piece of a split character (语[1/2])."""
    return _PART.search(str(label)) is not None


def without_part(label: str) -> str:
    """The character a piece's label names (语[1/2] → 语); other labels unchanged."""
    return _PART.sub("", str(label))


def character_spans(tokens) -> list[tuple[int, int, str]]:
    """(start, end, text) of each run of tokens in a row that together hold one
    character's bytes (‹e8 af› ‹ad› → 语), found from their bytes: the one rule
    for joining a split character, on the pages and in an answer's pieces."""
    spans, i = [], 0
    while i < len(tokens):
        if not tokens[i].partial or tokens[i].byte_values is None:
            i += 1
            continue
        raw, j, text = bytearray(), i, None
        while j < len(tokens) and j - i < 4 and tokens[j].byte_values is not None:
            raw.extend(tokens[j].byte_values)
            try:
                text = raw.decode("utf-8")
                break
            except UnicodeDecodeError:
                j += 1
        if text is None or j == i:      # a lone tail of a character cut off before it
            i += 1
            continue
        spans.append((i, j + 1, text))
        i = j + 1
    return spans


def padded(rows, filler: int = 0, *, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id sequences of different lengths as one batch (rows × longest) and the
    mask of their real tokens. Padded on the right (a causal model's real tokens
    never see what follows them), or on the `left` so every row's last token is in
    the last column (a batch that goes on generating)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), filler, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, row in enumerate(rows):
        cols = slice(width - len(row), width) if left else slice(0, len(row))
        ids[b, cols] = torch.as_tensor(row, dtype=torch.long).reshape(-1).cpu()
        mask[b, cols] = 1
    return ids, mask


def readable_texts(tokens) -> list[str]:
    """Tokens in a row as a student reads them. Consecutive pieces of one split
    character show the character and which part each is — ‹e8 af› ‹ad› read
    "语[1/2]" "语[2/2]" — so it works the same for a traced text and for
    generated tokens; every other token is its own text."""
    out = [tok.text for tok in tokens]
    for start, end, text in character_spans(tokens):
        for k in range(start, end):
            out[k] = f"{text}[{k - start + 1}/{end - start}]"
    return out


def make_tokens(tokenizer, ids: list[int], offsets: list[tuple[int, int]]) -> tuple[Token, ...]:
    byte_level = is_byte_level(tokenizer)
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    pieces = tokenizer.convert_ids_to_tokens(ids)
    tokens = []
    for tid, piece, (start, end) in zip(ids, pieces, offsets):
        special = tid in special_ids
        raw = None if special else piece_bytes(piece) if byte_level else fallback_byte(piece)
        tokens.append(byte_token(tid, piece, raw, start, end) if raw is not None else
                      Token(int(tid), piece.replace("▁", " "), piece, int(start), int(end),
                            special=special))
    return tuple(tokens)


# --- tokens of a model, as a student reads them -----------------------------------

def tokens_of(handle, ids) -> tuple:
    """Tokens of ids without a text (no character spans), bytes included."""
    ids = [int(i) for i in ids]
    with handle._lock:  # the Rust tokenizer is not safe to share across threads
        return make_tokens(handle.tokenizer, ids, [(0, 0)] * len(ids))


def readable(handle, ids) -> list[str]:
    """Each token alone as a student should read it (split characters as ‹e5 a4›)."""
    return [tok.text for tok in tokens_of(handle, ids)]


def readable_sequence(handle, ids) -> list[str]:
    """Tokens in a row (a generated answer): pieces of one character read as
    that character and their part, 巴[1/2] 巴[2/2] (`tokens.readable_texts`)."""
    return readable_texts(tokens_of(handle, ids))


def _cut_inside_a_character(raw: bytes) -> int | None:
    """Where the character the bytes end inside begins, or None when they end whole
    (or start inside one: a tail is not a character's beginning)."""
    if not raw or (raw[0] & 0xC0) == 0x80:
        return None
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError as err:
        return err.start if err.reason == "unexpected end of data" else None


def _open_character(handle, prompt_ids) -> tuple[bytes, int]:
    """The bytes of a character the prompt ends inside (b"" when it ends whole) and
    how many of its last tokens they span: a position inside a Chinese text can
    end halfway through 喜 (‹e5 96› of ‹e5 96› ‹9c›)."""
    raw, ends = bytearray(), []
    for tok in tokens_of(handle, [int(i) for i in prompt_ids[-3:]]):
        if tok.byte_values is None:        # a special token: nothing is open before it
            raw, ends = bytearray(), []
            continue
        raw.extend(tok.byte_values)
        ends.append(len(raw))
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 == 0x80:            # a continuation byte: look further back
            continue
        need = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        if back >= need:                   # the last character is whole
            return b"", 0
        start = len(raw) - back
        return bytes(raw[start:]), sum(1 for end in ends if end > start)
    return b"", 0


def complete_characters(handle, prompt_ids: torch.Tensor, candidate_ids, max_extra: int = 3
                        ) -> dict[int, str]:
    """How a student reads each candidate next token that is part of a split
    character: the character and which part the candidate is (语[1/2], like a split
    character in a text), never its bytes. The character is the one the candidate
    continues (when the prompt ends inside one) and, when it is still unfinished,
    the one the model completes it to, greedily (T = 0) — all such candidates as
    one batch, through the one decode loop. A piece that fits nowhere (a
    character's end with no beginning) or that the model does not complete in
    `max_extra` steps reads "\ufffd", as a decoder shows it. Whole tokens are left out."""
    pieces = [tok for tok in tokens_of(handle, candidate_ids) if tok.partial and tok.byte_values]
    if not pieces:
        return {}
    opened, spanned = _open_character(handle, prompt_ids)
    done: dict[int, str] = {}
    open_ = []                      # (token, bytes so far, its part, where its character begins)
    for tok in pieces:
        own = bytes(tok.byte_values)
        tail = own[0] & 0xC0 == 0x80
        joined, part = (opened + own, spanned + 1) if tail else (own, 1)
        cut = _cut_inside_a_character(joined)
        if tail and not opened:
            done[tok.id] = "\ufffd"
        elif cut is None:
            try:
                done[tok.id] = f"{joined.decode('utf-8')}[{part}/{part}]"
            except UnicodeDecodeError:
                done[tok.id] = "\ufffd"
        else:
            open_.append((tok, bytearray(joined), part, cut))
    if not open_:
        return done

    def forced(a):
        def choose(i, logits):
            return _Chosen(open_[a][0].id if i == 0 else int(logits.argmax()))
        return choose

    from llm_core.model.sampling import decode_batch   # here: sampling reads tokens with this module
    steps = decode_batch(handle, prompt_ids, [forced(a) for a in range(len(open_))],
                         1 + max_extra, stop=lambda: all(tok.id in done for tok, *_ in open_))
    for i, row in enumerate(steps):
        for a, step in enumerate(row):
            tok, raw, part, cut = open_[a]
            if step is None or tok.id in done or i == 0:
                continue
            (nxt,) = tokens_of(handle, [step.token_id])
            raw.extend(nxt.byte_values or b"")
            lead = raw[cut]
            end = cut + (2 if lead < 0xE0 else 3 if lead < 0xF0 else 4)   # the open character's end
            if len(raw) < end:
                continue
            try:   # strict: the candidate's own bytes must be part of what decodes (the
                text = bytes(raw[:end]).decode("utf-8")   # next token may run on into more)
            except UnicodeDecodeError:
                done[tok.id] = "\ufffd"          # the model went on with something that does not fit
                continue
            done[tok.id] = f"{text}[{part}/{part + i}]"
    for tok, *_ in open_:
        done.setdefault(tok.id, "\ufffd")
    return done


@dataclass(frozen=True)
class _Chosen:
    token_id: int


def candidate_texts(handle, ids, completed: dict[int, str], unique: bool = True) -> list[str]:
    """Candidates as a student reads them, each label unique (a chart's category)
    unless `unique` is false (a grid's cells); a piece of a split character shows
    its character and its part (`complete_characters`): 语[1/2]."""
    ids = [int(i) for i in ids]
    plain = readable(handle, ids)
    texts = [completed.get(i, text) for i, text in zip(ids, plain)]
    # Two pieces can complete to the same character in as many steps (‹e8› and
    # ‹e8 af› → 语[1/2]); only then do their bytes tell them apart, so labels stay unique.
    return [f"{text} {byte}" if unique and texts.count(text) > 1 else text
            for text, byte in zip(texts, plain)]
