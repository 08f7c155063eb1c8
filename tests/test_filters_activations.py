"""First-layer filters and intermediate activations, checked against plain numpy re-derivations."""

import keras
import numpy as np
import pytest

import course_lib as cl


def numpy_conv_same(x, kernel, bias):
    """'same' 2-D cross-correlation with an odd kernel: x (B,H,W,C), kernel (k,k,C,F) → (B,H,W,F)."""
    k = kernel.shape[0]
    r = k // 2
    padded = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[3],))
    for a in range(k):
        for b in range(k):
            out += padded[:, a : a + x.shape[1], b : b + x.shape[2], :] @ kernel[a, b]
    return out + bias


def test_first_layer_filters_moves_filter_axis_first(mnist_model):
    filters = cl.first_layer_filters(mnist_model)
    kernel = mnist_model.get_layer("conv2d_1").kernel.numpy()  # (kh, kw, C, F)
    assert filters.shape == (16, 3, 3, 1) and filters.dtype == np.float32
    for f in range(16):
        np.testing.assert_array_equal(filters[f], kernel[..., f])


def test_first_layer_filters_finds_conv_in_nested_model():
    keras.utils.set_random_seed(1)
    inner = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3, name="inner_conv")], name="inner")
    model = keras.Sequential([keras.Input((8, 8, 3)), inner, keras.layers.Flatten(), keras.layers.Dense(2)])
    filters = cl.first_layer_filters(model)
    assert filters.shape == (5, 3, 3, 3)
    np.testing.assert_array_equal(filters, np.transpose(inner.get_layer("inner_conv").kernel.numpy(), (3, 0, 1, 2)))


def test_first_layer_filters_without_conv_is_an_error():
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="no Conv2D"):
        cl.first_layer_filters(model)


def test_first_conv_activation_equals_numpy_convolution(mnist_model, digits):
    x, _ = digits
    acts = cl.activations(mnist_model, x, ["conv2d_1", "conv2d_2"])
    assert list(acts) == ["conv2d_1", "conv2d_2"]
    layer1, layer2 = mnist_model.get_layer("conv2d_1"), mnist_model.get_layer("conv2d_2")
    a1 = np.maximum(numpy_conv_same(x, layer1.kernel.numpy(), layer1.bias.numpy()), 0)
    a2 = np.maximum(numpy_conv_same(a1, layer2.kernel.numpy(), layer2.bias.numpy()), 0)
    np.testing.assert_allclose(acts["conv2d_1"], a1, atol=1e-5)
    np.testing.assert_allclose(acts["conv2d_2"], a2, atol=1e-4)
    assert acts["conv2d_1"].dtype == np.float32


def test_activation_shapes_names_and_indices(mnist_model, digits):
    x, _ = digits
    by_default = cl.activations(mnist_model, x)
    assert {name: a.shape for name, a in by_default.items()} == {
        "conv2d_1": (8, 28, 28, 16),
        "conv2d_2": (8, 28, 28, 16),
        "conv2d_3": (8, 14, 14, 32),
        "conv2d_4": (8, 14, 14, 32),
    }
    by_index = cl.activations(mnist_model, x, [2, 7, -1])  # max_pooling2d, logits, softmax
    assert list(by_index) == ["max_pooling2d", "logits", "softmax"]
    np.testing.assert_allclose(by_index["softmax"], mnist_model.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(by_index["softmax"].sum(axis=1), 1.0, atol=1e-5)
    single = cl.activations(mnist_model, x, "conv2d_3")
    np.testing.assert_allclose(single["conv2d_3"], by_default["conv2d_3"], atol=1e-6)


def test_activations_do_not_depend_on_chunking(mnist_model, digits):
    x, _ = digits
    whole = cl.activations(mnist_model, x, ["conv2d_4"])["conv2d_4"]
    chunked = cl.activations(mnist_model, x, ["conv2d_4"], batch_size=3)["conv2d_4"]
    np.testing.assert_allclose(whole, chunked, atol=1e-5)


def test_inner_layers_of_a_nested_model_are_reachable():
    keras.utils.set_random_seed(2)
    block = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="block_conv")],
        name="block",
    )
    model = keras.Sequential(
        [keras.Input((6, 6, 1)), block, keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(2)]
    )
    x = np.random.default_rng(0).uniform(size=(2, 6, 6, 1)).astype(np.float32)
    acts = cl.activations(model, x, ["block_conv", "gap"])
    conv = block.get_layer("block_conv")
    expected = np.maximum(numpy_conv_same(x, conv.kernel.numpy(), conv.bias.numpy()), 0)
    np.testing.assert_allclose(acts["block_conv"], expected, atol=1e-5)
    np.testing.assert_allclose(acts["gap"], expected.mean(axis=(1, 2)), atol=1e-5)


def test_bad_input_is_reported(mnist_model, digits):
    x, _ = digits
    with pytest.raises(ValueError, match="conv2d_1"):  # the message lists the valid names
        cl.activations(mnist_model, x, ["conv2d_9"])
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        cl.activations(mnist_model, x[0], ["conv2d_1"])
    with pytest.raises(ValueError, match="expects"):
        cl.activations(mnist_model, np.zeros((2, 14, 14, 1)), ["conv2d_1"])
    with pytest.raises(ValueError, match="out of range"):
        cl.activations(mnist_model, x, [42])
