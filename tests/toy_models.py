"""Tiny Keras models whose attributions can be computed by hand (ARCHITECTURE.md §7).

Every course_lib method takes a batch of images ``(B, H, W, C)``. The toy networks therefore read a
row image of shape ``(1, n, 1)`` — one pixel per input feature, one channel — flatten it, and then
apply the dense layers of the toy formula. Occluding "one pixel" is then occluding one feature.

The toy networks have a single output unit, taken as the class score (it is not a softmax), so
``target=None`` and ``target=0`` mean the same thing.

- :func:`relu_toy` — f(x1, x2) = ReLU(ReLU(x1 − 1) − ReLU(x2)), inputs :data:`RELU_TOY_X`.
- :func:`lrp_toy` — Dense(3→3, all weights 2) → ReLU → Dense(3→1, all weights 3), no biases,
  input :data:`LRP_TOY_X`; f([1, 2, 3]) = 108.
- :func:`smooth_net` — a small seeded tanh/softplus network for finite-difference checks.
- :func:`gap_cnn` — a small seeded Conv → GAP → Dense → softmax network with non-zero biases.
- :func:`no_pool_cnn` — a small seeded ReLU CNN without max pooling (DeepLIFT summation checks).
"""

from __future__ import annotations

import keras
import numpy as np

# §10 toy inputs: two samples, written as (B, 1, 2, 1) row images.
RELU_TOY_X = np.array([[-10.0, -5.0], [3.0, 1.0]], dtype=np.float32).reshape(2, 1, 2, 1)
LRP_TOY_X = np.array([[1.0, 2.0, 3.0]], dtype=np.float32).reshape(1, 1, 3, 1)


def as_rows(values) -> np.ndarray:
    """Turn feature vectors ``(B, n)`` into row images ``(B, 1, n, 1)``; and a single vector into B = 1."""
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 1:
        values = values[None]
    return values.reshape(values.shape[0], 1, values.shape[1], 1)


def flat(attributions) -> np.ndarray:
    """Inverse of :func:`as_rows`: ``(B, 1, n, 1)`` → ``(B, n)``."""
    attributions = np.asarray(attributions)
    return attributions.reshape(attributions.shape[0], -1)


def _const(value):
    return keras.initializers.Constant(value)


def relu_toy(*, separate_activations: bool = False) -> keras.Model:
    """f(x1, x2) = ReLU(ReLU(x1 − 1) − ReLU(x2)) as ``Input(1,2,1) → Flatten → Dense(2) → Dense(1)``.

    Hidden layer: kernel = identity, bias = (−1, 0), ReLU → h = (ReLU(x1 − 1), ReLU(x2)).
    Output layer: kernel = (1, −1)ᵀ, bias 0, ReLU → f = ReLU(h1 − h2).

    With ``separate_activations=True`` the ReLUs are their own ``keras.layers.ReLU`` layers after
    linear Dense layers (same function), so methods can be checked on both layouts.
    """
    act = None if separate_activations else "relu"
    layers = [
        keras.Input(shape=(1, 2, 1), name="x"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(
            2, activation=act, kernel_initializer=_const(np.eye(2)), bias_initializer=_const([-1.0, 0.0]), name="hidden"
        ),
    ]
    if separate_activations:
        layers.append(keras.layers.ReLU(name="hidden_relu"))
    layers.append(
        keras.layers.Dense(
            1, activation=act, kernel_initializer=_const([[1.0], [-1.0]]), bias_initializer="zeros", name="out"
        )
    )
    if separate_activations:
        layers.append(keras.layers.ReLU(name="out_relu"))
    return keras.Sequential(layers, name="relu_toy")


def relu_toy_numpy(x) -> np.ndarray:
    """The same f in plain numpy, for ``x`` of shape (B, 2) or (B, 1, 2, 1); returns (B,)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, 2)
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    return relu(relu(x[:, 0] - 1.0) - relu(x[:, 1]))


def lrp_toy(*, separate_activations: bool = False) -> keras.Model:
    """``Input(1,3,1) → Flatten → Dense(3→3, all weights 2, no bias) → ReLU → Dense(3→1, all weights 3, no bias)``.

    At x = [1, 2, 3]: hidden = 2·6 = 12 per unit, f = 3·36 = 108; the ε rule (ε → 0) gives
    R = [18, 36, 54] (ARCHITECTURE.md §7).
    """
    act = None if separate_activations else "relu"
    layers = [
        keras.Input(shape=(1, 3, 1), name="x"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(3, activation=act, use_bias=False, kernel_initializer=_const(2.0), name="hidden"),
    ]
    if separate_activations:
        layers.append(keras.layers.ReLU(name="hidden_relu"))
    layers.append(keras.layers.Dense(1, use_bias=False, kernel_initializer=_const(3.0), name="out"))
    return keras.Sequential(layers, name="lrp_toy")


def smooth_net(seed: int = 0, n_classes: int = 3) -> keras.Model:
    """A small smooth network (tanh, softplus) on 6×6×2 inputs, for finite-difference checks."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(6, 6, 2), name="x"),
            keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(8, activation="softplus", bias_initializer=_const(0.1), name="hidden"),
            keras.layers.Dense(n_classes, bias_initializer=_const(0.2), name="logits"),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="smooth_net",
    )


def _two_convs(input_shape, *, stride: int = 1, second_bias: float = 0.05) -> list:
    """Input → Conv2D(4, 3×3, ReLU) ``conv_a`` → Conv2D(6, 3×3, ReLU, ``stride``) ``conv_b``, both "same"."""
    return [
        keras.Input(shape=input_shape, name="x"),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", bias_initializer=_const(0.05), name="conv_a"),
        keras.layers.Conv2D(
            6, 3, strides=stride, padding="same", activation="relu", bias_initializer=_const(second_bias), name="conv_b"
        ),
    ]


def gap_cnn(seed: int = 0, n_classes: int = 4, input_shape=(8, 8, 1)) -> keras.Model:
    """Conv → Conv → GAP → Dense(logits, non-zero bias) → softmax: the CAM architecture in miniature."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            *_two_convs(input_shape),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(
                n_classes, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=seed), name="logits"
            ),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="gap_cnn",
    )


def no_pool_cnn(seed: int = 0, n_classes: int = 3, input_shape=(8, 8, 1)) -> keras.Model:
    """A ReLU CNN with biases and no max pooling: Conv → Conv(stride 2) → Flatten → Dense(ReLU) → Dense → softmax."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            *_two_convs(input_shape, stride=2, second_bias=-0.05),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(8, activation="relu", bias_initializer=_const(0.1), name="hidden"),
            keras.layers.Dense(n_classes, bias_initializer=_const(0.1), name="logits"),
            keras.layers.Activation("softmax", name="softmax"),
        ],
        name="no_pool_cnn",
    )


def seeded_mnist_cnn(seed: int = 0) -> keras.Model:
    """The course's MNIST architecture with seeded random weights (for tests that need no training)."""
    from course_lib import models

    keras.utils.set_random_seed(seed)
    return models.mnist_cnn()
