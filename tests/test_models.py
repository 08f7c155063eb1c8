"""The course's models: architectures, layer names, shipped weights and their accuracy."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import course_lib as cl


def test_mnist_architecture():
    model = cl.models.mnist_cnn()
    names = [layer.name for layer in model.layers]
    assert names == [
        "conv2d_1",
        "conv2d_2",
        "max_pooling2d",
        "conv2d_3",
        "conv2d_4",
        "gap",
        "dropout",
        "logits",
        "softmax",
    ]
    filters = [model.get_layer(f"conv2d_{i}").filters for i in range(1, 5)]
    assert filters == [16, 16, 32, 32]
    assert model.output_shape == (None, 10)
    assert isinstance(model.layers[-1], keras.layers.Activation)


def test_ising_architecture():
    model = cl.models.ising_cnn()
    names = [layer.name for layer in model.layers]
    assert names == ["conv2d_1", "max_pooling2d", "conv2d_2", "conv2d_3", "dropout", "gap", "logits", "softmax"]
    assert model.get_layer("conv2d_3").output.shape[1:] == (16, 16, 32)
    assert model.output_shape == (None, 2)


def test_pretrained_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="ising_cnn.*mnist_cnn"):
        cl.pretrained("resnet50")


def test_shipped_mnist_accuracy(mnist_model, mnist):
    (_, _), (x_test, y_test) = mnist
    accuracy = np.mean(np.argmax(mnist_model.predict(x_test, verbose=0), axis=1) == y_test)
    assert accuracy >= 0.96
    assert cl.models.model_card("mnist_cnn")["test_accuracy"] == pytest.approx(accuracy, abs=2e-3)


def test_shipped_ising_accuracy(ising_model, ising):
    """Re-measured on the chain-wise test split of load_ising(), overall and in the band around Tc."""
    _, (x_test, y_test, t_test) = ising
    correct = np.argmax(ising_model.predict(x_test, verbose=0), axis=1) == y_test
    near = cl.data.near_critical(t_test)
    card = cl.models.model_card("ising_cnn")
    assert correct.mean() >= 0.95
    assert card["test_samples"] == len(x_test) and card["test_samples_near_tc"] == near.sum()
    assert card["test_accuracy"] == pytest.approx(correct.mean(), abs=2e-3)
    assert card["test_accuracy_near_tc"] == pytest.approx(correct[near].mean(), abs=5e-3)
    assert correct[near].mean() < correct[~near].mean()  # the phases blur near Tc on a 32×32 lattice


def test_softmax_is_a_separate_layer(mnist_model, digits):
    x, _ = digits
    logits = keras.Model(mnist_model.inputs[0], mnist_model.get_layer("logits").output)(x)
    np.testing.assert_allclose(keras.ops.softmax(logits), mnist_model(x), rtol=1e-5, atol=1e-6)


def test_import_and_load_print_nothing_on_stderr():
    """nbgrader zeroes a test cell that writes to stderr: importing course_lib must be silent."""
    code = "import course_lib as cl; m = cl.pretrained('mnist_cnn'); print(m.count_params())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert int(result.stdout.strip()) == cl.models.mnist_cnn().count_params()
