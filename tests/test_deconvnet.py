"""Transposed convolution, DeconvNet and guided backpropagation.

Oracles: the 5×5 transposed convolution of ARCHITECTURE.md §7, Keras' own Conv2DTranspose layer, the
transposed convolution of the kept feature map for a one-layer network, receptive fields, and
hand-built networks on which the three ReLU backward rules must differ.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from toy_models import RELU_TOY_X, flat, relu_toy

import course_lib as cl
from course_lib._graph import logits_model, outputs_model


def const(value):
    return keras.initializers.Constant(value)


def gradient(model, x, layer_or_score):
    """Plain gradient of Σ (stop_gradient(a) · a) for a layer output, the reference without modified ReLUs."""
    sub = outputs_model(model, [layer_or_score])
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        a = sub(x, training=False)
    return tape.gradient(a, x, output_gradients=tf.stop_gradient(a)).numpy()


# --------------------------------------------------------------------------- conv_transpose


def test_conv_transpose_lecture_example():
    y = cl.conv_transpose(np.array([[1.0, 2.0], [3.0, 4.0]]), np.ones((3, 3)), stride=2)
    expected = np.array(
        [[1, 1, 3, 2, 2], [1, 1, 3, 2, 2], [4, 4, 10, 6, 6], [3, 3, 7, 4, 4], [3, 3, 7, 4, 4]], dtype=np.float32
    )
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize(
    ("kernel_size", "stride", "shape"),
    [((3, 3), 2, (2, 5, 4, 3)), ((2, 3), 1, (1, 4, 6, 2)), ((4, 4), (2, 3), (3, 3, 3, 1)), ((3, 3), 3, (1, 2, 2, 2))],
)
def test_conv_transpose_matches_keras_layer(kernel_size, stride, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    layer = keras.layers.Conv2DTranspose(4, kernel_size, strides=stride, padding="valid", use_bias=False)
    expected = layer(x).numpy()
    y = cl.conv_transpose(x, layer.kernel.numpy(), stride)
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    assert y.shape == (shape[0], (shape[1] - 1) * sh + kernel_size[0], (shape[2] - 1) * sw + kernel_size[1], 4)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_conv_transpose_2d_equals_single_channel_batch():
    rng = np.random.default_rng(1)
    x, kernel = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    y2d = cl.conv_transpose(x, kernel, 2)
    y4d = cl.conv_transpose(x[None, :, :, None], kernel[:, :, None, None], 2)
    np.testing.assert_allclose(y2d, y4d[0, :, :, 0], atol=1e-6)


def test_conv_transpose_is_the_adjoint_of_strided_convolution():
    # <conv(u), v> = <u, conv_transpose(v)> for a "valid" strided convolution with the same kernel
    rng = np.random.default_rng(2)
    kernel = rng.normal(size=(3, 3, 2, 5)).astype(np.float32)  # Conv2D layout (kh, kw, C, F)
    u = rng.normal(size=(1, 9, 9, 2)).astype(np.float32)
    conv_u = tf.nn.conv2d(u, kernel, strides=2, padding="VALID").numpy()  # (1, 4, 4, 5)
    v = rng.normal(size=conv_u.shape).astype(np.float32)
    np.testing.assert_allclose(np.sum(conv_u * v), np.sum(u * cl.conv_transpose(v, kernel, 2)), rtol=1e-4)


def test_conv_transpose_bad_input():
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        cl.conv_transpose(np.ones((2, 2)), np.ones((3, 3, 1, 1)), 1)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(B, H, W, C_in\)"):
        cl.conv_transpose(np.ones((2, 2, 1)), np.ones((3, 3)), 1)
    with pytest.raises(ValueError, match="C_out, 3"):
        cl.conv_transpose(np.ones((1, 2, 2, 3)), np.ones((3, 3, 1, 2)), 1)
    with pytest.raises(ValueError, match="stride"):
        cl.conv_transpose(np.ones((2, 2)), np.ones((3, 3)), 0)
    with pytest.raises(ValueError, match="NaN"):
        cl.conv_transpose(np.array([[np.nan]]), np.ones((3, 3)), 1)


# --------------------------------------------------------------------------- DeconvNet


def one_layer_net(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((9, 9, 2)),
            keras.layers.Conv2D(3, 3, strides=2, padding="valid", activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2),
        ]
    )


def test_one_layer_projection_is_the_transposed_convolution_of_the_kept_map():
    model = one_layer_net()
    x = np.random.default_rng(3).normal(size=(4, 9, 9, 2)).astype(np.float32)
    a = cl.activations(model, x, "conv")["conv"]  # (4, 4, 4, 3)
    kernel = model.get_layer("conv").kernel.numpy()  # (3, 3, 2, 3): read backwards it maps 3 maps → 2 channels
    for f in range(3):
        expected = cl.conv_transpose(a[..., f : f + 1], kernel[..., f : f + 1], 2)
        np.testing.assert_allclose(cl.deconvnet(model, x, "conv", filter_index=f), expected, atol=1e-5)
    strongest = a.max(axis=(1, 2)).argmax(axis=-1)  # the default: strongest map per sample
    expected = np.concatenate(
        [cl.conv_transpose(a[i : i + 1, ..., f : f + 1], kernel[..., f : f + 1], 2) for i, f in enumerate(strongest)]
    )
    projected = cl.deconvnet(model, x, "conv")
    assert projected.shape == x.shape and projected.dtype == np.float32
    np.testing.assert_allclose(projected, expected, atol=1e-5)
    per_sample = cl.deconvnet(model, x, 0, filter_index=strongest.tolist())
    np.testing.assert_allclose(per_sample, expected, atol=1e-5)


def test_first_layer_projection_of_one_unit_is_the_scaled_kernel(mnist_model, digits):
    x, _ = digits
    a = cl.activations(mnist_model, x, "conv2d_1")["conv2d_1"]
    kernel = mnist_model.get_layer("conv2d_1").kernel.numpy()[:, :, 0, :]  # (3, 3, 16)
    projected = cl.deconvnet(mnist_model, x, "conv2d_1", filter_index=5, keep="max")[..., 0]
    for i in range(len(x)):
        r, c = np.unravel_index(np.argmax(a[i, :, :, 5]), a.shape[1:3])
        expected = np.zeros((30, 30))  # padded by one pixel on each side ('same' padding)
        expected[r : r + 3, c : c + 3] = a[i, r, c, 5] * kernel[:, :, 5]
        np.testing.assert_allclose(projected[i], expected[1:-1, 1:-1], atol=1e-6)


@pytest.mark.parametrize(("layer", "scale", "reach"), [("conv2d_2", 1, (2, 2)), ("conv2d_3", 2, (4, 5))])
def test_projection_of_one_unit_stays_in_its_receptive_field(mnist_model, digits, layer, scale, reach):
    # conv2d_2 sees 5×5 pixels around its unit; conv2d_3 (after 2×2 pooling) sees rows 2r−4 … 2r+5
    x, _ = digits
    a = cl.activations(mnist_model, x, layer)[layer]
    projected = cl.deconvnet(mnist_model, x, layer, keep="max")[..., 0]
    for i in range(len(x)):
        f = a[i].max(axis=(0, 1)).argmax()
        r, c = np.unravel_index(np.argmax(a[i, :, :, f]), a.shape[1:3])
        inside = np.zeros((28, 28), dtype=bool)
        rows = slice(max(scale * r - reach[0], 0), scale * r + reach[1] + 1)
        cols = slice(max(scale * c - reach[0], 0), scale * c + reach[1] + 1)
        inside[rows, cols] = True
        assert np.all(projected[i][~inside] == 0)
        assert np.any(projected[i][inside] != 0)


def sign_flip_net():
    """x → Conv1×1(+1) → ReLU → Conv1×1(−1, bias 10) → ReLU → GAP → Dense(+1).

    For 0 < x < 10 the second layer is 10 − x > 0 and the score falls with x: the gradient is
    negative, but the backward signal turns negative only *below* a ReLU, where DeconvNet and guided
    backpropagation rectify it to zero.
    """
    return keras.Sequential(
        [
            keras.Input((4, 4, 1)),
            keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer=const(1.0), name="up"),
            keras.layers.Conv2D(
                1, 1, activation="relu", kernel_initializer=const(-1.0), bias_initializer=const(10.0), name="down"
            ),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(1, kernel_initializer=const(1.0), name="score"),
        ]
    )


def test_backward_relu_differs_from_the_gradient_where_it_must():
    model = sign_flip_net()
    x = np.random.default_rng(4).uniform(1, 9, size=(2, 4, 4, 1)).astype(np.float32)
    plain = gradient(model, x, "down")  # = −(10 − x): the signal is negative below "down"
    np.testing.assert_allclose(plain, -(10 - x), atol=1e-5)
    np.testing.assert_array_equal(cl.deconvnet(model, x, "down", filter_index=0), 0.0)
    np.testing.assert_array_equal(cl.guided_backprop(model, x), 0.0)
    # one layer up the signal is never negative: DeconvNet equals the gradient there
    np.testing.assert_allclose(cl.deconvnet(model, x, "up", filter_index=0), gradient(model, x, "up"), atol=1e-6)


def test_deconvnet_ignores_the_forward_relu_mask():
    # second layer: a unit that is off (z < 0) still passes the (positive) signal in a DeconvNet
    model = keras.Sequential(
        [
            keras.Input((1, 1, 1)),
            keras.layers.Conv2D(2, 1, activation="relu", kernel_initializer=const([[[[1.0, -1.0]]]]), name="a"),
            keras.layers.Conv2D(1, 1, activation="relu", kernel_initializer=const([[[[1.0], [1.0]]]]), name="b"),
        ]
    )
    x = np.array([[[[2.0]]]], dtype=np.float32)  # a = (2, 0): the second unit is off, b = 2
    # backward from b = 2: signal (2, 2) at layer a; gradient masks it to (2, 0) → 2·1 = 2;
    # DeconvNet keeps both: 2·1 + 2·(−1) = 0
    assert gradient(model, x, "b").item() == pytest.approx(2.0)
    assert cl.deconvnet(model, x, "b").item() == pytest.approx(0.0)


def test_deconvnet_on_functional_and_nested_models_equals_the_sequential_one():
    model = one_layer_net(seed=5)
    weights = model.get_layer("conv").get_weights()

    def same_conv():
        conv = keras.layers.Conv2D(3, 3, strides=2, activation="relu", name="conv")
        conv.build((None, 9, 9, 2))
        conv.set_weights(weights)
        return conv

    inputs = keras.Input((9, 9, 2))
    functional = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(same_conv()(inputs))))
    block = keras.Sequential([keras.Input((9, 9, 2)), same_conv()], name="block")
    nested = keras.Sequential([keras.Input((9, 9, 2)), block, keras.layers.Flatten()])
    x = np.random.default_rng(6).normal(size=(3, 9, 9, 2)).astype(np.float32)
    expected = cl.deconvnet(model, x, "conv", filter_index=1)
    np.testing.assert_allclose(cl.deconvnet(functional, x, "conv", filter_index=1), expected, atol=1e-6)
    np.testing.assert_allclose(cl.deconvnet(nested, x, "conv", filter_index=1), expected, atol=1e-6)


def test_deconvnet_through_a_branching_functional_model():
    # a residual block: conv → relu, added to the input; DeconvNet must still run and be batched
    keras.utils.set_random_seed(7)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="relu", name="c1")(inputs)
    h = keras.layers.Add()([keras.layers.Conv2D(2, 3, padding="same", name="c2")(h), inputs])
    h = keras.layers.ReLU(name="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(h)))
    x = np.random.default_rng(8).normal(size=(4, 6, 6, 2)).astype(np.float32)
    together = cl.deconvnet(model, x, "relu", filter_index=0)
    one_by_one = np.concatenate([cl.deconvnet(model, x[i : i + 1], "relu", filter_index=0) for i in range(4)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    assert np.any(together != 0)


def test_deconvnet_leaves_weights_unchanged(mnist_model, digits):
    before = [w.copy() for w in mnist_model.get_weights()]
    cl.deconvnet(mnist_model, digits[0], "conv2d_4")
    cl.guided_backprop(mnist_model, digits[0])
    assert all(np.array_equal(a, b) for a, b in zip(before, mnist_model.get_weights(), strict=True))


def test_deconvnet_bad_input(mnist_model, digits):
    x, _ = digits
    with pytest.raises(ValueError, match="valid layer names"):
        cl.deconvnet(mnist_model, x, "conv2d_7")
    with pytest.raises(ValueError, match="feature maps"):
        cl.deconvnet(mnist_model, x, "logits")
    with pytest.raises(ValueError, match="out of range"):
        cl.deconvnet(mnist_model, x, "conv2d_1", filter_index=16)
    with pytest.raises(ValueError, match="one per sample"):
        cl.deconvnet(mnist_model, x, "conv2d_1", filter_index=[0, 1])
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        cl.deconvnet(mnist_model, x[0], "conv2d_1")
    with pytest.raises(ValueError, match="keep"):
        cl.deconvnet(mnist_model, x, "conv2d_1", keep="all")
    tanh_net = keras.Sequential([keras.Input((5, 5, 1)), keras.layers.Conv2D(2, 3, activation="tanh", name="t")])
    with pytest.raises(ValueError, match="tanh"):
        cl.deconvnet(tanh_net, np.zeros((1, 5, 5, 1)), "t")


# --------------------------------------------------------------------------- guided backpropagation


def test_guided_backprop_equals_gradient_when_every_weight_is_positive():
    # positive weights and inputs: no backward signal is ever negative, so rectifying changes nothing
    keras.utils.set_random_seed(9)
    positive = keras.initializers.RandomUniform(0.1, 1.0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(3, 3, activation="relu", kernel_initializer=positive, bias_initializer=const(-2.0)),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_initializer=positive),
            keras.layers.Activation("softmax"),
        ]
    )
    x = np.random.default_rng(10).uniform(size=(3, 6, 6, 1)).astype(np.float32)
    logits = logits_model(model)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        score = tf.reduce_sum(logits(xt)[:, 1])
    np.testing.assert_allclose(cl.guided_backprop(model, x, target=1), tape.gradient(score, xt).numpy(), atol=1e-6)


def test_guided_backprop_targets(mnist_model, digits):
    x, _ = digits
    predicted = mnist_model.predict(x, verbose=0).argmax(axis=1)
    default = cl.guided_backprop(mnist_model, x)
    assert default.shape == x.shape and default.dtype == np.float32
    np.testing.assert_allclose(cl.guided_backprop(mnist_model, x, target=predicted.tolist()), default, atol=1e-6)
    three = cl.guided_backprop(mnist_model, x, target=3)
    np.testing.assert_allclose(three[2:3], cl.guided_backprop(mnist_model, x[2:3], target=3), atol=1e-6)
    with pytest.raises(ValueError, match="out of range"):
        cl.guided_backprop(mnist_model, x, target=10)


@pytest.mark.parametrize("separate_activations", [False, True])
def test_guided_backprop_on_the_relu_toy(separate_activations):
    # f = ReLU(ReLU(x1 − 1) − ReLU(x2)) at (3, 1): the gradient is (1, −1); guided backprop rectifies the
    # negative signal reaching ReLU(x2) and keeps (1, 0). At (−10, −5) every unit is off: (0, 0).
    model = relu_toy(separate_activations=separate_activations)
    np.testing.assert_allclose(flat(cl.guided_backprop(model, RELU_TOY_X)), [[0, 0], [1, 0]], atol=1e-7)


def traces(model, key) -> int:
    """How often the compiled function course_lib keeps for ``model`` under ``key`` was traced."""
    from course_lib._cache import trace_counts

    return trace_counts(model)[key]


def test_repeated_calls_reuse_one_compiled_function_and_see_new_weights():
    model = one_layer_net(seed=1)
    x = np.random.default_rng(2).normal(size=(3, 9, 9, 2)).astype(np.float32)
    for filter_index in (0, 1, [1, 0, 1]):
        cl.deconvnet(model, x, "conv", filter_index=filter_index)
    for target in (None, 0, [1, 0, 1]):
        cl.guided_backprop(model, x, target)
    assert traces(model, ("deconvnet", "conv", "map")) == 1
    assert traces(model, "guided_backprop") == 1
    # the cache shares the weights, it does not freeze them: new weights give the new projection
    model.set_weights([2.0 * w for w in model.get_weights()])
    fresh = one_layer_net(seed=1)
    fresh.set_weights(model.get_weights())
    np.testing.assert_allclose(
        cl.deconvnet(model, x, "conv", filter_index=1), cl.deconvnet(fresh, x, "conv", filter_index=1), rtol=1e-6
    )
    np.testing.assert_allclose(cl.guided_backprop(model, x, 1), cl.guided_backprop(fresh, x, 1), rtol=1e-6)
