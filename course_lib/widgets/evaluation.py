"""Live explorer for lecture 09 — which method explains which network best, by which metric?

:func:`scoreboard_explorer` shows one cell of a :class:`course_lib.scoreboard.Scoreboard` at a time.
Controls ``network``, ``method``, ``metric`` and ``sample``. Figure: the input, the method's map and
the true attribution of the chosen sample, and the chosen metric for every method on that network.
Nothing is recomputed: the scoreboard holds the maps and the scores.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np

from course_lib.plotting import heatmaps, scores
from course_lib.widgets._base import Explorer

__all__ = ["scoreboard_explorer"]


def scoreboard_explorer(board, *, network=None, method="gradient × input", metric="rank correlation") -> Explorer:
    """Lecture 09: pick a ground-truth network, a method and a metric of ``board`` (:func:`course_lib.scoreboard.score_all`)."""
    from course_lib.scoreboard import METRICS

    network = network or board.networks[0]
    for value, valid, what in ((network, board.networks, "network"), (method, board.methods, "method")):
        if value not in valid:
            raise ValueError(f"{what} must be one of {valid}, got {value!r}")
    if metric not in board.metrics:
        raise ValueError(f"metric must be one of {board.metrics}, got {metric!r}")
    controls = {
        "network": w.Dropdown(options=board.networks, value=network, description="network"),
        "method": w.Dropdown(options=board.methods, value=method, description="method"),
        "metric": w.Dropdown(options=board.metrics, value=metric, description="metric"),
        "sample": w.IntSlider(value=0, min=0, max=len(board.inputs[network]) - 1, description="sample"),
    }

    def draw(fig, *, network, method, metric, sample):
        x = board.inputs[network]
        sample = min(sample, len(x) - 1)
        grid = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.6], wspace=0.35)
        row = fig.add_subfigure(grid[0])
        maps = board.maps.get((network, method))
        panels = {"true attribution": board.truth[network][sample]}
        if maps is not None:
            panels = {method: maps[sample], **panels}
        heatmaps.attribution_row(row, x[sample], panels, image_title=f"{network}, sample {sample}")
        ax = fig.add_subplot(grid[1])
        column = [board.value(network, m, metric) for m in board.methods]
        better = METRICS[metric].better
        scores.metric_bars(ax, board.methods, column, highlight=method, better=better, title=metric)
        value = board.value(network, method, metric)
        shown = "n/a (the method does not apply to this network)" if np.isnan(value) else f"{value:.3f}"
        return f"{method} on {network}: {metric} = {shown} · best: {board.best(network, metric)} ({better} is better)"

    return Explorer(controls, draw, figsize=(11.0, 3.4), rows=[["network", "method"], ["metric", "sample"]])
