"""Figures of the attention_step lesson: one head's vectors as strips, each on
its own colour scale. Pure functions data → plotly Figure (no streamlit here)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from llm_core.attention_step import length
from ui.fig_attention import DIVERGING, _np


def vector_strips(rows, labels: dict, *, n_dims: int, boundaries: int | None = None) -> go.Figure:
    """Named vectors as one-row heatmap strips over their first `n_dims` dimensions,
    each row on its own diverging scale centred at 0 (±its largest |value|, named
    beside it): a normalised x (|x| ≈ 1) next to a residual (|x| ≈ 20) must not
    fade to white. rows: [(name, vector)]. `boundaries` draws a line every that
    many dimensions (e.g. the head slices of a concat). labels: x_title, color_title."""
    x_title, color_title = labels["x_title"], labels["color_title"]
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


def vector_table(rows, labels: dict, n_shown: int) -> pd.DataFrame:
    """The strips' first `n_shown` numbers and each vector's length, one row per
    vector. rows: [(name, vector)]. labels: length."""
    table = {name: [*(round(float(x), 3) for x in vec[:n_shown]), round(length(vec), 3)]
             for name, vec in rows}
    return pd.DataFrame.from_dict(table, orient="index",
                                  columns=[*map(str, range(n_shown)), labels["length"]])


def scores_table(s, tokens, labels: dict) -> pd.DataFrame:
    """Step 4 for every key: q·k, ÷√d_head, the mask, the softmax weight. `s` is
    a HeadSteps, `tokens` the keys' labels. labels: col_token, col_score,
    col_scaled, col_masked, col_weight, masked_value (what −∞ reads as)."""
    own = lambda v: v.detach().cpu().numpy()      # float32, as the model computed them
    masked = [f"{v:.3f}" if math.isfinite(v) else labels["masked_value"] for v in own(s.masked).tolist()]
    return pd.DataFrame({labels["col_token"]: tokens,
                         labels["col_score"]: own(s.scores).round(3),
                         labels["col_scaled"]: own(s.scaled).round(3),
                         labels["col_masked"]: masked,
                         labels["col_weight"]: own(s.pattern).round(4)})
