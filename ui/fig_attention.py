"""Attention figures: pure functions data → plotly Figure (no streamlit here).

Captions and axis titles are passed in already translated (one `labels` dict),
so the functions stay testable and language-free. Attention weights are shown on one fixed 0–1 scale
everywhere (so two heatmaps can be compared); the colours are spaced so that
small weights are still visible.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from ui.fig_common import figure, plotly_text, position_label
from ui.markdown import md_escape

# 0–1 weights; stops crowded near 0 because most weights are small.
WEIGHT_SCALE = [[0.0, "#ffffff"], [0.03, "#deebf7"], [0.1, "#9ecae1"], [0.3, "#4292c6"],
                [0.6, "#08519c"], [1.0, "#08306b"]]
MASK_COLOR = "#e4e4e4"      # cells the causal mask removes: shown as empty, grey
DIVERGING = "RdBu_r"


def token_labels(tokens) -> list[str]:
    """Every token as '3:␣cat' (fig_common.position_label): plain text for the
    page's widgets; the figures here escape them."""
    return [position_label(i, getattr(tok, "text", tok)) for i, tok in enumerate(tokens)]


def _escaped(ticks) -> list[str]:
    return [plotly_text(tick) for tick in ticks]


def _np(values) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def _masked(pattern: np.ndarray, causal: bool) -> np.ndarray:
    """Upper triangle → NaN for a causal model, so it shows as empty, not as 'a small weight'."""
    z = pattern.astype(np.float32)     # float32: plotly sends arrays as binary, half the bytes
    if causal:
        n = z.shape[-1]
        z = z.copy()
        z[..., np.triu(np.ones((n, n), dtype=bool), 1)] = np.nan
    return z


def _size(n: int, lo: int = 320, hi: int = 720) -> int:
    return int(min(hi, max(lo, 140 + 22 * n)))


def pattern_heatmap(pattern, ticks, labels: dict, *, causal: bool, height: int | None = None,
                    highlight_query: int | None = None) -> go.Figure:
    """One head's attention_pattern (query key): query tokens down, key tokens (`ticks`)
    across; `highlight_query` frames that query's row.
    labels: x_title, y_title, color_title, title (optional)."""
    x_title, y_title, color_title = labels["x_title"], labels["y_title"], labels["color_title"]
    title = labels.get("title", "")
    z = _masked(_np(pattern), causal)
    frame = {} if highlight_query is None else dict(shapes=[dict(
        type="rect", x0=-0.5, x1=len(ticks) - 0.5, y0=highlight_query - 0.5,
        y1=highlight_query + 0.5, line=dict(color="#e67e22", width=2))])
    return figure(
        [dict(type="heatmap", z=z, x=_escaped(ticks), y=_escaped(ticks), zmin=0, zmax=1,
              colorscale=WEIGHT_SCALE, hoverongaps=False,
              colorbar=dict(title=dict(text=color_title, side="right"), thickness=12),
              hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{color_title}: %{{z:.3f}}"
                            "<extra></extra>")],
        title=title, height=height or _size(len(ticks)) + 60, **frame,
        yaxis=dict(autorange="reversed", title=dict(text=y_title), type="category"),
        xaxis=dict(title=dict(text=x_title), type="category", tickangle=-60, side="bottom"),
        plot_bgcolor=MASK_COLOR)


def head_grid(patterns, ticks, labels: dict, *, causal: bool, cols: int | None = None) -> go.Figure:
    """All heads of one layer (head query key) as small multiples on one shared colour scale.
    labels: head_titles (one per head), x_title, y_title, color_title."""
    head_titles, color_title = labels["head_titles"], labels["color_title"]
    x_title, y_title = labels["x_title"], labels["y_title"]
    z_all = _masked(_np(patterns), causal)
    n_heads = z_all.shape[0]
    cols = cols or math.ceil(math.sqrt(n_heads))
    rows = math.ceil(n_heads / cols)
    hover = (f"%{{meta}}<br>{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>"
             f"{color_title}: %{{z:.3f}}<extra></extra>")
    ticks = _escaped(ticks)
    traces = [dict(type="heatmap", z=z_all[h], x=ticks, y=ticks, coloraxis="coloraxis",
                   hoverongaps=False, meta=head_titles[h], hovertemplate=hover,
                   xaxis=f"x{h + 1 if h else ''}", yaxis=f"y{h + 1 if h else ''}")
              for h in range(n_heads)]
    grid = _grid(rows, cols, list(head_titles))
    for name, axis in grid.items():
        if name.startswith(("xaxis", "yaxis")):
            axis.update(showticklabels=False, type="category")
            if name.startswith("yaxis"):
                axis["autorange"] = "reversed"
    return figure(traces, height=rows * 240 + 60, margin=dict(t=40), plot_bgcolor=MASK_COLOR,
                  coloraxis=dict(cmin=0, cmax=1, colorscale=WEIGHT_SCALE,
                                 colorbar=dict(title=dict(text=color_title, side="right"),
                                               thickness=12)), **grid)


def _grid(rows: int, cols: int, titles) -> dict:
    """The layout make_subplots writes for a rows × cols grid with a title over each
    subplot, in its own arithmetic (the same numbers, without its ~35 ms): each
    subplot's axis domains, row 1 at the top, and the titles as annotations."""
    h_space, v_space = 0.03, 0.06
    if (cols > 1 and h_space > 1 / (cols - 1)) or (rows > 1 and v_space > 1 / (rows - 1)):
        raise ValueError(f"a {rows} × {cols} grid does not fit its spacing")   # as make_subplots
    widths = [(1.0 - h_space * (cols - 1)) / cols] * cols
    heights = [(1.0 - v_space * (rows - 1)) / rows] * rows
    shape, notes = {}, []
    for cell in range(rows * cols):
        r, c = divmod(cell, cols)
        x0 = sum(widths[:c]) + c * h_space
        y0 = sum(heights[:rows - 1 - r]) + (rows - 1 - r) * v_space
        x = [x0, x0 + widths[c]]
        y = [max(0.0, y0), min(1.0, y0 + heights[-1 - r])]      # float rounding past 0 or 1
        n = "" if cell == 0 else cell + 1
        shape[f"xaxis{n}"] = dict(anchor=f"y{n}", domain=[max(0.0, x[0]), min(1.0, x[1])])
        shape[f"yaxis{n}"] = dict(anchor=f"x{n}", domain=y)
        if cell < len(titles) and titles[cell]:
            notes.append(dict(font=dict(size=16), showarrow=False, text=titles[cell],
                              x=sum(x) / 2.0, xanchor="center", xref="paper", y=y[1],
                              yanchor="bottom", yref="paper"))
    return dict(shape, annotations=notes) if notes else shape


def overview_heatmap(values, labels: dict, *, selected: tuple[int, int] | None = None,
                     zmax: float | None = None, colorscale: str = "Viridis") -> go.Figure:
    """layer head — one number per head; the chosen head is framed.
    labels: metric_title, x_title, y_title."""
    metric_title, x_title, y_title = labels["metric_title"], labels["x_title"], labels["y_title"]
    z = _np(values)
    n_layers, n_heads = z.shape
    scale = {} if zmax is None else dict(zmax=zmax)          # None: from the data
    frame = {} if selected is None else dict(shapes=[dict(
        type="rect", x0=selected[1] - 0.5, x1=selected[1] + 0.5, y0=selected[0] - 0.5,
        y1=selected[0] + 0.5, line=dict(color="#e74c3c", width=3))])
    return figure(
        [dict(type="heatmap", z=np.round(z, 4), x=list(range(n_heads)), y=list(range(n_layers)),
              colorscale=colorscale, zmin=0, **scale,
              colorbar=dict(title=dict(text=metric_title, side="right"), thickness=12),
              hovertemplate=f"{y_title} %{{y}}, {x_title} %{{x}}<br>{metric_title}: %{{z:.3f}}"
                            "<extra></extra>")],
        height=max(320, 18 * n_layers + 120), **frame,
        xaxis=dict(title=dict(text=x_title), dtick=1),
        yaxis=dict(title=dict(text=y_title), autorange="reversed",
                   **(dict(dtick=1) if n_layers <= 32 else {})))


def token_bars(weights, ticks, labels: dict, *, highlight: int | None = None,
               color: str = "#2e86de", text_format: str = ".2f") -> go.Figure:
    """One query's weights over the tokens (`ticks`) it may look at (or any per-token
    numbers). labels: value_title, x_title."""
    value_title, x_title = labels["value_title"], labels["x_title"]
    w = _np(weights)
    colors = [("#e67e22" if i == highlight else color) for i in range(len(w))]
    return figure(
        [dict(type="bar", x=_escaped(ticks), y=w, marker=dict(color=colors),
              texttemplate=f"%{{y:{text_format}}}",
              textposition="outside" if len(w) <= 24 else "none", cliponaxis=False,
              hovertemplate=f"{x_title}: %{{x}}<br>{value_title}: %{{y:.4f}}<extra></extra>")],
        height=340, margin=dict(l=10, r=10, t=20, b=10),
        xaxis=dict(title=dict(text=x_title), type="category", tickangle=-60),
        yaxis=dict(title=dict(text=value_title)))


def md_token(label: str) -> str:
    """A token label for st.markdown/st.caption text: markdown characters escaped
    (a token like '*' or '[' must not turn into formatting), in quotes."""
    return "“" + md_escape(label) + "”"
