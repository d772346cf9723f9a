"""Figures of the context_window lesson: which tokens the model still reads,
and how likely the answer's tokens stay as the window shrinks. Data → plotly
Figure or escaped HTML, no streamlit; token text is escaped before plotly or
HTML sees it. Strings arrive translated in one `labels` dict."""
from __future__ import annotations

import math
from types import SimpleNamespace

import plotly.graph_objects as go

from llm_core.model.tokens import readable_texts
from ui.chips import chips_html
from ui.fig_common import token_label
from ui.fig_hallucination import BLUE, GREY, ORANGE, RED  # noqa: F401 — one palette


def window_strip(tokens, window, labels: dict) -> go.Figure:
    """Every token of the text as one cell: outside the window grey, inside blue,
    the fact orange (inside) or red (cut off). Hover shows the token.
    labels: title, position_axis, names (a name for out, in, fact_in, fact_out)."""
    names = labels["names"]
    first, end = window.fact
    kinds = []
    for i in range(len(tokens)):
        fact = first <= i < end
        inside = window.inside(i)
        kinds.append(("fact_in" if inside else "fact_out") if fact else ("in" if inside else "out"))
    palette = {"out": GREY, "in": BLUE, "fact_in": ORANGE, "fact_out": RED}
    order = ["out", "in", "fact_in", "fact_out"]
    fig = go.Figure()
    for kind in order:  # one trace per kind so the legend explains the colours
        xs = [i for i, k in enumerate(kinds) if k == kind]
        if not xs:
            continue
        fig.add_bar(x=xs, y=[1] * len(xs), width=1, marker_color=palette[kind],
                    marker_line_width=0, name=names[kind],
                    customdata=[token_label(tokens[i].text, 24) for i in xs],
                    hovertemplate="#%{x}: %{customdata}<extra>" + names[kind] + "</extra>")
    fig.add_vline(x=window.start - 0.5, line_dash="dash", line_color="#333")
    fig.update_layout(title=labels["title"], height=200, bargap=0, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(title=labels["position_axis"], range=[-0.5, len(tokens) - 0.5]),
                      yaxis=dict(visible=False, range=[0, 1]),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def answer_token_probs(expected_tokens, runs: dict, labels: dict) -> go.Figure:
    """Probability of each token of the right answer, for each window (log axis:
    after the cut they drop by orders of magnitude). labels: title, token_axis, prob_axis."""
    x = [f"{i + 1}: {token_label(tok, 16)}" for i, tok in enumerate(expected_tokens)]
    fig = go.Figure()
    probs = [p for run in runs.values() for p in run.answer_probs if p > 0] or [1.0]
    low = math.floor(math.log10(min(probs))) - 0.5      # log axis: room for the smallest bar
    for (name, run), color in zip(runs.items(), (BLUE, RED, GREY)):
        fig.add_bar(x=x, y=list(run.answer_probs), name=name, marker_color=color,
                    text=[f"{p:.3g}" for p in run.answer_probs], textposition="outside",
                    cliponaxis=False, hovertemplate=name + " · %{x}: %{y:.4g}<extra></extra>")
    fig.update_layout(title=labels["title"], barmode="group", height=340,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(title=labels["token_axis"]),
                      yaxis=dict(title=labels["prob_axis"], type="log", range=[low, 0]),   # 10⁰ = 1: no higher
                      legend=dict(orientation="h", y=-0.25))
    return fig


def window_chips(tokens, window, positions) -> str:
    """Chips for chosen positions, shaded when inside the window; the id row
    shows the position."""
    texts = readable_texts(tokens)
    chips = [SimpleNamespace(text=texts[i], id=i) for i in positions]
    values = [1.0 if window.inside(i) else 0.0 for i in positions]
    return chips_html(chips, values=values)
