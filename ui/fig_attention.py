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

from plotly.subplots import make_subplots

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
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(head_titles),
                        horizontal_spacing=0.03, vertical_spacing=0.06)
    hover = (f"%{{meta}}<br>{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>"
             f"{color_title}: %{{z:.3f}}<extra></extra>")
    for h in range(n_heads):
        fig.add_trace(go.Heatmap(z=z_all[h], x=_escaped(ticks), y=_escaped(ticks), coloraxis="coloraxis",
                                 hoverongaps=False, meta=head_titles[h], hovertemplate=hover),
                      row=h // cols + 1, col=h % cols + 1)
    fig.update_xaxes(showticklabels=False, type="category")
    fig.update_yaxes(showticklabels=False, type="category", autorange="reversed")
    fig.update_layout(coloraxis=dict(cmin=0, cmax=1, colorscale=WEIGHT_SCALE,
                                     colorbar=dict(title=dict(text=color_title, side="right"),
                                                   thickness=12)),
                      height=rows * 240 + 60, plot_bgcolor=MASK_COLOR,
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def overview_heatmap(values, labels: dict, *, selected: tuple[int, int] | None = None,
                     zmax: float | None = None, colorscale: str = "Viridis") -> go.Figure:
    """layer head — one number per head; the chosen head is framed.
    labels: metric_title, x_title, y_title."""
    metric_title, x_title, y_title = labels["metric_title"], labels["x_title"], labels["y_title"]
    z = _np(values)
    n_layers, n_heads = z.shape
    fig = go.Figure(go.Heatmap(
        z=np.round(z, 4), x=list(range(n_heads)), y=list(range(n_layers)), colorscale=colorscale,
        zmin=0, zmax=zmax,
        colorbar=dict(title=dict(text=metric_title, side="right"), thickness=12),
        hovertemplate=f"{y_title} %{{y}}, {x_title} %{{x}}<br>{metric_title}: %{{z:.3f}}"
                      "<extra></extra>"))
    if selected is not None:
        layer, head = selected
        fig.add_shape(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                      line=dict(color="#e74c3c", width=3))
    fig.update_xaxes(title=x_title, dtick=1)
    fig.update_yaxes(title=y_title, autorange="reversed", dtick=1 if n_layers <= 32 else None)
    fig.update_layout(height=max(320, 18 * n_layers + 120), margin=dict(l=10, r=10, t=10, b=10))
    return fig


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
