"""The class's guesses beside the model's answer: pure, data → plotly Figure."""
from __future__ import annotations

import plotly.graph_objects as go

from ui.fig_common import figure, plotly_text, token_label

MODEL_COLOR = "#d95f02"    # orange and blue stay apart for every common colour blindness
GUESS_COLOR = "#1b9e77"
BARS_SHOWN = 12


def unique_texts(labels: list[str]) -> list[str]:
    """A category axis stacks equal labels into one bar: a repeat gets " (2)", " (3)" …"""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def guess_histogram(counts: dict[str, int], answer: str | None, labels: dict,
                    words: bool = False) -> go.Figure:
    """One bar per guess (most frequent first, the rest summed as `other`); the
    bar equal to the model's answer is coloured and named as such. Guesses are
    tokens (spaces shown as ␣), or `words` (a choice such as "fairly sure").
    labels: title, count_axis, other, answer_name."""
    other, answer_name = labels["other"], labels["answer_name"]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown, rest = ranked[:BARS_SHOWN], ranked[BARS_SHOWN:]
    if rest:
        shown.append((other, sum(n for _, n in rest)))
    target = (answer or "").strip().casefold()
    texts = unique_texts([plotly_text(g) if words else token_label(g, 18) for g, _ in shown])
    hit = [g.strip().casefold() == target for g, _ in shown]
    colors = [MODEL_COLOR if h else GUESS_COLOR for h in hit]
    names = [answer_name if h else "" for h in hit]
    bars = dict(type="bar", x=texts, y=[n for _, n in shown], marker=dict(color=colors),
                text=[f"{n} {m}".strip() for (_, n), m in zip(shown, names)],
                textposition="outside", hovertemplate="%{x}: %{y}<extra></extra>",
                cliponaxis=False)
    top = max([n for _, n in shown] or [1])
    return figure([bars], title=labels["title"], height=340, showlegend=False,
                  yaxis=dict(title=dict(text=labels["count_axis"]), range=[0, top * 1.25 + 0.5],
                             dtick=max(1, top // 5)),
                  xaxis=dict(type="category"))
