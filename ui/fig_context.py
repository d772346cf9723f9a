"""Figures for "context changes meaning". Pure functions data → plotly Figure;
labels come in already translated; sentences are escaped."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

SENSE_COLORS = ["#e74c3c", "#2980b9", "#27ae60", "#8e44ad"]


def _short(text: str, n: int = 48) -> str:
    text = " ".join(str(text).split())
    return html.escape(text if len(text) <= n else text[: n - 1] + "…")


def similarity_lines(similarity, sentences, senses, sense_names, labels: dict,
                     height: int = 440) -> go.Figure:
    """Cosine similarity with sentence 0, layer by layer: one line per other
    sentence, coloured by its sense (solid: same sense as sentence 0).
    labels: layer, cosine, reference."""
    sim = np.asarray(similarity, dtype=float)   # sentence layer+1
    layers = list(range(sim.shape[1]))
    fig = go.Figure()
    order = list(dict.fromkeys(sense_names))
    for i in range(1, sim.shape[0]):
        sense = senses[i]
        color = SENSE_COLORS[order.index(sense) % len(SENSE_COLORS)] if sense in order else "#7f8c8d"
        same = sense == senses[0]
        fig.add_trace(go.Scatter(
            x=layers, y=sim[i], mode="lines+markers", name=f"{html.escape(sense)}: {_short(sentences[i], 34)}",
            line=dict(color=color, width=2.5, dash="solid" if same else "dash"),
            marker=dict(size=5),
            hovertemplate=(f"{_short(sentences[i])}<br>{labels['layer']} %{{x}}<br>"
                           f"{labels['cosine']}: %{{y:.3f}}<extra></extra>")))
    fig.add_annotation(x=0, y=1.0, text=f"{labels['reference']}: {_short(sentences[0], 40)}",
                       showarrow=False, xanchor="left", yanchor="bottom", yshift=6,
                       font=dict(size=12, color="#555"))
    low = float(np.nanmin(sim[1:])) if sim.shape[0] > 1 else 0.0
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(title=labels["layer"], dtick=max(1, len(layers) // 15)),
                      yaxis=dict(title=labels["cosine"], range=[min(0.0, low - 0.05), 1.06]),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def sense_projection(points, sentences, senses, sense_names, labels: dict,
                     height: int = 440) -> go.Figure:
    """The word's vectors from each sentence at one layer, projected to 2-D,
    coloured by sense. labels: axis."""
    pts = np.asarray(points, dtype=float)
    fig = go.Figure()
    order = list(dict.fromkeys(sense_names))
    for k, sense in enumerate(order):
        idx = [i for i, s in enumerate(senses) if s == sense]
        if not idx:
            continue
        fig.add_trace(go.Scatter(
            x=pts[idx, 0], y=pts[idx, 1], mode="markers+text", name=html.escape(sense),
            text=[_short(sentences[i], 22) for i in idx], textposition="top center",
            customdata=[_short(sentences[i], 80) for i in idx],
            marker=dict(size=13, color=SENSE_COLORS[k % len(SENSE_COLORS)]),
            hovertemplate="%{customdata}<extra></extra>"))
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = np.maximum((hi - lo) * 0.25, 1e-3)  # room for the sentence labels at the edges
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title=f"{labels['axis']} 1", zeroline=False,
                                 range=[lo[0] - pad[0], hi[0] + pad[0]]),
                      yaxis=dict(title=f"{labels['axis']} 2", zeroline=False,
                                 range=[lo[1] - pad[1], hi[1] + pad[1] * 1.3]),
                      legend=dict(orientation="h", y=-0.15))
    return fig
