"""Every figure on a page is drawn by `chart`: a PNG (or SVG) button in its
toolbar with a readable file name, the data behind it as CSV, and large type in presenter
mode. A download is made when it is clicked, from what the page already has: it
never re-runs the model or the page."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from llm_core.logit_lens import logit_lens, trace_export
from ui import fig_common
from ui.i18n import t

PRESENT_KEY = "shared.present"
FORMAT_KEY = "shared.figure_format"   # what a figure's camera button saves: png or svg
FORMATS = ("png", "svg")
# Presenter mode: type readable from the back of a room (plotly's 13 px → 19 px).
PRESENTER_FONT = 19
_AXES = ("x", "y", "z", "text", "customdata", "values", "labels", "r", "theta")


def presenting() -> bool:
    return bool(st.session_state.get(PRESENT_KEY))


def file_stem(fig: go.Figure, key: str) -> str:
    """'llm-xray-<title>' from the figure's own title (any script, CJK included),
    else from its key; markup and characters file systems refuse are dropped."""
    title = getattr(getattr(fig.layout, "title", None), "text", None) or key
    title = re.sub(r"<[^>]*>", " ", str(title))
    title = re.sub(r"[\\/:*?\"<>|%#&=.,;'`()\[\]{}‖\s]+", "-", title).strip("-")[:80]
    return f"llm-xray-{title or 'figure'}"


def _column(values) -> list:
    arr = np.asarray(values, dtype=object)
    return arr.tolist() if arr.ndim == 1 else None


def figure_table(fig: go.Figure) -> pd.DataFrame:
    """The numbers behind a figure, one row per point: trace name, then its
    x / y / z / text … A heatmap becomes one row per cell (row label, column
    label, value), so a spreadsheet gets exactly the grid on screen."""
    frames = []
    for i, trace in enumerate(fig.data):
        name = getattr(trace, "name", None) or f"{trace.type}{i}"
        z = getattr(trace, "z", None)
        if trace.type in ("heatmap", "surface", "contour") and z is not None:
            grid = np.asarray(z, dtype=object)
            if grid.ndim != 2:
                continue
            rows = list(trace.y) if trace.y is not None else list(range(grid.shape[0]))
            cols = list(trace.x) if trace.x is not None else list(range(grid.shape[1]))
            frames.append(pd.DataFrame({
                "trace": name, "row": np.repeat(rows, grid.shape[1]),
                "column": np.tile(cols, grid.shape[0]), "value": grid.reshape(-1)}))
            continue
        columns = {}
        for axis in _AXES:
            values = getattr(trace, axis, None) if axis in trace else None
            if values is None or isinstance(values, str):
                continue
            column = _column(values)
            if column is not None:
                columns[axis] = column
        if not columns:
            continue
        n = max(len(v) for v in columns.values())
        frame = pd.DataFrame({k: v + [None] * (n - len(v)) for k, v in columns.items()})
        frame.insert(0, "trace", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet opens Chinese labels right.
    A text cell that a spreadsheet would run as a formula (=, +, -, @ first: a
    guess or a token can be anything) gets a leading apostrophe."""
    frame = frame.apply(lambda column: column.map(
        lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v))
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def json_bytes(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def _presenter_copy(fig: go.Figure) -> go.Figure:
    """The shared figure is read-only (other sessions draw it): a copy gets the
    larger type."""
    big = go.Figure(fig)
    title = big.layout.title.font.size or 15
    # Streamlit's chart theme fixes every font at 12 px, so the copy is drawn
    # without it (theme=None below) on plotly's white template.
    big.update_layout(template="plotly_white", font_size=PRESENTER_FONT,
                      hoverlabel_font_size=PRESENTER_FONT,
                      title_font_size=max(title, PRESENTER_FONT + 3))
    # Sizes a figure sets for itself (a heatmap's small ticks, bar texts) would stay
    # small under the larger default: none is left below the presenter's size.
    def grow(font):
        if font is not None and font.size is not None and font.size < PRESENTER_FONT:
            font.size = PRESENTER_FONT
    big.for_each_xaxis(lambda ax: grow(ax.tickfont))
    big.for_each_yaxis(lambda ax: grow(ax.tickfont))
    for trace in big.data:
        grow(getattr(trace, "textfont", None))
        colorbar = getattr(trace, "colorbar", None)
        if colorbar is not None:
            grow(colorbar.tickfont)
    for note in big.layout.annotations or ():
        grow(note.font)
    if big.layout.height:
        big.update_layout(height=int(big.layout.height * 1.15))
    return big


def chart(fig: go.Figure, *, key: str, table: pd.DataFrame | None = None, where=None,
          **kwargs) -> None:
    """Draw `fig` with its PNG and CSV downloads, in `where` (a column; default the
    page). `table` is the data to export when the page has it in a better form
    than the traces."""
    if fig_common.CHECK_AGAINST_VALIDATED:      # the tests: the app's template styles it
        drawn = {trace.type for trace in fig.data}
        assert drawn <= fig_common.DRAWN, f"{key}: add {drawn - fig_common.DRAWN} to DRAWN"
    where = where or st
    stem = file_stem(fig, key)
    fmt = st.session_state.get(FORMAT_KEY, "png")
    config = {"displaylogo": False, "toImageButtonOptions": {
        "format": fmt if fmt in FORMATS else "png", "filename": stem, "scale": 2}}
    if presenting():
        where.plotly_chart(_presenter_copy(fig), key=key, config=config, theme=None, **kwargs)
    else:
        where.plotly_chart(fig, key=key, config=config, **kwargs)
    where.download_button(t("common.download_csv"), data=lambda: csv_bytes(
        figure_table(fig) if table is None else table), file_name=f"{stem}.csv", mime="text/csv",
        key=f"{key}.csv", on_click="ignore", type="tertiary", icon=":material/download:",
        help=t("common.download_csv_help"))


def trace_button(handle, trace, layer: int, head: int, *, key: str) -> None:
    """The text's trace as JSON (tokens, ids, per-layer top predictions, this
    head's attention, the next-token top 10), built only when clicked."""
    st.download_button(
        t("common.download_trace"), file_name=f"llm-xray-trace-L{layer}-H{head}.json",
        data=lambda: json_bytes(trace_export(handle, trace, logit_lens(handle, trace), layer, head)),
        mime="application/json", key=key, on_click="ignore", icon=":material/data_object:",
        help=t("common.download_trace_help"))
