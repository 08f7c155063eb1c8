"""The helpers every method shares: batch checks, target resolution, layers of nested models, logits."""

import keras
import numpy as np
import pytest

from course_lib._graph import get_layer, layer_names, logits_model, outputs_model
from course_lib._validation import as_batch, check_index, resolve_targets

SCORES = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]])


def test_resolve_targets_three_forms():
    np.testing.assert_array_equal(resolve_targets(None, SCORES), [1, 0])
    np.testing.assert_array_equal(resolve_targets(2, SCORES), [2, 2])
    np.testing.assert_array_equal(resolve_targets(np.int64(2), SCORES), [2, 2])
    np.testing.assert_array_equal(resolve_targets([0, 2], SCORES), [0, 2])
    assert resolve_targets([0, 2], SCORES).dtype == np.int32


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (3, ValueError, "out of range.*3 classes"),
        ([0, -1], ValueError, "out of range"),
        ([0, 1, 2], ValueError, "one per sample"),
        (1.5, TypeError, "integer"),
        ([0.5, 1.0], TypeError, "integer"),
        (True, TypeError, "bool"),
    ],
)
def test_resolve_targets_rejects_bad_targets(target, error, message):
    with pytest.raises(error, match=message):
        resolve_targets(target, SCORES)


def test_as_batch_checks_rank_and_values():
    assert as_batch(np.zeros((2, 4, 4, 1), dtype=np.float64)).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(B, H, W, C\).*x\[None\]"):
        as_batch(np.zeros((4, 4, 1)))
    with pytest.raises(ValueError, match="NaN"):
        as_batch(np.full((1, 2, 2, 1), np.nan))
    with pytest.raises(TypeError, match="numbers"):
        as_batch(np.array([["a"]]), rank=2)


def test_check_index():
    assert check_index(3, 4, "filter index") == 3
    with pytest.raises(ValueError, match="filter index 4 is out of range: valid values are 0..3"):
        check_index(4, 4, "filter index")


def _nested():
    inner = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="inner_conv"), keras.layers.Flatten(name="flat")],
        name="inner",
    )
    return keras.Sequential(
        [keras.Input((6, 6, 1)), inner, keras.layers.Dense(3, name="dense"), keras.layers.Activation("softmax")]
    )


def test_nested_layers_are_reachable_and_errors_list_names():
    model = _nested()
    assert layer_names(model)[:2] == ["inner_conv", "flat"]
    x = np.random.default_rng(0).random((2, 6, 6, 1), dtype=np.float32)
    conv_out, logits = outputs_model(model, ["inner_conv"], with_logits=True)(x)
    assert conv_out.shape == (2, 4, 4, 2)
    np.testing.assert_allclose(keras.ops.softmax(logits), model(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="valid layer names: .*inner_conv"):
        get_layer(model, "conv2d_9")


def test_logits_of_a_softmax_dense_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).random((5, 4), dtype=np.float32)
    logits = logits_model(model)(x)
    dense = model.layers[-1]
    np.testing.assert_allclose(logits, x @ dense.kernel.numpy() + dense.bias.numpy(), rtol=1e-5, atol=1e-6)


def test_branching_model_with_a_nested_block_is_not_unrolled():
    """A functional graph with a skip connection must keep its wiring (no straight-line unrolling)."""
    inputs = keras.Input((4,))
    block = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="inner_dense")], name="block")
    outputs = keras.layers.Dense(2, name="head")(keras.layers.Add()([inputs, block(inputs)]))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(2).random((3, 4), dtype=np.float32)
    np.testing.assert_allclose(logits_model(model)(x), model(x), rtol=1e-5, atol=1e-6)


def test_sequential_around_a_branching_block_keeps_the_block_whole():
    inputs = keras.Input((4,))
    merged = keras.layers.Add()([inputs, keras.layers.Dense(4, name="inner_dense")(inputs)])
    block = keras.Model(inputs, merged, name="residual_block")
    model = keras.Sequential(
        [keras.Input((4,)), block, keras.layers.Dense(3, name="dense"), keras.layers.Activation("softmax")]
    )
    assert layer_names(model)[:2] == ["residual_block", "dense"]
    x = np.random.default_rng(3).random((2, 4), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.softmax(logits_model(model)(x)), model(x), rtol=1e-5, atol=1e-6)
