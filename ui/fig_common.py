"""Figure helpers used by several pages: pure functions, data → plotly Figure."""
from __future__ import annotations

import html
import json
import math
import os
import re
import unicodedata

import plotly.graph_objects as go
import plotly.io as pio
from _plotly_utils.basevalidators import ColorscaleValidator


def unique_labels(texts, start: int = 0) -> list[str]:
    """Token texts made unique and readable for axes: '0:The', '1:␣cat' (whole).
    HTML-escaped: plotly reads <a href>, <b> … in labels, and a token is never markup."""
    return [html.escape(position_label(i, text, limit=None)) for i, text in enumerate(texts, start)]


def plotly_text(text) -> str:
    """Text for plotly, never markup: it reads <b>, <a href> … in labels and titles."""
    return html.escape(str(text), quote=False)


def position_label(i: int, text: str, limit: int | None = 12) -> str:
    """'3:␣cat' — a token with its position, which makes the label unique (plotly
    merges equal category names); plain text, for widgets and markdown (a figure
    escapes it)."""
    return f"{i}:{token_label(text, limit, escape=False)}"


def layout(*, title: str = "", height: int = 360, **more) -> dict:
    """The shared look as a plain layout dict (title, height, margins, fonts),
    written out in full (font=dict(size=…), not font_size): `figure` sets it
    as it is."""
    shared = dict(title=dict(text=title, x=0, font=dict(size=15)), height=height,
                  margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                  font=dict(size=13), hoverlabel=dict(font=dict(size=13)))
    margin = {**shared.pop("margin"), **more.pop("margin", {})}   # a figure may set some sides
    return {**shared, "margin": margin, **more}


# Set by the tests (tests/conftest.py), and by the servers they start: every
# `figure` is then also built through plotly's validation and the two must hold
# the same JSON (hoverlabel=dict(font_size=…) or a colorscale by name would pass
# unvalidated and be drawn differently).
CHECK_AGAINST_VALIDATED = os.environ.get("LLM_XRAY_CHECK_FIGURES") == "1"
_COLORSCALE = ColorscaleValidator("colorscale", "heatmap")   # what validation does to a colorscale


def figure(traces: list[dict], *, title: str = "", height: int = 360, **more) -> go.Figure:
    """A figure made in one step from plain dicts, without plotly's validation
    (3.3× faster: with a class of 30 on the pipeline page, figures were the
    largest part of each update after the model). Its JSON holds what the validated
    figure's holds (keys in another order): the tests check every one
    (CHECK_AGAINST_VALIDATED).
    Later changes (update_layout …) are validated as usual."""
    # A colorscale by name as plotly's validation spells it out: its own colours,
    # which plotly.js's scales of the same name do not all share.
    given = traces
    traces = [dict(t, colorscale=_COLORSCALE.validate_coerce(t["colorscale"]))
              if isinstance(t.get("colorscale"), str) else t for t in traces]
    shape = layout(title=title, height=height, **more)
    fig = go.Figure(data=traces, layout=shape, _validate=False)
    fig._validate = fig.layout._validate = True
    for trace in fig.data:
        trace._validate = True
    if CHECK_AGAINST_VALIDATED:
        want = go.Figure(data=given, layout=shape)
        if json.loads(pio.to_json(fig, validate=False)) != json.loads(pio.to_json(want, validate=False)):
            raise AssertionError(f"unvalidated figure {title!r} differs from plotly's validation")
    return fig


# The trace types the app draws. Only their entries of a template can change a
# chart (plotly.js applies template.data.<type> to traces of that type); the
# tests check that every page's figures keep to them.
DRAWN = frozenset({"bar", "cone", "heatmap", "scatter", "scatter3d", "treemap"})


def app_template(theme: go.layout.Template) -> go.layout.Template:
    """`theme` (Streamlit's chart template) with its trace entries for the types
    the app draws and its whole layout part. Every figure copies the default
    template and every chart sends it: Streamlit's also styles candlesticks,
    tables, sankeys … that no page draws, about a third of each copy."""
    kept = go.layout.Template(theme)
    for kind in list(kept.data.to_plotly_json()):
        if kind not in DRAWN:
            kept.data[kind] = None
    return kept


def _columns(text: str) -> int:
    """How wide a text is on screen, in Latin-letter columns (CJK counts two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def wrapped(text: str, width: int = 34, lines: int = 3) -> str:
    """A long axis label on a few lines (<br>) instead of cut off at the chart's edge;
    escaped for plotly. A word longer than a line (a Chinese sentence has no spaces)
    is cut into lines; a CJK character is two columns wide, so half as many fit."""
    text = str(text)
    sep = " " if " " in text else ""
    pieces = []                      # (piece, what joins it to the one before)
    for word in (text.split(" ") if sep else [text]):
        size = width // 2 if _columns(word) > len(word) else width      # wide (CJK) characters
        chunks = [word[i:i + size] for i in range(0, max(len(word), 1), size)]
        pieces += [(c, sep if k == 0 else "") for k, c in enumerate(chunks)]
    rows, row = [], ""
    for piece, join in pieces:
        if row and _columns(row + join + piece) > width:
            rows.append(row)
            row = piece
        else:
            row = f"{row}{join}{piece}" if row else piece
    rows.append(row)
    if len(rows) > lines:
        rows = rows[:lines]
        rows[-1] = rows[-1][: width - 1] + "…"
    return "<br>".join(plotly_text(r) for r in rows)


def percent_axis(upper: float, *, fixed: bool = False) -> dict:
    """A probability axis from 0: fixed at 0–100 % (to compare settings), or fitted
    to `upper` with as many decimals as its ticks need, so no two ticks read alike
    (a 0–2.2 % axis at ".0%" reads 0%, 1%, 1%, 2%, 2%)."""
    if fixed:
        return {"range": [0, 1.04], "tickformat": ".0%", "dtick": 0.2}   # room for the 100 % tick
    upper = max(float(upper), 1e-6) * 1.12
    step = upper / 5                                   # plotly draws about five ticks
    decimals = max(0, -math.floor(math.log10(step * 100))) if step < 0.01 else 0
    return {"range": [0, upper], "tickformat": f".{decimals}%"}


def visible(text: str) -> str:
    """A token as a student reads it: whitespace made visible ('␣', '↵', '⇥'),
    characters that draw nothing (a variation selector, a zero-width joiner)
    named by their code point, the empty token '∅'. The one rule for chips,
    figures and tables."""
    # Spaces inside a byte fragment ('‹e4 ba›') separate bytes; only real ones get '␣'.
    shown = "".join(part if part.startswith("‹") else
                    part.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥")
                    for part in re.split(r"(‹[^›]*›)", text))
    # A piece of a split character keeps its part ("U+FE0F[1/3]").
    base, part = re.match(r"(.*?)(\[\d+/\d+\])?$", shown, re.S).groups()
    if base and all(unicodedata.category(c) in ("Mn", "Cf", "Me") for c in base):
        return " ".join(f"U+{ord(c):04X}" for c in base) + (part or "")
    return shown or "∅"


def token_label(text: str, limit: int | None = 14, escape: bool = True) -> str:
    """A token as a readable label (`visible`), cut to `limit` (None: whole),
    HTML-escaped for plotly (escape=False for plain-text widgets)."""
    shown = visible(text)
    if limit is not None and len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return html.escape(shown) if escape else shown


def code_label(text: str, limit: int = 16) -> str:
    """A token for markdown: inside backticks, so * _ # and HTML stay literal."""
    return "`" + token_label(text, limit, escape=False).replace("`", "ˋ") + "`"


def layer_kind_heatmap(z, kinds, labels: dict, *, zero_blank: bool = False) -> go.Figure:
    """A layers × matrix-kinds heatmap (one row per layer, layer 0 at the bottom),
    on a colour-blind-safe scale. labels: title, colorbar, layer_axis, and hover
    (a template with {layer} {kind} {v}).
    zero_blank: cells that are exactly 0 (untouched) stay empty."""
    hover = labels["hover"]
    rows = [[None if (zero_blank and v == 0) else v for v in row] for row in z]
    text = [[hover.format(layer=li, kind=k, v=v if v is not None else 0.0)
             for k, v in zip(kinds, row)] for li, row in enumerate(rows)]
    return figure([dict(type="heatmap", z=rows, x=list(kinds), y=list(range(len(rows))),
                        colorscale="Viridis", colorbar=dict(title=dict(text=labels["colorbar"])),
                        text=text, hovertemplate="%{text}<extra></extra>", xgap=1, ygap=1)],
                  title=labels["title"], height=max(320, 14 * len(rows) + 120),
                  yaxis=dict(title=dict(text=labels["layer_axis"]), dtick=2),
                  xaxis=dict(side="bottom"))
