"""Figures for the hallucination lab: data → plotly
Figure or escaped HTML, no streamlit. Strings arrive translated; token text is
escaped before plotly or HTML sees it."""
from __future__ import annotations

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
