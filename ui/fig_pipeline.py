"""Figures of the pipeline overview (pure: data → plotly Figure).
Strings arrive translated in one `labels` dict."""
from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from ui.fig_common import figure, unique_labels


def embedding_heatmap(p, labels: dict) -> go.Figure:
    """labels: title, x_label, y_label, value_label."""
    title, x_label, y_label = labels["title"], labels["x_label"], labels["y_label"]
    value_label = labels["value_label"]
    ticks = unique_labels(p.token_texts, p.shown_from)
    z = p.embedding_strip.numpy()
    limit = float(abs(z).max()) or 1.0
    return figure([dict(
        # RdBu runs red → blue from low to high; reversed, red is positive, as the text says.
        type="heatmap", z=z, y=ticks, x=list(range(z.shape[1])), colorscale="RdBu",
        reversescale=True, zmid=0, zmin=-limit, zmax=limit,
        colorbar=dict(title=dict(text=value_label)),
        hovertemplate=f"%{{y}}<br>{x_label} %{{x}}: %{{z:.4f}}<extra></extra>")],
        title=title, height=max(220, 60 + 26 * len(ticks)), xaxis=dict(title=dict(text=x_label)),
        yaxis=dict(title=dict(text=y_label), autorange="reversed", type="category"))


def residual_heatmap(p, labels: dict) -> go.Figure:
    """labels: title, x_label, y_label, value_label."""
    title, x_label, y_label = labels["title"], labels["x_label"], labels["y_label"]
    value_label = labels["value_label"]
    rows = unique_labels(p.token_texts, p.shown_from)
    norms = p.residual_norm.T.numpy()                           # pos layer+1
    # Log colour: the first token's vector grows far larger than the others
    # (an "attention sink"), and a linear scale would hide everything else.
    z = np.log10(np.maximum(norms, 1e-6))
    ticks = [v for v in (1, 10, 100, 1000, 10000, 100000)
             if z.min() - 0.2 <= np.log10(v) <= z.max() + 0.2]
    return figure([dict(
        type="heatmap", z=z, y=rows, x=list(range(z.shape[1])), colorscale="Viridis",
        customdata=norms,
        colorbar=dict(title=dict(text=value_label), tickvals=np.log10(ticks).tolist(),
                      ticktext=[f"{v:,}" for v in ticks]),
        hovertemplate=f"%{{y}}<br>{x_label} %{{x}}: ‖x‖ = %{{customdata:.1f}}<extra></extra>")],
        title=title, height=max(220, 60 + 26 * len(rows)), xaxis=dict(title=dict(text=x_label)),
        yaxis=dict(title=dict(text=y_label), autorange="reversed", type="category"))


def similarity_line(p, labels: dict) -> go.Figure:
    """labels: title, x_label, y_label."""
    title, x_label, y_label = labels["title"], labels["x_label"], labels["y_label"]
    sim = p.last_similarity.numpy()
    return figure([dict(type="scatter", x=list(range(len(sim))), y=sim, mode="lines+markers",
                        hovertemplate=f"{x_label} %{{x}}: %{{y:.3f}}<extra></extra>")],
                  title=title, height=300, xaxis=dict(title=dict(text=x_label)),
                  yaxis=dict(title=dict(text=y_label),
                             range=[min(0.0, float(sim.min()) - 0.05), 1.05]))


def attention_heatmap(p, labels: dict) -> go.Figure:
    """labels: title, x_label, y_label, value_label."""
    title, x_label, y_label = labels["title"], labels["x_label"], labels["y_label"]
    value_label = labels["value_label"]
    ticks = unique_labels(p.attention_texts, p.attention_from)
    return figure([dict(
        type="heatmap", z=p.attention_last_layer.numpy(), x=ticks, y=ticks, colorscale="Blues",
        zmin=0, colorbar=dict(title=dict(text=value_label)),
        hovertemplate="%{y} → %{x}: %{z:.3f}<extra></extra>")],
        title=title, height=max(300, 120 + 24 * len(ticks)),
        xaxis=dict(title=dict(text=x_label), type="category", tickangle=-45),
        yaxis=dict(title=dict(text=y_label), autorange="reversed", type="category"))


def candidates_bar(p, labels: dict) -> go.Figure:
    """labels: title, x_label."""
    title, x_label = labels["title"], labels["x_label"]
    names = [html.escape(repr(c[0])[1:-1].replace(" ", "␣")) or "∅" for c in p.candidates][::-1]
    probs = [c[3] for c in p.candidates][::-1]
    logits = [c[2] for c in p.candidates][::-1]
    return figure([dict(
        type="bar", x=probs, y=names, orientation="h", text=[f"{v:.1%}" for v in probs],
        textposition="auto", customdata=logits, marker_color="#2e86de",
        hovertemplate="%{y}: p = %{x:.4f}, logit = %{customdata:.2f}<extra></extra>")],
        title=title, height=60 + 30 * len(names),
        xaxis=dict(title=dict(text=x_label), tickformat=".0%", range=[0, max(probs) * 1.1]),
        yaxis=dict(type="category"))
