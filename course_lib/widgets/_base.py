"""What every live explorer shares: the :class:`Explorer` container and its small building blocks.

An explorer is an ``ipywidgets.VBox`` with three named parts that tests and lecturers can reach
without a browser:

- ``explorer.controls`` — ``{name: widget}``, e.g. ``controls["layer"].value = "conv2d_3"``;
- ``explorer.output`` — an ``ipywidgets.Output`` holding the current figure as a PNG;
- ``explorer.figure`` — the matplotlib figure behind it, and ``explorer.caption`` (an HTML line
  that names the current setting, e.g. "conv2d_3 · map 7 · digit 12 (label 4)").

Changing any control recomputes and redraws at once; sliders only report when released, so a drag
costs one update. The helpers below build the controls the explorers have in common (digit, layer
and map sliders), memoise results per setting (:func:`memoise`) and hold the samples with their
pre-softmax scores (:class:`Scored`, computed by the cached logits model).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from functools import lru_cache

import ipywidgets as w
import numpy as np
from matplotlib.figure import Figure

from course_lib import _graph
from course_lib._batching import checked_batch, predict_logits

__all__ = ["Explorer"]

SLIDER_STYLE = {"description_width": "initial"}


def figure_png(figure, *, dpi: int = 90) -> bytes:
    """The figure as PNG bytes, cropped to what was drawn."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


class Explorer(w.VBox):
    """An ipywidgets container: controls on top, a caption, and the figure drawn by ``draw``.

    ``draw(figure, **values)`` receives the (cleared) figure and the controls' current values and
    returns the caption text. Errors raised by ``draw`` are shown in the caption, never swallowed
    silently and never crash the lecture.
    """

    def __init__(self, controls: dict, draw: Callable, *, figsize=(9.0, 4.0), dpi: int = 90, rows=None):
        self.controls = dict(controls)
        self.draw = draw
        self.dpi = dpi
        self.figure = Figure(figsize=figsize)
        self.caption = w.HTML()
        self.output = w.Output()
        self.renders = 0
        self._drawing = False
        rows = rows or [list(self.controls)]
        boxes = [w.HBox([self.controls[name] for name in row]) for row in rows]
        super().__init__([*boxes, self.caption, self.output])
        for control in self.controls.values():
            control.observe(self._changed, names="value")
        self.refresh()

    @property
    def values(self) -> dict:
        return {name: control.value for name, control in self.controls.items()}

    def _changed(self, change) -> None:
        if not self._drawing:  # controls that ``draw`` itself adjusts do not trigger a second redraw
            self.refresh()

    def refresh(self) -> None:
        """Recompute and redraw for the current control values."""
        self.caption.value = "<i>computing…</i>"
        self.figure.clear()
        self._drawing = True
        try:
            text = self.draw(self.figure, **self.values)
            style = ""
        except (ValueError, TypeError) as error:
            text, style = f"cannot show this setting: {error}", "color:#b00"
        finally:
            self._drawing = False
        self.caption.value = f"<span style='{style}'>{html.escape(text)}</span>"
        png = base64.b64encode(figure_png(self.figure, dpi=self.dpi)).decode("ascii")
        self.output.outputs = (
            {"output_type": "display_data", "data": {"image/png": png, "text/plain": text}, "metadata": {}},
        )
        self.renders += 1


# ---------------------------------------------------------------------------------------- helpers


def memoise(function: Callable, size: int = 64) -> Callable:
    """Memoise ``function`` on its (hashable) arguments; cached arrays are never modified."""
    return lru_cache(maxsize=size)(function)


def check_samples(model, x) -> np.ndarray:
    """``x`` checked against the model (the methods' own check), with at least one sample."""
    x = checked_batch(model, x)
    if len(x) == 0:
        raise ValueError("x must hold at least one sample")
    return x


def conv_layer_names(model, layers=None) -> list[str]:
    """Names of the model's convolution layers (or the given ones, checked)."""
    if layers is not None:
        return [_graph.get_layer(model, layer).name for layer in layers]
    names = [layer.name for layer in _graph.conv_layers(model)]
    if not names:
        raise ValueError(f"model {model.name!r} has no convolution layer to explore")
    return names


def channels(model, layer: str) -> int:
    """Number of feature maps of ``layer``."""
    return int(_graph.get_layer(model, layer).output.shape[-1])


def digit_slider(x, description: str = "digit", value: int = 0) -> w.IntSlider:
    """A slider over the sample indices of ``x``."""
    return w.IntSlider(
        value=value,
        min=0,
        max=len(x) - 1,
        description=f"{description} #",
        continuous_update=False,
        style=SLIDER_STYLE,
    )


def layer_dropdown(names: list[str], value=None) -> w.Dropdown:
    return w.Dropdown(options=names, value=value or names[0], description="layer", layout=w.Layout(width="190px"))


def map_slider(maximum: int, description: str = "feature map") -> w.IntSlider:
    return w.IntSlider(
        value=0, min=0, max=maximum, description=description, continuous_update=False, style=SLIDER_STYLE
    )


def follow_layer(model, layer_control: w.Dropdown, map_control: w.IntSlider) -> None:
    """Keep the map slider's range equal to the chosen layer's number of channels."""

    def update(change):
        map_control.max = channels(model, change["new"]) - 1

    layer_control.observe(update, names="value")
    map_control.max = channels(model, layer_control.value) - 1


def label_text(y, index: int) -> str:
    return f"digit {index}" + (f" (label {int(y[index])})" if y is not None else "")


class Scored:
    """The samples, their pre-softmax scores (from the cached logits model) and the class each explorer explains."""

    def __init__(self, model, x, y):
        self.x = check_samples(model, x)
        self.y = None if y is None else np.asarray(y).reshape(-1)
        self.scores = predict_logits(model, self.x)
        self.n_classes = self.scores.shape[-1]

    def target(self, digit: int, chosen: int) -> int:
        return int(np.argmax(self.scores[digit])) if chosen < 0 else int(chosen)

    def describe(self, digit: int, target: int) -> str:
        label = "" if self.y is None else f" (label {int(self.y[digit])})"
        predicted = int(np.argmax(self.scores[digit]))
        return f"digit {digit}{label}, predicted {predicted}, explaining class {target} (S_c = {self.scores[digit, target]:.2f})"

    def class_dropdown(self) -> w.Dropdown:
        options = [("predicted", -1)] + [(str(c), c) for c in range(self.n_classes)]
        return w.Dropdown(options=options, value=-1, description="class", layout=w.Layout(width="170px"))

    def one(self, digit: int) -> np.ndarray:
        return self.x[digit : digit + 1]
