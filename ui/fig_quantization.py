"""Figures of the quantization lesson: pure functions, data → plotly Figure.
Strings arrive translated in one `labels` dict."""
from __future__ import annotations

import pandas as pd

from ui.fig_common import figure, layer_kind_heatmap

GREY = "#9aa5b1"
BLUE = "#2e86de"
ORANGE = "#e67e22"
# One colour per granularity, from the Okabe–Ito colour-blind-safe set.
GROUP_COLOURS = {"tensor": "#D55E00", "channel": "#E69F00", "128": "#56B4E9",
                 "64": "#0072B2", "32": "#009E73"}


def pi_frame(rows, columns: list[str]) -> pd.DataFrame:
    """The π table: digits, π and the area at that many digits, relative error."""
    return pd.DataFrame([(d, f"{p:.{max(d - 1, 0)}f}", f"{area:.{max(d - 1, 0)}f}", f"{err:.1e}")
                         for d, p, area, err in rows], columns=columns)


def tried_frame(reports, groups: dict, columns: list[str]) -> pd.DataFrame:
    """One row per setting measured: bits, grouping, MB, KL, top-1 agreement, perplexity."""
    return pd.DataFrame([(r.bits, groups[r.group], round(r.size_mb), round(r.kl, 4),
                          f"{r.top1_agreement:.0%}", round(r.perplexity, 1)) for r in reports],
                        columns=columns)


def pi_error(rows, labels: dict) -> "figure":
    """Relative error of the unit circle's area against π's significant digits."""
    digits = [r[0] for r in rows]
    return figure([dict(type="scatter", x=digits, y=[max(r[3], 1e-12) for r in rows],
                        mode="lines+markers+text", text=[f"{r[1]:.{max(r[0] - 1, 0)}f}"
                                                         for r in rows],
                        textposition="top right", line=dict(color=BLUE),
                        hovertemplate=labels["hover"] + "<extra></extra>")],
                  title=labels["title"], height=340,
                  xaxis=dict(title=dict(text=labels["x"]), dtick=1),
                  yaxis=dict(title=dict(text=labels["y"]), type="log", dtick=1,
                             exponentformat="power"))


def weight_histogram(group, labels: dict, *, max_lines: int = 16):
    """One group's weights before (grey) and after rounding (orange: they pile up
    on the grid levels), with the levels drawn when there are few enough."""
    centres = [(a + b) / 2 for a, b in zip(group.edges[:-1], group.edges[1:])]
    width = group.edges[1] - group.edges[0]
    traces = [dict(type="bar", x=centres, y=group.before, width=width, name=labels["before"],
                   marker=dict(color=GREY), hovertemplate="%{x:.4f}: %{y:,}<extra></extra>"),
              dict(type="bar", x=centres, y=group.after, width=width, name=labels["after"],
                   marker=dict(color=ORANGE), opacity=0.7,
                   hovertemplate="%{x:.4f}: %{y:,}<extra></extra>")]
    shapes = []
    if len(group.grid) <= max_lines:
        shapes = [dict(type="line", x0=g, x1=g, y0=0, y1=1, yref="paper",
                       line=dict(color=BLUE, width=1, dash="dot")) for g in group.grid]
    many = max(group.before + group.after) > 50
    return figure(traces, title=labels["title"], height=340, barmode="overlay", shapes=shapes,
                  legend=dict(orientation="h", y=-0.25),
                  xaxis=dict(title=dict(text=labels["x"])),
                  yaxis=dict(title=dict(text=labels["y_log"] if many else labels["y"]),
                             type="log" if many else "linear"))


def error_heatmap(report, labels: dict):
    return layer_kind_heatmap(report.errors, report.kinds, dict(
        title=labels["title"], colorbar=labels["colorbar"], hover=labels["hover"],
        layer_axis=labels["layer"]))


def tried_chart(history: list, labels: dict):
    """KL against bits for every setting this session has measured, one line per
    granularity: fewer bits cost more, grouping costs less."""
    traces = []
    for group, colour in GROUP_COLOURS.items():
        points = sorted((r.bits, r.kl) for r in history if r.group == group)
        if points:
            traces.append(dict(type="scatter", mode="lines+markers", name=labels[group],
                               x=[p[0] for p in points], y=[max(p[1], 1e-6) for p in points],
                               line=dict(color=colour),
                               hovertemplate=labels["hover"] + "<extra></extra>"))
    return figure(traces, title=labels["title"], height=340,
                  legend=dict(orientation="h", y=-0.25),
                  xaxis=dict(title=dict(text=labels["x"]), range=[8.5, 1.5],
                             tickvals=[8, 6, 4, 3, 2]),
                  yaxis=dict(title=dict(text=labels["y"]), type="log", dtick=1,
                             exponentformat="power"))
