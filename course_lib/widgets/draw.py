"""Draw a digit, classify it, and see which pixels carry the evidence (used in the LRP lecture).

The drawing reaches the model the way MNIST digits were prepared (LeCun et al., "Gradient-based
learning applied to document recognition", 1998): the digit's bounding box is scaled to fit a
20×20 box with its aspect ratio kept (grey levels from area averaging, i.e. anti-aliasing), then it
is placed in a 28×28 field so that its centre of mass sits at the field's centre. A drawing that
skips this step — a small "7" in a corner — is not a digit the network has ever seen.

Preprocessing is a chain of small pure numpy functions (``bounding_box``, ``resize_area``,
``fit_to_box``, ``center_of_mass``, ``place_by_center_of_mass``, ``mnist_preprocess``); the
widget only wires them to a canvas, the model and ``course_lib.lrp``.

The canvas is a tiny anywidget (plain ES module, no build step): strokes are drawn in the browser,
and only when the pen is lifted the image is sent to the kernel, downsampled to
``CANVAS_RESOLUTION`` pixels a side. It works in JupyterLab, Notebook 7, Voilà and on Colab
(anywidget switches Colab's custom widget manager on by itself).
"""

from __future__ import annotations

import io

import anywidget
import ipywidgets as W
import numpy as np
import traitlets

__all__ = ["draw_digit_demo"]

FIELD = 28  # MNIST image side
BOX = 20  # side of the box the digit's bounding box is scaled into
CANVAS_RESOLUTION = 112  # pixels a side sent from the browser (a multiple of FIELD)
EMPTY_THRESHOLD = 0.05  # a drawing whose brightest pixel is below this counts as empty
EMPTY_MESSAGE = "The canvas is empty: draw a digit with the mouse, then press Classify."

RULES = {"ε (epsilon)": "epsilon", "z⁺ (zplus)": "zplus", "composite: ε dense, z⁺ conv": "epsilon_plus"}
PREDICTED = -1  # value of the class picker meaning "the predicted class"
COLOR_MAPS = ("bwr", "seismic", "coolwarm", "RdBu_r", "PiYG", "PuOr_r")


# --------------------------------------------------------------------------------------------
# MNIST-style preprocessing: pure functions on 2-D float arrays
# --------------------------------------------------------------------------------------------


def _as_image(image) -> np.ndarray:
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D grey image (H, W) or (H, W, 1), got shape {np.shape(image)}")
    if not np.all(np.isfinite(array)):
        raise ValueError("the image contains NaN or infinite values")
    return array


def bounding_box(image, threshold: float = EMPTY_THRESHOLD) -> tuple[int, int, int, int] | None:
    """The rows ``[r0, r1)`` and columns ``[c0, c1)`` holding every pixel > ``threshold``; None if none does."""
    ink = _as_image(image) > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """Matrix A (size_out, size_in): A[i, j] = overlap of output cell i with input cell j, rows summing to 1.

    Output cell i covers [i·s, (i+1)·s) in input coordinates with s = size_in / size_out.
    """
    scale = size_in / size_out
    starts = np.arange(size_out)[:, None] * scale
    stops = starts + scale
    left, right = np.arange(size_in)[None, :], np.arange(size_in)[None, :] + 1
    overlap = np.clip(np.minimum(stops, right) - np.maximum(starts, left), 0.0, None)
    return (overlap / scale).astype(np.float32)


def resize_area(image, shape: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` to ``shape`` by area averaging: out = A_rows · image · A_colsᵀ.

    Each output pixel is the mean of the input area it covers, so shrinking is anti-aliased and the
    mean grey level is preserved; enlarging repeats pixels.
    """
    array = _as_image(image)
    rows, cols = shape
    if rows < 1 or cols < 1:
        raise ValueError(f"target shape must be positive, got {shape}")
    return _area_weights(array.shape[0], rows) @ array @ _area_weights(array.shape[1], cols).T


def fit_to_box(image, box: int = BOX, threshold: float = EMPTY_THRESHOLD) -> np.ndarray | None:
    """Crop to the bounding box and scale it so that its longer side is ``box`` pixels (aspect kept).

    Returns None for an empty image.
    """
    array = _as_image(image)
    bbox = bounding_box(array, threshold)
    if bbox is None:
        return None
    r0, r1, c0, c1 = bbox
    crop = array[r0:r1, c0:c1]
    height, width = crop.shape
    scale = box / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_area(crop, shape)


def center_of_mass(image) -> tuple[float, float]:
    """Intensity-weighted mean position (row, column): Σ_ij I_ij·(i, j) / Σ_ij I_ij."""
    array = _as_image(image)
    total = float(array.sum())
    if total <= 0:
        raise ValueError("the centre of mass of an empty image is undefined")
    rows, cols = np.indices(array.shape)
    return float((rows * array).sum() / total), float((cols * array).sum() / total)


def place_by_center_of_mass(digit, field: int = FIELD) -> np.ndarray:
    """Paste ``digit`` into a ``field``×``field`` zero image so that its centre of mass lands at (field/2, field/2).

    The shift is a whole number of pixels (as for MNIST), so the centre of mass ends within half a
    pixel of the centre; whatever would fall outside the field is cut off.
    """
    array = _as_image(digit)
    com_r, com_c = center_of_mass(array)
    top, left = round(field / 2 - com_r), round(field / 2 - com_c)
    out = np.zeros((field, field), np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + array.shape[0], field), min(left + array.shape[1], field)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = array[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def mnist_preprocess(drawing, threshold: float = EMPTY_THRESHOLD) -> np.ndarray | None:
    """A drawing (H, W) with ink > 0 on a 0 background → a (28, 28, 1) float32 digit in [0, 1], MNIST style.

    Steps: scale the grey levels so the brightest pixel is 1; crop to the bounding box; scale it to fit
    20×20 keeping the aspect ratio (area averaging); place it in 28×28 with its centre of mass at the
    centre; scale so the brightest pixel is 1 again. Returns None when nothing was drawn.
    """
    array = _as_image(drawing)
    peak = float(array.max(initial=0.0))
    if peak <= threshold:
        return None
    digit = fit_to_box(array / peak, BOX, threshold)
    placed = place_by_center_of_mass(digit, FIELD)
    return (placed / placed.max())[..., None].astype(np.float32)


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

_CANVAS_ESM = r"""
function render({ model, el }) {
  const size = model.get("size");
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  canvas.className = "course-draw-canvas";
  canvas.style.cssText =
    "background:#000;cursor:crosshair;touch-action:none;border:2px solid #888;border-radius:4px;";
  const ctx = canvas.getContext("2d");

  function wipe() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, size, size);
  }

  function send() {
    const side = model.get("resolution");
    const small = document.createElement("canvas");
    small.width = side;
    small.height = side;
    const sctx = small.getContext("2d");
    sctx.imageSmoothingEnabled = true;
    sctx.imageSmoothingQuality = "high";
    sctx.drawImage(canvas, 0, 0, side, side);
    const rgba = sctx.getImageData(0, 0, side, side).data;
    const grey = new Uint8Array(side * side);
    for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
    model.set("pixels", new DataView(grey.buffer));
    model.set("strokes", model.get("strokes") + 1);
    model.save_changes();
  }

  function position(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * (size / box.width), (event.clientY - box.top) * (size / box.height)];
  }

  let drawing = false;
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = position(event);
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = model.get("line_width");
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.arc(x, y, ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(x, y);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    const [x, y] = position(event);
    ctx.lineTo(x, y);
    ctx.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    send();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  model.on("msg:custom", (msg) => {
    if (msg && msg.type === "clear") wipe();
  });

  wipe();
  el.appendChild(canvas);
}
export default { render };
"""


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
        array = np.clip(_as_image(values), 0.0, 1.0)
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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from course_lib.plotting import heatmap, signed_limit

    fig = Figure(figsize=(5.0, 2.4), dpi=90)
    FigureCanvasAgg(fig)
    ax_in, ax_rel = fig.subplots(1, 2)
    ax_in.imshow(digit, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title("model input (28×28)", fontsize=9)
    ax_in.set_axis_off()
    artist = heatmap(ax_rel, relevance, cmap=cmap, limit=max(signed_limit(relevance), 1e-12))
    fig.colorbar(artist, ax=ax_rel, fraction=0.046, pad=0.04)
    ax_rel.set_title(title, fontsize=9)
    ax_rel.set_axis_off()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


class DrawDigitDemo(W.VBox):
    """Canvas + Classify/Clear buttons + prediction, sorted score table and a relevance heatmap.

    Reachable parts (for tests and scripts): ``canvas`` (a ``DigitCanvas``), ``controls`` — a dict
    with ``"classify"``, ``"clear"`` (buttons), ``"target"`` (class to explain; ``PREDICTED`` = -1 follows the prediction),
    ``"rule"``, ``"epsilon"``, ``"cmap"`` — and the outputs ``message``, ``prediction``, ``scores``
    (HTML) and ``heatmap`` (an Image widget holding a PNG). After a classification ``digit``
    (28, 28, 1), ``logits`` (10,), ``predicted`` and ``relevance`` (28, 28) hold the numbers shown.
    """

    def __init__(self, model, explain=None):
        from course_lib._graph import logits_model

        self.model = model
        self._logits = logits_model(model)
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
        self.logits = np.asarray(self._logits(digit[None], training=False), np.float32)[0]
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
