"""Figures for embeddings and word arithmetic. Pure functions data → plotly
Figure; labels come in already translated. Words are escaped (plotly reads a
little HTML in text)."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from ui.fig_common import token_label as word_label   # row_strip's token_label is a text

BLUE, RED, GREEN, GREY, ORANGE = "#2980b9", "#e74c3c", "#27ae60", "#7f8c8d", "#e67e22"


def esc(text) -> str:
    """A word as a figure label: the one token-label rule (a leading space as ␣),
    whole, escaped for plotly."""
    return word_label(str(text), None)


def row_strip(values, token_label: str, labels: dict, height: int = 200) -> go.Figure:
    """The first dimensions of one embedding row as a one-line heatmap.
    labels: dim, value."""
    v = np.asarray(values, dtype=float)
    lim = float(np.abs(v).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=[v], x=list(range(len(v))), y=[esc(token_label)], zmin=-lim, zmax=lim,
        colorscale="RdBu", reversescale=True,
        colorbar=dict(title=dict(text=labels["value"]), thickness=12),
        hovertemplate=f"{labels['dim']} %{{x}}<br>{labels['value']}: %{{z:.4f}}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=40),
                      xaxis=dict(title=labels["dim"]), yaxis=dict(automargin=True))
    return fig


def similarity_heatmap(words, matrix, labels: dict, height: int | None = None) -> go.Figure:
    """word × word heatmap with the value in each cell. labels: value (colour title)."""
    names = [esc(w) for w in words]
    m = np.asarray(matrix, dtype=float)
    text = [[f"{x:.2f}" for x in row] for row in m]
    lim = float(np.abs(m).max()) or 1.0
    fig = go.Figure(go.Heatmap(
        z=m, x=names, y=names, text=text, texttemplate="%{text}" if len(words) <= 16 else None,
        zmin=-lim, zmax=lim, colorscale="RdBu", reversescale=True,
        colorbar=dict(title=dict(text=labels["value"]), thickness=12),
        hovertemplate=f"%{{y}} · %{{x}}<br>{labels['value']}: %{{z:.3f}}<extra></extra>"))
    size = height or min(640, 120 + 34 * len(words))
    fig.update_layout(height=size, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(autorange="reversed", automargin=True),
                      xaxis=dict(side="top", automargin=True))
    return fig


def neighbours_bar(results, labels: dict, height: int | None = None) -> go.Figure:
    """Nearest words (best on top) with their cosine similarity. labels: score."""
    words = [esc(w) for w, _ in results][::-1]
    scores = [s for _, s in results][::-1]
    fig = go.Figure(go.Bar(
        x=scores, y=words, orientation="h", marker_color=[GREEN] * (len(words) - 1) + [RED],
        text=[f"{s:.3f}" for s in scores], textposition="auto",
        hovertemplate=f"%{{y}}<br>{labels['score']}: %{{x:.3f}}<extra></extra>"))
    fig.update_layout(height=height or 60 + 26 * len(words), margin=dict(l=10, r=10, t=10, b=40),
                      xaxis=dict(title=labels["score"], range=[min(0.0, min(scores)), 1.0]),
                      yaxis=dict(automargin=True))
    return fig


def analogy_projection(view, labels: dict, height: int = 560) -> go.Figure:
    """Words as points; the analogy's four corners joined by arrows: b → a and
    c → best (the same 'royal' step), b → c and a → best (the same 'female' step),
    plus the computed point a − b + c. labels: axis, words, corners, computed."""
    pts = np.asarray(view.points, dtype=float)
    words = [esc(w) for w in view.words]
    dims = pts.shape[1]
    corner_idx = [0, 1, 2, 3]
    computed = pts[-1]
    fig = go.Figure()
    others = list(range(4, len(words)))
    edges = [(1, 0, BLUE), (2, 3, BLUE), (1, 2, ORANGE), (0, 3, ORANGE)]
    axis = [f"{labels['axis']} {i + 1}" for i in range(dims)]
    if dims == 2:
        fig.add_trace(go.Scatter(
            x=pts[others, 0], y=pts[others, 1], mode="markers+text", text=[words[i] for i in others],
            textposition="top center", marker=dict(size=7, color=GREY), name=labels["words"],
            textfont=dict(color=GREY), hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(go.Scatter(
            x=pts[corner_idx, 0], y=pts[corner_idx, 1], mode="markers+text",
            text=[words[i] for i in corner_idx], textposition="top center", name=labels["corners"],
            marker=dict(size=11, color=RED), textfont=dict(size=15),
            hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(go.Scatter(
            x=[computed[0]], y=[computed[1]], mode="markers+text", text=[labels["computed"]],
            textposition="bottom center", name=labels["computed"],
            marker=dict(size=13, color=GREEN, symbol="x"), hovertemplate="%{text}<extra></extra>"))
        for s, e, color in edges:
            fig.add_annotation(x=pts[e, 0], y=pts[e, 1], ax=pts[s, 0], ay=pts[s, 1], xref="x",
                               yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3,
                               arrowwidth=2.5, arrowcolor=color, text="", standoff=6)
        fig.update_layout(xaxis=dict(title=axis[0], zeroline=False),
                          yaxis=dict(title=axis[1], zeroline=False))
    else:
        fig.add_trace(go.Scatter3d(
            x=pts[others, 0], y=pts[others, 1], z=pts[others, 2], mode="markers+text",
            text=[words[i] for i in others], marker=dict(size=4, color=GREY), name=labels["words"],
            hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(go.Scatter3d(
            x=pts[corner_idx, 0], y=pts[corner_idx, 1], z=pts[corner_idx, 2], mode="markers+text",
            text=[words[i] for i in corner_idx], marker=dict(size=7, color=RED),
            name=labels["corners"], hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(go.Scatter3d(
            x=[computed[0]], y=[computed[1]], z=[computed[2]], mode="markers+text",
            text=[labels["computed"]], marker=dict(size=6, color=GREEN, symbol="diamond"),
            name=labels["computed"], hovertemplate="%{text}<extra></extra>"))
        for s, e, color in edges:  # a line, and a cone at its head as the arrow tip
            fig.add_trace(go.Scatter3d(
                x=pts[[s, e], 0], y=pts[[s, e], 1], z=pts[[s, e], 2], mode="lines",
                line=dict(color=color, width=6), showlegend=False, hoverinfo="skip"))
            d = pts[e] - pts[s]
            fig.add_trace(go.Cone(
                x=[pts[e, 0]], y=[pts[e, 1]], z=[pts[e, 2]], u=[d[0]], v=[d[1]], w=[d[2]],
                anchor="tip", sizemode="absolute", sizeref=max(float(np.linalg.norm(d)) * 0.15, 1e-6),
                colorscale=[[0, color], [1, color]], showscale=False, hoverinfo="skip"))
        fig.update_layout(scene=dict(xaxis=dict(title=axis[0]), yaxis=dict(title=axis[1]),
                                     zaxis=dict(title=axis[2])))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.08))
    return fig


def direction_bars(words, scores, groups, labels: dict, height: int | None = None) -> go.Figure:
    """Each word's dot product with the unit direction, coloured by group
    (e.g. singular / plural). labels: score, and one per group value."""
    colors = {0: BLUE, 1: RED}
    fig = go.Figure()
    for g in sorted(set(groups)):
        idx = [i for i, x in enumerate(groups) if x == g]
        fig.add_trace(go.Bar(
            x=[esc(words[i]) for i in idx], y=[scores[i] for i in idx], name=labels[g],
            marker_color=colors.get(g, GREY), text=[f"{scores[i]:.2f}" for i in idx],
            textposition="outside",
            hovertemplate=f"%{{x}}<br>{labels['score']}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(height=height or 380, margin=dict(l=10, r=10, t=10, b=10),
                      yaxis=dict(title=labels["score"]), xaxis=dict(categoryorder="array",
                      categoryarray=[esc(w) for w in words]),
                      legend=dict(orientation="h", y=1.08))
    return fig


def applied_table(applied, labels: dict) -> dict:
    """The plural direction added to nouns: noun, the nearest word to noun +
    direction, and its cosine, as a table's columns. labels: noun, noun_plus,
    cosine."""
    return {labels["noun"]: [n for n, _, _ in applied], labels["noun_plus"]: [w for _, w, _ in applied],
            labels["cosine"]: [f"{s:.3f}" for _, _, s in applied]}
