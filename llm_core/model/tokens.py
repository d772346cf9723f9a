"""Tokens as a student should see them: readable text, id, character span, and
for byte-level BPE the raw bytes (a Chinese character or an emoji is often
split into several tokens, each holding some of its UTF-8 bytes)."""
from __future__ import annotations

import re

from dataclasses import dataclass
from functools import lru_cache


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
        if raw is not None:
            text = show_bytes(raw)
            partial = "‹" in text
        else:
            text = piece.replace("▁", " ")
            partial = False
        tokens.append(Token(int(tid), text, piece, int(start), int(end),
                            tuple(raw) if raw is not None else None, partial, special))
    return tuple(tokens)
