"""Tables and figures for the tokens page. Pure functions (no streamlit):
which bytes of which character a token holds, and token counts per tokenizer."""
from __future__ import annotations

import plotly.graph_objects as go


def is_content(token) -> bool:
    """False for added markers such as [CLS]/[SEP] (they cover no text);
    [UNK] stands for real text, so it counts."""
    return not (token.special and token.start == token.end)


def _hex(raw) -> str:
    return " ".join(f"{b:02x}" for b in raw)


def byte_rows(tokens, text: str, labels: dict) -> list[dict]:
    """One row per token that holds only part of a character: its bytes and,
    for every character it touches, which of that character's UTF-8 bytes.

    `labels`: index, token, id, bytes, holds, whole, part ({ch} {i} {j} {n} {hex}), part_one."""
    indexed = [(i, tok) for i, tok in enumerate(tokens) if tok.byte_values is not None]
    encoded = text.encode("utf-8")
    if b"".join(bytes(tok.byte_values) for _, tok in indexed) != encoded:
        return []  # a tokenizer that changed the text: no exact byte map to show
    char_at = []  # byte offset → (character index, byte index within it)
    for ci, ch in enumerate(text):
        for bi in range(len(ch.encode("utf-8"))):
            char_at.append((ci, bi))
    rows, offset = [], 0
    for index, tok in indexed:
        n = len(tok.byte_values)
        if tok.partial:
            holds, spans = [], {}
            for ci, bi in char_at[offset:offset + n]:
                spans.setdefault(ci, []).append(bi)
            for ci, bis in spans.items():
                ch = text[ci]
                size = len(ch.encode("utf-8"))
                if len(bis) == size:
                    holds.append(labels["whole"].format(ch=ch))
                else:
                    holds.append(labels["part_one" if len(bis) == 1 else "part"].format(
                        ch=ch, i=bis[0] + 1, j=bis[-1] + 1, n=size, hex=_hex(ch.encode("utf-8"))))
            rows.append({labels["index"]: index, labels["token"]: tok.text, labels["id"]: tok.id,
                         labels["bytes"]: _hex(tok.byte_values), labels["holds"]: " + ".join(holds)})
        offset += n
    return rows


def counts_bar(names, content_counts, special_counts, labels: dict, height: int = 260) -> go.Figure:
    """Horizontal bars: tokens per tokenizer for the same text, special markers
    stacked after the content tokens. `labels`: content, special, x."""
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=content_counts, orientation="h", name=labels["content"],
                         text=content_counts, textposition="inside", marker_color="#2e86de",
                         hovertemplate="%{y}: %{x}<extra>" + labels["content"] + "</extra>"))
    fig.add_trace(go.Bar(y=names, x=special_counts, orientation="h", name=labels["special"],
                         marker_color="#c8d6e5",
                         hovertemplate="%{y}: %{x}<extra>" + labels["special"] + "</extra>"))
    fig.update_layout(barmode="stack", height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.35), xaxis_title=labels["x"])
    fig.update_yaxes(autorange="reversed")
    return fig


