"""Integrated gradients: §10 toy values, completeness on the shipped network, convergence, baselines."""

import sys

import keras
import numpy as np
import pytest
import toy_models as tm
from scipy import ndimage

import course_lib as cl
from course_lib._batching import predict_logits

ig_module = sys.modules["course_lib.attribution.integrated_gradients"]
METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_midpoint")


@pytest.mark.parametrize("separate", [False, True])
def test_toy_values_zero_baseline(separate):
    """The toy oracle (ARCHITECTURE.md §7): IG = [[0,0],[1.5,−0.5]]; the midpoint rule is exact here (kinks at α = 1/3 and 1/2)."""
    model = tm.relu_toy(separate_activations=separate)
    exact = tm.flat(cl.integrated_gradients(model, tm.RELU_TOY_X, steps=60, method="riemann_midpoint"))
    np.testing.assert_allclose(exact, [[0, 0], [1.5, -0.5]], atol=1e-5)
    for method in ("gausslegendre", "riemann_trapezoid"):
        approx = tm.flat(cl.integrated_gradients(model, tm.RELU_TOY_X, steps=200, method=method))
        np.testing.assert_allclose(approx, [[0, 0], [1.5, -0.5]], atol=0.02)


def test_toy_values_baseline_one_zero():
    """The toy oracle (ARCHITECTURE.md §7): baseline (1, 0) at x = (2, 0) gives [1, 0]."""
    model = tm.relu_toy()
    x, reference = tm.as_rows([2.0, 0.0]), tm.as_rows([1.0, 0.0])
    for method in ("gausslegendre", "riemann_midpoint"):
        result, delta = cl.integrated_gradients(
            model, x, baseline=reference, steps=16, method=method, return_delta=True
        )
        np.testing.assert_allclose(tm.flat(result), [[1, 0]], atol=1e-5)
        np.testing.assert_allclose(delta, 0, atol=1e-5)
    # The trapezoid rule evaluates ReLU'(0) = 0 at α = 0: an error of 1/(2m).
    result = cl.integrated_gradients(model, x, baseline=reference, steps=16, method="riemann_trapezoid")
    np.testing.assert_allclose(tm.flat(result), [[1 - 1 / 32, 0]], atol=1e-5)


def test_linear_model_is_exact(rng):
    """For S(x) = w·x + b, IG = (x − x′) ⊙ w for every rule and step count."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3, 3, 2)), keras.layers.Flatten(), keras.layers.Dense(2)])
    w = model.layers[-1].kernel.numpy()
    x, reference = rng.normal(size=(2, 3, 3, 2)).astype(np.float32), rng.normal(size=(3, 3, 2)).astype(np.float32)
    for method in METHODS:
        result = cl.integrated_gradients(model, x, target=1, baseline=reference, steps=3, method=method)
        np.testing.assert_allclose(
            result.reshape(2, -1), (x - reference).reshape(2, -1) * w[:, 1], rtol=1e-5, atol=1e-6
        )


def test_completeness_on_the_shipped_network(mnist_model, digits):
    """|δ| / |S(x) − S(x′)| < 1 % at 256 steps (default Gauss–Legendre rule)."""
    x = digits[0]
    attributions, delta = cl.integrated_gradients(mnist_model, x, steps=256, return_delta=True)
    predicted = predict_logits(mnist_model, x).argmax(axis=1)
    gap = (
        predict_logits(mnist_model, x)[np.arange(len(x)), predicted]
        - predict_logits(mnist_model, 0 * x)[np.arange(len(x)), predicted]
    )
    assert np.all(np.abs(delta) / np.abs(gap) < 0.01), np.abs(delta) / np.abs(gap)
    np.testing.assert_allclose(attributions.reshape(len(x), -1).sum(axis=1) - gap, delta, atol=1e-3)
    np.testing.assert_allclose(cl.completeness_delta(mnist_model, x, attributions), delta, atol=1e-4)


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_delta_shrinks_as_steps_grow(mnist_model, digits, method):
    x = digits[0][:4]
    errors = [
        np.abs(cl.integrated_gradients(mnist_model, x, steps=s, method=method, return_delta=True)[1]).mean()
        for s in (8, 32, 128)
    ]
    assert errors[0] > errors[1] > errors[2], errors


def test_batching_does_not_change_the_result(mnist_model, digits):
    x = digits[0][:3]
    whole = cl.integrated_gradients(mnist_model, x, steps=10, batch_size=None)
    for batch_size in (1, 7, 25):
        np.testing.assert_allclose(
            cl.integrated_gradients(mnist_model, x, steps=10, batch_size=batch_size), whole, rtol=1e-4, atol=1e-6
        )


def test_baseline_equal_to_input_gives_zero(mnist_model, digits):
    x = digits[0][:2]
    np.testing.assert_allclose(cl.integrated_gradients(mnist_model, x, baseline=x, steps=4), 0)


def test_make_baseline_options(rng):
    x = rng.random((2, 5, 6, 1)).astype(np.float32) * np.array([1.0, 3.0], np.float32)[:, None, None, None]
    np.testing.assert_array_equal(cl.make_baseline(x), 0)
    np.testing.assert_array_equal(cl.make_baseline(x, "zeros"), 0)
    uniform = cl.make_baseline(x, "uniform", seed=3)
    np.testing.assert_array_equal(uniform, cl.make_baseline(x, "uniform", seed=3))
    assert not np.array_equal(uniform, cl.make_baseline(x, "uniform", seed=4))
    for i in range(2):
        assert x[i].min() <= uniform[i].min() and uniform[i].max() <= x[i].max()
    blur = cl.make_baseline(x, "blur", blur_sigma=1.5)
    np.testing.assert_allclose(blur[1, :, :, 0], ndimage.gaussian_filter(x[1, :, :, 0], 1.5, mode="nearest"), rtol=1e-5)
    one = rng.random((5, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(cl.make_baseline(x, one), np.stack([one, one]))
    with pytest.raises(ValueError, match="shape"):
        cl.make_baseline(x, np.zeros((5, 5, 1)))
    with pytest.raises(ValueError, match="unknown baseline"):
        cl.make_baseline(x, "black")


def test_baselines_flow_through_integrated_gradients(mnist_model, digits):
    x = digits[0][:2]
    for baseline in ("uniform", "blur"):
        result, delta = cl.integrated_gradients(mnist_model, x, baseline=baseline, steps=64, return_delta=True)
        np.testing.assert_allclose(cl.completeness_delta(mnist_model, x, result, baseline=baseline), delta, atol=1e-4)


def test_quadrature_weights():
    for method in METHODS:
        alphas, weights = ig_module.quadrature(7, method)
        assert np.all((alphas >= 0) & (alphas <= 1))
        np.testing.assert_allclose(weights.sum(), 1, rtol=1e-6)
        np.testing.assert_allclose((weights * alphas**2).sum(), 1 / 3, atol=0.01)  # ∫ α² dα
    with pytest.raises(ValueError, match="method"):
        ig_module.quadrature(5, "simpson")
    with pytest.raises(ValueError, match="steps"):
        ig_module.quadrature(0)
