"""Figures of the next_token lesson: next-token bars and the temperature curve.
Data → plotly Figure; no streamlit here. Strings arrive translated in one
`labels` dict; token text
is escaped before plotly sees it."""
from __future__ import annotations


import plotly.graph_objects as go

from ui.fig_common import code_label, figure, percent_axis, token_label  # noqa: F401 — code_label: pages

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
    bars = dict(type="bar", y=names, orientation="h", marker=dict(color=colours), customdata=custom,
                hovertemplate=hover, showlegend=False, textposition="auto")
    traces = [dict(bars, x=list(view.logits), text=[f"{v:.2f}" for v in view.logits],
                   xaxis="x", yaxis="y"),
              dict(bars, x=shown, text=[f"{v:.1%}" for v in shown], xaxis="x2", yaxis="y2")]
    if view.temperature == 0 and model_name:
        traces.append(dict(type="scatter", x=list(view.model_probs), y=names, mode="markers",
                           name=model_name, marker=dict(symbol="diamond", size=11, color="#222"),
                           customdata=[token_label(tok, 30) for tok in tokens],
                           hovertemplate=f"%{{customdata}}<br>{model_name}: %{{x:.2%}}<extra></extra>",
                           xaxis="x2", yaxis="y2"))
    # Legend entries only (no data): what the colours mean.
    legend = [(labels["kept_name"], KEPT), (labels["cut_name"], CUT)] + (
        [(chosen_name, CHOSEN)] if chosen is not None else [])
    traces += [dict(type="bar", x=[None], y=[None], orientation="h", marker=dict(color=colour),
                    name=name, showlegend=True, xaxis="x2", yaxis="y2") for name, colour in legend]
    # two panels side by side that share the token axis (what make_subplots writes)
    upper = max(shown + list(view.model_probs) * (view.temperature == 0))
    return figure(traces, title=labels["title"], height=max(300, 26 * n + 160), bargap=0.25,
                  xaxis=dict(anchor="y", domain=[0.0, 0.48], title=dict(text=labels["logit_axis"])),
                  yaxis=dict(anchor="x", domain=[0.0, 1.0], autorange="reversed",
                             title=dict(text=labels["token_axis"])),
                  xaxis2=dict(anchor="y2", domain=[0.52, 1.0], title=dict(text=labels["prob_axis"]),
                              **percent_axis(upper, fixed=fixed_scale)),
                  yaxis2=dict(anchor="x2", domain=[0.0, 1.0], matches="y", showticklabels=False),
                  margin=dict(l=10, r=10, t=90, b=50),
                  legend=dict(orientation="h", y=1.01, yanchor="bottom", x=0.5, xanchor="center"))


def temperature_curve(curve, current: float, labels: dict) -> go.Figure:
    """How the top token's probability (left axis) and the entropy in bits
    (right axis) change with the temperature; a dashed line marks the current T.
    labels: title, t_axis, top_name, entropy_name, entropy_axis."""
    top_name, entropy_name = labels["top_name"], labels["entropy_name"]
    temps = [c[0] for c in curve]
    traces = [dict(type="scatter", x=temps, y=[c[1] for c in curve], name=top_name, mode="lines",
                   line=dict(color=KEPT, width=3), hovertemplate="T=%{x:.2f}: %{y:.1%}<extra></extra>",
                   xaxis="x", yaxis="y"),
              dict(type="scatter", x=temps, y=[c[2] for c in curve], name=entropy_name, mode="lines",
                   line=dict(color=CHOSEN, width=3, dash="dot"),
                   hovertemplate="T=%{x:.2f}: %{y:.2f} bit<extra></extra>", xaxis="x", yaxis="y2")]
    # the entropy on a second y axis at the right; a dashed line at the current T
    return figure(traces, title=labels["title"], height=320,
                  xaxis=dict(anchor="y", domain=[0.0, 0.94], title=dict(text=labels["t_axis"]),
                             range=[0, max(temps) if temps else 2]),
                  yaxis=dict(anchor="x", domain=[0.0, 1.0], title=dict(text=top_name),
                             tickformat=".0%", range=[0, 1.05]),
                  yaxis2=dict(anchor="x", overlaying="y", side="right",
                              title=dict(text=labels["entropy_axis"]), rangemode="tozero"),
                  shapes=[dict(type="line", line=dict(color="#555", dash="dash"), x0=current,
                               x1=current, xref="x", y0=0, y1=1, yref="y domain")],
                  annotations=[dict(showarrow=False, text=f"T = {current:.2f}", x=current,
                                    xanchor="center", xref="x", y=1, yanchor="bottom",
                                    yref="y domain")],
                  margin=dict(l=10, r=10, t=60, b=40),
                  legend=dict(orientation="h", y=-0.3, x=0.5, xanchor="center"))
