"""Live explorers for prediction analysis (lectures 05–07): saliency maps, LRP, integrated gradients.

Each factory returns a :class:`~course_lib.widgets._base.Explorer` (an ``ipywidgets.VBox``) with

- ``explorer.controls`` — ``{name: widget}``; every explorer has ``"digit"`` (a test-set index) and
  ``"class"`` (``-1`` = the predicted class) plus its own knobs, listed in each docstring;
- ``explorer.figure`` / ``explorer.output`` — the matplotlib figure and its PNG in an ``Output``;
- ``explorer.caption`` — an HTML line naming the method, its parameters and the key number
  (Σ R versus the score for LRP, the completeness delta for integrated gradients).

Results are cached per setting, so moving back to a setting is instant; a new setting costs one
batched call on one digit (well under a second on a CPU).
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np

from course_lib._batching import target_scores
from course_lib.plotting import heatmaps
from course_lib.widgets._base import Explorer, Scored, digit_slider, memoise

__all__ = ["saliency_explorer", "lrp_explorer", "path_explorer", "integrated_gradients_explorer"]

SALIENCY_METHODS = ("gradient", "gradient × input", "SmoothGrad")
LRP_RULES = {
    "LRP-0 (z)": "z",
    "LRP-ε": "epsilon",
    "LRP-z⁺": "zplus",
    "LRP-αβ (α=2, β=1)": "alpha_beta",
    "composite ε / z⁺ / z^B": "epsilon_plus",
}
_USES_EPSILON = {"epsilon", "epsilon_plus"}
IG_BASELINES = {"black (zeros)": "zeros", "uniform noise": "uniform", "blurred input": "blur"}
IG_RULES = {"Riemann (trapezoid)": "riemann_trapezoid", "Gauss–Legendre": "gausslegendre"}
_WIDE = w.Layout(width="260px")


# ------------------------------------------------------------------------------------- 05 saliency


def saliency_explorer(model, x, y=None, *, digit: int = 0, method: str = "SmoothGrad") -> Explorer:
    """Lecture 05: gradient, gradient × input and SmoothGrad on one digit.

    Controls: ``digit``, ``class``, ``method`` (one of ``SALIENCY_METHODS``), ``noise`` (SmoothGrad's
    σ as a fraction of the input range) and ``samples`` (SmoothGrad's number of noisy copies); the
    last two are greyed out for the other methods. Figure: the digit, the signed map (red raises
    S_c, blue lowers it) and the map over the digit.
    """
    import course_lib as cl

    data = Scored(model, x, y)
    if method not in SALIENCY_METHODS:
        raise ValueError(f"method must be one of {SALIENCY_METHODS}, got {method!r}")

    @memoise
    def explain(digit: int, target: int, method: str, noise: float, samples: int) -> np.ndarray:
        one = data.one(digit)
        if method == "gradient":
            return cl.saliency(model, one, target)[0]
        if method == "gradient × input":
            return cl.gradient_x_input(model, one, target)[0]
        return cl.smoothgrad(model, one, target, samples=samples, noise=noise)[0]

    controls = {
        "digit": digit_slider(data.x, value=digit),
        "class": data.class_dropdown(),
        "method": w.ToggleButtons(options=list(SALIENCY_METHODS), value=method),
        "noise": w.FloatSlider(value=0.15, min=0.0, max=0.6, step=0.05, description="noise σ", continuous_update=False),
        "samples": w.IntSlider(value=25, min=1, max=100, description="samples", continuous_update=False),
    }
    controls["method"].style.button_width = "130px"

    def follow(change=None):
        smooth = controls["method"].value == "SmoothGrad"
        controls["noise"].disabled = controls["samples"].disabled = not smooth

    controls["method"].observe(follow, names="value")
    follow()

    def draw(fig, *, digit, method, noise, samples, **values):
        target = data.target(digit, values["class"])
        noise, samples = round(float(noise), 3), int(samples)
        if method != "SmoothGrad":
            noise, samples = 0.0, 1
        values_map = explain(digit, target, method, noise, samples)
        title = method if method != "SmoothGrad" else f"SmoothGrad (σ={noise:.2f}, n={samples})"
        axes = fig.subplots(1, 3)
        axes[0].imshow(data.x[digit, ..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[0].set_axis_off()
        axes[0].set_title("input", fontsize=9)
        artist = heatmaps.heatmap(axes[1], values_map, title=title)
        fig.colorbar(artist, ax=axes[1], fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
        heatmaps.overlay(axes[2], data.x[digit], values_map, alpha=0.7, signed=True, title="over the digit")
        settings = "" if method != "SmoothGrad" else f" · noise σ = {noise:.2f} · {samples} samples"
        return f"{method}{settings} · {data.describe(digit, target)}"

    return Explorer(controls, draw, figsize=(9.5, 3.0), rows=[["digit", "class"], ["method"], ["noise", "samples"]])


# ------------------------------------------------------------------------------------------ 06 LRP


def lrp_explorer(model, x, y=None, *, digit: int = 0, rule: str = "LRP-ε", epsilon: float = 0.1) -> Explorer:
    """Lecture 06: LRP rules and the stabiliser ε on one digit, with conservation checked live.

    Controls: ``digit``, ``class``, ``rule`` (a key of ``LRP_RULES``) and ``epsilon`` (log slider,
    greyed out for rules without ε). Figure: the digit, the relevance map on the conserved scale,
    and Σ R against the explained score S_c; the caption gives Σ R / S_c.
    """
    import course_lib as cl

    data = Scored(model, x, y)
    if rule not in LRP_RULES:
        raise ValueError(f"rule must be one of {list(LRP_RULES)}, got {rule!r}")

    @memoise
    def explain(digit: int, target: int, rule: str, epsilon: float) -> np.ndarray:
        return cl.lrp(model, data.one(digit), target, rule=rule, epsilon=epsilon)[0]

    controls = {
        "digit": digit_slider(data.x, value=digit),
        "class": data.class_dropdown(),
        "rule": w.Dropdown(options=list(LRP_RULES), value=rule, description="rule", layout=_WIDE),
        "epsilon": w.FloatLogSlider(
            value=epsilon,
            base=10,
            min=-4,
            max=2,
            step=0.25,
            description="ε",
            readout_format=".3g",
            continuous_update=False,
        ),
    }

    def follow(change=None):
        controls["epsilon"].disabled = LRP_RULES[controls["rule"].value] not in _USES_EPSILON

    controls["rule"].observe(follow, names="value")
    follow()

    def draw(fig, *, digit, rule, epsilon, **values):
        target = data.target(digit, values["class"])
        key = LRP_RULES[rule]
        epsilon = float(f"{float(epsilon):.4g}")
        relevance = explain(digit, target, key, epsilon if key in _USES_EPSILON else 0.0)
        score = float(data.scores[digit, target])
        total = float(relevance.sum())
        name = rule if key not in _USES_EPSILON else f"{rule} (ε = {epsilon:.3g})"
        grid = fig.add_gridspec(1, 2, width_ratios=[2.3, 1.0], wspace=0.3)
        sub = fig.add_subfigure(grid[0])
        heatmaps.attribution_row(sub, data.x[digit], {name: relevance})
        heatmaps.relevance_sums(fig.add_subplot(grid[1]), {"Σ R": total}, score)
        share = total / score if score else float("nan")
        return (
            f"{name} · Σ R = {total:.2f} of S_c = {score:.2f} ({share:.0%} conserved) · {data.describe(digit, target)}"
        )

    return Explorer(controls, draw, figsize=(10.0, 3.0), rows=[["digit", "class"], ["rule", "epsilon"]])


# ---------------------------------------------------------------------------- 07 integrated gradients


def path_explorer(model, x, y=None, *, digit: int = 0, alpha: float = 0.5, points: int = 257) -> Explorer:
    """Lecture 07: walk the straight path from the black baseline x′ = 0 to the input x.

    Controls: ``digit``, ``class`` and ``alpha`` (α in [0, 1], steps of 1/64). Figure: the image
    x′ + α(x − x′) = αx, the gradient there, integrated gradients of the path *up to* α (from x′ to
    αx, 32 midpoints), and the score S_c along the whole path (``points`` values of α) with α
    marked. The caption compares S_c(αx) − S_c(x′) with Σ IG up to α: completeness holds at every α.
    """
    import course_lib as cl

    data = Scored(model, x, y)
    grid = np.linspace(0.0, 1.0, points, dtype=np.float32)

    @memoise
    def along(digit: int, target: int) -> np.ndarray:
        path = grid[:, None, None, None] * data.one(digit)  # (points, H, W, C)
        return target_scores(model, path, np.full(points, target))

    @memoise
    def at(digit: int, target: int, alpha: float):
        scaled = np.float32(alpha) * data.one(digit)
        gradient = cl.saliency(model, scaled, target)[0]
        so_far = cl.integrated_gradients(model, scaled, target, baseline="zeros", steps=32, method="riemann_midpoint")
        return scaled[0], gradient, so_far[0]  # integrated gradients from x′ = 0 to αx

    controls = {
        "digit": digit_slider(data.x, value=digit),
        "class": data.class_dropdown(),
        "alpha": w.FloatSlider(
            value=alpha, min=0.0, max=1.0, step=1 / 64, description="α", continuous_update=False, readout_format=".3f"
        ),
    }

    def draw(fig, *, digit, alpha, **values):
        target = data.target(digit, values["class"])
        scaled, gradient, so_far = at(digit, target, float(alpha))
        scores = along(digit, target)
        image, gradient_ax, accumulated, curve = fig.subplots(1, 4, width_ratios=[1, 1, 1, 2])
        image.imshow(scaled[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        image.set_title(f"x′ + α(x − x′), α = {alpha:.3f}", fontsize=9)
        image.set_axis_off()
        heatmaps.heatmap(gradient_ax, gradient, title="gradient at α")
        heatmaps.heatmap(accumulated, so_far, title="IG from x′ up to α")
        curve.plot(grid, scores)
        curve.axvline(alpha, color="black", linewidth=0.8)
        curve.set_xlabel("α", fontsize=9)
        curve.set_ylabel("S_c(x′ + α(x − x′))", fontsize=9)
        curve.tick_params(labelsize=7)
        reached = float(np.interp(alpha, grid, scores) - scores[0])
        return (
            f"α = {alpha:.3f} · S_c(αx) − S_c(x′) = {reached:.3f}, Σ IG up to α = {so_far.sum():.3f} · "
            f"{data.describe(digit, target)}"
        )

    return Explorer(controls, draw, figsize=(11.0, 2.6), rows=[["digit", "class", "alpha"]])


def integrated_gradients_explorer(
    model, x, y=None, *, digit: int = 0, baseline: str = "black (zeros)", steps: int = 16
) -> Explorer:
    """Lecture 07: integrated gradients with a chosen baseline and number of steps.

    Controls: ``digit``, ``class``, ``baseline`` (a key of ``IG_BASELINES``), ``steps`` (number of
    integration steps m, 1–128) and ``rule`` (Riemann trapezoid or Gauss–Legendre quadrature).
    Figure: the baseline x′, the input x, the attribution R. The caption shows the completeness
    delta δ = Σ R − (S_c(x) − S_c(x′)) live: it shrinks as m grows.
    """
    import course_lib as cl

    data = Scored(model, x, y)
    if baseline not in IG_BASELINES:
        raise ValueError(f"baseline must be one of {list(IG_BASELINES)}, got {baseline!r}")

    @memoise
    def explain(digit: int, target: int, baseline: str, steps: int, rule: str):
        one = data.one(digit)
        attributions, delta = cl.integrated_gradients(
            model, one, target, baseline=baseline, steps=steps, method=rule, return_delta=True
        )
        return cl.make_baseline(one, baseline)[0], attributions[0], float(delta[0])

    controls = {
        "digit": digit_slider(data.x, value=digit),
        "class": data.class_dropdown(),
        "baseline": w.ToggleButtons(options=list(IG_BASELINES), value=baseline),
        "steps": w.IntSlider(value=steps, min=1, max=128, description="steps m", continuous_update=False),
        "rule": w.Dropdown(options=list(IG_RULES), value="Riemann (trapezoid)", description="quadrature", layout=_WIDE),
    }
    controls["baseline"].style.button_width = "120px"

    def draw(fig, *, digit, baseline, steps, rule, **values):
        target = data.target(digit, values["class"])
        reference, attributions, delta = explain(digit, target, IG_BASELINES[baseline], int(steps), IG_RULES[rule])
        axes = fig.subplots(1, 3)
        axes[0].imshow(reference[..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[0].set_title(f"baseline x′: {baseline}", fontsize=9)
        axes[1].imshow(data.x[digit, ..., 0], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[1].set_title("input x", fontsize=9)
        for ax in axes[:2]:
            ax.set_axis_off()
        artist = heatmaps.heatmap(axes[2], attributions, title=f"IG, m = {steps}")
        fig.colorbar(artist, ax=axes[2], fraction=0.046, pad=0.03).ax.tick_params(labelsize=7)
        gap = float(attributions.sum()) - delta  # = S_c(x) − S_c(x′)
        relative = abs(delta) / abs(gap) if gap else float("nan")
        return (
            f"baseline {baseline} · m = {steps} ({rule}) · Σ R = {attributions.sum():.3f}, "
            f"S_c(x) − S_c(x′) = {gap:.3f}, completeness delta δ = {delta:+.4f} ({relative:.1%}) · "
            f"{data.describe(digit, target)}"
        )

    return Explorer(controls, draw, figsize=(9.0, 3.0), rows=[["digit", "class"], ["baseline"], ["steps", "rule"]])
