"""Figures of the distillation lesson: pure functions, data → plotly Figure.
Strings arrive translated in one `labels` dict."""
from __future__ import annotations

from ui.fig_common import figure

SOFT = "#0072B2"
HARD = "#D55E00"


def loss_curves(result, labels: dict):
    """Each student's training loss per step (their losses differ in kind: the soft
    one includes T²·KL, so compare the held-out KL, not these heights)."""
    return figure([dict(type="scatter", mode="lines", name=labels["soft"],
                        y=list(result.soft.loss), x=list(range(1, len(result.soft.loss) + 1)),
                        line=dict(color=SOFT)),
                   dict(type="scatter", mode="lines", name=labels["hard"],
                        y=list(result.hard.loss), x=list(range(1, len(result.hard.loss) + 1)),
                        line=dict(color=HARD, dash="dash"))],
                  title=labels["loss_title"], height=320, legend=dict(orientation="h", y=-0.3),
                  xaxis=dict(title=dict(text=labels["step"])),
                  yaxis=dict(title=dict(text=labels["loss"]), rangemode="tozero"))


def held_out_kl(result, labels: dict, drifts: dict | None = None):
    """KL(teacher ‖ student) on held-out stories as training goes: lower is closer.
    drifts: per student ("soft", "hard") that moved away, its distillation.Drift —
    a star where it was closest. labels: … closest (the star's name)."""
    drifts = drifts or {}
    def trace(curve, name, colour, dash):
        return dict(type="scatter", mode="lines+markers", name=name,
                    x=[p[0] for p in curve.held_kl], y=[p[1] for p in curve.held_kl],
                    line=dict(color=colour, dash=dash),
                    hovertemplate=labels["hover"] + "<extra></extra>")
    def closest(curve, drift, colour):   # a student that moved away: where it was closest
        return dict(type="scatter", mode="markers", x=[drift.best_step], y=[drift.best],
                    marker=dict(color=colour, size=13, symbol="star"), name=labels["closest"],
                    hovertemplate=labels["hover"] + "<extra></extra>")
    marks = [closest(c, d, colour) for c, d, colour in ((result.soft, drifts.get("soft"), SOFT),
                                                         (result.hard, drifts.get("hard"), HARD)) if d]
    return figure([trace(result.soft, labels["soft"], SOFT, "solid"),
                   trace(result.hard, labels["hard"], HARD, "dash")] + marks,
                  title=labels["kl_title"], height=320, legend=dict(orientation="h", y=-0.3),
                  xaxis=dict(title=dict(text=labels["step"])),
                  yaxis=dict(title=dict(text=labels["kl"]), rangemode="tozero"))


def sizes(teacher: int, student: int, labels: dict):
    """Parameter counts of teacher and student on a log axis (they differ ~1000×)."""
    return figure([dict(type="bar", x=[teacher, student], y=[labels["teacher"], labels["student"]],
                        orientation="h", marker=dict(color=[HARD, SOFT]),
                        text=[f"{teacher:,}", f"{student:,}"], textposition="auto",
                        hovertemplate="%{x:,}<extra></extra>")],
                  title=labels["sizes_title"], height=200,
                  xaxis=dict(type="log", title=dict(text=labels["params"])),
                  yaxis=dict(automargin=True))
