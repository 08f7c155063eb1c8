"""Explorers of lectures 05–08, driven without a browser: set a control, check that the figure, the
caption and the numbers follow."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import course_lib as cl
from course_lib.widgets import attribution, trust


@pytest.fixture(scope="module")
def sample(mnist):
    _, (x, y) = mnist
    return x[:6], y[:6]


def _titles(explorer) -> str:
    return " ".join(ax.get_title() for ax in explorer.figure.get_axes())


def _changes(explorer, name, value) -> int:
    before = explorer.renders
    explorer.controls[name].value = value
    return explorer.renders - before


def test_saliency_explorer_follows_method_noise_and_samples(mnist_model, sample):
    x, y = sample
    explorer = attribution.saliency_explorer(mnist_model, x, y, method="gradient")
    assert "gradient" in explorer.caption.value and explorer.controls["noise"].disabled
    assert explorer.output.outputs and "image/png" in explorer.output.outputs[0]["data"]
    assert _changes(explorer, "method", "SmoothGrad") == 1
    assert not explorer.controls["noise"].disabled
    explorer.controls["noise"].value = 0.3
    explorer.controls["samples"].value = 7
    assert "σ = 0.30" in explorer.caption.value and "7 samples" in explorer.caption.value
    assert "σ=0.30, n=7" in _titles(explorer)
    explorer.controls["digit"].value = 4
    assert f"label {y[4]}" in explorer.caption.value
    explorer.controls["class"].value = 3
    assert "explaining class 3" in explorer.caption.value


def test_saliency_explorer_draws_the_method_it_names(mnist_model, sample):
    x, y = sample
    explorer = attribution.saliency_explorer(mnist_model, x, y, method="gradient × input")
    shown = explorer.figure.get_axes()[1].get_images()[0].get_array()
    expected = cl.gradient_x_input(mnist_model, x[:1])[0, ..., 0]
    np.testing.assert_allclose(np.asarray(shown), expected, rtol=1e-5, atol=1e-7)


def test_lrp_explorer_reports_conservation_for_each_rule(mnist_model, sample):
    x, y = sample
    explorer = attribution.lrp_explorer(mnist_model, x, y, rule="LRP-z⁺")
    assert explorer.controls["epsilon"].disabled
    score = float(keras.Model(mnist_model.inputs, mnist_model.get_layer("logits").output)(x[:1]).numpy().max())
    total = float(cl.lrp(mnist_model, x[:1], rule="zplus").sum())
    assert f"Σ R = {total:.2f}" in explorer.caption.value and f"S_c = {score:.2f}" in explorer.caption.value
    explorer.controls["rule"].value = "LRP-ε"
    assert not explorer.controls["epsilon"].disabled
    explorer.controls["epsilon"].value = 10.0
    assert "ε = 10" in explorer.caption.value
    large = float(cl.lrp(mnist_model, x[:1], rule="epsilon", epsilon=10.0).sum())
    assert f"Σ R = {large:.2f}" in explorer.caption.value  # a large ε absorbs most of the score
    assert large < total


def test_integrated_gradients_explorer_shows_a_shrinking_delta(mnist_model, sample):
    x, y = sample
    explorer = attribution.integrated_gradients_explorer(mnist_model, x, y, steps=2)

    def delta():
        text = explorer.caption.value
        return abs(float(text.split("completeness delta δ = ")[1].split(" ")[0]))

    coarse = delta()
    explorer.controls["steps"].value = 64
    assert "m = 64" in explorer.caption.value and delta() < coarse
    explorer.controls["baseline"].value = "blurred input"
    assert "baseline blurred input" in explorer.caption.value
    assert "baseline x′: blurred input" in _titles(explorer)
    explorer.controls["rule"].value = "Gauss–Legendre"
    assert "Gauss–Legendre" in explorer.caption.value


def _caption_number(explorer, label: str) -> float:
    return float(explorer.caption.value.split(f"{label} = ")[1].split(" ")[0].rstrip(","))


def test_path_explorer_walks_from_the_baseline_to_the_input(mnist_model, sample):
    x, y = sample
    explorer = attribution.path_explorer(mnist_model, x, y, digit=1, alpha=0.0)
    # at α = 0 the image is the black baseline: nothing reached, nothing attributed
    assert explorer.figure.get_axes()[0].get_images()[0].get_array().max() == 0.0
    assert _caption_number(explorer, "S_c(αx) − S_c(x′)") == 0.0
    assert _caption_number(explorer, "Σ IG up to α") == 0.0
    assert _changes(explorer, "alpha", 0.5) == 1
    shown = np.asarray(explorer.figure.get_axes()[0].get_images()[0].get_array())
    np.testing.assert_allclose(shown, 0.5 * x[1, ..., 0], atol=1e-6)
    explorer.controls["alpha"].value = 1.0
    scorer = keras.Model(mnist_model.inputs, mnist_model.get_layer("logits").output)
    target = int(np.argmax(scorer(x[1:2])))
    scores = np.asarray(scorer(np.stack([np.zeros_like(x[1]), x[1]])))[:, target]
    assert _caption_number(explorer, "S_c(αx) − S_c(x′)") == pytest.approx(scores[1] - scores[0], abs=2e-3)
    ig = cl.integrated_gradients(mnist_model, x[1:2], target, baseline="zeros", steps=32, method="riemann_midpoint")
    assert _caption_number(explorer, "Σ IG up to α") == pytest.approx(float(ig.sum()), abs=2e-3)
    assert f"explaining class {target}" in explorer.caption.value


def test_randomization_explorer_follows_depth_and_method(mnist_model, sample):
    x, y = sample
    explorer = trust.randomization_explorer(mnist_model, x[:3], y[:3])
    depth = explorer.controls["depth"]
    assert depth.max == 5 and "top 5 randomised" in explorer.caption.value
    depth.value = 0
    assert "ρ = 1.00" in explorer.caption.value
    depth.value = 1
    assert "top 1 randomised (to logits)" in explorer.caption.value
    explorer.controls["method"].value = "gradient × input"
    assert explorer.caption.value.split(">")[1].startswith("gradient × input")


def test_clever_hans_explorer_toggles_the_watermark(mnist_model, sample):
    x, y = sample
    explorer = trust.clever_hans_explorer({"shipped": mnist_model}, x, y, method="gradient × input")

    def share():
        return int(explorer.caption.value.split("(")[-1].split("%")[0])

    assert "clean" in explorer.caption.value and share() == 0  # no ink in the corner, no relevance
    explorer.controls["watermark"].value = True
    assert "with watermark" in explorer.caption.value and share() > 0
    assert "predicts" in _titles(explorer)


def test_explorers_reject_bad_choices(mnist_model, sample):
    x, y = sample
    with pytest.raises(ValueError):
        attribution.saliency_explorer(mnist_model, x, y, method="guess")
    with pytest.raises(ValueError):
        attribution.lrp_explorer(mnist_model, x, y, rule="magic")
    with pytest.raises(ValueError):
        attribution.integrated_gradients_explorer(mnist_model, x, y, baseline="grey")
    with pytest.raises(ValueError):
        attribution.saliency_explorer(mnist_model, x[0], y)


def test_randomization_explorer_offers_the_propagation_methods(mnist_model, sample):
    x, y = sample
    explorer = trust.randomization_explorer(mnist_model, x[:3], y[:3], method="DeconvNet")
    depth = explorer.controls["depth"]
    depth.value = 1  # only the logits randomised: the DeconvNet starts below them, so nothing can change
    assert "ρ = 1.00" in explorer.caption.value
    explorer.controls["method"].value = "guided backprop"  # guided backprop starts at the class score
    assert explorer.caption.value.split(">")[1].startswith("guided backprop")
    assert "ρ = 1.00" not in explorer.caption.value
