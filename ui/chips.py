"""Token chips: each token a coloured box with its id under it. Every piece of
text is HTML-escaped: user text and model tokens are never markup."""
from __future__ import annotations

import html

from llm_core.model.tokens import readable_texts
from ui.fig_common import visible

PALETTE = ["#fde2e4", "#e2ece9", "#dfe7fd", "#fff1c1", "#e9d8fd", "#d8f3dc", "#ffe5d9", "#cde4f7"]


def chips_html(tokens, *, show_ids: bool = True, source_text: str | None = None,
               values=None, title_fn=None) -> str:
    """HTML for a row of token chips. `values` (0..1 per token) shades chips by
    e.g. probability instead of alternating colours; `title_fn(i, token)` gives
    the hover text (escaped here). A tokenizer's tokens read as a student reads
    them in a row (a split character as 我[1/2] 我[2/2], its bytes on hover);
    prepared chips show their own text."""
    texts = (readable_texts(tokens) if all(hasattr(tok, "byte_values") for tok in tokens)
             else [tok.text for tok in tokens])
    parts = ['<div style="display:flex;flex-wrap:wrap;gap:4px;line-height:1.2">']
    for i, tok in enumerate(tokens):
        if values is not None:
            v = max(0.0, min(1.0, float(values[i])))
            bg = f"rgba(46,134,222,{0.12 + 0.75 * v:.2f})"
        else:
            bg = PALETTE[i % len(PALETTE)]
        border = "2px dashed #c0392b" if getattr(tok, "partial", False) else "1px solid #bbb"
        title = ""
        if title_fn is not None:
            title = title_fn(i, tok)
        elif getattr(tok, "byte_values", None) is not None:
            title = "bytes " + " ".join(f"{b:02x}" for b in tok.byte_values)
            if source_text is not None and tok.partial:
                title += f" — part of '{source_text[tok.start:tok.end]}'"
        ids = (f'<div style="font-size:0.7em;color:#555">{tok.id}</div>' if show_ids else "")
        parts.append(
            f'<div title="{html.escape(title, quote=True)}" style="background:{bg};border:{border};'
            f'border-radius:6px;padding:3px 6px;font-family:monospace;text-align:center">'
            f'<div>{html.escape(visible(texts[i]))}</div>{ids}</div>')
    parts.append("</div>")
    return "".join(parts)
