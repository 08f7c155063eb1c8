"""Live explorer for discriminative localisation (lecture 04): CAM and Grad-CAM, class by class.

``cam_explorer(model, x, y)`` returns an :class:`~course_lib.widgets._base.Explorer` with the
controls ``digit`` (sample index), ``class`` (``-1`` = the predicted class), ``method``
(``"CAM"`` or ``"Grad-CAM"``) and ``opacity`` of the overlay. It works for any
Conv → GAP → Dense network, e.g. the MNIST model and the two-class Ising model
(``class_names=("ferromagnetic", "paramagnetic")``).
"""

from __future__ import annotations

import inspect

import ipywidgets as w
import numpy as np

from course_lib._batching import predict_logits
from course_lib.plotting import grids, heatmaps
from course_lib.widgets._base import Explorer, check_samples, digit_slider, memoise

__all__ = ["cam_explorer"]

METHODS = ("CAM", "Grad-CAM")


def _upsampled(method, model, x, targets) -> np.ndarray:
    """Maps of ``method`` for ``targets`` at input resolution (bilinear), shape (B, H, W)."""
    if "upsample" in inspect.signature(method).parameters:
        maps = method(model, x, targets, upsample=True)
    else:
        import tensorflow as tf

        maps = method(model, x, targets)
        maps = tf.image.resize(maps[..., None], x.shape[1:3], method="bilinear").numpy()[..., 0]
    return np.asarray(maps, dtype=np.float32).reshape(len(x), *x.shape[1:3])


def cam_explorer(model, x, y=None, *, class_names=None, digit: int = 0, method: str = "CAM") -> Explorer:
    """Lecture 04: which regions hold the evidence for each class?

    Left: the input; middle: the map of the chosen class over the input (diverging colours
    centred at zero: red raises the class score, blue lowers it; ``opacity`` sets the overlay's
    alpha); right: the maps of every class on one shared scale, titled with the class scores
    ``S_c`` (before the softmax), the chosen class framed. The maps of all classes for a digit
    come from one batched call per method and are cached.
    """
    import course_lib as cl

    x = check_samples(model, x)
    scores = predict_logits(model, x)
    n_classes = scores.shape[-1]
    names = [str(c) for c in range(n_classes)] if class_names is None else [str(name) for name in class_names]
    if len(names) != n_classes:
        raise ValueError(f"class_names must have {n_classes} entries (one per class), got {len(names)}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    functions = {"CAM": cl.cam, "Grad-CAM": cl.grad_cam}

    @memoise
    def maps_of(index: int, method: str) -> np.ndarray:
        batch = np.repeat(x[index : index + 1], n_classes, axis=0)
        return _upsampled(functions[method], model, batch, np.arange(n_classes))

    class_options = [("predicted", -1)] + [(f"{c}: {name}" if class_names else name, c) for c, name in enumerate(names)]
    controls = {
        "digit": digit_slider(x, "sample" if class_names else "digit"),
        "class": w.Dropdown(options=class_options, value=-1, description="class", layout=w.Layout(width="230px")),
        "method": w.ToggleButtons(options=list(METHODS), value=method),
        "opacity": w.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.1, description="opacity", continuous_update=False),
    }
    controls["method"].style.button_width = "90px"
    controls["digit"].value = digit

    def draw(fig, *, digit, method, opacity, **values):
        predicted = int(np.argmax(scores[digit]))
        chosen = predicted if values["class"] < 0 else int(values["class"])
        maps = maps_of(digit, method)
        outer = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.25, max(1.2, 0.55 * n_classes)], wspace=0.12)
        ax = fig.add_subplot(outer[0])
        ax.imshow(x[digit, ..., 0], cmap="gray", interpolation="nearest")
        ax.set_axis_off()
        truth = "" if y is None else f"label {names[int(y[digit])]}, "
        ax.set_title(f"{truth}predicted {names[predicted]}", fontsize=9)
        ax = fig.add_subplot(outer[1])
        heatmaps.overlay(ax, x[digit], maps[chosen], alpha=float(opacity), signed=True)
        ax.set_title(f"{method} · class {names[chosen]}", fontsize=9)
        columns = min(n_classes, 5)
        grid = outer[2].subgridspec(int(np.ceil(n_classes / columns)), columns, wspace=0.06, hspace=0.3)
        limit = max(heatmaps.signed_limit(maps), 1e-6)
        for c in range(n_classes):
            small = fig.add_subplot(grid[c // columns, c % columns])
            heatmaps.heatmap(small, maps[c], limit=limit)
            small.set_title(
                f"{names[c]}: S={scores[digit, c]:.1f}", fontsize=7, color="tab:red" if c == chosen else "black"
            )
            if c == chosen:
                grids.frame(small)
        mean = float(maps[chosen].mean())
        return (
            f"{method} · class {names[chosen]} · {truth}predicted {names[predicted]} · "
            f"S_c = {scores[digit, chosen]:.2f}, map mean {mean:.2f} · opacity {opacity:.1f}"
        )

    return Explorer(controls, draw, figsize=(11.0, 3.0), rows=[["digit", "class"], ["method", "opacity"]])
