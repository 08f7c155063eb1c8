"""Live explorers for the predictions (lecture 00) and feature visualisation (lectures 01–03).

Every explorer is an :class:`~course_lib.widgets._base.Explorer` (``.controls``, ``.figure``,
``.output``, ``.caption``); results are cached per setting, so moving back to a setting is instant.
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np

from course_lib.plotting import panels
from course_lib.plotting.grids import is_dead_map
from course_lib.widgets._base import (
    Explorer,
    channels,
    check_samples,
    conv_layer_names,
    digit_slider,
    follow_layer,
    label_text,
    layer_dropdown,
    map_slider,
    memoise,
)

__all__ = ["prediction_explorer", "activation_explorer", "deconvnet_explorer", "maximization_explorer"]

# ------------------------------------------------------------------------------ 00 predictions


def prediction_explorer(model, x, y=None, *, digit: int = 0, class_names=None) -> Explorer:
    """Lecture 00: a digit, what the model predicts for it, and how the prediction reacts to the data.

    Controls: ``digit``, ``noise`` (standard deviation of Gaussian pixel noise, seeded) and
    ``shift`` (pixels to the right, zero fill). The figure shows the (perturbed) input and the
    class probabilities; the caption names the prediction and its confidence.
    """
    x = check_samples(model, x)

    @memoise
    def perturbed(index: int, noise: float, shift: int) -> np.ndarray:
        image = np.roll(x[index], shift, axis=1)
        if shift > 0:
            image[:, :shift] = 0.0
        elif shift < 0:
            image[:, shift:] = 0.0
        if noise > 0:
            image = image + np.random.default_rng(index).normal(0.0, noise, image.shape).astype(np.float32)
        return np.clip(image, 0.0, 1.0)

    @memoise
    def probabilities(index: int, noise: float, shift: int) -> np.ndarray:
        return np.asarray(model(perturbed(index, noise, shift)[None], training=False))[0]

    controls = {
        "digit": digit_slider(x),
        "noise": w.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="noise σ", continuous_update=False),
        "shift": w.IntSlider(value=0, min=-8, max=8, description="shift →", continuous_update=False),
    }
    controls["digit"].value = digit
    names = list(class_names) if class_names is not None else None

    def draw(fig, *, digit, noise, shift):
        image = perturbed(digit, round(float(noise), 4), int(shift))
        probs = probabilities(digit, round(float(noise), 4), int(shift))
        axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.2], "wspace": 0.25})
        axes[0].imshow(image[..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[0].set_axis_off()
        axes[0].set_title(label_text(y, digit), fontsize=9)
        label = None if y is None else int(y[digit])
        panels.probability_bars(axes[1], probs, label=label, title="softmax output (true class outlined)")
        predicted = int(np.argmax(probs))
        name = names[predicted] if names else str(predicted)
        verdict = "" if label is None else (" ✓" if predicted == label else " ✗ wrong")
        text = f"{label_text(y, digit)} → predicted {name} with {probs[predicted]:.1%}{verdict}"
        return text + f" · noise σ = {noise:.2f} · shift {shift:+d} px"

    return Explorer(controls, draw, figsize=(7.5, 2.6))


# ------------------------------------------------------------------------------ 01 activations


def activation_explorer(model, x, y=None, *, layers=None, digit: int = 0, layer=None) -> Explorer:
    """Lecture 01: pick a digit, a convolution layer and one of its feature maps.

    Shows the digit, the chosen map large, and every map of the layer (dead maps titled "dead"),
    so the loss of resolution and the rise of abstraction with depth can be followed live.
    Controls: ``digit``, ``layer``, ``feature map``.
    """
    import course_lib as cl

    x = check_samples(model, x)
    names = conv_layer_names(model, layers)

    @memoise
    def maps_of(index: int) -> dict:
        return cl.activations(model, x[index : index + 1], names)

    controls = {
        "digit": digit_slider(x),
        "layer": layer_dropdown(names, layer),
        "feature map": map_slider(1),
    }
    controls["digit"].value = digit
    follow_layer(model, controls["layer"], controls["feature map"])

    def draw(fig, *, digit, layer, **values):
        channel = values["feature map"]
        maps = maps_of(digit)[layer][0]
        channel = min(channel, maps.shape[-1] - 1)
        panels.activation_panel(fig, x[digit], maps, channel, layer=layer, image_title=label_text(y, digit))
        state = "dead for this digit" if is_dead_map(maps[..., channel]) else f"max {maps[..., channel].max():.2f}"
        return f"{layer} · map {channel} ({state}) · {label_text(y, digit)} · {maps.shape[0]}×{maps.shape[1]} pixels"

    return Explorer(controls, draw, figsize=(10.0, 4.2))


# -------------------------------------------------------------------------------- 02 DeconvNet


def deconvnet_explorer(model, x, y=None, *, layers=None, digit: int = 0, layer=None) -> Explorer:
    """Lecture 02: project one feature map of one digit back to the input with a DeconvNet.

    Shows the digit, the feature map with its strongest activation marked, the signed projection
    and the input patch it covers — with ``keep="strongest unit"`` the patch is the unit's receptive
    field and grows with depth. Controls: ``digit``, ``layer``, ``feature map``, ``most active``
    (when ticked, the map with the largest activation is used and the slider follows it) and
    ``keep`` ("strongest unit" or "whole map", see ``cl.deconvnet(keep=…)``).

    The projections of all maps of a layer are computed in one batched call per digit and layer,
    so moving the feature-map slider is instant.
    """
    import course_lib as cl

    x = check_samples(model, x)
    names = conv_layer_names(model, layers)

    @memoise
    def maps_of(index: int) -> dict:
        return cl.activations(model, x[index : index + 1], names)

    @memoise
    def projections(index: int, layer: str, keep: str) -> np.ndarray:
        count = channels(model, layer)
        batch = np.repeat(x[index : index + 1], count, axis=0)
        return cl.deconvnet(model, batch, layer, filter_index=np.arange(count), keep=keep)

    controls = {
        "digit": digit_slider(x),
        "layer": layer_dropdown(names, layer),
        "feature map": map_slider(1),
        "most active": w.Checkbox(value=True, description="most active map", indent=False),
        "keep": w.ToggleButtons(options=[("strongest unit", "max"), ("whole map", "map")], value="max"),
    }
    controls["keep"].style.button_width = "110px"
    controls["digit"].value = digit
    follow_layer(model, controls["layer"], controls["feature map"])
    controls["feature map"].disabled = True
    controls["most active"].observe(lambda change: setattr(controls["feature map"], "disabled", change["new"]), "value")

    def draw(fig, *, digit, layer, keep, **values):
        maps = maps_of(digit)[layer][0]
        channel = int(np.argmax(maps.max(axis=(0, 1)))) if values["most active"] else values["feature map"]
        channel = min(channel, maps.shape[-1] - 1)
        controls["feature map"].value = channel  # the slider shows which map "most active" picked
        projection = projections(digit, layer, keep)[channel]
        box = panels.deconvnet_panel(fig, x[digit], maps[..., channel], projection, layer=layer)
        size = (
            "nothing to project: the map is dead for this digit" if box is None else f"patch {box[2]}×{box[3]} pixels"
        )
        kept = "its strongest unit" if keep == "max" else "the whole map"
        return f"{layer} · map {channel}, {kept} · {label_text(y, digit)} · {size}"

    return Explorer(
        controls, draw, figsize=(10.0, 2.9), rows=[["digit", "layer"], ["feature map", "most active", "keep"]]
    )


# --------------------------------------------------------------------- 03 activation maximisation

# Each regulariser of ``cl.activation_maximization`` with its slider range: (min, max, step, default).
# The ranges span "no visible effect" to "the pattern is washed out" on the course's MNIST network.
REGULARISER_RANGES = {
    "l2": (0.0, 300.0, 10.0, 100.0),  # weight of the penalty mean(x²)
    "tv": (0.0, 100.0, 5.0, 30.0),  # weight of the total-variation penalty
    "blur": (0.0, 1.5, 0.1, 0.7),  # Gaussian blur width σ (pixels) after each step
    "jitter": (0.0, 4.0, 1.0, 2.0),  # random shift (pixels) before each step
}


def _regulariser_follows(regulariser: w.Dropdown, strength: w.FloatSlider) -> None:
    """Give the strength slider the range and default of the chosen regulariser."""

    def update(change):
        name = change["new"]
        strength.disabled = name == "none"
        if name in REGULARISER_RANGES:
            low, high, step, default = REGULARISER_RANGES[name]
            strength.min, strength.max = low, high  # min first: high is never below the old min
            strength.step, strength.value = step, default

    regulariser.observe(update, names="value")
    update({"new": regulariser.value})


def maximization_explorer(
    model,
    x,
    y=None,
    *,
    layers=None,
    layer=None,
    steps: int = 32,
    digit: int = 0,
    step_size: float = 0.1,
) -> Explorer:
    """Lecture 03: activation maximisation with live layer, filter, objective, steps and regulariser.

    All filters of a layer are optimised together in one batch (``cl.activation_maximization``);
    the figure shows every pattern (the chosen filter framed), the chosen pattern large next to
    the chosen test digit, and the objective during the ascent. The caption compares how strongly
    the pattern and the digit excite the filter. Controls: ``layer``, ``filter``, ``objective``
    ("channel", "neuron", "layer"), ``steps``, ``regulariser`` and ``strength``, ``digit``.
    """
    import course_lib as cl

    x = check_samples(model, x)
    names = conv_layer_names(model, layers)

    @memoise
    def optimise(layer: str, objective: str, steps: int, regulariser: str, strength: float):
        options = {}
        if regulariser != "none" and strength > 0:
            options[regulariser] = int(round(strength)) if regulariser == "jitter" else strength
        result = cl.activation_maximization(
            model, layer, objective=objective, steps=steps, step_size=step_size, seed=0, **options
        )
        return result.images, result.history, result.dead

    @memoise
    def digit_response(index: int, layer: str) -> np.ndarray:
        return cl.activations(model, x[index : index + 1], [layer])[layer][0].mean(axis=(0, 1))

    controls = {
        "layer": layer_dropdown(names, layer),
        "filter": map_slider(1, "filter"),
        "objective": w.Dropdown(options=["channel", "neuron", "layer"], value="channel", description="objective"),
        "steps": w.IntSlider(value=steps, min=8, max=256, step=8, description="steps", continuous_update=False),
        "regulariser": w.Dropdown(options=["none", *REGULARISER_RANGES], value="none", description="regulariser"),
        "strength": w.FloatSlider(value=0.0, min=0.0, max=1.0, description="strength", continuous_update=False),
        "digit": digit_slider(x),
    }
    controls["digit"].value = digit
    follow_layer(model, controls["layer"], controls["filter"])
    _regulariser_follows(controls["regulariser"], controls["strength"])

    def draw(fig, *, layer, objective, steps, regulariser, strength, digit, **values):
        images, history, dead = optimise(layer, objective, int(steps), regulariser, round(float(strength), 4))
        chosen = 0 if objective == "layer" else min(values["filter"], len(images) - 1)
        panels.maximization_panel(fig, images, history, chosen, x[digit], layer=layer, objective=objective, dead=dead)
        setting = f"{layer} · {objective} objective · {steps} steps · regulariser {regulariser}"
        if regulariser != "none":
            setting += f" = {strength:g}"
        if objective == "layer":
            return setting + " · one image for the whole layer (deep dream)"
        if dead[chosen]:
            return (
                setting + f" · filter {chosen} is dead: its objective stayed 0, so no gradient moved its starting noise"
            )
        response = float(digit_response(digit, layer)[chosen])
        final = float(history[chosen, -1])
        return setting + f" · filter {chosen}: pattern reaches {final:.2f}, {label_text(y, digit)} gives {response:.2f}"

    return Explorer(
        controls,
        draw,
        figsize=(10.0, 4.2),
        rows=[["layer", "filter", "objective"], ["steps", "regulariser", "strength"], ["digit"]],
    )
