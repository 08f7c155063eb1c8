"""Live explorers for lecture 08 — can we trust an explanation?

- :func:`randomization_explorer`: the model-randomisation sanity check (Adebayo et al. 2018) with
  the randomisation depth as a slider. Controls ``digit``, ``method`` and ``depth`` (0 = intact,
  k = the top k weighted layers re-drawn at random, cascading); the methods include guided
  backpropagation, the textbook failure of the check (Adebayo et al. 2018), and the DeconvNet.
- :func:`clever_hans_explorer`: a digit with and without the watermark, explained for a clean model
  and for a model trained on watermarked data. Controls ``digit``, ``watermark`` (stamp on/off)
  and ``method``.

Both return a :class:`~course_lib.widgets._base.Explorer` (``.controls``, ``.figure``,
``.output``, ``.caption``).
"""

from __future__ import annotations

import ipywidgets as w
import keras
import numpy as np

from course_lib._graph import flat_layers
from course_lib.plotting import curves, heatmaps
from course_lib.widgets._base import Explorer, Scored, digit_slider, memoise

__all__ = ["randomization_explorer", "clever_hans_explorer", "TRUST_METHODS"]


def _deconvnet_last_conv(model, x, target=None):
    """DeconvNet (lecture 02) of the strongest map of the model's last convolution; ``target`` is not used:
    the projection starts below the logits, so it cannot depend on the class (Zeiler & Fergus 2014)."""
    import course_lib as cl

    last = [layer.name for layer in flat_layers(model) if isinstance(layer, keras.layers.Conv2D)][-1]
    return cl.deconvnet(model, x, layer=last)


def _methods():
    import course_lib as cl

    return {
        "gradient": cl.saliency,
        "gradient × input": cl.gradient_x_input,
        "LRP-ε": lambda model, x, target=None: cl.lrp(model, x, target, rule="epsilon", epsilon=0.1),
        "integrated gradients": lambda model, x, target=None: cl.integrated_gradients(model, x, target, steps=16),
        "guided backprop": cl.guided_backprop,
        "DeconvNet": _deconvnet_last_conv,
    }


TRUST_METHODS = ("gradient", "gradient × input", "LRP-ε", "integrated gradients", "guided backprop", "DeconvNet")


def randomization_explorer(model, x, y=None, *, digit: int = 0, method: str = "gradient", seed: int = 0) -> Explorer:
    """Lecture 08: how an explanation changes as the model's layers are randomised from the top down.

    For the chosen method, :func:`course_lib.model_randomization_check` runs once on the whole batch
    ``x`` (keep it small, e.g. 8 digits) and is cached; moving the ``digit`` or ``depth`` sliders
    only redraws. Figure: the digit, its explanation by the intact model, the explanation after
    ``depth`` randomised layers, and the rank correlation with the original for every depth.
    """
    import course_lib as cl

    data = Scored(model, x, y)
    methods = _methods()
    if method not in methods:
        raise ValueError(f"method must be one of {list(methods)}, got {method!r}")

    @memoise
    def check(method: str):
        return cl.model_randomization_check(model, data.x, methods[method], seed=seed)

    layers = check(method).layers
    controls = {
        "digit": digit_slider(data.x),
        "method": w.Dropdown(options=list(methods), value=method, description="method"),
        "depth": w.IntSlider(
            value=len(layers), min=0, max=len(layers), description="layers randomised", continuous_update=False
        ),
    }
    controls["depth"].style.description_width = "initial"
    controls["digit"].value = digit

    def draw(fig, *, digit, method, depth):
        result = check(method)
        original = result.original[digit]
        current = original if depth == 0 else result.explanations[depth - 1, digit]
        grid = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.5], wspace=0.45)
        row = fig.add_subfigure(grid[0])
        which = "nothing randomised" if depth == 0 else f"top {depth} randomised (to {result.layers[depth - 1]})"
        heatmaps.attribution_row(row, data.x[digit], {"intact model": original, which: current})
        ax = fig.add_subplot(grid[1])
        curves.similarity_curves(ax, result.layers, {method: result.similarity}, title="similarity to the original")
        rho = 1.0 if depth == 0 else float(result.similarity[depth - 1, digit])
        ax.plot([depth], [rho], "o", color="black", markersize=8, fillstyle="none")
        return f"{method} · depth {depth}: {which} · Spearman ρ = {rho:.2f} for digit {digit}"

    return Explorer(controls, draw, figsize=(11.0, 3.2), rows=[["digit", "method"], ["depth"]])


def clever_hans_explorer(
    models: dict, x, y=None, *, mask=None, stamp=None, digit: int = 0, method: str = "gradient × input"
) -> Explorer:
    """Lecture 08: the same digit with and without the watermark, explained by several models.

    ``models`` is ``{name: model}`` (e.g. the shipped model and the Clever-Hans model); ``stamp``
    is a function that prints the watermark on a batch (default
    :func:`course_lib.clever_hans.stamp_watermark`) and ``mask`` the watermark's (H, W) mask, which
    is outlined. One row per model: the input it sees with the prediction, the map of the
    predicted class; the caption lists each model's prediction and the share of |R| inside the patch.
    """
    from course_lib import clever_hans

    stamp = stamp or clever_hans.stamp_watermark
    first = next(iter(models.values()))
    data = Scored(first, x, y)
    mask = clever_hans.watermark_mask(data.x.shape[1:3]) if mask is None else np.asarray(mask, dtype=bool)
    methods = _methods()

    @memoise
    def explain(name: str, digit: int, stamped: bool, method: str):
        image = stamp(data.one(digit)) if stamped else data.one(digit)
        model = models[name]
        probabilities = np.asarray(model(image, training=False))[0]
        maps = np.asarray(methods[method](model, image))
        return image[0], probabilities, maps[0], float(clever_hans.patch_share(maps, mask)[0])

    controls = {
        "digit": digit_slider(data.x),
        "watermark": w.ToggleButtons(options=[("clean", False), ("stamped", True)], value=False),
        "method": w.Dropdown(options=list(methods), value=method, description="method"),
    }
    controls["digit"].value = digit

    def draw(fig, *, digit, watermark, method):
        rows = fig.subfigures(len(models), 1)
        rows = np.atleast_1d(rows)
        parts = []
        for row, name in zip(rows, models, strict=True):
            image, probabilities, relevance, share = explain(name, digit, bool(watermark), method)
            predicted = int(np.argmax(probabilities))
            heatmaps.attribution_row(
                row,
                image,
                {f"{method}, class {predicted}": relevance},
                image_title=f"{name}: predicts {predicted} ({probabilities[predicted]:.0%})",
                mask=mask,
            )
            parts.append(f"{name} → {predicted} ({share:.0%} of |R| in the patch)")
        label = "" if data.y is None else f" (label {int(data.y[digit])})"
        state = "with watermark" if watermark else "clean"
        return f"digit {digit}{label}, {state} · " + " · ".join(parts)

    return Explorer(controls, draw, figsize=(6.0, 2.6 * len(models)), rows=[["digit", "watermark", "method"]])
