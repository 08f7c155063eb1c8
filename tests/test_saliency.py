"""Saliency, gradient × input, SmoothGrad, and the map post-processing helpers."""

import keras
import numpy as np
import pytest
import toy_models as tm

import course_lib as cl
from course_lib._batching import predict_logits
from course_lib.postprocess import reduce_channels


@pytest.mark.parametrize("separate", [False, True])
def test_toy_network_values(separate):
    """The toy oracle (ARCHITECTURE.md §7): |∂f/∂x| = [[0,0],[1,1]], gradient × input = [[0,0],[3,−1]]."""
    model = tm.relu_toy(separate_activations=separate)
    grads = tm.flat(cl.saliency(model, tm.RELU_TOY_X))
    np.testing.assert_allclose(np.abs(grads), [[0, 0], [1, 1]])
    np.testing.assert_allclose(grads, [[0, 0], [1, -1]])
    np.testing.assert_allclose(tm.flat(cl.gradient_x_input(model, tm.RELU_TOY_X)), [[0, 0], [3, -1]])


def test_saliency_equals_central_finite_differences(rng):
    model = tm.smooth_net(seed=1)
    x = rng.normal(size=(2, 6, 6, 2)).astype(np.float32)
    targets = np.array([0, 2])
    grads = cl.saliency(model, x, target=targets)
    assert grads.shape == x.shape and grads.dtype == np.float32
    step = 1e-2
    n = x[0].size
    eye = np.eye(n, dtype=np.float64).reshape((n,) + x.shape[1:]) * step
    for i, target in enumerate(targets):
        plus = predict_logits(model, (x[i] + eye).astype(np.float32))[:, target].astype(np.float64)
        minus = predict_logits(model, (x[i] - eye).astype(np.float32))[:, target].astype(np.float64)
        numeric = ((plus - minus) / (2 * step)).reshape(x.shape[1:])
        np.testing.assert_allclose(grads[i], numeric, atol=2e-3 * np.abs(numeric).max())


@pytest.mark.parametrize("fused", [True, False])
def test_saliency_explains_the_pre_softmax_score(fused, rng):
    """Flatten → Dense(softmax): ∂S_c/∂x is the kernel column c (the logit), not a softmax derivative."""
    keras.utils.set_random_seed(0)
    layers = [
        keras.Input((2, 3, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax" if fused else None),
    ]
    if not fused:
        layers.append(keras.layers.Softmax())
    model = keras.Sequential(layers)
    kernel = model.layers[1].kernel.numpy()
    x = rng.random((3, 2, 3, 1)).astype(np.float32)
    grads = cl.saliency(model, x, target=[0, 2, 3])
    np.testing.assert_allclose(grads.reshape(3, -1), kernel[:, [0, 2, 3]].T, rtol=1e-6, atol=1e-7)


def test_smoothgrad_noise_zero_is_saliency(digits, mnist_model):
    x = digits[0][:3]
    np.testing.assert_allclose(
        cl.smoothgrad(mnist_model, x, noise=0.0, samples=4), cl.saliency(mnist_model, x), rtol=1e-5, atol=1e-6
    )


def test_smoothgrad_is_the_mean_gradient_over_the_documented_noise(digits, mnist_model):
    """Re-derive SmoothGrad by hand: same seeded noise, σ = noise·(max − min) per sample, one saliency per copy."""
    x = digits[0][:2]
    samples, noise, seed = 5, 0.2, 7
    target = np.array([3, 8])
    result = cl.smoothgrad(mnist_model, x, target=target, samples=samples, noise=noise, seed=seed)
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3)))
    eps = rng.standard_normal((samples,) + x.shape).astype(np.float32)
    by_hand = np.mean(
        [cl.saliency(mnist_model, x + sigma[:, None, None, None] * eps[k], target=target) for k in range(samples)],
        axis=0,
    )
    np.testing.assert_allclose(result, by_hand, rtol=1e-4, atol=1e-5)
    assert not np.allclose(result, cl.smoothgrad(mnist_model, x, target=target, samples=samples, noise=noise, seed=8))


def test_smoothgrad_target_fixed_by_the_clean_input(digits, mnist_model):
    x = digits[0][:2]
    predicted = predict_logits(mnist_model, x).argmax(axis=1)
    np.testing.assert_allclose(
        cl.smoothgrad(mnist_model, x, samples=3, noise=0.5),
        cl.smoothgrad(mnist_model, x, target=predicted, samples=3, noise=0.5),
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [({"samples": 0}, "samples"), ({"noise": -0.1}, "noise")],
)
def test_smoothgrad_rejects_bad_options(mnist_model, digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cl.smoothgrad(mnist_model, digits[0][:1], **kwargs)


def test_bad_inputs_raise_teaching_errors(mnist_model, digits):
    x = digits[0][:1]
    with pytest.raises(ValueError, match=r"x\[None\]"):
        cl.saliency(mnist_model, x[0])
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cl.gradient_x_input(mnist_model, bad)
    with pytest.raises(ValueError, match="expects"):
        cl.saliency(mnist_model, np.zeros((1, 32, 32, 1), np.float32))
    with pytest.raises(TypeError):
        cl.saliency(mnist_model, "image")


def test_normalize_map_modes():
    maps = np.array([[[-2.0, 1.0], [0.0, 4.0]], [[0.0, 0.0], [0.0, 0.0]]], np.float32)
    np.testing.assert_allclose(cl.normalize_map(maps)[0], [[-0.5, 0.25], [0, 1]])
    np.testing.assert_allclose(cl.normalize_map(maps, mode="abs")[0], [[0.5, 0.25], [0, 1]])
    np.testing.assert_allclose(cl.normalize_map(maps, mode="minmax")[0], [[0, 0.5], [2 / 6, 1]], rtol=1e-6)
    np.testing.assert_array_equal(cl.normalize_map(maps)[1], 0)  # an all-zero map stays zero
    with pytest.raises(ValueError, match="mode"):
        cl.normalize_map(maps, mode="softmax")
    with pytest.raises(ValueError, match=r"maps\[None\]"):
        cl.normalize_map(np.ones(3))


def test_reduce_channels():
    maps = np.array([[[[1.0, -3.0]]]], np.float32)
    assert reduce_channels(maps, "sum")[0, 0, 0] == -2
    assert reduce_channels(maps, "max_abs")[0, 0, 0] == 3
    assert reduce_channels(maps, "abs_sum")[0, 0, 0] == 4
    np.testing.assert_allclose(reduce_channels(maps, "l2")[0, 0, 0], np.sqrt(10))
    with pytest.raises(ValueError):
        reduce_channels(maps[0])
