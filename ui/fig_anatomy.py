"""Figures of the model's anatomy: data → plotly Figure (no streamlit here).
Strings arrive translated in one `labels` dict."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = {"embedding": "#2e86de", "position_embedding": "#54a0ff", "W_Q": "#8e44ad",
           "W_K": "#9b59b6", "W_V": "#a569bd", "W_O": "#6c3483", "mlp_gate": "#1e8449",
           "mlp_up": "#27ae60", "mlp_down": "#52be80", "norm": "#f1c40f",
           "unembedding": "#e67e22", "other": "#95a5a6"}


def parameter_treemap(rows, labels: dict, *, total: int) -> go.Figure:
    """rows: [(kind, label, parameters)]. Areas are parameter counts; the root is
    the whole model, so the boxes sum to `total`. labels: root, share_word."""
    root, share_word = labels["root"], labels["share_word"]
    fig = go.Figure(go.Treemap(
        labels=[root] + [r[1] for r in rows], parents=[""] + [root] * len(rows),
        values=[total] + [r[2] for r in rows], branchvalues="total",
        marker={"colors": ["#ecf0f1"] + [PALETTE.get(r[0], "#95a5a6") for r in rows]},
        texttemplate="%{label}<br>%{value:,}<br>%{percentRoot:.1%}",
        hovertemplate=f"%{{label}}<br>%{{value:,}}<br>{share_word}: %{{percentRoot:.2%}}"
                      "<extra></extra>",
        sort=False))
    fig.update_layout(height=420, margin={"l": 5, "r": 5, "t": 10, "b": 5})
    return fig


def matrix_heatmap(view, labels: dict) -> go.Figure:
    """A weight matrix as colours: blue negative, red positive, white zero. The
    colour range is clipped at the 99.5th percentile of |w| so a few large
    weights do not wash out the rest; hover shows the real index range.
    labels: title, x_title, y_title, colour_title, hover_value."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    colour_title, hover_value = labels["colour_title"], labels["hover_value"]
    values = view.values
    br, bc = view.block
    limit = view.limit
    rows = view.row_start + np.arange(values.shape[0]) * br
    cols = view.col_start + np.arange(values.shape[1]) * bc
    fig = go.Figure(go.Heatmap(
        z=values, x=cols, y=rows, zmin=-limit, zmax=limit, zmid=0, colorscale="RdBu_r",
        colorbar={"title": {"text": colour_title}},
        hovertemplate=(f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{hover_value}: %{{z:.4f}}"
                       "<extra></extra>")))
    fig.update_layout(title=title, height=560, margin={"l": 70, "r": 20, "t": 50, "b": 50},
                      xaxis={"title": x_title, "side": "bottom"},
                      yaxis={"title": y_title, "autorange": "reversed"})
    return fig
