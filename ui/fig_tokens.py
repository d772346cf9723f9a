"""Tables and figures for the tokens page. Pure functions (no streamlit):
which bytes of which character a token holds, how byte-pair encoding merged a
word, and token counts per tokenizer."""
from __future__ import annotations

import plotly.graph_objects as go

from ui.fig_common import figure, token_label


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
    return figure(
        [dict(type="bar", y=names, x=content_counts, orientation="h", name=labels["content"],
              text=[str(n) for n in content_counts], textposition="inside", marker=dict(color="#2e86de"),
              hovertemplate="%{y}: %{x}<extra>" + labels["content"] + "</extra>"),
         dict(type="bar", y=names, x=special_counts, orientation="h", name=labels["special"],
              marker=dict(color="#c8d6e5"),
              hovertemplate="%{y}: %{x}<extra>" + labels["special"] + "</extra>")],
        height=height, barmode="stack", legend=dict(orientation="h", y=-0.35),
        xaxis=dict(title=dict(text=labels["x"])), yaxis=dict(autorange="reversed"))


def merge_rows(steps, labels: dict) -> list[dict]:
    """One row per step of byte-pair encoding (llm_core.tokens.MergeSteps): the
    pair merged, the rule's place among the tokenizer's merges, the parts after
    it; the first row is the word's bytes. `labels`: step, pair, rule, parts,
    bytes (the first row's pair cell), rule_of ({rule} {n})."""
    def parts(row) -> str:
        return "  ·  ".join(token_label(p, None, escape=False) for p in row)

    rows = [{labels["step"]: 0, labels["pair"]: labels["bytes"], labels["rule"]: "",
             labels["parts"]: parts(steps.start)}]
    for i, m in enumerate(steps.steps, 1):
        rows.append({labels["step"]: i,
                     labels["pair"]: f"{token_label(m.left, None, escape=False)} + "
                                     f"{token_label(m.right, None, escape=False)}",
                     labels["rule"]: labels["rule_of"].format(rule=f"{m.rule:,}", n=f"{steps.n_rules:,}"),
                     labels["parts"]: parts(m.parts)})
    return rows
