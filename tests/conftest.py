"""Shared fixtures. Tests never touch the network: COURSE_LIB_OFFLINE makes load_mnist("auto")
fall back to the bundled subset without probing, and the Ising cache goes to a per-session folder."""

import os

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import course_lib as cl  # noqa: E402  (quiets TensorFlow before anything imports it)


@pytest.fixture(scope="session")
def mnist():
    """The bundled MNIST split: ((x_train, y_train), (x_test, y_test))."""
    return cl.load_mnist(source="bundled", verbose=False)


@pytest.fixture(scope="session")
def mnist_model():
    return cl.pretrained("mnist_cnn")


@pytest.fixture(scope="session")
def ising_model():
    return cl.pretrained("ising_cnn")


@pytest.fixture(scope="session")
def ising():
    """The default generated Ising data set (cached per user after the first run)."""
    return cl.load_ising()


@pytest.fixture(scope="session")
def digits(mnist):
    """Eight test digits, a small batch for method tests."""
    (_, _), (x_test, y_test) = mnist
    return x_test[:8], y_test[:8]


@pytest.fixture()
def rng():
    return np.random.default_rng(0)
