"""Figures of the attention_step lesson: one head's vectors as strips, each on
its own colour scale. Pure functions data → plotly Figure (no streamlit here)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.fig_attention import DIVERGING, _np


def vector_strips(rows, *, n_dims: int, x_title: str, color_title: str,
                  boundaries: int | None = None) -> go.Figure:
    """Named vectors as one-row heatmap strips over their first `n_dims` dimensions,
    each row on its own diverging scale centred at 0 (±its largest |value|, named
    beside it): a normalised x (|x| ≈ 1) next to a residual (|x| ≈ 20) must not
    fade to white. rows: [(name, vector)]. `boundaries` draws a line every that
    many dimensions (e.g. the head slices of a concat)."""
    z = np.stack([_np(vec)[:n_dims] for _, vec in rows])        # row dim
    lims = np.abs(z).max(axis=1, keepdims=True)
    lims[lims == 0] = 1.0
    names = [f"{name} (±{lim:.3g})" for (name, _), lim in zip(rows, lims[:, 0])]
    fig = go.Figure(go.Heatmap(
        z=np.round(z / lims, 4), customdata=np.round(z, 4), x=list(range(z.shape[1])), y=names,
        colorscale=DIVERGING, zmin=-1, zmax=1,
        colorbar=dict(title=dict(text=color_title, side="right"), thickness=12,
                      tickvals=[-1, 0, 1], ticktext=["−max", "0", "+max"]),
        hovertemplate=f"%{{y}}<br>{x_title} %{{x}}: %{{customdata:.4f}}<extra></extra>"))
    if boundaries:
        for b in range(boundaries, z.shape[1], boundaries):
            fig.add_vline(x=b - 0.5, line=dict(color="#333", width=1))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(height=max(150, 90 + 34 * len(rows)), margin=dict(l=10, r=10, t=10, b=10))
    return fig
