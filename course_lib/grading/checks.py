"""Helpers for the test cells of the exercises: checks whose messages teach, and independent oracles.

A failed check raises ``AssertionError`` with a message that says what was found, what was
expected and how to think about the difference. The oracles re-derive each quantity in plain
NumPy (or with the most direct TensorFlow gradient) so that a test never compares a student's
function with a copy of itself.

Everything here is deterministic: inputs are built from explicit seeds.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_numpy",
    "expect_array",
    "expect_close",
    "expect_not_delegated",
    "weights_snapshot",
    "expect_weights_unchanged",
    "random_gradients",
    "random_features",
    "random_spins",
    "tiny_gap_model",
    "reference_normalize",
    "reference_channel_objective",
    "reference_gradient_ascent",
    "reference_class_activation_maps",
    "reference_model_cams",
    "logits_of",
]


# ------------------------------------------------------------------------------------ generic checks


def as_numpy(value, what: str = "the result") -> np.ndarray:
    """``value`` as a NumPy array (tensors are converted); a clear message when that is impossible."""
    if value is None:
        raise AssertionError(f"{what} is None: did you forget the `return` statement?")
    if isinstance(value, tuple | list) and len(value) and not np.isscalar(value[0]):
        raise AssertionError(f"{what} is a {type(value).__name__} of {len(value)} items; expected a single array")
    try:
        return np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    except Exception as error:  # noqa: BLE001  (anything that is not array-like)
        raise AssertionError(f"{what} cannot be read as an array ({type(value).__name__}): {error}") from None


def expect_array(value, shape, what: str = "the result", *, hint: str = "", finite: bool = True) -> np.ndarray:
    """Check the shape (``None`` entries match anything) and finiteness of ``value``; return it as NumPy."""
    array = as_numpy(value, what)
    shape = tuple(shape)
    matches = array.ndim == len(shape) and all(e is None or e == g for e, g in zip(shape, array.shape, strict=True))
    if not matches:
        wanted = "(" + ", ".join("any" if e is None else str(e) for e in shape) + ")"
        message = f"{what} has shape {array.shape}; expected {wanted}"
        raise AssertionError(message + (f": {hint}" if hint else "."))
    if finite and np.issubdtype(array.dtype, np.number) and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise AssertionError(
            f"{what} contains {bad} NaN or infinite value(s). Look for a division by zero "
            "(a dead filter has a gradient of exactly zero) or a log of zero."
        )
    return array


def expect_close(got, expected, what: str = "the result", *, atol: float = 1e-4, rtol: float = 1e-4, hint: str = ""):
    """``np.allclose`` with a message naming the largest deviation and where it is."""
    got = as_numpy(got, what)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        raise AssertionError(f"{what} has shape {got.shape}; expected {expected.shape}" + (f": {hint}" if hint else ""))
    if np.allclose(got, expected, atol=atol, rtol=rtol):
        return
    difference = np.abs(got.astype(np.float64) - expected)
    where = np.unravel_index(int(np.nanargmax(np.where(np.isnan(difference), np.inf, difference))), got.shape)
    message = (
        f"{what} differs from the expected values: at index {tuple(int(i) for i in where)} you have "
        f"{float(got[where]):.6g}, expected {float(expected[where]):.6g} "
        f"(largest difference {float(np.nanmax(difference)) if np.isfinite(difference).any() else float('nan'):.3g})"
    )
    raise AssertionError(message + (f". {hint}" if hint else "."))


def expect_not_delegated(
    function, forbidden=("course_lib", "class_activation_maps", "activation_maximization", "cam", "grad_cam")
):
    """The exercise asks for an own implementation: ``function`` must not call the course's reference."""
    code = getattr(function, "__code__", None)
    if code is None:
        return
    names = set(code.co_names)
    used = sorted(names.intersection(forbidden))
    if used:
        raise AssertionError(
            f"{function.__name__} calls {', '.join(used)} from course_lib; the exercise asks you to write the "
            "computation yourself (you may use the library afterwards to compare)."
        )


def weights_snapshot(model) -> list[np.ndarray]:
    """Copies of every weight of ``model`` (to check later that nothing changed them)."""
    return [np.array(w) for w in model.get_weights()]


def expect_weights_unchanged(model, snapshot) -> None:
    """Activation maximisation changes the *image*; the model's weights θ stay fixed."""
    for before, after in zip(snapshot, model.get_weights(), strict=True):
        if not np.array_equal(before, np.asarray(after)):
            raise AssertionError(
                "the model's weights changed. Only the input image is optimised; the trained weights θ are "
                "fixed (do not call an optimiser on the model, and differentiate with respect to the image)."
            )


# ------------------------------------------------------------------------------------ seeded inputs


def random_gradients(seed: int, shape=(3, 6, 6, 1), scales=None) -> np.ndarray:
    """Gaussian 'gradients', image ``i`` multiplied by ``scales[i]`` (very different sizes by default)."""
    rng = np.random.default_rng(seed)
    grads = rng.normal(size=shape)
    scales = np.asarray(scales if scales is not None else 10.0 ** rng.uniform(-3, 2, size=shape[0]))
    return (grads * scales.reshape(-1, *([1] * (len(shape) - 1)))).astype(np.float32)


def random_features(seed: int, batch: int, height: int, width: int, features: int, classes: int):
    """Non-negative feature maps (like ReLU outputs), dense weights and a non-zero bias."""
    rng = np.random.default_rng(seed)
    maps = np.maximum(rng.normal(size=(batch, height, width, features)), 0.0).astype(np.float32)
    weights = rng.normal(size=(features, classes)).astype(np.float32)
    bias = rng.uniform(0.5, 1.5, size=classes).astype(np.float32) * rng.choice([-1.0, 1.0], size=classes).astype(
        np.float32
    )
    return maps, weights, bias


def random_spins(seed: int, batch: int = 4, size: int = 32) -> np.ndarray:
    """Random ±1 lattices with the shape of the course's Ising data, ``(batch, size, size, 1)``."""
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(batch, size, size, 1))


def tiny_gap_model(seed: int, input_shape=(12, 12, 1), channels=(4, 6), classes: int = 3):
    """A small random-weight network Conv2D → … → Conv2D → GAP → Dense → softmax (CAM applies)."""
    import keras

    rng = np.random.default_rng(seed)
    layers = [keras.Input(shape=input_shape)]
    for index, width in enumerate(channels):
        layers.append(keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"tiny_conv_{index}"))
    layers += [
        keras.layers.GlobalAveragePooling2D(name="tiny_gap"),
        keras.layers.Dense(classes, name="tiny_logits"),
        keras.layers.Activation("softmax", name="tiny_softmax"),
    ]
    model = keras.Sequential(layers, name=f"tiny_gap_{seed}")
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


# ------------------------------------------------------------------------------------ oracles


def reference_normalize(grads, epsilon: float = 1e-5) -> np.ndarray:
    """Each image's gradient divided by its own root mean square: g / (sqrt(mean(g²)) + ε)."""
    grads = np.asarray(grads, dtype=np.float64)
    axes = tuple(range(1, grads.ndim))
    rms = np.sqrt(np.mean(grads**2, axis=axes, keepdims=True))
    return (grads / (rms + epsilon)).astype(np.float32)


def reference_channel_objective(sub_model, images, filters) -> np.ndarray:
    """h_b = mean over (i, j) of A[b, i, j, filters[b]] — from the plain activations, by indexing."""
    activations = np.asarray(sub_model(np.asarray(images, dtype=np.float32)))
    filters = np.broadcast_to(np.asarray(filters, dtype=int), (len(activations),))
    chosen = activations[np.arange(len(activations)), :, :, filters]
    return chosen.reshape(len(activations), -1).mean(axis=1).astype(np.float32)


def reference_gradient_ascent(sub_model, filters, steps: int, step_size: float, seed: int) -> np.ndarray:
    """x ← x + α·normalize(∂h/∂x), ``steps`` times, from ``default_rng(seed).uniform(0, 1)`` noise."""
    import tensorflow as tf

    filters = np.asarray(filters, dtype=np.int64)
    shape = (len(filters), *tuple(sub_model.input_shape[1:]))
    images = np.random.default_rng(seed).uniform(0.0, 1.0, size=shape).astype(np.float32)
    picks = np.stack([np.arange(len(filters)), filters], axis=1)
    for _ in range(steps):
        x = tf.constant(images)
        with tf.GradientTape() as tape:
            tape.watch(x)
            activations = tf.transpose(sub_model(x), (0, 3, 1, 2))  # (B, F, h, w)
            total = tf.reduce_sum(tf.reduce_mean(tf.gather_nd(activations, picks), axis=(1, 2)))
        grads = tape.gradient(total, x).numpy()
        images = images + np.float32(step_size) * reference_normalize(grads)
    return images


def reference_class_activation_maps(features, weights, bias) -> np.ndarray:
    """M[i,x,y,c] = Σ_z F[i,x,y,z] W[z,c] + b[c], written as a matrix product over the last axis."""
    features = np.asarray(features, dtype=np.float64)
    return (features @ np.asarray(weights, dtype=np.float64) + np.asarray(bias, dtype=np.float64)).astype(np.float32)


def _last_layer_of_type(model, kind):
    import keras

    kinds = {"conv": keras.layers.Conv2D, "dense": keras.layers.Dense}
    layers = [layer for layer in model.layers if isinstance(layer, kinds[kind])]
    if not layers:
        raise ValueError(f"model {model.name} has no {kind} layer")
    return layers[-1]


def reference_model_cams(model, x) -> np.ndarray:
    """All class activation maps (B, h, w, classes) of a Conv → GAP → Dense network, from scratch."""
    import keras

    conv = _last_layer_of_type(model, "conv")
    dense = _last_layer_of_type(model, "dense")
    features = keras.Model(model.inputs[0], conv.output)(np.asarray(x, dtype=np.float32))
    weights, bias = dense.get_weights()
    return reference_class_activation_maps(np.asarray(features), weights, bias)


def logits_of(model, x) -> np.ndarray:
    """Pre-softmax scores: the output of the model's last Dense layer."""
    import keras

    dense = _last_layer_of_type(model, "dense")
    return np.asarray(keras.Model(model.inputs[0], dense.output)(np.asarray(x, dtype=np.float32)))
