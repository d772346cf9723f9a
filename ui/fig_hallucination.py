"""Figures for the hallucination lab and the context window: data → plotly
Figure or escaped HTML, no streamlit. Strings arrive translated; token text is
escaped before plotly or HTML sees it."""
from __future__ import annotations

import math
from types import SimpleNamespace

import plotly.graph_objects as go

from ui.chips import chips_html
from ui.fig_common import token_label

BLUE = "#2e86de"
ORANGE = "#e67e22"
GREY = "#c8c8c8"
RED = "#c0392b"


# --- hallucination ------------------------------------------------------------------

def answer_chips(answer, *, hover: str, hover_alts: str, hover_tokens: str) -> str:
    """The answer's pieces as chips shaded by probability, the probability under
    each and entropy + runner-ups on hover. `hover` is a template with {p} {h}."""
    chips = [SimpleNamespace(text=p.text, id=f"{p.prob:.2f}") for p in answer.pieces]

    def title(i, _chip):
        piece = answer.pieces[i]
        parts = [hover.format(p=piece.prob, h=piece.entropy)]
        if piece.alternatives:
            alts = ", ".join(f"'{a}' {q:.3f}" for a, q in piece.alternatives)
            parts.append(hover_alts.format(alts=alts))
        if len(piece.token_ids) > 1:
            parts.append(hover_tokens.format(n=len(piece.token_ids)))
        return " · ".join(parts)

    return chips_html(chips, values=[p.prob for p in answer.pieces], title_fn=title)


def least_sure(answer) -> int | None:
    """Index of the piece with the lowest probability (end token excluded)."""
    candidates = [i for i, p in enumerate(answer.pieces) if not p.end]
    return min(candidates, key=lambda i: answer.pieces[i].prob) if candidates else None


def softmax_sum(piece, vocab_size: int, *, title: str, chosen: str, others: str,
                prob_axis: str, token_axis: str) -> go.Figure:
    """One step's probability split: chosen token, runner-ups, everything else
    (all from the model's softmax at that step). The bars add up to 1: the point."""
    names = [f"{token_label(piece.text, 16)} ({chosen})"] + [token_label(a, 16)
                                                             for a, _ in piece.alternatives]
    probs = [piece.step_probs[0]] + [q for _, q in piece.alternatives]
    names.append(f"{others} ({vocab_size - len(probs):,})")
    probs.append(piece.rest)
    colors = [ORANGE] + [BLUE] * len(piece.alternatives) + [GREY]
    fig = go.Figure(go.Bar(x=names, y=probs, marker_color=colors, text=[f"{p:.3f}" for p in probs],
                           textposition="outside", hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=title, height=340, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(title=prob_axis, range=[0, 1.1]), xaxis=dict(title=token_axis))
    return fig


def confidence_bars(plain, grounded, *, title: str, plain_name: str, grounded_name: str,
                    mean_name: str, min_name: str, axis: str) -> go.Figure:
    """Mean and lowest token confidence without and with the fact in the prompt."""
    x = [mean_name, min_name]
    fig = go.Figure()
    for answer, name, color in ((plain, plain_name, GREY), (grounded, grounded_name, BLUE)):
        y = [answer.mean_confidence, answer.min_confidence]
        fig.add_bar(x=x, y=y, name=name, marker_color=color, text=[f"{v:.2f}" for v in y],
                    textposition="outside", hovertemplate=name + " · %{x}: %{y:.3f}<extra></extra>")
    fig.update_layout(title=title, barmode="group", height=320, yaxis=dict(title=axis, range=[0, 1.1]),
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


# --- context window -------------------------------------------------------------------

def window_strip(tokens, window, *, title: str, position_axis: str, names: dict) -> go.Figure:
    """Every token of the text as one cell: outside the window grey, inside blue,
    the fact orange (inside) or red (cut off). Hover shows the token."""
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
    fig.update_layout(title=title, height=200, bargap=0, margin=dict(l=10, r=10, t=50, b=10),
                      xaxis=dict(title=position_axis, range=[-0.5, len(tokens) - 0.5]),
                      yaxis=dict(visible=False, range=[0, 1]),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def answer_token_probs(expected_tokens, runs: dict, *, title: str, token_axis: str,
                       prob_axis: str) -> go.Figure:
    """Probability of each token of the right answer, for each window (log axis:
    after the cut they drop by orders of magnitude)."""
    x = [f"{i + 1}: {token_label(tok, 16)}" for i, tok in enumerate(expected_tokens)]
    fig = go.Figure()
    probs = [p for run in runs.values() for p in run.answer_probs if p > 0] or [1.0]
    low = math.floor(math.log10(min(probs))) - 0.5      # log axis: room for the smallest bar
    for (name, run), color in zip(runs.items(), (BLUE, RED, GREY)):
        fig.add_bar(x=x, y=list(run.answer_probs), name=name, marker_color=color,
                    text=[f"{p:.3g}" for p in run.answer_probs], textposition="outside",
                    cliponaxis=False, hovertemplate=name + " · %{x}: %{y:.4g}<extra></extra>")
    fig.update_layout(title=title, barmode="group", height=340,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis=dict(title=token_axis),
                      yaxis=dict(title=prob_axis, type="log", range=[low, 0]),   # 10⁰ = 1: no higher
                      legend=dict(orientation="h", y=-0.25))
    return fig


def window_chips(tokens, window, positions) -> str:
    """Chips for chosen positions, shaded when inside the window; the id row
    shows the position."""
    chips = [SimpleNamespace(text=tokens[i].text, id=i) for i in positions]
    values = [1.0 if window.inside(i) else 0.0 for i in positions]
    return chips_html(chips, values=values)
