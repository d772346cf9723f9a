"""Figures of the generate lesson: each step's probability and entropy, the
generated tokens shaded by probability. Data → plotly Figure or escaped HTML;
no streamlit here. Strings arrive translated; token text is escaped before
plotly or HTML sees it."""
from __future__ import annotations

import html
from types import SimpleNamespace

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.chips import chips_html
from ui.fig_common import code_label, token_label
from ui.fig_next_token import CHOSEN, KEPT, next_token_bars  # noqa: F401 — the page's bars


def steps_line(steps, selected: int | None, labels: dict) -> go.Figure:
    """Per generated token: the probability it had when chosen and the entropy
    of that step; the selected step is ringed. Where the two differ (T = 0 makes
    every chosen token's probability 1), a second line named labels["model_name"]
    shows the model's own probability of each token at T = 1. labels: title,
    step_axis, prob_name, entropy_name, entropy_axis, model_name (optional)."""
    prob_name, model_name = labels["prob_name"], labels.get("model_name", "")
    xs = [s.index + 1 for s in steps]          # steps are numbered from 1, like the slider
    texts = [token_label(s.token, 20) for s in steps]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=xs, y=[s.prob for s in steps], name=prob_name, mode="lines+markers",
                             line={"color": KEPT}, customdata=texts,
                             hovertemplate="%{x}: %{customdata} %{y:.1%}<extra></extra>"),
                  secondary_y=False)
    if model_name and any(abs(s.model_prob - s.prob) > 1e-9 for s in steps):
        fig.add_trace(go.Scatter(x=xs, y=[s.model_prob for s in steps], name=model_name,
                                 mode="lines+markers", line={"color": "#222", "dash": "dash"},
                                 marker={"symbol": "diamond"}, customdata=texts,
                                 hovertemplate="%{x}: %{customdata} %{y:.1%}<extra></extra>"),
                      secondary_y=False)
    fig.add_trace(go.Scatter(x=xs, y=[s.entropy for s in steps], name=labels["entropy_name"],
                             mode="lines", line={"color": CHOSEN, "dash": "dot"},
                             hovertemplate="%{x}: %{y:.2f} bit<extra></extra>"),
                  secondary_y=True)
    if selected is not None and 0 <= selected < len(steps):
        fig.add_trace(go.Scatter(x=[xs[selected]], y=[steps[selected].prob], mode="markers",
                                 marker={"size": 16, "color": "rgba(0,0,0,0)",
                                         "line": {"color": "#c0392b", "width": 3}},
                                 showlegend=False, hoverinfo="skip"), secondary_y=False)
    fig.update_xaxes(title=labels["step_axis"])
    fig.update_yaxes(title=prob_name, tickformat=".0%", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title=labels["entropy_axis"], rangemode="tozero", secondary_y=True)
    fig.update_layout(title=labels["title"], height=300, margin={"l": 10, "r": 10, "t": 50, "b": 40},
                      legend={"orientation": "h", "y": -0.35, "x": 0.5, "xanchor": "center"})
    return fig


def steps_html(steps, labels: dict, *, n_alts: int = 3, texts: list[str] | None = None) -> str:
    """Generated tokens as chips shaded by the probability each had when chosen
    (by the model's own probability at T = 1 where T = 0 made them all 1); hover
    shows both and the runner-up alternatives (all text escaped by chips_html).
    `texts`: the tokens as read in a row (a split character as 语[1/2] 语[2/2]).
    labels: hover_prob, hover_alts, hover_model (optional)."""
    hover_model = labels.get("hover_model", "")
    texts = texts if texts is not None else [s.token for s in steps]
    chips = [SimpleNamespace(text=text, id=s.token_id, partial="‹" in s.token)
             for s, text in zip(steps, texts)]
    greedy = bool(steps) and all(s.top.temperature == 0 for s in steps)

    def title(i, _tok):
        s = steps[i]
        alts = ", ".join(f"{token_label(a, 16, escape=False)} {p:.1%}" for a, p in s.alternatives(n_alts))
        model = f" · {hover_model}: {s.model_prob:.1%}" if hover_model else ""
        return f"{labels['hover_prob']}: {s.prob:.1%}{model} · {labels['hover_alts']}: {alts}"

    values = [s.model_prob if greedy else s.prob for s in steps]
    return chips_html(chips, show_ids=False, values=values, title_fn=title)


def text_html(text: str) -> str:
    """Generated text as escaped HTML that keeps its line breaks."""
    return (f'<div style="white-space:pre-wrap;font-size:0.95em;line-height:1.4">'
            f"{html.escape(text)}</div>")


def step_caption(step, labels: dict, *, n_alts: int = 3) -> str:
    """One line of markdown for a step: the token and its probability, then the
    runner-ups. Tokens go inside backticks so markdown stays literal. labels:
    template ({i} {token} {prob} {model}), alts (the runner-ups' word)."""
    alts = ", ".join(f"{code_label(a)} {p:.1%}" for a, p in step.alternatives(n_alts))
    return labels["template"].format(i=step.index + 1, token=code_label(step.token), prob=step.prob,
                                     model=step.model_prob) + (
        f" · {labels['alts']}: {alts}" if alts else "")
