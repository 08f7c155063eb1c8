"""Activation maximisation: the input pattern a feature map responds to most.

With the trained weights ``θ`` fixed, start from noise and climb the gradient of an objective
``h(x, θ)`` built from the activations ``A`` of one layer (lecture: "Activation maximization"):

    x̃ = argmax_x h(x, θ),      x ← x + α · g / (sqrt(mean(g²)) + 1e-5),   g = ∂h/∂x

Objectives (Olah, Mordvintsev, Schubert, "Feature Visualization", Distill 2017):

* ``"channel"`` — mean of one feature map, ``h = mean_{i,j} A[i, j, f]``;
* ``"neuron"``  — one unit of a feature map, ``h = A[i0, j0, f]`` (by default the centre unit);
* ``"layer"``   — "deep dream", the mean squared output of the whole layer, ``h = mean(A²)``.

All requested filters are optimised together: image ``k`` of one batch maximises filter ``k``,
and one compiled ``tf.function`` performs a step for the whole batch. Because the images do not
interact (inference mode, every objective and regulariser is per image, the jitter shift is shared),
the batch gives the same images as one run per filter — only many times faster.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from course_lib._cache import compiled
from course_lib._graph import get_layer, outputs_model
from course_lib._validation import check_count, check_index

__all__ = ["Visualization", "activation_maximization"]

OBJECTIVES = ("channel", "neuron", "layer")


@dataclass(frozen=True)
class Visualization:
    """The result of :func:`activation_maximization`.

    Unpacks as two values — ``images, history = activation_maximization(...)`` — and carries more
    as attributes.

    Attributes
    ----------
    images : numpy.ndarray float32 ``(F, H, W, C)``
        One optimised input per requested filter (``F = 1`` for the ``"layer"`` objective).
    history : numpy.ndarray float32 ``(F, steps)``
        ``history[k, t]`` = objective ``h`` of image ``k`` at the start of step ``t`` (before that
        step's update; with jitter, of the shifted image the step used). Regularisers not included.
    dead : numpy.ndarray bool ``(F,)``
        Maps whose objective stayed exactly zero at every step: a ReLU map that is off for every
        input the optimisation saw, so its gradient is zero too and the image stays noise ("dying
        ReLU", the black tiles of the lecture's Task 1).
    filters : numpy.ndarray int ``(F,)``
        The filter index of each image (``[-1]`` for the ``"layer"`` objective).
    """

    images: np.ndarray
    history: np.ndarray
    dead: np.ndarray
    filters: np.ndarray

    def __iter__(self):
        return iter((self.images, self.history))


# --------------------------------------------------------------------------- objectives and regularisers


def _channel(a, filters, neuron):
    """mean_{i,j} A[k, i, j, f_k] for every image k."""
    selected = tf.reduce_sum(a * tf.one_hot(filters, tf.shape(a)[-1], dtype=a.dtype)[:, None, None, :], axis=-1)
    return tf.reduce_mean(selected, axis=(1, 2))


def _neuron(a, filters, neuron):
    """A[k, i0, j0, f_k] for every image k."""
    return tf.gather(a[:, neuron[0], neuron[1], :], filters, axis=1, batch_dims=1)


def _layer(a, filters, neuron):
    """mean(A[k]²) over every unit of the layer (deep dream)."""
    return tf.reduce_mean(tf.reshape(tf.square(a), (tf.shape(a)[0], -1)), axis=1)


_OBJECTIVE_FUNCTIONS = {"channel": _channel, "neuron": _neuron, "layer": _layer}


def _total_variation(x):
    """Anisotropic total variation per image: mean |x[i+1, j] − x[i, j]| + mean |x[i, j+1] − x[i, j]|."""
    return tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]), axis=(1, 2, 3)) + tf.reduce_mean(
        tf.abs(x[:, :, 1:] - x[:, :, :-1]), axis=(1, 2, 3)
    )


def _gaussian_blur(x, sigma):
    """Separable Gaussian blur of every channel (reflecting borders), radius ⌈3σ⌉; σ may be a tensor.

    The taps are computed in float64 and rounded once, so that a hundred blurred ascent steps do not
    accumulate the rounding of a float32 exponential."""
    sigma = tf.cast(sigma, tf.float64)
    radius = tf.maximum(1, tf.cast(tf.math.ceil(3.0 * sigma), tf.int32))
    offsets = tf.cast(tf.range(-radius, radius + 1), tf.float64)
    taps = tf.exp(-0.5 * tf.square(offsets / sigma))
    taps = tf.cast(taps / tf.reduce_sum(taps), x.dtype)
    channels = x.shape[-1]
    padded = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    rows = tf.tile(tf.reshape(taps, (-1, 1, 1, 1)), (1, 1, channels, 1))
    cols = tf.tile(tf.reshape(taps, (1, -1, 1, 1)), (1, 1, channels, 1))
    blurred = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(blurred, cols, [1, 1, 1, 1], "VALID")


def _normalize_gradient(g):
    """g / (sqrt(mean(g²)) + 1e-5), per image: every step has the same size whatever the scale of h."""
    return g / (tf.sqrt(tf.reduce_mean(tf.square(g), axis=(1, 2, 3), keepdims=True)) + 1e-5)


# --------------------------------------------------------------------------- input checks


def _check_filters(filters, n_maps: int, layer_name: str) -> np.ndarray:
    if filters is None:
        return np.arange(n_maps, dtype=np.int32)
    if np.isscalar(filters):
        filters = [filters]
    filters = list(np.asarray(filters).ravel()) if not isinstance(filters, list | tuple) else list(filters)
    if not filters:
        raise ValueError("filters is empty; pass None (all filters), an int, or a list of filter indices")
    what = f"filter index (layer {layer_name!r} has {n_maps} feature maps)"
    return np.array([check_index(f, n_maps, what) for f in filters], dtype=np.int32)


def _check_options(objective, steps, step_size, seed, value_range, l2, tv, blur, jitter) -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {list(OBJECTIVES)}")
    check_count(steps, "steps")
    if not np.isfinite(step_size) or step_size <= 0:
        raise ValueError(f"step_size must be a positive number, got {step_size!r}")
    if value_range is not None and (len(value_range) != 2 or not value_range[0] < value_range[1]):
        raise ValueError(f"value_range must be None or (low, high) with low < high, got {value_range!r}")
    for name, value in (("l2", l2), ("tv", tv), ("blur", blur)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a number ≥ 0 (0 = off), got {value!r}")
    check_count(seed, "seed", minimum=0)
    check_count(jitter, "jitter (pixels; 0 = off)", minimum=0)


def _initial_images(filters, shape, value_range, seed: int) -> np.ndarray:
    """Uniform noise; image k depends only on (seed, filter k), not on the other filters of the batch."""
    low, high = value_range if value_range is not None else (0.0, 1.0)
    return np.stack([np.random.default_rng([seed, max(int(f), 0)]).uniform(low, high, shape) for f in filters]).astype(
        np.float32
    )


# --------------------------------------------------------------------------- the optimisation


def activation_maximization(
    model: keras.Model,
    layer,
    filters=None,
    *,
    objective: str = "channel",
    steps: int = 100,
    step_size: float = 0.05,
    seed: int = 0,
    neuron=None,
    value_range=(0.0, 1.0),
    l2: float = 0.0,
    tv: float = 0.0,
    blur: float = 0.0,
    jitter: int = 0,
    progress: bool = False,
) -> Visualization:
    """Inputs that maximise feature maps, found by normalised gradient ascent — all filters in one batch.

    Starting from seeded uniform noise ``x⁰`` in ``value_range``, every step does::

        g = ∂/∂x [ h(T(x)) − l2 · mean(x²) − tv · TV(x) ]
        x ← clip( blur( x + step_size · g / (sqrt(mean(g²)) + 1e-5) ) )

    with ``h`` the objective (``"channel"``: ``mean_{i,j} A[i,j,f]``; ``"neuron"``: ``A[i0,j0,f]``;
    ``"layer"``: ``mean(A²)``), ``T`` a random shift by up to ``jitter`` pixels, ``TV`` the total
    variation, ``blur`` a Gaussian blur of width ``blur`` pixels and ``clip`` to ``value_range``.
    The weights of ``model`` are not touched.

    References: D. Erhan, Y. Bengio, A. Courville, P. Vincent, "Visualizing Higher-Layer Features of
    a Deep Network", Univ. Montréal TR 1341, 2009 (activation maximisation); K. Simonyan, A. Vedaldi,
    A. Zisserman, arXiv:1312.6034, 2013 (L2 regularisation); J. Yosinski et al., "Understanding
    Neural Networks Through Deep Visualization", 2015 (decay, blur, clipping); A. Mahendran,
    A. Vedaldi, CVPR 2015 (total variation); A. Mordvintsev, C. Olah, M. Tyka, "Inceptionism", 2015
    and C. Olah et al., "Feature Visualization", Distill 2017 (jitter, deep dream, objectives).

    Parameters
    ----------
    model : keras.Model
        Single-input model with a fixed input shape ``(H, W, C)``.
    layer : str or int
        The layer whose activations ``A`` are maximised (inner layers of nested models reachable).
        ``"channel"`` and ``"neuron"`` need feature maps ``(B, h, w, F)`` (a conv layer);
        ``"layer"`` accepts any layer.
    filters : None, int, or sequence of ints
        Feature maps to visualise (``None`` = all maps of the layer). Must be ``None`` for ``"layer"``.
    objective : ``"channel"`` | ``"neuron"`` | ``"layer"``
    steps, step_size : int, float
        Number of ascent steps and the per-pixel RMS size of each step.
    seed : int
        Seed of the initial noise and of the jitter shifts (same seed → same images). Image ``k``
        starts from ``numpy.random.default_rng([seed, filters[k]]).uniform(low, high, (H, W, C))``,
        so it does not depend on which other filters share the batch.
    neuron : (int, int), optional
        The unit ``(i0, j0)`` for ``objective="neuron"``; default the centre of the map ``(h//2, w//2)``.
    value_range : (low, high) or None
        Pixel range of the initial noise and of the clipping; ``(0, 1)`` for MNIST, ``(-1, 1)`` for
        Ising spins; ``None`` = noise in [0, 1], no clipping.
    l2, tv : float
        Weights of the L2 penalty ``mean(x²)`` and of the total-variation penalty (0 = off).
    blur : float
        Width σ (pixels) of a Gaussian blur applied after each step (0 = off).
    jitter : int
        Maximum random shift (pixels, in each direction) applied before each forward pass (0 = off).
    progress : bool
        Show a progress bar over the steps (tqdm).

    Returns
    -------
    Visualization
        ``images`` ``(F, H, W, C)`` float32, ``history`` ``(F, steps)`` float32 (objective per
        step), ``dead`` ``(F,)`` bool (maps whose objective was zero throughout), ``filters``.
        Unpacks as ``images, history``.
    """
    _check_options(objective, steps, step_size, seed, value_range, l2, tv, blur, jitter)
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    if len(model.inputs) != 1 or any(d is None for d in model.inputs[0].shape[1:]):
        raise ValueError("activation_maximization needs a model with one input of fixed shape (H, W, C)")
    input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    chosen = get_layer(model, layer)
    features = compiled(model, ("features", chosen.name), lambda: outputs_model(model, [chosen]))
    out_shape = tuple(features.outputs[0].shape)
    if objective == "layer":
        if filters is not None:
            raise ValueError("objective='layer' optimises one image for the whole layer; leave filters=None")
        filters = np.array([-1], dtype=np.int32)
        neuron = (0, 0)
    else:
        if len(out_shape) != 4:
            raise ValueError(
                f"objective={objective!r} needs a layer with feature maps (B, h, w, F), e.g. a conv layer; "
                f"layer {chosen.name!r} ({type(chosen).__name__}) gives {out_shape}"
            )
        filters = _check_filters(filters, out_shape[-1], chosen.name)
        if objective == "neuron":
            neuron = (out_shape[1] // 2, out_shape[2] // 2) if neuron is None else tuple(neuron)
            if len(neuron) != 2:
                raise ValueError(f"neuron must be a pair (row, column), got {neuron!r}")
            neuron = (
                check_index(neuron[0], out_shape[1], "neuron row"),
                check_index(neuron[1], out_shape[2], "neuron column"),
            )
        else:
            neuron = (0, 0)

    low, high = value_range if value_range is not None else (-np.inf, np.inf)
    switches = (objective, bool(l2), bool(tv), bool(blur), bool(jitter))
    step = compiled(model, ("maximization_step", chosen.name, switches), lambda: _ascent_step(features, *switches))
    images = tf.constant(_initial_images(filters, input_shape, value_range, seed))
    options = {
        "filters": tf.constant(np.maximum(filters, 0)),
        "neuron": tf.constant(neuron, tf.int32),
        "seed": tf.constant(seed, tf.int32),
        "step_size": tf.constant(step_size, tf.float32),
        "l2": tf.constant(l2, tf.float32),
        "tv": tf.constant(tv, tf.float32),
        "jitter": tf.constant(jitter, tf.int32),
        "blur": tf.constant(blur, tf.float32),
        "low": tf.constant(low, tf.float32),
        "high": tf.constant(high, tf.float32),
    }
    history = []
    for t in _progress(range(steps), progress, f"{objective} maximisation of {chosen.name}"):
        images, h = step(images, tf.constant(t, dtype=tf.int32), **options)
        history.append(h)
    history = tf.stack(history, axis=1).numpy().astype(np.float32)
    return Visualization(
        images=images.numpy().astype(np.float32),
        history=history,
        dead=np.all(history == 0, axis=1),
        filters=filters,
    )


def _ascent_step(features, objective, use_l2, use_tv, use_blur, use_jitter):
    """One compiled gradient-ascent step for a batch of images (one image per filter).

    The options that change the graph (objective, which regularisers are on) are fixed here; the
    numbers a slider moves (step size, penalty weights, blur width, jitter size, clipping range,
    filters, seed) are tensors, so changing them does not retrace.
    """
    h_of = _OBJECTIVE_FUNCTIONS[objective]

    @tf.function(reduce_retracing=True)
    def step(images, t, *, filters, neuron, seed, step_size, l2, tv, jitter, blur, low, high):
        if use_jitter:
            shift = tf.random.stateless_uniform(
                [2], seed=tf.stack([seed, t]), minval=-jitter, maxval=jitter + 1, dtype=tf.int32
            )
        with tf.GradientTape() as tape:
            tape.watch(images)
            seen = tf.roll(images, shift, axis=(1, 2)) if use_jitter else images
            a = features(seen, training=False)
            a = a[0] if isinstance(a, list | tuple) else a
            h = h_of(a, filters, neuron)
            loss = tf.reduce_sum(h)
            if use_l2:
                loss -= l2 * tf.reduce_sum(tf.reduce_mean(tf.square(images), axis=(1, 2, 3)))
            if use_tv:
                loss -= tv * tf.reduce_sum(_total_variation(images))
        images = images + step_size * _normalize_gradient(tape.gradient(loss, images))
        if use_blur:
            images = _gaussian_blur(images, blur)
        return tf.clip_by_value(images, low, high), h

    return step


def _progress(iterable, enabled: bool, description: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description)
