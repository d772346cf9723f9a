"""Figures for the warm-up: vectors as arrows in 3-D, a rotation in 2-D.
Pure functions data → plotly Figure; labels come in already translated."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

COLORS = ["#e74c3c", "#f1c40f", "#27ae60", "#8e44ad", "#2980b9", "#e67e22", "#16a085", "#7f8c8d"]


def vectors_3d(names, vectors, labels: dict, highlight=(), height: int = 520) -> go.Figure:
    """Each vector as an arrow from the origin (a line plus a marker at its tip).
    `highlight`: names drawn thicker (the pair being compared).
    labels: axis_titles (the three axes' titles, translated)."""
    axis_titles = labels["axis_titles"]
    fig = go.Figure()
    for i, (name, vec) in enumerate(zip(names, vectors)):
        color = COLORS[i % len(COLORS)]
        wide = name in highlight
        x, y, z = (float(v) for v in vec)
        hover = (f"<b>{name}</b><br>{axis_titles[0]}: {x:.2f}<br>{axis_titles[1]}: {y:.2f}"
                 f"<br>{axis_titles[2]}: {z:.2f}<extra></extra>")
        fig.add_trace(go.Scatter3d(
            x=[0, x], y=[0, y], z=[0, z], mode="lines", showlegend=False, hoverinfo="skip",
            line=dict(color=color, width=9 if wide else 4)))
        fig.add_trace(go.Scatter3d(
            x=[x], y=[y], z=[z], mode="markers+text", text=[name], textposition="top center",
            marker=dict(size=8 if wide else 5, color=color), name=name, hovertemplate=hover))
    axis = dict(range=[0, 1.05])
    fig.update_layout(
        height=height, margin=dict(l=0, r=0, t=10, b=0), legend=dict(itemsizing="constant"),
        scene=dict(xaxis=dict(title=axis_titles[0], **axis), yaxis=dict(title=axis_titles[1], **axis),
                   zaxis=dict(title=axis_titles[2], **axis), aspectmode="cube",
                   camera=dict(eye=dict(x=1.9, y=1.7, z=1.1))))   # the whole cube in a narrow column
    return fig


def rotation_2d(point, rotated, shape, shape_rotated, angle_deg: float, labels: dict,
                height: int = 520) -> go.Figure:
    """The point p and M·p as arrows, the shape before (dashed) and after (filled).
    `labels`: before, after, shape_before, shape_after, x, y (translated)."""
    fig = go.Figure()
    shape, shape_rotated = np.asarray(shape, dtype=float), np.asarray(shape_rotated, dtype=float)
    sx, sy = list(shape[:, 0]) + [shape[0, 0]], list(shape[:, 1]) + [shape[0, 1]]
    rx = list(shape_rotated[:, 0]) + [shape_rotated[0, 0]]
    ry = list(shape_rotated[:, 1]) + [shape_rotated[0, 1]]
    fig.add_trace(go.Scatter(x=sx, y=sy, mode="lines", name=labels["shape_before"],
                             line=dict(color="#95a5a6", dash="dash"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=rx, y=ry, mode="lines", fill="toself", name=labels["shape_after"],
                             line=dict(color="#2980b9"), fillcolor="rgba(41,128,185,0.2)",
                             hovertemplate="(%{x:.2f}, %{y:.2f})<extra></extra>"))
    for vec, name, color in ((point, labels["before"], "#7f8c8d"), (rotated, labels["after"], "#e74c3c")):
        x, y = float(vec[0]), float(vec[1])
        fig.add_trace(go.Scatter(x=[0, x], y=[0, y], mode="lines+markers", name=name,
                                 line=dict(color=color, width=3), marker=dict(size=[0, 11]),
                                 hovertemplate=f"{name}: (%{{x:.3f}}, %{{y:.3f}})<extra></extra>"))
        fig.add_annotation(x=x, y=y, ax=0, ay=0, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowwidth=2, arrowcolor=color, text="")
    fig.add_annotation(x=0.02, y=0.98, xref="paper", yref="paper", text=f"θ = {angle_deg:.0f}°",
                       showarrow=False, font=dict(size=16), xanchor="left", yanchor="top")
    lim = 1.25 * max(1.0, *(abs(float(v)) for v in (*point, *rotated)),
                     float(abs(shape).max()), float(abs(shape_rotated).max()))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(orientation="h", y=-0.18, yanchor="top"))
    fig.update_xaxes(range=[-lim, lim], title=labels["x"], zeroline=True, zerolinecolor="#888")
    fig.update_yaxes(range=[-lim, lim], title=labels["y"], scaleanchor="x", scaleratio=1,
                     zeroline=True, zerolinecolor="#888")
    return fig
