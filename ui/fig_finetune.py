"""Figures of the fine-tuning lesson: pure functions, data → plotly Figure.
Strings arrive translated in one `labels` dict; user text is escaped."""
from __future__ import annotations

import pandas as pd

from ui.fig_common import figure, layer_kind_heatmap, wrapped

BLUE = "#0072B2"
ORANGE = "#E69F00"
GREY = "#9aa5b1"


def training_curve(steps, labels: dict):
    """Loss (left axis) and the answer's probability (right axis) after each step."""
    x = [s.step for s in steps]
    return figure([dict(type="scatter", x=x, y=[s.loss for s in steps], name=labels["loss"],
                        mode="lines+markers", line=dict(color=BLUE)),
                   dict(type="scatter", x=x, y=[s.p_answer for s in steps],
                        name=labels["p_answer"], mode="lines+markers", yaxis="y2",
                        line=dict(color=ORANGE, dash="dash"))],
                  title=labels["title"], height=340, legend=dict(orientation="h", y=-0.25),
                  xaxis=dict(title=dict(text=labels["step"]), dtick=2),
                  yaxis=dict(title=dict(text=labels["loss"]), rangemode="tozero"),
                  yaxis2=dict(title=dict(text=labels["p_answer"]), overlaying="y", side="right",
                              range=[0, 1], tickformat=".0%"))


def probe_bars(result, labels: dict):
    """p(answer) before and after for the fact, its paraphrases and the other facts."""
    names = [wrapped(f"{labels[p.role]}: {p.question}") for p in result.probes]
    return figure([dict(type="bar", y=names, x=list(result.before.p_answer), orientation="h",
                        name=labels["before"], marker=dict(color=GREY),
                        hovertemplate="%{x:.3f}<extra></extra>"),
                   dict(type="bar", y=names, x=list(result.after.p_answer), orientation="h",
                        name=labels["after"], marker=dict(color=BLUE),
                        hovertemplate="%{x:.3f}<extra></extra>")],
                  title=labels["title"], height=120 + 46 * len(names), barmode="group",
                  legend=dict(orientation="h", y=-0.2),
                  xaxis=dict(title=dict(text=labels["x"]), range=[0, 1], tickformat=".0%"),
                  yaxis=dict(autorange="reversed", automargin=True))


def probe_table(changes, labels: dict):
    """Every probed fact's change, one row each; a fall of LOST_POINTS or more in
    another fact is flagged. changes: finetune.probe_changes. labels: the roles and
    the columns role, question, answer, before, after, change, flag."""
    return pd.DataFrame([{
        labels["role"]: labels[p.role], labels["question"]: p.question,
        labels["answer"]: p.answer.strip(), labels["before"]: f"{b:.1%}", labels["after"]: f"{a:.1%}",
        labels["change"]: f"{(a - b) * 100:+.1f}", labels["flag"]: "⚠️" if lost else ""}
        for p, b, a, lost in changes])


def changed_heatmap(result, labels: dict):
    return layer_kind_heatmap(result.changed, result.kinds, dict(
        title=labels["title"], colorbar=labels["colorbar"], hover=labels["hover"],
        layer_axis=labels["layer"]), zero_blank=True)
