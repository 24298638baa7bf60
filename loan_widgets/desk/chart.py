"""The LTV history chart: bqplot lines, one per position, with the margin-call levels dashed.

bqplot was chosen over plotly's ``FigureWidget`` after trying both here (JupyterLab
4.6, Voila 0.5, Chromium, no network): both draw offline, live and from a saved
notebook's widget state, but bqplot ships as a prebuilt lab extension and sends
its data as binary arrays (updating 100 lines of 360 points: 0.24 ms in Python),
while plotly 7.1's ``FigureWidget`` sends a 5 MB JavaScript bundle through the
comm for each figure (saved notebooks grow by 5 MB), takes 1.5 s to build the
first figure and about 100 ms to update 100 traces, twice the desk's budget for
a whole refresh.

The chart shows at most :data:`MAX_LINES` positions (the highest LTVs); the
numbers it draws are float copies of the ``Decimal`` LTVs, for drawing only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

import bqplot
import ipywidgets as widgets
import numpy as np

from .history import History

__all__ = ["MAX_LINES", "LtvChart"]

MAX_LINES = 8
COLOURS = ["#1565c0", "#6a1b9a", "#00838f", "#2e7d32", "#ef6c00", "#5d4037", "#c2185b",
           "#455a64"]


class LtvChart(widgets.VBox):
    """LTV (%) against time (UTC) for the positions the desk passes to :meth:`draw`."""

    def __init__(self) -> None:
        super().__init__()
        self.x_scale = bqplot.DateScale()
        self.y_scale = bqplot.LinearScale(min=0.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.lines = bqplot.Lines(
            x=np.zeros(0, dtype="datetime64[ms]"), y=np.zeros((0, 0)), scales=scales,
            colors=COLOURS, labels=[], display_legend=True, stroke_width=2,
        )
        self.levels = bqplot.Lines(
            x=np.zeros(0, dtype="datetime64[ms]"), y=np.zeros((0, 0)), scales=scales,
            colors=["#d84315", "#b71c1c"], line_style="dashed", stroke_width=1, labels=[],
        )
        self.figure = bqplot.Figure(
            marks=[self.lines, self.levels],
            axes=[
                bqplot.Axis(scale=self.x_scale, label="time (UTC)", tick_format="%H:%M:%S",
                            num_ticks=5),
                bqplot.Axis(scale=self.y_scale, side="left", label="LTV %", tick_format=".0f"),
            ],
            title="LTV since the desk opened",
            legend_location="bottom-right",
            fig_margin={"top": 40, "bottom": 40, "left": 50, "right": 20},
            layout=widgets.Layout(width="100%", height="240px"),
        )
        self.figure.add_class("lw-chart")
        self.children = (self.figure,)
        self.shown: tuple[str, ...] = ()

    def draw(self, history: History, keys: Sequence[str], labels: Mapping[str, str],
             levels: Sequence[Decimal]) -> None:
        """Redraw ``keys`` (at most :data:`MAX_LINES`) and up to two dashed ``levels``."""
        keys = tuple(keys[:MAX_LINES])
        self.shown = keys
        times = list(history.times) if len(history) >= 2 else []  # a line needs two points
        x = np.array(times, dtype="datetime64[ms]")
        y = np.array(
            [[np.nan if v is None else float(v * 100) for v in history.series(k)[-len(x):]]
             for k in keys] if len(x) else [],
            dtype=float,
        ).reshape(len(keys) if len(x) else 0, len(x))
        ends = x[[0, -1]] if len(x) else x
        level_y = np.array([[float(v * 100)] * len(ends) for v in levels[:2]], dtype=float)
        with self.lines.hold_sync(), self.levels.hold_sync():
            self.lines.x, self.lines.y = x, y
            self.lines.labels = [labels.get(k, k) for k in keys]
            self.levels.x = ends
            self.levels.y = level_y.reshape(len(level_y), len(ends))
        top = max([*(float(v) * 100 for v in levels[:2]), *(np.nanmax(y, initial=0.0),)])
        self.y_scale.max = max(10.0, top * 1.08)
