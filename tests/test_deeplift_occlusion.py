"""DeepLIFT Rescale and occlusion: §10 toy values, summation-to-delta, independent re-derivations."""

import keras
import numpy as np
import pytest
import toy_models as tm

import course_lib as cl
from course_lib._batching import predict_logits
from course_lib.attribution.occlusion import occlusion_masks


@pytest.mark.parametrize("separate", [False, True])
def test_deeplift_toy_values(separate):
    """The toy oracle (ARCHITECTURE.md §7): DeepLIFT Rescale (zero baseline) = [[0,0],[2,−1]]."""
    model = tm.relu_toy(separate_activations=separate)
    result, delta = cl.deeplift(model, tm.RELU_TOY_X, return_delta=True)
    np.testing.assert_allclose(tm.flat(result), [[0, 0], [2, -1]], atol=1e-6)
    np.testing.assert_allclose(delta, 0, atol=1e-6)


def _mlp_rescale_by_hand(w1, b1, w2, b2, x, ref, target):
    """Plain-numpy DeepLIFT Rescale for Dense(ReLU) → Dense: multipliers m = Δrelu / Δz."""
    z, z_ref = x @ w1 + b1, ref @ w1 + b1
    dz = z - z_ref
    safe = np.where(np.abs(dz) > 1e-6, dz, 1.0)
    m = np.where(np.abs(dz) > 1e-6, (np.maximum(z, 0) - np.maximum(z_ref, 0)) / safe, (z > 0).astype(float))
    return (x - ref) * ((w1 * m[:, None, :]) @ w2[:, target][:, None])[..., 0]


def test_deeplift_matches_a_numpy_rederivation(rng):
    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input((2, 3, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(7, activation="relu", bias_initializer=keras.initializers.RandomNormal(seed=1)),
            keras.layers.Dense(3),
        ]
    )
    w1, b1 = (v.numpy().astype(np.float64) for v in model.layers[1].weights)
    w2, b2 = (v.numpy().astype(np.float64) for v in model.layers[2].weights)
    x = rng.normal(size=(4, 2, 3, 1)).astype(np.float32)
    ref = rng.normal(size=(4, 2, 3, 1)).astype(np.float32)
    result = cl.deeplift(model, x, target=2, baseline=ref)
    expected = _mlp_rescale_by_hand(
        w1, b1, w2, b2, x.reshape(4, -1).astype(np.float64), ref.reshape(4, -1).astype(np.float64), 2
    )
    np.testing.assert_allclose(result.reshape(4, -1), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("baseline", [None, "blur", "uniform"])
def test_summation_to_delta_on_the_shipped_network(mnist_model, digits, baseline):
    """Σ R = S(x) − S(x′), through max pooling too (maxpool="rescale")."""
    x = digits[0][:4]
    result, delta = cl.deeplift(mnist_model, x, baseline=baseline, return_delta=True)
    reference = cl.make_baseline(x, baseline)
    logits, logits_ref = predict_logits(mnist_model, x), predict_logits(mnist_model, reference)
    predicted = logits.argmax(axis=1)
    gap = logits[np.arange(4), predicted] - logits_ref[np.arange(4), predicted]
    np.testing.assert_allclose(result.reshape(4, -1).sum(axis=1), gap, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(delta, 0, atol=1e-3)
    np.testing.assert_allclose(cl.completeness_delta(mnist_model, x, result, baseline=baseline), 0, atol=1e-3)


def test_summation_to_delta_without_max_pooling(rng):
    """On a pool-free ReLU CNN both max-pool modes coincide and summation holds exactly."""
    model = tm.no_pool_cnn(seed=2)
    x = rng.random((3, 8, 8, 1)).astype(np.float32)
    rescale, delta = cl.deeplift(model, x, baseline="uniform", return_delta=True)
    gradient = cl.deeplift(model, x, baseline="uniform", maxpool="gradient")
    np.testing.assert_allclose(rescale, gradient, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(delta, 0, atol=1e-5)


@pytest.mark.parametrize("pool", [keras.layers.MaxPooling2D(2), keras.layers.GlobalMaxPooling2D()])
def test_max_pooling_rescale_is_exact(pool, rng):
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((4, 4, 2)),
            keras.layers.Conv2D(3, 1, activation="relu"),
            pool,
            keras.layers.Flatten(),
            keras.layers.Dense(2),
        ]
    )
    x, ref = rng.random((3, 4, 4, 2)).astype(np.float32), rng.random((3, 4, 4, 2)).astype(np.float32)
    _, delta = cl.deeplift(model, x, baseline=ref, return_delta=True)
    np.testing.assert_allclose(delta, 0, atol=1e-5)


def test_deeplift_equals_gradient_times_delta_for_linear_models(rng):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3, 3, 1)), keras.layers.AveragePooling2D(1), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    x = rng.normal(size=(2, 3, 3, 1)).astype(np.float32)
    np.testing.assert_allclose(
        cl.deeplift(model, x, target=1), cl.gradient_x_input(model, x, target=1), rtol=1e-5, atol=1e-6
    )


def test_deeplift_rejects_unsupported_layers_by_name(rng):
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.LayerNormalization(name="norm"),
            keras.layers.Dense(2),
        ]
    )
    with pytest.raises(ValueError, match="'norm'.*LayerNormalization"):
        cl.deeplift(model, rng.random((1, 2, 2, 1)).astype(np.float32))
    with pytest.raises(ValueError, match="maxpool"):
        cl.deeplift(tm.relu_toy(), tm.RELU_TOY_X, maxpool="average")


def test_deeplift_and_lrp_refuse_models_that_branch():
    # a residual connection (two paths merged by Add) is not a chain: both layer walks must say so
    inputs = keras.Input(shape=(1, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    merged = keras.layers.Add()([keras.layers.Dense(4, activation="relu")(flat), flat])
    model = keras.Model(inputs, keras.layers.Dense(2)(merged))
    x = np.ones((1, 1, 4, 1), np.float32)
    for method in (cl.deeplift, cl.lrp):
        with pytest.raises(ValueError, match="chains of layers"):
            method(model, x)


def test_occlusion_toy_values():
    """The toy oracle (ARCHITECTURE.md §7): setting one input to 0 gives [[0,0],[1,−1]]."""
    result = cl.occlusion(tm.relu_toy(), tm.RELU_TOY_X, patch=1, stride=1)
    np.testing.assert_allclose(tm.flat(result), [[0, 0], [1, -1]], atol=1e-6)


def test_occlusion_matches_a_loop_over_patches(rng):
    model = tm.gap_cnn(seed=4, input_shape=(8, 8, 2))
    x = rng.random((2, 8, 8, 2)).astype(np.float32)
    result = cl.occlusion(model, x, target=1, patch=3, stride=2, value=0.5)
    assert result.shape == x.shape and result.dtype == np.float32
    base = predict_logits(model, x)[:, 1]
    total, count = np.zeros((2, 8, 8)), np.zeros((8, 8))
    for r in (0, 2, 4, 5):  # 5 = the extra window flush with the border
        for c in (0, 2, 4, 5):
            occluded = x.copy()
            occluded[:, r : r + 3, c : c + 3, :] = 0.5
            total[:, r : r + 3, c : c + 3] += (base - predict_logits(model, occluded)[:, 1])[:, None, None]
            count[r : r + 3, c : c + 3] += 1
    expected = total / count
    np.testing.assert_allclose(result[..., 0], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(result[..., 1], expected, rtol=1e-4, atol=1e-5)


def test_occlusion_batching_and_masks(mnist_model, digits):
    x = digits[0][:2]
    whole = cl.occlusion(mnist_model, x, patch=7, stride=7, batch_size=None)
    np.testing.assert_allclose(
        cl.occlusion(mnist_model, x, patch=7, stride=7, batch_size=5), whole, rtol=1e-4, atol=1e-5
    )
    masks = occlusion_masks((28, 28), patch=(4, 6), stride=(3, 5))
    assert masks.sum(axis=0).min() >= 1  # every pixel covered
    assert np.all(masks.sum(axis=(1, 2)) == 24)
    with pytest.raises(ValueError, match="larger than the image"):
        cl.occlusion(mnist_model, x, patch=29)
    with pytest.raises(ValueError, match="never occluded"):
        occlusion_masks((28, 28), patch=4, stride=5)
    with pytest.raises(TypeError, match="patch"):
        cl.occlusion(mnist_model, x, patch=2.5)
