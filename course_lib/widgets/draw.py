"""Draw a digit, classify it, and see which pixels carry the evidence (used in the LRP lecture).

The drawing reaches the model the way MNIST digits were prepared
(:func:`course_lib.drawings.mnist_preprocess`: scaled into a 20×20 box, centred by its centre of
mass in 28×28); the widget only wires that to a canvas, the model and ``course_lib.lrp``.

The canvas is a tiny anywidget (the ES module ``canvas.js`` beside this file, shipped with the
package; no build step): strokes are drawn in the browser,
and only when the pen is lifted the image is sent to the kernel, downsampled to
``CANVAS_RESOLUTION`` pixels a side. It works in JupyterLab, Notebook 7, Voilà and on Colab
(anywidget switches Colab's custom widget manager on by itself).
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import ipywidgets as W
import numpy as np
import traitlets

from course_lib._batching import predict_logits
from course_lib.drawings import as_grey_image, mnist_preprocess
from course_lib.widgets._base import figure_png

__all__ = ["draw_digit_demo"]

CANVAS_RESOLUTION = 112  # pixels a side sent from the browser (a multiple of FIELD)
EMPTY_MESSAGE = "The canvas is empty: draw a digit with the mouse, then press Classify."

RULES = {"ε (epsilon)": "epsilon", "z⁺ (zplus)": "zplus", "composite: ε dense, z⁺ conv": "epsilon_plus"}
PREDICTED = -1  # value of the class picker meaning "the predicted class"
COLOR_MAPS = ("bwr", "seismic", "coolwarm", "RdBu_r", "PiYG", "PuOr_r")


def pixels_to_image(data: bytes, side: int = CANVAS_RESOLUTION) -> np.ndarray:
    """The canvas's bytes (one uint8 grey value per pixel, row-major) → a (side, side) float32 image in [0, 1]."""
    if len(data) == 0:
        return np.zeros((side, side), np.float32)
    if len(data) != side * side:
        raise ValueError(f"expected {side * side} canvas bytes, got {len(data)}")
    return np.frombuffer(data, np.uint8).reshape(side, side).astype(np.float32) / 255.0


# --------------------------------------------------------------------------------------------
# The canvas (anywidget)
# --------------------------------------------------------------------------------------------

_CANVAS_ESM = (Path(__file__).parent / "canvas.js").read_text(encoding="utf-8")


def _bytes_from_json(value, widget) -> bytes:
    return b"" if value is None else bytes(value)


class DigitCanvas(anywidget.AnyWidget):
    """A black square on which the mouse (or a pen, or a finger) draws white strokes.

    ``pixels`` holds the drawing as ``resolution``² uint8 grey values, updated each time the pen is
    lifted; ``image`` gives it as a float array; ``clear()`` wipes both sides.
    """

    _esm = _CANVAS_ESM
    size = traitlets.Int(280).tag(sync=True)
    resolution = traitlets.Int(CANVAS_RESOLUTION).tag(sync=True)
    line_width = traitlets.Float(22.0).tag(sync=True)
    # the browser sends a binary buffer, which arrives as a memoryview
    pixels = traitlets.Bytes(b"").tag(sync=True, from_json=_bytes_from_json)
    strokes = traitlets.Int(0).tag(sync=True)

    @property
    def image(self) -> np.ndarray:
        return pixels_to_image(self.pixels, self.resolution)

    @image.setter
    def image(self, values) -> None:
        """Set the drawing from a float image in [0, 1] of shape (resolution, resolution) (tests, scripts)."""
        array = np.clip(as_grey_image(values), 0.0, 1.0)
        if array.shape != (self.resolution, self.resolution):
            raise ValueError(f"expected shape ({self.resolution}, {self.resolution}), got {array.shape}")
        self.pixels = np.round(array * 255).astype(np.uint8).tobytes()

    def clear(self) -> None:
        self.send({"type": "clear"})
        self.pixels = b""


# --------------------------------------------------------------------------------------------
# The demo
# --------------------------------------------------------------------------------------------


def _scores_table(scores: np.ndarray, predicted: int) -> str:
    """HTML table of the ten pre-softmax scores, highest first, the predicted class in bold."""
    order = np.argsort(-scores, kind="stable")
    highlight = " style='font-weight:bold;background:#fde2e2'"
    rows = "".join(
        f"<tr{highlight if c == predicted else ''}>"
        f"<td style='padding:0 1em'>{c}</td><td style='text-align:right'>{scores[c]:+.2f}</td></tr>"
        for c in order
    )
    head = "<tr><th style='padding:0 1em'>class</th><th>score (logit)</th></tr>"
    return f"<table class='course-scores'>{head}{rows}</table>"


def _heatmap_png(digit: np.ndarray, relevance: np.ndarray, cmap: str, title: str) -> bytes:
    """PNG of the model's 28×28 input next to its relevance map (colour scale centred at zero)."""
    from matplotlib.figure import Figure

    from course_lib.plotting.panels import relevance_panel

    fig = Figure(figsize=(5.0, 2.4))
    relevance_panel(fig, digit, relevance, cmap=cmap, title=title)
    return figure_png(fig, dpi=90)


class DrawDigitDemo(W.VBox):
    """Canvas + Classify/Clear buttons + prediction, sorted score table and a relevance heatmap.

    Reachable parts (for tests and scripts): ``canvas`` (a ``DigitCanvas``), ``controls`` — a dict
    with ``"classify"``, ``"clear"`` (buttons), ``"target"`` (class to explain; ``PREDICTED`` = -1 follows the prediction),
    ``"rule"``, ``"epsilon"``, ``"cmap"`` — and the outputs ``message``, ``prediction``, ``scores``
    (HTML) and ``heatmap`` (an Image widget holding a PNG). After a classification ``digit``
    (28, 28, 1), ``logits`` (10,), ``predicted`` and ``relevance`` (28, 28) hold the numbers shown.
    """

    def __init__(self, model, explain=None):
        self.model = model
        self._explain = explain
        self.digit = self.logits = self.predicted = self.relevance = None

        self.canvas = DigitCanvas()
        style = {"description_width": "initial"}
        self.controls = {
            "classify": W.Button(description="Classify", button_style="primary", icon="check"),
            "clear": W.Button(description="Clear", icon="eraser"),
            "target": W.Dropdown(
                options=[("predicted class", PREDICTED)] + [(str(c), c) for c in range(10)],
                value=PREDICTED,
                description="explain class",
                style=style,
            ),
            "rule": W.Dropdown(options=list(RULES.items()), value="epsilon", description="LRP rule", style=style),
            "epsilon": W.FloatLogSlider(
                value=0.1, base=10, min=-4, max=1, step=0.25, description="ε", readout_format=".0e", style=style
            ),
            "cmap": W.Dropdown(options=list(COLOR_MAPS), value=COLOR_MAPS[0], description="colour map", style=style),
        }
        self.message = W.HTML(f"<i>{EMPTY_MESSAGE}</i>")
        self.prediction = W.HTML()
        self.scores = W.HTML()
        self.heatmap = W.Image(format="png", layout=W.Layout(display="none"))
        for widget, name in [
            (self.message, "message"),
            (self.prediction, "prediction"),
            (self.scores, "scores"),
            (self.heatmap, "heatmap"),
        ]:
            widget.add_class(f"course-draw-{name}")
        for name, widget in self.controls.items():
            widget.add_class(f"course-draw-{name}")

        self.controls["classify"].on_click(lambda _: self.classify())
        self.controls["clear"].on_click(lambda _: self.clear())
        for name in ("target", "rule", "epsilon", "cmap"):
            self.controls[name].observe(lambda _: self.explain(), names="value")
        self.controls["rule"].observe(self._toggle_epsilon, names="value")

        c = self.controls
        left = W.VBox([self.canvas, W.HBox([c["classify"], c["clear"]])])
        middle = W.VBox([self.message, self.prediction, self.scores], layout=W.Layout(padding="0 1em"))
        right = W.VBox([self.heatmap])
        knobs = W.HBox([c["target"], c["rule"], c["epsilon"], c["cmap"]], layout=W.Layout(flex_flow="row wrap"))
        super().__init__([W.HBox([left, middle, right]), knobs])
        self.add_class("course-draw-digit")

    def _toggle_epsilon(self, change) -> None:
        self.controls["epsilon"].disabled = change["new"] == "zplus"

    def classify(self) -> int | None:
        """Preprocess the drawing, score it, show the prediction and the heatmap; None if the canvas is empty."""
        digit = mnist_preprocess(self.canvas.image)
        if digit is None:
            self.digit = self.logits = self.predicted = self.relevance = None
            self.message.value = f"<b>{EMPTY_MESSAGE}</b>"
            self.prediction.value = self.scores.value = ""
            self.heatmap.layout.display = "none"
            return None
        self.digit = digit
        self.logits = predict_logits(self.model, digit[None])[0]
        self.predicted = int(np.argmax(self.logits))
        self.message.value = ""
        self.prediction.value = (
            "<div class='course-draw-predicted' style='font-size:1.3em'>prediction: "
            f"<b style='font-size:2em'>{self.predicted}</b></div>"
        )
        self.scores.value = _scores_table(self.logits, self.predicted)
        self.explain()
        return self.predicted

    def explain(self) -> None:
        """Recompute and redraw the relevance map for the chosen class, rule, ε and colour map."""
        if self.digit is None:
            return
        c = self.controls
        target = self.predicted if c["target"].value == PREDICTED else int(c["target"].value)
        rule = c["rule"].value
        options = {} if rule == "zplus" else {"epsilon": float(c["epsilon"].value)}
        if self._explain is None:
            import course_lib as cl

            self._explain = cl.lrp
        relevance = self._explain(self.model, self.digit[None], target, rule=rule, **options)
        self.relevance = np.asarray(relevance, np.float32)[0, ..., 0]
        detail = "" if rule == "zplus" else f", ε={c['epsilon'].value:.0e}"
        title = f"LRP {rule}{detail}: class {target}, ΣR={self.relevance.sum():+.2f}"
        self.heatmap.value = _heatmap_png(self.digit[..., 0], self.relevance, c["cmap"].value, title)
        self.heatmap.layout.display = None

    def clear(self) -> None:
        """Wipe the canvas and every output."""
        self.canvas.clear()
        self.digit = self.logits = self.predicted = self.relevance = None
        self.message.value = f"<i>{EMPTY_MESSAGE}</i>"
        self.prediction.value = self.scores.value = ""
        self.heatmap.layout.display = "none"


def draw_digit_demo(model=None, *, explain=None) -> DrawDigitDemo:
    """Draw a digit, classify it and see its relevance map (LRP) for a class, rule, ε and colour map of your choice.

    ``model`` defaults to ``course_lib.pretrained("mnist_cnn")``; ``explain`` defaults to
    ``course_lib.lrp`` and is called as ``explain(model, x, target, rule=..., epsilon=...)``. The drawing is
    centred and scaled the MNIST way (``mnist_preprocess``) before it reaches the model. Returns a
    ``DrawDigitDemo`` (an ipywidgets VBox; see its docstring for the reachable controls).
    """
    if model is None:
        import course_lib as cl

        model = cl.pretrained("mnist_cnn")
    return DrawDigitDemo(model, explain=explain)
