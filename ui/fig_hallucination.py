"""Figures for the hallucination lab: data → plotly
Figure or escaped HTML, no streamlit. Strings arrive translated; token text is
escaped before plotly or HTML sees it."""
from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import plotly.graph_objects as go

from ui.chips import chips_html
from ui.fig_common import token_label

BLUE = "#2e86de"
ORANGE = "#e67e22"
GREY = "#c8c8c8"
RED = "#c0392b"


# --- hallucination ------------------------------------------------------------------

def answer_chips(answer, labels: dict) -> str:
    """The answer's pieces as chips shaded by probability, the probability under
    each and entropy + runner-ups on hover. labels: hover (a template with {p}
    {h}), hover_alts ({alts}), hover_tokens ({n})."""
    chips = [SimpleNamespace(text=p.text, id=f"{p.prob:.2f}") for p in answer.pieces]

    def title(i, _chip):
        piece = answer.pieces[i]
        parts = [labels["hover"].format(p=piece.prob, h=piece.entropy)]
        if piece.alternatives:
            alts = ", ".join(f"'{a}' {q:.3f}" for a, q in piece.alternatives)
            parts.append(labels["hover_alts"].format(alts=alts))
        if len(piece.token_ids) > 1:
            parts.append(labels["hover_tokens"].format(n=len(piece.token_ids)))
        return " · ".join(parts)

    return chips_html(chips, values=[p.prob for p in answer.pieces], title_fn=title)


def least_sure(answer) -> int | None:
    """Index of the piece with the lowest probability (end token excluded)."""
    candidates = [i for i, p in enumerate(answer.pieces) if not p.end]
    return min(candidates, key=lambda i: answer.pieces[i].prob) if candidates else None


def softmax_sum(piece, vocab_size: int, labels: dict) -> go.Figure:
    """One step's probability split: chosen token, runner-ups, everything else
    (all from the model's softmax at that step). The bars add up to 1: the point.
    labels: sum_title, chosen, others, prob_axis, token_axis."""
    names = [f"{token_label(piece.text, 16)} ({labels['chosen']})"] + [token_label(a, 16)
                                                             for a, _ in piece.alternatives]
    probs = [piece.step_probs[0]] + [q for _, q in piece.alternatives]
    names.append(f"{labels['others']} ({vocab_size - len(probs):,})")
    probs.append(piece.rest)
    colors = [ORANGE] + [BLUE] * len(piece.alternatives) + [GREY]
    fig = go.Figure(go.Bar(x=names, y=probs, marker_color=colors, text=[f"{p:.3f}" for p in probs],
                           textposition="outside", hovertemplate="%{x}: %{y:.4f}<extra></extra>"))
    fig.update_layout(title=labels["sum_title"], height=340, margin=dict(l=10, r=10, t=50, b=10),
                      yaxis=dict(title=labels["prob_axis"], range=[0, 1.1]),
                      xaxis=dict(title=labels["token_axis"]))
    return fig


def confidence_bars(plain, grounded, labels: dict) -> go.Figure:
    """Mean and lowest token confidence without and with the fact in the prompt.
    labels: conf_title, plain_name, grounded_name, mean_conf, min_conf, conf_axis."""
    x = [labels["mean_conf"], labels["min_conf"]]
    fig = go.Figure()
    for answer, name, color in ((plain, labels["plain_name"], GREY),
                                (grounded, labels["grounded_name"], BLUE)):
        y = [answer.mean_confidence, answer.min_confidence]
        fig.add_bar(x=x, y=y, name=name, marker_color=color, text=[f"{v:.2f}" for v in y],
                    textposition="outside", hovertemplate=name + " · %{x}: %{y:.3f}<extra></extra>")
    fig.update_layout(title=labels["conf_title"], barmode="group", height=320,
                      yaxis=dict(title=labels["conf_axis"], range=[0, 1.1]),
                      margin=dict(l=10, r=10, t=50, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def samples_frame(samples, claims, labels: dict) -> pd.DataFrame:
    """One row per sampled answer: its seed, text, claims and mean confidence.
    labels: col_seed, col_answer, col_claims, col_mean (the column names)."""
    return pd.DataFrame({labels["col_seed"]: [a.seed for a in samples],
                         labels["col_answer"]: [a.text for a in samples],
                         labels["col_claims"]: [", ".join(sorted(c)) for c in claims],
                         # Text with two decimals, as the metric above shows it: a float
                         # column drops trailing zeros (0.43 beside 0.606).
                         labels["col_mean"]: [f"{a.mean_confidence:.2f}" for a in samples]})
