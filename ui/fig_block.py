"""Figures of the transformer block: data → plotly Figure (no streamlit here).
Strings arrive translated in one `labels` dict."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

DECODER_COLOUR = "#2e86de"
ENCODER_COLOUR = "#e67e22"
ATTN_COLOUR = "#8e44ad"
MLP_COLOUR = "#27ae60"


def mlp_shapes(panels, labels: dict) -> go.Figure:
    """Side by side, the width of the vector at each step of an MLP.
    panels: [(title, [(step label, width)], colour)]. Axes are laid out by hand
    (make_subplots costs more than the whole rest of this page's figures).
    labels: y_title."""
    y_title = labels["y_title"]
    n = len(panels)
    gap = 0.06
    width = (1 - gap * (n - 1)) / n
    top = max(s[1] for p in panels for s in p[1])
    fig = go.Figure()
    layout = {}
    for i, (title, steps, colour) in enumerate(panels):
        suffix = "" if i == 0 else str(i + 1)
        x0 = i * (width + gap)
        fig.add_trace(go.Bar(
            x=[s[0] for s in steps], y=[s[1] for s in steps], marker_color=colour,
            text=[f"{s[1]:,}" for s in steps], textposition="outside", showlegend=False,
            xaxis=f"x{suffix}", yaxis=f"y{suffix}",
            hovertemplate="%{x}: %{y:,}<extra></extra>"))
        layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}"}
        layout[f"yaxis{suffix}"] = {"range": [0, top * 1.18], "anchor": f"x{suffix}",
                                    "showticklabels": i == 0, "title": y_title if i == 0 else None}
        fig.add_annotation(text=title, x=x0 + width / 2, y=1.02, xref="paper", yref="paper",
                           xanchor="center", yanchor="bottom", showarrow=False,
                           font={"size": 13})
    fig.update_layout(height=340, margin={"l": 60, "r": 20, "t": 50, "b": 40}, bargap=0.35,
                      **layout)
    return fig


def activation_histogram(hist, labels: dict, *, log_y: bool = True) -> go.Figure:
    """A histogram computed in the core (edges, counts) drawn as bars.
    labels: title, x_title, y_title."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    centres = (hist.edges[:-1] + hist.edges[1:]) / 2
    widths = np.diff(hist.edges)
    fig = go.Figure(go.Bar(
        x=centres, y=hist.counts, width=widths, marker_color=DECODER_COLOUR,
        customdata=np.stack([hist.edges[:-1], hist.edges[1:]], axis=-1),
        hovertemplate="[%{customdata[0]:.3f}, %{customdata[1]:.3f}): %{y:,}<extra></extra>"))
    fig.update_layout(title=title, height=340, bargap=0,
                      margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      xaxis={"title": x_title},
                      yaxis={"title": y_title, "type": "log" if log_y else "linear",
                             "dtick": 1 if log_y else None})
    return fig


def _depths(n: int, embedding: str) -> list[str]:
    return [embedding] + [str(i) for i in range(n - 1)]


def residual_norms(median, token, labels: dict, *, layer, log_y: bool = True) -> go.Figure:
    """‖residual‖ entering block 0 (the embedding) and after each layer: the
    median token and one chosen token. `layer` is highlighted.
    labels: title, x_title, y_title, embedding, median_name, token_name."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    median_name, token_name = labels["median_name"], labels["token_name"]
    x = list(range(len(median)))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=np.asarray(median), mode="lines+markers", name=median_name,
                             line={"color": DECODER_COLOUR},
                             hovertemplate="%{y:,.1f}<extra></extra>"))
    if token is not None:
        fig.add_trace(go.Scatter(x=x, y=np.asarray(token), mode="lines+markers", name=token_name,
                                 line={"color": "#c0392b", "dash": "dot"},
                                 hovertemplate="%{y:,.1f}<extra></extra>"))
    fig.add_vrect(x0=layer, x1=layer + 1, fillcolor="#f1c40f", opacity=0.2, line_width=0)
    depths = _depths(len(x), labels["embedding"])
    step = max(1, math.ceil(len(x) / 16))
    fig.update_layout(title=title, height=360, hovermode="x unified",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.25},
                      xaxis={"title": x_title, "tickvals": x[::step], "ticktext": depths[::step]},
                      yaxis={"title": y_title, "type": "log" if log_y else "linear",
                             "dtick": 1 if log_y else None})
    return fig


def contributions(attn_added, mlp_added, labels: dict, *, layer, log_y: bool = True) -> go.Figure:
    """Per layer, ‖what attention adds‖ and ‖what the MLP adds‖ to the residual.
    labels: title, x_title, y_title, attn_name, mlp_name."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    attn_name, mlp_name = labels["attn_name"], labels["mlp_name"]
    x = list(range(len(attn_added)))
    fig = go.Figure([
        go.Bar(x=x, y=np.asarray(attn_added), name=attn_name, marker_color=ATTN_COLOUR,
               hovertemplate="%{y:,.2f}<extra></extra>"),
        go.Bar(x=x, y=np.asarray(mlp_added), name=mlp_name, marker_color=MLP_COLOUR,
               hovertemplate="%{y:,.2f}<extra></extra>"),
    ])
    fig.add_vrect(x0=layer - 0.5, x1=layer + 0.5, fillcolor="#f1c40f", opacity=0.25, line_width=0)
    fig.update_layout(title=title, barmode="group", height=360, hovermode="x unified",
                      margin={"l": 60, "r": 20, "t": 50, "b": 50},
                      legend={"orientation": "h", "y": -0.25},
                      xaxis={"title": x_title, "dtick": max(1, math.ceil(len(x) / 16))},
                      yaxis={"title": y_title, "type": "log" if log_y else "linear",
                             "dtick": 1 if log_y else None})
    return fig
