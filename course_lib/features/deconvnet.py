"""Transposed convolution, DeconvNet and guided backpropagation.

"What input patterns caused a given activation?" A DeconvNet (Zeiler & Fergus 2014) maps the
activations of one feature map back to pixel space by running the network backwards:

* **unpooling** with the *switches* (the position of each maximum, recorded in the forward pass),
* **rectification**: a ReLU applied to the backward signal,
* **filtering** with the *transposed* filters (a transposed convolution).

This is a gradient computation with one change: at every ReLU the backward signal is rectified
instead of being masked by the forward activation. Guided backpropagation (Springenberg et al. 2015)
does both. The three backward rules of a ReLU ``a = max(0, z)`` for an incoming signal ``r``::

    gradient           r · [z > 0]
    DeconvNet          max(0, r)
    guided backprop    max(0, r) · [z > 0]

Here each ReLU is replaced by a function with a custom gradient (``tf.custom_gradient``); max
pooling needs no change, because TensorFlow's gradient of max pooling already routes the signal to
the arg-max of each window, i.e. it unpools with the switches.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib._batching import DEFAULT_BATCH_SIZE, checked_batch, logits_of, map_chunks, prepare, score_gradient
from course_lib._cache import compiled
from course_lib._graph import WEIGHTED, get_layer, is_plain_relu, layer_kind, outputs_model, pre_activation
from course_lib._validation import as_batch, check_index, pair

__all__ = ["conv_transpose", "deconvnet", "guided_backprop"]


# --------------------------------------------------------------------------- transposed convolution


def conv_transpose(x, kernel, stride=1) -> np.ndarray:
    """Plain transposed convolution ("deconvolution", fractionally strided convolution), no padding.

    Every input value stamps a scaled copy of the kernel into the output, the copies placed
    ``stride`` pixels apart and summed where they overlap::

        y[i·s + a, j·s + b, o] = Σ_{i,j,c} x[i, j, c] · K[a, b, o, c]

    so an ``H × W`` input gives a ``((H−1)·s + kh) × ((W−1)·s + kw)`` output. This is the
    transpose (adjoint) of a strided "valid" convolution with the same kernel, which is why a
    DeconvNet uses it to map feature maps back towards the input (Zeiler & Fergus, "Visualizing and
    Understanding Convolutional Networks", ECCV 2014; Dumoulin & Visin, "A guide to convolution
    arithmetic for deep learning", 2016). Example: ``[[1, 2], [3, 4]]`` with a 3×3 kernel of ones
    and stride 2 gives a 5×5 image whose centre is 1+2+3+4 = 10.

    Parameters
    ----------
    x : array, shape ``(H, W)`` or ``(B, H, W, C_in)``
    kernel : array, shape ``(kh, kw)`` for a 2-D ``x``, or ``(kh, kw, C_out, C_in)`` for a batch —
        the layout of ``keras.layers.Conv2DTranspose.kernel`` (and of a ``Conv2D`` kernel read
        backwards: a ``Conv2D`` kernel ``(kh, kw, C, F)`` maps ``F`` feature maps back to ``C``
        channels).
    stride : int or (int, int)

    Returns
    -------
    numpy.ndarray float32, shape ``((H−1)·s_h + kh, (W−1)·s_w + kw)`` or
    ``(B, (H−1)·s_h + kh, (W−1)·s_w + kw, C_out)``. (Keras' ``Conv2DTranspose`` with
    ``padding="valid"`` gives the same numbers; it only pads the result with zeros when the kernel
    is smaller than the stride.)
    """
    x = as_batch(x, rank=None)
    kernel = as_batch(kernel, rank=None, name="kernel")
    sh, sw = pair(stride, "stride")
    if x.ndim == 2:
        if kernel.ndim != 2:
            raise ValueError(f"for a 2-D x of shape (H, W) the kernel must be 2-D (kh, kw); got shape {kernel.shape}")
        return conv_transpose(x[None, :, :, None], kernel[:, :, None, None], (sh, sw))[0, :, :, 0]
    if x.ndim != 4:
        raise ValueError(f"x must have shape (H, W) or (B, H, W, C_in); got shape {x.shape}")
    if kernel.ndim != 4 or kernel.shape[3] != x.shape[3]:
        raise ValueError(
            f"for x of shape (B, H, W, C_in) = {x.shape} the kernel must have shape (kh, kw, C_out, {x.shape[3]}); "
            f"got {kernel.shape}"
        )
    batch, height, width, _ = x.shape
    kh, kw, c_out, _ = kernel.shape
    y = np.zeros((batch, (height - 1) * sh + kh, (width - 1) * sw + kw, c_out), dtype=np.float64)
    for a in range(kh):  # one kernel tap at a time: every input pixel adds x · K[a, b] at (i·s + a, j·s + b)
        for b in range(kw):
            y[:, a : a + (height - 1) * sh + 1 : sh, b : b + (width - 1) * sw + 1 : sw, :] += x @ kernel[a, b].T
    return y.astype(np.float32)


# --------------------------------------------------------------------------- modified ReLU backward passes


@tf.custom_gradient
def _relu_deconvnet(z):
    """ReLU forward; backward: max(0, r) — the signal is rectified, the forward activation ignored."""

    def backward(r):
        return tf.nn.relu(r)

    return tf.nn.relu(z), backward


@tf.custom_gradient
def _relu_guided(z):
    """ReLU forward; backward: max(0, r) · [z > 0] — gradient mask and rectified signal together."""

    def backward(r):
        return tf.nn.relu(r) * tf.cast(z > 0, r.dtype)

    return tf.nn.relu(z), backward


_BACKWARD_RELUS = {"deconvnet": _relu_deconvnet, "guided": _relu_guided}


class _ModifiedReLU(keras.layers.Layer):
    """A ReLU whose backward pass follows another rule, optionally after ``inner``'s affine part."""

    def __init__(self, relu, inner=None, **kwargs):
        super().__init__(**kwargs)
        self.relu = relu
        self.inner = inner

    def call(self, x):
        return self.relu(x if self.inner is None else pre_activation(self.inner, x, "deconvnet/guided_backprop"))


def _swap_relu(layer, rule: str):
    """The layer to use in the modified network: ReLUs replaced, everything else shared as is."""
    relu = _BACKWARD_RELUS[rule]
    activation = getattr(layer, "activation", None)
    kind = layer_kind(layer)
    if isinstance(layer, keras.layers.ReLU):
        if not is_plain_relu(layer):
            raise ValueError(
                f"layer {layer.name!r} is a ReLU with max_value/negative_slope/threshold; only max(0, z) is supported"
            )
        return _ModifiedReLU(relu, name=layer.name)
    if kind == "elementwise" or isinstance(layer, keras.layers.Softmax):
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) is not supported: the network must use ReLU nonlinearities"
        )
    if activation is None or activation is keras.activations.linear:
        return layer
    if activation is not keras.activations.relu:
        name = getattr(activation, "__name__", repr(activation))
        raise ValueError(
            f"layer {layer.name!r} has activation {name!r}; this method needs ReLU (or linear) activations"
        )
    if isinstance(layer, keras.layers.Activation):
        return _ModifiedReLU(relu, name=layer.name)
    if isinstance(layer, WEIGHTED):
        return _ModifiedReLU(relu, inner=layer, name=layer.name)
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has a ReLU activation that cannot be separated")


def _with_backward_rule(functional: keras.Model, rule: str) -> keras.Model:
    """A copy of ``functional`` (sharing its weights) whose ReLUs use the backward ``rule``."""
    return keras.models.clone_model(functional, clone_function=lambda layer: _swap_relu(layer, rule), recursive=True)


# --------------------------------------------------------------------------- DeconvNet


def _filter_indices(filter_index, batch: int, n_maps: int) -> np.ndarray:
    """One feature-map index per sample; -1 stands for "the strongest map of that sample"."""
    if filter_index is None:
        return np.full(batch, -1, dtype=np.int32)
    if np.isscalar(filter_index):
        return np.full(batch, check_index(filter_index, n_maps, "filter_index"), dtype=np.int32)
    indices = np.asarray(filter_index)
    if indices.ndim != 1 or len(indices) != batch:
        raise ValueError(
            f"filter_index must be None, an int or {batch} ints (one per sample); got shape {indices.shape}"
        )
    return np.array([check_index(i, n_maps, "filter_index") for i in indices.tolist()], dtype=np.int32)


def _kept_signal(a, requested, keep: str):
    """The activations of ``a`` (B, h, w, F) that are projected back: one map per sample, or its maximum."""
    strongest = tf.argmax(tf.reduce_max(a, axis=(1, 2)), axis=-1, output_type=tf.int32)
    chosen = tf.where(requested < 0, strongest, requested)
    kept = a * tf.one_hot(chosen, tf.shape(a)[-1], dtype=a.dtype)[:, None, None, :]
    if keep == "max":
        flat = tf.reshape(kept, (tf.shape(a)[0], -1))
        top = tf.one_hot(tf.argmax(flat, axis=-1), tf.shape(flat)[1], dtype=a.dtype)
        kept = tf.reshape(flat * top, tf.shape(a))
    return tf.stop_gradient(kept)


def deconvnet(model: keras.Model, x, layer, filter_index=None, *, keep: str = "map") -> np.ndarray:
    """Project the activations of one feature map back to input space (Zeiler & Fergus 2014).

    All other feature maps of ``layer`` are set to zero; the kept activations ``A_k`` are sent
    backwards through the network, and on the way down

    * max pooling is undone with the switches (the signal goes to the arg-max of each window),
    * every ReLU rectifies the backward signal: ``r ← max(0, r)`` (not masked by the forward pass),
    * every convolution is undone with its transposed filters: ``r ← conv_transpose(r, W)``.

    As a formula: ``R = J̃ᵀ A_k`` where ``J̃`` is the Jacobian of the layer's output with respect to
    ``x`` with each ReLU derivative ``[z > 0]`` replaced by the backward rectification. Computed in one
    batched, compiled pass with ``tf.custom_gradient``.

    Reference: M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks",
    ECCV 2014 (arXiv:1311.2901).

    Parameters
    ----------
    model : keras.Model
        A ReLU CNN (sequential, functional, or with nested sequential blocks); pooling, dropout,
        flatten and linear layers are allowed, other nonlinearities are refused.
    x : array, shape ``(B, H, W, C)``
    layer : str or int
        A layer with feature maps ``(B, h, w, F)``, usually a conv layer.
    filter_index : None, int, or B ints
        The feature map to project; ``None`` = for each sample the map with the largest activation.
    keep : ``"map"`` or ``"max"``
        ``"map"`` projects all activations of the chosen map; ``"max"`` only its single strongest
        activation (the paper's figures), whose projection stays inside that unit's receptive field.

    Returns
    -------
    numpy.ndarray float32, same shape as ``x``: the signed projection, not normalised (the paper's
    figures rescale each projection for display).
    """
    x = checked_batch(model, x)
    if keep not in ("map", "max"):
        raise ValueError(f"keep must be 'map' or 'max', got {keep!r}")
    chosen = get_layer(model, layer)
    features = compiled(model, ("features", chosen.name), lambda: outputs_model(model, [chosen]))
    shape = tuple(features.outputs[0].shape)
    if len(shape) != 4:
        raise ValueError(
            f"deconvnet needs a layer with feature maps of shape (B, h, w, F); layer {chosen.name!r} "
            f"({type(chosen).__name__}) gives {shape}"
        )
    requested = _filter_indices(filter_index, len(x), shape[-1])
    project = compiled(model, ("deconvnet", chosen.name, keep), lambda: _projection_fn(features, keep))
    return project(tf.constant(x), tf.constant(requested)).numpy().astype(np.float32)


def _projection_fn(features: keras.Model, keep: str):
    """Compiled DeconvNet pass through a copy of ``features`` whose ReLUs rectify the backward signal."""
    backward_net = _with_backward_rule(features, "deconvnet")

    @tf.function(reduce_retracing=True)
    def project(inputs, requested):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            a = backward_net(inputs, training=False)
            a = a[0] if isinstance(a, list | tuple) else a
        return tape.gradient(a, inputs, output_gradients=_kept_signal(a, requested, keep))

    return project


def guided_backprop(model: keras.Model, x, target=None, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Guided backpropagation of the pre-softmax class score (Springenberg et al. 2015).

    The gradient ``∂S_c/∂x`` of the class score before softmax, except that at each ReLU
    ``a = max(0, z)`` the backward signal ``r`` becomes ``max(0, r) · [z > 0]``: it is masked by the
    forward activation (as in the gradient) *and* rectified (as in the DeconvNet), so only paths
    that increase the score through active units are kept.

    Reference: J. T. Springenberg, A. Dosovitskiy, T. Brox, M. Riedmiller, "Striving for Simplicity:
    The All Convolutional Net", ICLR workshop 2015 (arXiv:1412.6806).

    Parameters
    ----------
    model : keras.Model
        A ReLU network; a final softmax is cut off (the score before softmax is explained).
    x : array, shape ``(B, H, W, C)``
    target : None, int, or B ints
        ``None`` = the predicted class of each sample.
    batch_size : int or None
        Largest number of images per compiled call.

    Returns
    -------
    numpy.ndarray float32, same shape as ``x``: signed and unreduced (no absolute value, no
    normalisation).
    """
    x, targets = prepare(model, x, target)
    guided = compiled(model, "guided_backprop", lambda: _guided_gradient_fn(logits_of(model)))
    _, grads = map_chunks(guided, [x, targets], batch_size)
    return grads


def _guided_gradient_fn(logits: keras.Model):
    """Compiled (S_c, ∂̃S_c/∂x) through a copy of the pre-softmax model with guided ReLUs."""
    guided = _with_backward_rule(logits, "guided")
    return tf.function(lambda x, targets: score_gradient(guided, x, targets), reduce_retracing=True)
