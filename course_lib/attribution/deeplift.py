"""DeepLIFT with the Rescale rule (Shrikumar, Greenside, Kundaje 2017).

DeepLIFT explains the *difference* of the score from its value at a reference input x′,
ΔS = S_c(x) − S_c(x′), through *multipliers* m = Δy/Δx that obey the chain rule like derivatives:

- a linear layer (Dense, Conv, pooling by averaging, Flatten, Dropout at inference, …) passes
  differences on exactly, so its multiplier is its weight matrix — the ordinary gradient;
- an elementwise nonlinearity y = σ(z) gets the *Rescale* multiplier
      m = (σ(z) − σ(z′)) / (z − z′),
  the slope of the secant between reference and input, instead of the local slope σ′(z)
  (where |z − z′| < ``eps`` the gradient σ′(z) is used: the secant tends to it).

The attribution is R = (x − x′) ⊙ m_{x→S}, and it sums exactly to the difference,
Σ_i R_i = S_c(x) − S_c(x′) ("summation-to-delta"), because every factor of the chain satisfies
Δy = m · Δx.

Implementation: a layer-by-layer walk of a *chain* model that sends x and x′ through together
(one batch of 2B) and replaces each nonlinearity's gradient with its multiplier by the identity
``y = stop_gradient(σ(z) − m z) + m z`` — the value stays σ(z), the gradient becomes m. One
compiled forward and backward pass per batch; no loop over samples.

Max pooling is not elementwise, so the Rescale rule does not define it; this module offers two
choices (a design decision of course_lib, applied to MaxPooling2D and GlobalMaxPooling2D):

- ``maxpool="rescale"`` (default): let w be the winning position of a window in x and w′ the one
  in x′. Since h_w ≥ h_w′ and h′_w′ ≥ h′_w, the output difference Δy = h_w − h′_w′ lies between
  Δh_w′ and Δh_w, so Δy = λ Δh_w + (1 − λ) Δh_w′ for a λ in [0, 1]. The multiplier is λ for w and
  1 − λ for w′: bounded, and summation-to-delta stays exact through the pooling.
- ``maxpool="gradient"``: the ordinary gradient (multiplier 1 to w). Summation-to-delta then fails
  by Δy − Δh_w for every window whose baseline maximum is not at w — small for a zero baseline after
  a ReLU layer, large for noisy baselines.

Supported layers: Dense, Conv1D/2D/3D (with any elementwise activation), Activation (elementwise
functions), ReLU, LeakyReLU, ELU, PReLU, Flatten, Reshape, Dropout (and its spatial/noise
variants), BatchNormalization (inference mode: linear), average and global average pooling, max and
global max pooling, zero padding, cropping; a final softmax is cut off (the pre-softmax score is
explained). Anything else raises a ValueError that names the layer.

For the §10 toy network f(x1, x2) = ReLU(ReLU(x1 − 1) − ReLU(x2)) at x = (3, 1) with x′ = 0 the
multipliers are 2/3 (first hidden ReLU), 1 (second hidden ReLU) and 1 (output ReLU), giving
R = (2, −1), which sums to f(x) − f(x′) = 1.

Reference: A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through
Propagating Activation Differences", ICML 2017, arXiv:1704.02685.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from course_lib._batching import DEFAULT_BATCH_SIZE, completeness_gap, map_chunks, prepare, select
from course_lib._cache import compiled
from course_lib._graph import activation_name, chain_layers, layer_kind, pre_activation
from course_lib.attribution.baselines import make_baseline

__all__ = ["deeplift"]

MAXPOOL_MODES = ("rescale", "gradient")

_ELEMENTWISE = {
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "swish",
    "tanh",
    "sigmoid",
    "hard_sigmoid",
    "softplus",
    "softsign",
    "exponential",
    "mish",
}


def _rescale(function, z, n: int, eps: float):
    """σ(z) for the stacked batch [z_x; z_ref]; the x half's gradient is replaced by the secant slope."""
    a = function(z)
    a_x, a_ref = a[:n], tf.stop_gradient(a[n:])
    z_x, z_ref = z[:n], tf.stop_gradient(z[n:])
    dz = z_x - z_ref
    far = tf.abs(dz) > eps
    slope = tf.stop_gradient((a_x - a_ref) / tf.where(far, dz, tf.ones_like(dz)))
    rescaled = tf.stop_gradient(a_x - slope * z_x) + slope * z_x
    return tf.concat([tf.where(far, rescaled, a_x), a_ref], axis=0)


def _max_rescale(y, x_at_ref_winner, ref_at_x_winner, n: int, eps: float):
    """Max pooling's x half, with the difference Δy split between the two window winners.

    With w = argmax of the window in x and w′ = argmax in x′: Δh_w ≥ Δy ≥ Δh_w′ (because h_w ≥ h_w′
    and h′_w′ ≥ h′_w), so Δy = λ Δh_w + (1 − λ) Δh_w′ with λ ∈ [0, 1]. The gradient sends λ to w and
    1 − λ to w′: bounded multipliers and an exact difference.
    """
    y_x, y_ref = y[:n], tf.stop_gradient(y[n:])
    d_winner = tf.stop_gradient(y_x) - ref_at_x_winner  # Δh at w
    d_ref_winner = tf.stop_gradient(x_at_ref_winner) - y_ref  # Δh at w′
    spread = d_winner - d_ref_winner
    far = spread > eps
    lam = tf.where(
        far, (tf.stop_gradient(y_x) - y_ref - d_ref_winner) / tf.where(far, spread, tf.ones_like(spread)), 1.0
    )
    lam = tf.stop_gradient(tf.clip_by_value(lam, 0.0, 1.0))
    linear = lam * y_x + (1.0 - lam) * x_at_ref_winner
    return tf.concat([tf.stop_gradient(y_x - linear) + linear, y_ref], axis=0)


def _max_pool_rescale(layer, h, n: int, eps: float):
    if layer.data_format != "channels_last":
        raise ValueError(f"deeplift supports channels_last max pooling only (layer {layer.name!r})")
    y = layer(h)
    h_x, h_ref = h[:n], tf.stop_gradient(h[n:])
    options = dict(
        ksize=list(layer.pool_size),
        strides=list(layer.strides),
        padding=layer.padding.upper(),
        include_batch_in_index=True,
    )
    _, winner = tf.nn.max_pool_with_argmax(tf.stop_gradient(h_x), **options)
    _, ref_winner = tf.nn.max_pool_with_argmax(h_ref, **options)
    x_at_ref_winner = tf.gather(tf.reshape(h_x, [-1]), ref_winner)
    ref_at_x_winner = tf.gather(tf.reshape(h_ref, [-1]), winner)
    return _max_rescale(y, x_at_ref_winner, ref_at_x_winner, n, eps)


def _global_max_rescale(layer, h, n: int, eps: float):
    if layer.data_format != "channels_last":
        raise ValueError(f"deeplift supports channels_last global max pooling only (layer {layer.name!r})")
    y = layer(h)
    channels = tf.shape(h)[-1]
    flat_x = tf.transpose(tf.reshape(h[:n], [n, -1, channels]), [0, 2, 1])  # (n, C, HW)
    flat_ref = tf.stop_gradient(tf.transpose(tf.reshape(h[n:], [n, -1, channels]), [0, 2, 1]))
    winner = tf.argmax(tf.stop_gradient(flat_x), axis=2)
    ref_winner = tf.argmax(flat_ref, axis=2)
    shape = tf.shape(y[:n])
    x_at_ref_winner = tf.reshape(tf.gather(flat_x, ref_winner, axis=2, batch_dims=2), shape)
    ref_at_x_winner = tf.reshape(tf.gather(flat_ref, winner, axis=2, batch_dims=2), shape)
    return _max_rescale(y, x_at_ref_winner, ref_at_x_winner, n, eps)


def _check_elementwise(layer) -> None:
    name = activation_name(layer)
    if name not in _ELEMENTWISE and name != "linear":
        raise ValueError(
            f"deeplift: layer {layer.name!r} uses activation {name!r}, which is not an elementwise function "
            f"the Rescale rule can handle; supported: {sorted(_ELEMENTWISE)}"
        )


def _walk(model_name: str, layers, h, n: int, maxpool: str, eps: float):
    """Forward the stacked batch [x; x′] through the chain with DeepLIFT multipliers as gradients."""
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        kind = layer_kind(layer)
        if i == last and kind == "softmax":
            break  # the pre-softmax score is explained
        if kind == "weighted":
            z = pre_activation(layer, h, "deeplift")
            name = activation_name(layer)
            if name == "linear" or (i == last and name == "softmax"):
                h = z
            else:
                _check_elementwise(layer)
                h = _rescale(layer.activation, z, n, eps)
        elif kind == "activation":
            _check_elementwise(layer)
            h = h if activation_name(layer) == "linear" else _rescale(layer, h, n, eps)
        elif kind == "elementwise":
            h = _rescale(layer, h, n, eps)
        elif isinstance(layer, keras.layers.MaxPooling2D):
            h = _max_pool_rescale(layer, h, n, eps) if maxpool == "rescale" else layer(h)
        elif isinstance(layer, keras.layers.GlobalMaxPooling2D):
            h = _global_max_rescale(layer, h, n, eps) if maxpool == "rescale" else layer(h)
        elif kind in ("average_pooling", "reshaping", "identity", "normalization"):
            h = layer(h, training=False)
        else:
            raise ValueError(
                f"deeplift: unsupported layer {layer.name!r} of type {type(layer).__name__} in model {model_name!r}. "
                "Supported: Dense, Conv1D/2D/3D, elementwise activations, pooling, Flatten, Reshape, Dropout, "
                "BatchNormalization, padding/cropping."
            )
    return h


def _deeplift_fn(model, maxpool: str):
    layers, name = (
        chain_layers(model, "deeplift"),
        model.name,
    )  # the closure keeps the layers, not the model (cache key)

    @tf.function(reduce_retracing=True)
    def run(x, reference, targets, eps):
        n = tf.shape(x)[0]
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = _walk(name, layers, tf.concat([x, reference], axis=0), n, maxpool, eps)
            scores = select(out[:n], targets)
        multipliers = tape.gradient(scores, x)
        return (x - reference) * multipliers, scores, select(out[n:], targets)

    return run


def deeplift(
    model,
    x,
    target=None,
    baseline=None,
    *,
    maxpool: str = "rescale",
    eps: float = 1e-6,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    return_delta: bool = False,
    seed: int = 0,
    blur_sigma: float = 3.0,
):
    """DeepLIFT Rescale attributions R = (x − x′) ⊙ m, with Σ R = S_c(x) − S_c(x′).

    Parameters
    ----------
    model : keras.Model
        A chain model (Sequential or a functional chain) of the supported layers (module docstring).
    x : array (B, H, W, C)
    target : None, int or B ints (None = class predicted for x)
    baseline : None/"zeros", "uniform", "blur" or an array — the reference x′
        (see :func:`course_lib.make_baseline`; ``seed``/``blur_sigma`` are its options).
    maxpool : "rescale" (default, exact summation-to-delta) or "gradient" (see module docstring).
    eps : float
        Where |z − z′| ≤ eps the local gradient replaces the secant slope.
    batch_size : int or None
        Largest number of samples per compiled call (each call processes 2× that many images).
    return_delta : bool
        Also return the summation delta Σ R − (S_c(x) − S_c(x′)), shape (B,) (≈ 0 up to float32).

    Returns
    -------
    float32 array of the shape of ``x`` (or ``(attributions, delta)``), signed and unreduced (no
    absolute value, no normalisation). Only the Rescale rule is implemented, not RevealCancel.

    Reference: A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important Features Through
    Propagating Activation Differences", ICML 2017.
    """
    if maxpool not in MAXPOOL_MODES:
        raise ValueError(f"maxpool must be one of {MAXPOOL_MODES}, got {maxpool!r}")
    x, targets = prepare(model, x, target)
    reference = make_baseline(x, baseline, seed=seed, blur_sigma=blur_sigma)
    run = compiled(model, ("deeplift", maxpool), lambda: _deeplift_fn(model, maxpool))
    eps = tf.constant(eps, tf.float32)
    attributions, score_x, score_ref = map_chunks(
        lambda *arrays: run(*arrays, eps), [x, reference, targets], batch_size
    )
    return (attributions, completeness_gap(attributions, score_x, score_ref)) if return_delta else attributions
