"""Helpers for the test cells of the exercises: checks whose messages teach, and independent oracles.

A failed check raises ``AssertionError`` with a message that says what was found, what was
expected and how to think about the difference. The oracles re-derive each quantity in plain
NumPy (or with the most direct TensorFlow gradient) so that a test never compares a student's
function with a copy of itself.

Everything here is deterministic: inputs are built from explicit seeds.

**What a student's function may call from course_lib.** Data loading (``cl.load_mnist``,
``cl.load_ising``), the models (``cl.pretrained``, ``cl.models``), plotting and the student's own
earlier answers: yes. The reference implementation of the task being graded (for example
``cl.saliency`` or anything else in ``course_lib.attribution`` while ``saliency_map`` is tested)
and the oracles of this module (``checks.reference_*``): no. The tests enforce this by what
*runs*, not by names: :func:`call_own_work` records every Python frame executed while the
student's function is called, so an alias, a helper or a wrapper around the reference is found
as surely as a direct call. A student may still use the reference *outside* the graded function,
to compare.

**Tests that an answer cell cannot weaken.** Every test cell starts with
``cl, checks, keras, np, tf = untouched()``: it puts back any attribute of these modules (and of
the builtins) that the notebook replaced after this module was imported, and any function whose
code or defaults were swapped, so a test always runs with the helpers and NumPy/TensorFlow
functions the course shipped. ``python -m course_lib.grading check`` also reports answer cells
that assign to module attributes (see :mod:`course_lib.grading.integrity`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types

import numpy as np

__all__ = [
    "as_numpy",
    "call_own_work",
    "untouched",
    "expect_array",
    "expect_close",
    "weights_snapshot",
    "expect_weights_unchanged",
    "random_gradients",
    "random_features",
    "random_spins",
    "tiny_gap_model",
    "course_model",
    "layer_model",
    "mnist_test_digits",
    "relu_toy_model",
    "toy_rows",
    "lrp_toy_layers",
    "relu_toy_layers",
    "dense_network",
    "reference_normalize",
    "reference_channel_objective",
    "reference_gradient_ascent",
    "reference_class_activation_maps",
    "reference_model_cams",
    "pre_softmax_scores",
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


# ------------------------------------------------------------------------------------ course models and toys
# Test cells build what they need from these (never from notebook variables, which an answer
# cell may have changed): the shipped models, the bundled test digits and the lecture's toys.

_MODELS: dict[str, tuple] = {}


def _model_state(model) -> list:
    return [np.array(w) for w in model.get_weights()] + [getattr(layer, "activation", None) for layer in model.layers]


def _same_state(before: list, after: list) -> bool:
    return len(before) == len(after) and all(
        np.array_equal(a, b) if isinstance(a, np.ndarray) else a is b for a, b in zip(before, after, strict=True)
    )


def course_model(name: str):
    """``cl.pretrained(name)``, kept between test cells and rebuilt if anything changed its weights or activations."""
    import course_lib

    kept = _MODELS.get(name)
    if kept is None or not _same_state(kept[1], _model_state(kept[0])):
        model = course_lib.pretrained(name)
        _MODELS[name] = kept = (model, _model_state(model))
    return kept[0]


_DIGITS: list = []


def mnist_test_digits(start: int, stop: int):
    """Images and labels ``start:stop`` of the bundled MNIST test digits (fresh copies)."""
    import course_lib

    if not _DIGITS:
        _DIGITS.extend(course_lib.load_mnist(source="bundled")[1])
    return _DIGITS[0][start:stop].copy(), _DIGITS[1][start:stop].copy()


def layer_model(model, layer_name: str):
    """A model with the input of ``model`` that returns the output of its layer ``layer_name``."""
    import keras

    return keras.Model(model.inputs[0], model.get_layer(layer_name).output)


def relu_toy_model():
    """The lecture's toy f(x1, x2) = ReLU(ReLU(x1 - 1) - ReLU(x2)) on one-row images of shape (1, 2, 1)."""
    import keras

    toy = keras.Sequential(
        [
            keras.Input(shape=(1, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, activation="relu", name="hidden"),
            keras.layers.Dense(1, activation="relu", name="out"),
        ],
        name="toy",
    )
    toy.set_weights([np.eye(2), np.array([-1.0, 0.0]), np.array([[1.0], [-1.0]]), np.zeros(1)])
    return toy


def toy_rows(*values) -> np.ndarray:
    """One-row toy images: ``toy_rows((3, 1), (2, 0))`` has shape (2, 1, 2, 1)."""
    return np.array(values, dtype="float32").reshape(len(values), 1, -1, 1)


def lrp_toy_layers():
    """The lecture's LRP toy: Dense(3 → 3, all weights 2) → ReLU → Dense(3 → 1, all weights 3), no biases."""
    return [(np.full((3, 3), 2.0), np.zeros(3)), (np.full((3, 1), 3.0), np.zeros(1))]


def relu_toy_layers(bias: float = -1.0):
    """(W, b) pairs of f = ReLU(x1 + bias) - ReLU(x2): a bias that takes its own share of the relevance."""
    return [(np.eye(2), np.array([bias, 0.0])), (np.array([[1.0], [-1.0]]), np.zeros(1))]


def dense_network(seed: int, hidden=(32, 32), classes: int = 10, input_shape=(28, 28, 1)):
    """A random-weight MLP Flatten → Dense+ReLU (``hidden_1``, …) → Dense ``logits`` → softmax."""
    import keras

    rng = np.random.default_rng(seed)
    layers = [keras.Input(shape=input_shape), keras.layers.Flatten()]
    layers += [keras.layers.Dense(n, activation="relu", name=f"hidden_{i + 1}") for i, n in enumerate(hidden)]
    layers += [keras.layers.Dense(classes, name="logits"), keras.layers.Activation("softmax", name="softmax")]
    model = keras.Sequential(layers, name=f"mlp_{seed}")
    fan_in = [w.shape[0] for w in model.get_weights() if w.ndim == 2]
    weights = []
    for w in model.get_weights():
        scale = np.sqrt(2.0 / fan_in[len(weights) // 2]) if w.ndim == 2 else 0.1
        weights.append((rng.normal(scale=scale, size=w.shape)).astype(np.float32))
    model.set_weights(weights)
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


def pre_softmax_scores(model, x) -> np.ndarray:
    """Pre-softmax scores S_c(x): the output of the model's last Dense layer, as NumPy."""
    import keras

    dense = _last_layer_of_type(model, "dense")
    return np.asarray(keras.Model(model.inputs[0], dense.output)(np.asarray(x, dtype=np.float32)))


# ------------------------------------------------------------------------------------ own work


def _numpy_result(value):
    """Tensors and arrays (also inside tuples and lists) as NumPy; anything else (a model) unchanged."""
    if isinstance(value, tuple | list):
        if value and all(isinstance(item, int | float | np.generic) for item in value):
            return np.asarray(value)
        return type(value)(_numpy_result(item) for item in value)
    if hasattr(value, "numpy") and callable(value.numpy):
        return np.asarray(value.numpy())
    if isinstance(value, np.ndarray | np.generic | float | int):
        return np.asarray(value)
    return value


def _nested_codes(code: types.CodeType) -> set[types.CodeType]:
    """``code`` and the code of every function, lambda and comprehension defined inside it."""
    found = {code}
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            found |= _nested_codes(constant)
    return found


def _forbidden_code(items) -> tuple[set[types.CodeType], tuple[str, ...], dict[types.CodeType, str]]:
    """Resolve modules, dotted module names and functions into code objects and file prefixes."""
    codes: dict[types.CodeType, str] = {}
    prefixes: list[str] = []
    own = sys.modules[__name__]
    for name in dir(own):  # the oracles of this module are never the student's own work
        if name.startswith("reference_"):
            for code in _nested_codes(getattr(own, name).__code__):
                codes[code] = f"checks.{name}"
    for item in items:
        if isinstance(item, str):
            item = importlib.import_module(item)
        if isinstance(item, types.ModuleType):
            path = os.path.abspath(item.__file__)
            if os.path.basename(path) == "__init__.py":
                path = os.path.dirname(path) + os.sep
            prefixes.append(path)
            continue
        function = item
        while hasattr(function, "__wrapped__") or hasattr(function, "python_function"):  # decorators, tf.function
            function = getattr(function, "__wrapped__", None) or function.python_function
        code = getattr(function, "__code__", None)
        if code is None:
            raise TypeError(f"forbidden items are modules, module names or Python functions; got {item!r}")
        for nested in _nested_codes(code):
            codes[nested] = f"{function.__module__}.{function.__qualname__}"
    return set(codes), tuple(prefixes), codes


def call_own_work(function, *args, forbidden=(), what: str | None = None, **kwargs):
    """``function(*args, **kwargs)``, checked to be the student's own work; the result as NumPy.

    While the call runs, a profiler hook (``sys.setprofile``, and ``threading.setprofile`` for
    threads started meanwhile) records every Python frame that starts. If one of them belongs to
    ``forbidden`` — modules (``"course_lib.attribution"``: every file of that package), module
    objects or functions (with the functions, lambdas and comprehensions defined inside them) —
    or to an oracle ``checks.reference_*``, the test fails with a message naming what ran. Names
    do not matter: an alias, a helper or a wrapper runs the same code and is found the same way.

    The result is converted to NumPy (``tf.Tensor`` included, also inside a tuple or list);
    other objects, e.g. a returned ``keras.Model``, are passed through unchanged.
    """
    codes, prefixes, names = _forbidden_code(forbidden)
    seen: list[types.CodeType] = []

    def record(frame, event, arg):
        if event == "call":
            code = frame.f_code
            if code in codes or (prefixes and code.co_filename.startswith(prefixes)):
                seen.append(code)

    label = what or f"{getattr(function, '__name__', 'your function')}(...)"
    previous, previous_threads = sys.getprofile(), threading.getprofile()
    threading.setprofile(record)
    sys.setprofile(record)
    try:
        result = function(*args, **kwargs)
    finally:
        switched_off = sys.getprofile() is not record
        sys.setprofile(previous)
        threading.setprofile(previous_threads)
    if switched_off:
        raise AssertionError(
            f"{label} switched off the grader's recording of the code it runs (sys.setprofile); "
            "remove that line from your answer."
        )
    if seen:
        ran = list(
            dict.fromkeys(_short_location(names.get(code) or f"{code.co_filename}:{code.co_name}") for code in seen)
        )
        raise AssertionError(
            f"{label} ran the course's reference implementation ({', '.join(ran[:4])}). The exercise asks you to "
            "write this computation yourself; you may use course_lib for data, models and plots, and compare with "
            "its reference outside your function."
        )
    return _numpy_result(result)


def _short_location(text: str) -> str:
    """A frame's file path shortened to its module inside course_lib (``course_lib/attribution/...``)."""
    marker = os.sep + "course_lib" + os.sep
    if marker in text:
        return "course_lib" + os.sep + text.split(marker, 1)[1]
    return text


# ------------------------------------------------------------------------------------ untouched tools
# Taken when this module is first imported — in the exercises' set-up cell, before any answer runs.

_WATCHED = (
    "builtins",
    "numpy",
    "numpy.random",
    "numpy.linalg",
    "tensorflow",
    "tensorflow.nn",
    "tensorflow.math",
    "keras",
    "keras.layers",
    "keras.ops",
    "course_lib",
    "course_lib.plotting",
    __name__,
)


def _snapshot():
    """(module, {name: value}) of the callables and classes each watched module holds right now."""
    taken = []
    for name in _WATCHED:
        try:
            module = importlib.import_module(name)
        except ImportError:  # a test of checks without TensorFlow or Keras
            continue
        values = {
            key: value
            for key, value in vars(module).items()
            if not isinstance(value, types.ModuleType) and (callable(value) or isinstance(value, type))
        }
        taken.append((module, values))
    return taken


def _function_parts(taken):
    parts = {}
    for _, values in taken:
        for value in values.values():
            if isinstance(value, types.FunctionType):
                parts[value] = (value.__code__, value.__defaults__, value.__kwdefaults__)
    return parts


_ORIGINAL = _snapshot()
_ORIGINAL_PARTS = _function_parts(_ORIGINAL)
restored: list[str] = []  # what :func:`untouched` had to put back, for the record


def untouched():
    """``(cl, checks, keras, np, tf)`` as imported, with every change the notebook made undone.

    Module attributes of course_lib, this module, NumPy, TensorFlow, Keras and the builtins that
    were replaced or deleted are put back, swapped ``__code__``/defaults are restored, and IPython's
    exception display is reset, so a test cell always checks with the course's own tools. What was
    put back is listed in ``checks.restored`` (``python -m course_lib.grading check`` reports the
    lines that did it).
    """
    for module, values in _ORIGINAL:
        current = vars(module)
        for key, value in values.items():
            now = current.get(key)
            if now is not value and not (isinstance(now, types.MethodType) and now == value):
                setattr(module, key, value)
                restored.append(f"{module.__name__}.{key}")
    for function, (code, defaults, kwdefaults) in _ORIGINAL_PARTS.items():
        if function.__code__ is not code or function.__defaults__ is not defaults:
            function.__code__, function.__defaults__ = code, defaults
            restored.append(f"{function.__module__}.{function.__qualname__}")
        if function.__kwdefaults__ is not kwdefaults:
            function.__kwdefaults__ = kwdefaults
            restored.append(f"{function.__module__}.{function.__qualname__}")
    _reset_ipython()
    modules = {module.__name__: module for module, _ in _ORIGINAL}
    return (
        modules.get("course_lib"),
        modules[__name__],
        modules.get("keras"),
        modules["numpy"],
        modules.get("tensorflow"),
    )


def _reset_ipython() -> None:
    """An error in a test cell must reach nbgrader: undo custom exception handlers and display hooks."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    if getattr(shell, "custom_exceptions", ()) != ():
        shell.set_custom_exc((), None)
        restored.append("IPython custom exception handler")
    for name in ("showtraceback", "_showtraceback", "run_cell", "run_ast_nodes", "run_code"):
        if name in vars(shell):
            delattr(shell, name)
            restored.append(f"IPython shell.{name}")
