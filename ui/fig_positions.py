"""Figures for the positions page. Pure functions data → plotly Figure; all
labels arrive translated."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.fig_common import plotly_text, visible, wrapped


# The lesson's two formulas, as LaTeX.
SINUSOID_TEX = (r"PE_{(p,\,2i)} = \sin\left(\frac{p}{10000^{2i/d}}\right),\qquad "
                r"PE_{(p,\,2i+1)} = \cos\left(\frac{p}{10000^{2i/d}}\right)")
ROPE_TEX = (r"\begin{bmatrix} q'_j \\ q'_{j+d/2} \end{bmatrix} = \begin{bmatrix} \cos p\theta_j"
            r" & -\sin p\theta_j \\ \sin p\theta_j & \cos p\theta_j \end{bmatrix}"
            r"\begin{bmatrix} q_j \\ q_{j+d/2} \end{bmatrix}")


def matrix_heatmap(values, labels: dict, *, y_labels=None, x_labels=None, colorscale="RdBu",
                   zmid=0.0, zmin=None, zmax=None, height: int = 420) -> go.Figure:
    """A rows × columns heatmap (positions × dimensions, positions × positions …).
    labels: x_title, y_title, color_title."""
    x_title, y_title, color_title = labels["x_title"], labels["y_title"], labels["color_title"]
    values = np.asarray(values.detach().cpu() if hasattr(values, "detach") else values,
                        dtype=np.float32)  # numpy goes to the browser as compact binary
    y = y_labels if y_labels is not None else list(range(values.shape[0]))
    x = x_labels if x_labels is not None else list(range(values.shape[1]))
    fig = go.Figure(go.Heatmap(
        z=values, x=x, y=y, colorscale=colorscale, zmid=zmid, zmin=zmin, zmax=zmax,
        colorbar=dict(title=dict(text=color_title, side="right")),
        hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{color_title}: %{{z:.3f}}"
                      "<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title, autorange="reversed")
    return fig


def rope_angle_heatmap(angles_deg, labels: dict, height: int = 380) -> go.Figure:
    """pos × pair angles, wrapped to [0°, 360°) with a cyclic colour scale (0° and
    360° are the same direction, so they get the same colour). labels: x_title,
    y_title, color_title."""
    x_title, y_title, color_title = labels["x_title"], labels["y_title"], labels["color_title"]
    wrapped = [[a % 360.0 for a in row] for row in angles_deg.tolist()]
    raw = angles_deg.tolist()
    fig = go.Figure(go.Heatmap(
        z=wrapped, customdata=raw, colorscale="Twilight", zmin=0, zmax=360,
        colorbar=dict(title=dict(text=color_title, side="right"), tickvals=[0, 90, 180, 270, 360]),
        hovertemplate=f"{y_title}: %{{y}}<br>{x_title}: %{{x}}<br>{color_title}: %{{z:.1f}}°"
                      " (%{customdata:.1f}°)<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title, autorange="reversed")
    return fig


def rope_pair_arrows(before, after, token_labels, chosen: int, labels: dict,
                     height: int = 420) -> go.Figure:
    """One pair of q's dimensions at every position: before RoPE (grey) and after
    (coloured); the chosen position drawn thicker. before/after: pos 2."""
    fig = go.Figure()
    for kind, data, color in (("before", before, "#95a5a6"), ("after", after, "#e74c3c")):
        for p, (x, y) in enumerate(data.tolist()):
            wide = p == chosen
            fig.add_trace(go.Scatter(
                x=[0, x], y=[0, y], mode="lines+markers", legendgroup=kind,
                name=labels[kind], showlegend=p == 0,
                line=dict(color=color, width=4 if wide else 1.5),
                marker=dict(size=[0, 10 if wide else 6], color=color),
                customdata=[plotly_text(token_labels[p])] * 2,
                hovertemplate=f"{labels['position']} {p} «%{{customdata}}»<br>{labels[kind]}: "
                              "(%{x:.3f}, %{y:.3f})<extra></extra>"))
    lim = 1.15 * max(1e-6, float(abs(before).max()), float(abs(after).max()))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(x=1.02, y=1, xanchor="left"))
    fig.update_xaxes(range=[-lim, lim], title=labels["x"], zeroline=True, zerolinecolor="#888")
    fig.update_yaxes(range=[-lim, lim], title=labels["y"], scaleanchor="x", scaleratio=1,
                     zeroline=True, zerolinecolor="#888")
    return fig


# Columns of a legend's title beside a figure: about its widest entry ("喜[1/3] (2→2)").
LEGEND_COLUMNS = 18


def order_cosines(matched, texts, labels: dict, height: int = 360) -> go.Figure:
    """One line per token shared by both texts: cosine similarity of its vector
    in A and in B, layer by layer. matched: the experiment's MatchedTokens,
    texts: text A's tokens as read in a row (语[1/2]). labels: x, y, legend."""
    fig = go.Figure()
    low = 1.0
    for m in matched:
        name, values = f"{visible(texts[m.pos_a])} ({m.pos_a}→{m.pos_b})", m.cosine_by_layer
        values = list(values)
        low = min(low, *values)
        fig.add_trace(go.Scatter(
            x=list(range(len(values))), y=values, mode="lines+markers", name=plotly_text(name),
            marker=dict(size=5),
            hovertemplate=f"{plotly_text(name)}<br>{labels['x']} %{{x}}: %{{y:.4f}}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10),
                      legend=dict(x=1.02, y=1, xanchor="left",
                                  # as narrow as its entries: a longer title ran off the figure
                                  # (and off its exported PNG)
                                  title=wrapped(labels["legend"], LEGEND_COLUMNS)))
    fig.update_xaxes(title=labels["x"])
    fig.update_yaxes(title=labels["y"], range=[min(0.5, math.floor(low * 10) / 10), 1.02])
    return fig


def top_tokens_pair(top_a, top_b, labels: dict, height: int = 320) -> go.Figure:
    """Two horizontal bar charts of next-token probabilities on one x-scale (so
    the two texts compare bar for bar). top_*: [(label, prob)]. labels: title_a,
    title_b (the two texts), prob_title."""
    titles, prob_title = (labels["title_a"], labels["title_b"]), labels["prob_title"]
    upper = 1.25 * max([p for _l, p in top_a + top_b] or [0.8])
    fig = make_subplots(rows=1, cols=2, subplot_titles=[plotly_text(x) for x in titles], horizontal_spacing=0.18)
    for col, top, color in ((1, top_a, "#2e86de"), (2, top_b, "#e67e22")):
        names = [f"{i + 1}. {plotly_text(visible(text))}" for i, (text, _p) in enumerate(top)]
        probs = [p for _label, p in top]
        fig.add_trace(go.Bar(x=probs, y=names, orientation="h", marker_color=color,
                             text=[f"{p:.1%}" for p in probs], textposition="outside",
                             textangle=0, cliponaxis=False,
                             hovertemplate=f"%{{y}}<br>{prob_title}: %{{x:.2%}}<extra></extra>",
                             showlegend=False), row=1, col=col)
        fig.update_yaxes(autorange="reversed", type="category", row=1, col=col)
        fig.update_xaxes(title=prob_title, tickformat=".0%", row=1, col=col,
                         range=[0, min(1.25, upper)])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10))
    return fig


def rope_pair_latex(rp, labels: dict) -> str:
    """LaTeX: rotation matrix × q pair (by hand) next to the model's own q pair.
    labels: by_hand, from_model."""
    by_hand, from_model = labels["by_hand"], labels["from_model"]
    m, v, r, q = rp.matrix.tolist(), rp.before.tolist(), rp.rotated.tolist(), rp.model.tolist()
    col = lambda a, b: rf"\begin{{bmatrix}} {a:.4f} \\ {b:.4f} \end{{bmatrix}}"
    mat = (rf"\begin{{bmatrix}} {m[0][0]:.4f} & {m[0][1]:.4f} \\ {m[1][0]:.4f} & {m[1][1]:.4f}"
           r"\end{bmatrix}")
    text = lambda s: r"\text{" + s.replace("\\", "").replace("{", "").replace("}", "") + "}"
    return (rf"\underbrace{{{mat} {col(*v)} = {col(*r)}}}_{{{text(by_hand)}}}"
            rf"\quad\text{{vs}}\quad \underbrace{{{col(*q)}}}_{{{text(from_model)}}}")
