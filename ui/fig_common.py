"""Figure helpers used by several pages: pure functions, data → plotly Figure."""
from __future__ import annotations

import html

import plotly.graph_objects as go


def unique_labels(texts, start: int = 0) -> list[str]:
    """Token texts made unique and readable for axes: '0:The', '1:␣cat'."""
    return [f"{i}:{t.replace(' ', '␣').replace(chr(10), '↵')}" for i, t in enumerate(texts, start)]


def base_layout(fig: go.Figure, *, title: str = "", height: int = 360) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=15)), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      font=dict(size=13), hoverlabel=dict(font_size=13))
    return fig


def token_label(text: str, limit: int = 14, escape: bool = True) -> str:
    """A token as a readable label: whitespace made visible, cut to `limit`,
    HTML-escaped for plotly (escape=False for plain-text widgets)."""
    shown = text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥") or "∅"
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown) if escape else shown


def code_label(text: str, limit: int = 16) -> str:
    """A token for markdown: inside backticks, so * _ # and HTML stay literal."""
    return "`" + token_label(text, limit, escape=False).replace("`", "ˋ") + "`"
