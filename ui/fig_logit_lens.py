"""Figures of the logit lens: data → plotly Figure (no streamlit here).
Strings arrive translated in one `labels` dict; token text is escaped before plotly sees it
(plotly reads a few HTML tags in labels)."""
from __future__ import annotations

import math

import plotly.graph_objects as go

from ui.fig_common import code_label, token_label  # noqa: F401 — used by pages


def depth_labels(n_layers: int, embedding: str) -> list[str]:
    """Row names of a lens: the embedding, then the layers (numbered from 0)."""
    return [embedding] + [str(i) for i in range(n_layers)]


def lens_grid(lens, token_texts, labels: dict) -> go.Figure:
    """Layers (embedding at the bottom, last layer at the top) × positions: each
    cell the lens's top guess for the next token, coloured by its probability.
    labels: title, x_title, y_title, embedding, colour_title, hover_input,
    hover_depth, hover_next, hover_top."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    hover_input, hover_depth = labels["hover_input"], labels["hover_depth"]
    hover_next, hover_top = labels["hover_next"], labels["hover_top"]
    n_rows, n_pos = lens.top_ids.shape[0], lens.top_ids.shape[1]
    depths = depth_labels(n_rows - 1, labels["embedding"])
    probs = lens.top_probs[..., 0].numpy()                          # layer+1 pos
    inputs = [token_label(token_texts[p], 24) for p in lens.positions]
    nexts = [token_label(token_texts[p + 1], 24) if p + 1 < len(token_texts) else "—"
             for p in lens.positions]
    fit = 7 if n_pos <= 16 else 5 if n_pos <= 24 else 4   # characters that fit in a cell
    cell_text = [[token_label(lens.top_texts[d][j][0], fit) for j in range(n_pos)]
                 for d in range(n_rows)]
    custom = [[[inputs[j], depths[d], nexts[j]]
               + [f"{token_label(lens.top_texts[d][j][r], 24)} {float(lens.top_probs[d, j, r]):.1%}"
                  for r in range(lens.top_ids.shape[2])]
               for j in range(n_pos)] for d in range(n_rows)]
    top_lines = "<br>".join(f"  {r + 1}. %{{customdata[{3 + r}]}}"
                            for r in range(lens.top_ids.shape[2]))
    fig = go.Figure(go.Heatmap(
        z=probs, x=list(range(n_pos)), y=list(range(n_rows)), zmin=0, zmax=1,
        colorscale="Blues", text=cell_text, texttemplate="%{text}", textfont={"size": 10 if n_pos <= 24 else 9},
        customdata=custom, colorbar={"title": {"text": labels["colour_title"]}},
        hovertemplate=(f"{hover_input}: %{{customdata[0]}}<br>{hover_depth}: %{{customdata[1]}}"
                       f"<br>{hover_next}: %{{customdata[2]}}<br>{hover_top}:<br>{top_lines}"
                       "<extra></extra>"),
        xgap=1, ygap=1))
    step = max(1, math.ceil(n_rows / 16))
    fig.update_layout(
        title=title, height=max(420, 22 * n_rows + 160),
        margin={"l": 70, "r": 20, "t": 50, "b": 90},
        xaxis={"title": x_title, "tickvals": list(range(n_pos)), "ticktext": inputs,
               "tickangle": -45},
        yaxis={"title": y_title, "tickvals": list(range(0, n_rows, step)),
               "ticktext": depths[::step]})
    return fig


def lens_line(lens, index: int, labels: dict) -> go.Figure:
    """For one shown position: probability of the model's final prediction, and
    of the token that really follows, at every depth.
    labels: title, x_title, y_title, embedding, final_name, next_name, rank_word."""
    title, x_title, y_title = labels["title"], labels["x_title"], labels["y_title"]
    final_name, next_name, rank_word = labels["final_name"], labels["next_name"], labels["rank_word"]
    n_rows = lens.top_ids.shape[0]
    depths = depth_labels(n_rows - 1, labels["embedding"])
    x = list(range(n_rows))
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=x, y=lens.final_probs[:, index].numpy(), mode="lines+markers", name=final_name,
        customdata=lens.final_ranks[:, index].numpy() + 1,
        hovertemplate=f"%{{y:.2%}} ({rank_word} %{{customdata}})<extra></extra>"))
    if int(lens.next_ids[index]) >= 0 and int(lens.next_ids[index]) != int(lens.final_ids[index]):
        fig.add_trace(go.Scatter(x=x, y=lens.next_probs[:, index].numpy(), mode="lines+markers",
                                 name=next_name, line={"dash": "dot"},
                                 hovertemplate="%{y:.2%}<extra></extra>"))
    step = max(1, math.ceil(n_rows / 16))
    fig.update_layout(
        title=title, height=360, margin={"l": 60, "r": 20, "t": 50, "b": 50},
        hovermode="x unified", legend={"orientation": "h", "y": -0.25},
        xaxis={"title": x_title, "tickvals": x[::step], "ticktext": depths[::step]},
        yaxis={"title": y_title, "range": [0, 1.02], "tickformat": ".0%"})
    return fig
