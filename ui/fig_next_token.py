"""Figures of the next_token lesson: next-token bars and the temperature curve.
Data → plotly Figure; no streamlit here. Strings arrive translated in one
`labels` dict; token text
is escaped before plotly sees it."""
from __future__ import annotations


import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.fig_common import code_label, percent_axis, token_label  # noqa: F401 — used by pages

KEPT = "#2e86de"
CHOSEN = "#e67e22"
CUT = "#c8c8c8"


def next_token_bars(view, tokens, labels: dict, *, chosen: int | None = None,
                    fixed_scale: bool = True) -> go.Figure:
    """Two panels on one token axis: the logits (left) and the probabilities
    (right). Bars cut by top-k/top-p are grey and show their probability before
    the cut; kept bars show the renormalised probability. `view` is a TopView,
    `tokens` the readable text of view.ids; `chosen` marks one bar (index).
    At T = 0 (one-hot) diamonds named `model_name` show the model's own
    probability at T = 1. `fixed_scale`: the probability axis stays 0–100 %,
    so moving the temperature shows the bars flatten instead of the axis rescaling.
    labels: title, logit_axis, prob_axis, token_axis, kept_name, cut_name, hover_logit,
    hover_prob, hover_final, chosen_name and model_name (both optional)."""
    hover_logit, hover_prob, hover_final = (labels["hover_logit"], labels["hover_prob"],
                                            labels["hover_final"])
    chosen_name, model_name = labels.get("chosen_name", ""), labels.get("model_name", "")
    n = len(view.ids)
    names = [f"{i + 1}. {token_label(tok)}" for i, tok in enumerate(tokens)]
    colours = [CUT if not k else (CHOSEN if i == chosen else KEPT)
               for i, k in enumerate(view.kept)]
    shown = [f if k else p for f, p, k in zip(view.final, view.probs, view.kept)]
    custom = [[token_label(tok, 30), lg, p, f] for tok, lg, p, f in
              zip(tokens, view.logits, view.probs, view.final)]
    hover = (f"%{{customdata[0]}}<br>{hover_logit}: %{{customdata[1]:.2f}}<br>"
             f"{hover_prob}: %{{customdata[2]:.2%}}<br>{hover_final}: %{{customdata[3]:.2%}}"
             "<extra></extra>")
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04)
    fig.add_trace(go.Bar(x=list(view.logits), y=names, orientation="h", marker_color=colours,
                         customdata=custom, hovertemplate=hover, showlegend=False,
                         text=[f"{v:.2f}" for v in view.logits], textposition="auto"), 1, 1)
    fig.add_trace(go.Bar(x=shown, y=names, orientation="h", marker_color=colours,
                         customdata=custom, hovertemplate=hover, showlegend=False,
                         text=[f"{v:.1%}" for v in shown], textposition="auto"), 1, 2)
    if view.temperature == 0 and model_name:
        fig.add_trace(go.Scatter(x=list(view.model_probs), y=names, mode="markers", name=model_name,
                                 marker={"symbol": "diamond", "size": 11, "color": "#222"},
                                 customdata=[token_label(tok, 30) for tok in tokens],
                                 hovertemplate=f"%{{customdata}}<br>{model_name}: %{{x:.2%}}"
                                               "<extra></extra>"), 1, 2)
    # Legend entries only (no data): what the colours mean.
    legend = [(labels["kept_name"], KEPT), (labels["cut_name"], CUT)] + (
        [(chosen_name, CHOSEN)] if chosen is not None else [])
    for name, colour in legend:
        fig.add_trace(go.Bar(x=[None], y=[None], orientation="h", marker_color=colour, name=name,
                             showlegend=True), 1, 2)
    fig.update_yaxes(autorange="reversed", title=labels["token_axis"], row=1, col=1)
    fig.update_xaxes(title=labels["logit_axis"], row=1, col=1)
    fig.update_xaxes(title=labels["prob_axis"], row=1, col=2,
                     **percent_axis(max(shown + list(view.model_probs) * (view.temperature == 0)),
                                    fixed=fixed_scale))
    fig.update_layout(title=labels["title"], height=max(300, 26 * n + 160), bargap=0.25,
                      margin={"l": 10, "r": 10, "t": 90, "b": 50},
                      legend={"orientation": "h", "y": 1.01, "yanchor": "bottom", "x": 0.5,
                              "xanchor": "center"})
    return fig


def temperature_curve(curve, current: float, labels: dict) -> go.Figure:
    """How the top token's probability (left axis) and the entropy in bits
    (right axis) change with the temperature; a dashed line marks the current T.
    labels: title, t_axis, top_name, entropy_name, entropy_axis."""
    top_name, entropy_name = labels["top_name"], labels["entropy_name"]
    temps = [c[0] for c in curve]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=temps, y=[c[1] for c in curve], name=top_name, mode="lines",
                             line={"color": KEPT, "width": 3},
                             hovertemplate="T=%{x:.2f}: %{y:.1%}<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=temps, y=[c[2] for c in curve], name=entropy_name, mode="lines",
                             line={"color": CHOSEN, "width": 3, "dash": "dot"},
                             hovertemplate="T=%{x:.2f}: %{y:.2f} bit<extra></extra>"),
                  secondary_y=True)
    fig.add_vline(x=current, line_dash="dash", line_color="#555",
                  annotation_text=f"T = {current:.2f}", annotation_position="top")
    fig.update_xaxes(title=labels["t_axis"], range=[0, max(temps) if temps else 2])
    fig.update_yaxes(title=top_name, tickformat=".0%", range=[0, 1.05], secondary_y=False)
    fig.update_yaxes(title=labels["entropy_axis"], rangemode="tozero", secondary_y=True)
    fig.update_layout(title=labels["title"], height=320, margin={"l": 10, "r": 10, "t": 60, "b": 40},
                      legend={"orientation": "h", "y": -0.3, "x": 0.5, "xanchor": "center"})
    return fig
