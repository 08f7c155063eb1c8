"""CAM and Grad-CAM: the einsum, the GAP property, the Grad-CAM/CAM relation, upsampling, errors."""

import keras
import numpy as np
import pytest
import toy_models as tm

import course_lib as cl
from course_lib._batching import predict_logits


def _logit_parts(model):
    dense = model.get_layer("logits")
    return dense.kernel.numpy(), dense.bias.numpy()


def _bilinear_half_pixel(maps, size):
    """Independent numpy bilinear resize with the half-pixel-centre convention, clamped borders."""
    batch, h, w = maps.shape
    out_h, out_w = size

    def coords(n_out, n_in):
        c = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(c).astype(int)
        high = np.minimum(low + 1, n_in - 1)
        return low, high, c - low

    r0, r1, fr = coords(out_h, h)
    c0, c1, fc = coords(out_w, w)
    top = maps[:, r0][:, :, c0] * (1 - fc) + maps[:, r0][:, :, c1] * fc
    bottom = maps[:, r1][:, :, c0] * (1 - fc) + maps[:, r1][:, :, c1] * fc
    return top * (1 - fr[:, None]) + bottom * fr[:, None]


def test_class_activation_maps_is_the_einsum(rng):
    features = rng.normal(size=(2, 3, 4, 5)).astype(np.float32)
    weights = rng.normal(size=(5, 6)).astype(np.float32)
    bias = rng.normal(size=6).astype(np.float32)
    maps = cl.class_activation_maps(features, weights, bias)
    assert maps.shape == (2, 3, 4, 6) and maps.dtype == np.float32
    expected = np.zeros((2, 3, 4, 6))
    for i in range(2):
        for x in range(3):
            for y in range(4):
                for c in range(6):
                    expected[i, x, y, c] = sum(features[i, x, y, z] * weights[z, c] for z in range(5)) + bias[c]
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5)


def test_class_activation_maps_shape_errors_teach(rng):
    features = np.ones((2, 3, 3, 5), np.float32)
    with pytest.raises(ValueError, match="weights.T"):
        cl.class_activation_maps(features, np.ones((6, 5)), np.ones(6))
    with pytest.raises(ValueError, match="batch axis"):
        cl.class_activation_maps(features[0], np.ones((5, 6)), np.ones(6))
    with pytest.raises(ValueError, match="one value per class"):
        cl.class_activation_maps(features, np.ones((5, 6)), np.ones(5))


@pytest.mark.parametrize("name", ["mnist", "ising"])
def test_gap_property_and_grad_cam_relation(name, mnist_model, ising_model, digits, rng):
    model = mnist_model if name == "mnist" else ising_model
    x = digits[0][:4] if name == "mnist" else rng.choice([-1.0, 1.0], size=(4, 32, 32, 1)).astype(np.float32)
    logits = predict_logits(model, x)
    kernel, bias = _logit_parts(model)
    for target in range(logits.shape[1]):
        maps = cl.cam(model, x, target=target)
        h, w = maps.shape[1:]
        # GAP property: the spatial mean of the CAM is the logit.
        np.testing.assert_allclose(maps.mean(axis=(1, 2)), logits[:, target], rtol=1e-4, atol=1e-4)
        # Grad-CAM without ReLU = (CAM − b_c) / (h·w).
        signed = cl.grad_cam(model, x, target=target, relu=False)
        np.testing.assert_allclose(signed, (maps - bias[target]) / (h * w), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(cl.grad_cam(model, x, target=target), np.maximum(signed, 0), atol=1e-7)


def test_cam_equals_class_activation_maps_of_the_features(mnist_model, digits):
    x = digits[0][:3]
    features = cl.activations(mnist_model, x, ["conv2d_4"])["conv2d_4"]
    kernel, bias = _logit_parts(mnist_model)
    all_maps = cl.class_activation_maps(features, kernel, bias)
    np.testing.assert_allclose(
        cl.cam(mnist_model, x, target=[0, 5, 9]), all_maps[np.arange(3), :, :, [0, 5, 9]], rtol=1e-5, atol=1e-4
    )
    predicted = predict_logits(mnist_model, x).argmax(axis=1)
    np.testing.assert_allclose(cl.cam(mnist_model, x), all_maps[np.arange(3), :, :, predicted], rtol=1e-5, atol=1e-4)


def test_gap_property_with_biases_on_a_toy_cnn(rng):
    model = tm.gap_cnn(seed=3)
    x = rng.random((3, 8, 8, 1)).astype(np.float32)
    logits = predict_logits(model, x)
    maps = cl.cam(model, x, target=2)
    assert maps.shape == (3, 8, 8)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), logits[:, 2], rtol=1e-5, atol=1e-5)


def test_upsampling_is_bilinear_to_the_input_size(mnist_model, digits):
    x = digits[0][:2]
    small = cl.cam(mnist_model, x, target=4)
    large = cl.cam(mnist_model, x, target=4, upsample=True)
    assert small.shape == (2, 14, 14) and large.shape == (2, 28, 28) and large.dtype == np.float32
    np.testing.assert_allclose(large, _bilinear_half_pixel(small, (28, 28)), rtol=1e-5, atol=1e-4)
    grad_large = cl.grad_cam(mnist_model, x, target=4, upsample=True, relu=False)
    np.testing.assert_allclose(
        grad_large, _bilinear_half_pixel(cl.grad_cam(mnist_model, x, target=4, relu=False), (28, 28)), atol=1e-5
    )


def test_upsample_preserves_constants_and_linear_ramps():
    ramp = np.tile(np.arange(4, dtype=np.float32), (4, 1))[None]  # columns 0..3
    from course_lib.postprocess import upsample_bilinear

    up = upsample_bilinear(ramp, (8, 8))
    np.testing.assert_allclose(up[0, :, 1:-1], np.tile((np.arange(1, 7) + 0.5) / 2 - 0.5, (8, 1)), atol=1e-6)
    np.testing.assert_allclose(upsample_bilinear(np.full((1, 3, 3), 2.5, np.float32), (9, 9)), 2.5)


def test_cam_rejects_other_architectures_naming_what_is_missing(rng):
    x = rng.random((1, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="GlobalAveragePooling2D"):
        cl.cam(tm.no_pool_cnn(), x)
    deeper = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(8, activation="relu", name="extra"),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    with pytest.raises(ValueError, match="exactly one Dense.*extra"):
        cl.cam(deeper, x)
    # Grad-CAM works where CAM cannot.
    assert cl.grad_cam(deeper, x, target=1).shape == (1, 6, 6)
    assert cl.grad_cam(tm.no_pool_cnn(), x).shape == (1, 4, 4)


def test_grad_cam_layer_choice_and_errors(mnist_model, digits):
    x = digits[0][:2]
    assert cl.grad_cam(mnist_model, x, layer="conv2d_2").shape == (2, 28, 28)
    assert cl.grad_cam(mnist_model, x, layer="conv2d_3").shape == (2, 14, 14)
    with pytest.raises(ValueError, match="conv2d_4"):
        cl.grad_cam(mnist_model, x, layer="conv5")
    with pytest.raises(ValueError, match="4-D"):
        cl.grad_cam(mnist_model, x, layer="gap")
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        cl.cam(mnist_model, x[0])
