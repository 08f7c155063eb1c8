"""Evaluation: completeness delta, deletion curves, the model-randomisation sanity check."""

import keras
import numpy as np
import pytest
import toy_models as tm

import course_lib as cl
from course_lib._batching import predict_logits


def test_completeness_delta_by_hand():
    model = tm.relu_toy()
    x = tm.RELU_TOY_X  # f = [0, 1], f(0) = 0
    np.testing.assert_allclose(cl.completeness_delta(model, x, np.zeros_like(x)), [0, -1])
    deeplift = cl.deeplift(model, x)
    np.testing.assert_allclose(cl.completeness_delta(model, x, deeplift), 0, atol=1e-6)
    # baseline (1, 0) at x = (2, 0): f(x) − f(x′) = 1
    x2, ref = tm.as_rows([2.0, 0.0]), tm.as_rows([1.0, 0.0])
    np.testing.assert_allclose(cl.completeness_delta(model, x2, tm.as_rows([0.25, 0.0]), baseline=ref), [-0.75])
    with pytest.raises(ValueError, match="shape of x"):
        cl.completeness_delta(model, x, np.zeros((2, 2)))


def test_deletion_curve_on_a_linear_model(rng):
    """S(x) = w·x: removing pixels in a known order changes the score by known amounts."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    w = model.layers[-1].kernel.numpy()[:, 0]
    x = rng.random((1, 2, 2, 1)).astype(np.float32) + 0.5
    relevance = np.array([0.1, 0.4, 0.3, 0.2], np.float32).reshape(1, 2, 2, 1)  # order: 1, 2, 3, 0
    curve = cl.deletion_curve(model, x, relevance, steps=4)
    assert isinstance(curve, cl.DeletionCurve)
    np.testing.assert_allclose(curve.fractions, [0, 0.25, 0.5, 0.75, 1])
    contributions = w * x.reshape(-1)
    expected = [contributions.sum()]
    for pixel in (1, 2, 3, 0):
        expected.append(expected[-1] - contributions[pixel])
    np.testing.assert_allclose(curve.scores[0], expected, rtol=1e-5, atol=1e-6)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 (numpy < 2)
    np.testing.assert_allclose(curve.auc, trapezoid(expected, curve.fractions), rtol=1e-5)
    np.testing.assert_allclose(curve.normalized()[:, 0], 1)


def test_deletion_curve_endpoints(mnist_model, digits):
    x = digits[0][:3]
    curve = cl.deletion_curve(mnist_model, x, cl.saliency(mnist_model, x), steps=5, value=0.0)
    assert curve.scores.shape == (3, 6) and curve.auc.shape == (3,)
    logits = predict_logits(mnist_model, x)
    np.testing.assert_allclose(curve.scores[:, 0], logits[np.arange(3), curve.targets], rtol=1e-5)
    np.testing.assert_allclose(
        curve.scores[:, -1], predict_logits(mnist_model, 0 * x)[np.arange(3), curve.targets], rtol=1e-5
    )


def test_relevant_pixels_first_beats_a_random_order(mnist_model, digits, rng):
    x = digits[0]
    random_map = rng.standard_normal(x.shape).astype(np.float32)
    random_auc = cl.deletion_curve(mnist_model, x, random_map, steps=10).auc
    candidates = {"integrated_gradients": cl.integrated_gradients(mnist_model, x, steps=32)}
    if hasattr(cl, "lrp"):
        candidates["lrp"] = cl.lrp(mnist_model, x)
    for name, attributions in candidates.items():
        auc = cl.deletion_curve(mnist_model, x, attributions, steps=10).auc
        assert auc.mean() < random_auc.mean() - 1.0, name
        assert (auc < random_auc).mean() >= 0.75, name


def test_randomization_check_leaves_the_model_alone_and_destroys_saliency(mnist_model, digits):
    x = digits[0][:4]
    before = [w.copy() for w in mnist_model.get_weights()]
    result = cl.model_randomization_check(mnist_model, x, cl.saliency, seed=0)
    after = mnist_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert result.layers == ["logits", "conv2d_4", "conv2d_3", "conv2d_2", "conv2d_1"]
    assert result.similarity.shape == (5, 4) and result.explanations.shape == (5,) + x.shape
    np.testing.assert_allclose(result.original, cl.saliency(mnist_model, x), rtol=1e-5, atol=1e-6)
    assert result.similarity[-1].mean() < 0.3, result.similarity  # fully randomised: far from the original
    assert result.similarity[-1].mean() < result.similarity[0].mean()


def test_randomization_check_catches_a_model_independent_method(mnist_model, digits):
    """An 'explanation' that ignores the model (here: the input itself) keeps similarity 1 — it fails the check."""
    x = digits[0][:2]
    result = cl.model_randomization_check(
        mnist_model, x, lambda model, x, target=None: x, layers=["logits", "conv2d_4"]
    )
    np.testing.assert_allclose(result.similarity, 1)
    assert result.layers == ["logits", "conv2d_4"]


def test_randomization_check_errors(mnist_model, digits):
    with pytest.raises(TypeError, match="callable"):
        cl.model_randomization_check(mnist_model, digits[0][:1], "saliency")
    with pytest.raises(ValueError, match="valid layer names"):
        cl.model_randomization_check(mnist_model, digits[0][:1], cl.saliency, layers=["nope"])


def test_deletion_curve_accepts_per_pixel_maps(mnist_model, digits):
    x = digits[0][:2]
    maps = cl.cam(mnist_model, x, upsample=True)
    per_pixel = cl.deletion_curve(mnist_model, x, maps, steps=4)
    as_input = cl.deletion_curve(mnist_model, x, maps[..., None], steps=4)
    np.testing.assert_allclose(per_pixel.scores, as_input.scores)
    with pytest.raises(ValueError, match="one value per pixel"):
        cl.deletion_curve(mnist_model, x, maps[:, :14], steps=4)
