"""Layer-wise relevance propagation (LRP): share a class score out among the input pixels.

LRP (Bach et al., "On pixel-wise explanations for non-linear classifier decisions by layer-wise
relevance propagation", PLoS ONE 2015; Montavon et al., "Layer-wise relevance propagation: an
overview", 2019) starts from the pre-softmax score of the target class, R = f_c(x), and walks
the network backwards. Each layer hands the relevance of its outputs to its inputs with a rule
(:mod:`course_lib.attribution.lrp_rules`), until the input holds a relevance per pixel,
ideally with Σ_i R_i ≈ f_c(x).

How the network is read: a chain of *linear* layers (Dense, Conv2D, AveragePooling2D,
GlobalAveragePooling2D — pooling is a linear layer with equal positive weights, and a
BatchNormalization is merged into the Dense/Conv2D before it) and *routing* layers (ReLU and
linear activations, MaxPooling2D, GlobalMaxPooling2D, Flatten, Dropout), which pass relevance
on the way the gradient does. A final softmax is cut off. Nested Sequential models are unrolled.

Each linear layer applies its rule: z = layer(a), s = R / z, c = (∂z/∂a)ᵀ s, R = a·c. Since
R = a·c holds all the way down, the rules with a gradient form (ε, z, z⁺, αβ) run as one forward
pass and one modified backward pass, at the cost of about one plain gradient
(:mod:`course_lib.attribution.lrp_rules`).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from course_lib._batching import prepare, select
from course_lib._cache import compiled, keep_alive, numbers, structural_key, with_numbers
from course_lib._graph import activation_name, chain_layers, is_plain_relu, is_softmax_layer, layer_kind
from course_lib.attribution.lrp_rules import ZBox, composite, identity, route

__all__ = ["lrp"]

SUPPORTED = (
    "Dense, Conv2D, BatchNormalization, average and max pooling, Flatten, Reshape, padding, cropping, "
    "Dropout, ReLU and linear activations"
)


@dataclass(eq=False)
class LinearLayer:
    """A Dense or Conv2D layer (with a BatchNormalization merged in) or an average pooling, callable
    as ``layer(a, weights=ρ, bias=True)`` = ``a ⊛ ρ(W) + b``: the form every LRP rule needs.

    A ReLU right after the layer (its own activation or a separate ReLU layer) is merged in as
    ``relu=True``: :meth:`output` then applies it, so the forward pass runs as one fused
    convolution + bias + ReLU, as in a plain forward pass.
    """

    layer: keras.layers.Layer
    kind: str  # "dense", "conv" or "pool"
    norm: keras.layers.BatchNormalization | None = None
    nonnegative_input: bool = False  # True after a ReLU: rules may skip terms for negative inputs
    relu: bool = False  # the layer's output goes through a ReLU (merged in)

    def __call__(self, a, weights=identity, bias=True):
        if self.kind == "pool":  # equal weights 1/n; scaling by ρ(1) gives the same shares as ρ(1/n)
            return self.layer(a) * weights(1.0)
        kernel, b = self.parameters()
        if self.kind == "dense":
            z = tf.matmul(a, weights(kernel))
        else:
            z = self.layer.convolution_op(a, weights(kernel))
        return tf.nn.bias_add(z, b) if bias and b is not None else z

    def output(self, a):
        """What the network computes here: ``a ⊛ W + b``, then the merged ReLU if there is one."""
        z = self(a)
        return tf.nn.relu(z) if self.relu else z

    def parameters(self):
        """Kernel and bias, with the batch normalisation y = γ (z − μ)/√(σ² + ε) + β folded in."""
        kernel = tf.convert_to_tensor(self.layer.kernel)
        bias = tf.convert_to_tensor(self.layer.bias) if self.layer.use_bias else None
        if self.norm is not None:
            bn = self.norm
            scale = tf.math.rsqrt(tf.convert_to_tensor(bn.moving_variance) + bn.epsilon)
            if bn.scale:
                scale *= bn.gamma
            shift = -tf.convert_to_tensor(bn.moving_mean) * scale + (bn.beta if bn.center else 0.0)
            kernel = kernel * scale  # the output channels are the kernel's last axis
            bias = shift if bias is None else bias * scale + shift
        return kernel, bias


@dataclass(eq=False)
class RoutingLayer:
    """A layer that selects or reshapes without weights; relevance goes back as the gradient does."""

    name: str
    function: object

    def __call__(self, a):
        return self.function(a)


def _unsupported(layer, why: str = "") -> ValueError:
    why = why or f"supported layers: {SUPPORTED}"
    return ValueError(f"LRP does not support layer {layer.name!r} of type {type(layer).__name__}; {why}")


def network_layers(model, *, nonnegative_input: bool = False) -> list:
    """The model as a list of :class:`LinearLayer` and :class:`RoutingLayer`, up to the pre-softmax scores."""
    layers = chain_layers(model, "LRP")
    if layers and is_softmax_layer(layers[-1]):
        layers = layers[:-1]
    steps = []
    nonnegative = nonnegative_input  # is the signal known to be >= 0 here (the input's sign, then after a ReLU)?
    for index, layer in enumerate(layers):
        last = index == len(layers) - 1
        kind = layer_kind(layer)
        previous = steps[-1] if steps else None
        if kind == "normalization":
            if not (
                isinstance(previous, LinearLayer)
                and previous.kind != "pool"
                and previous.norm is None
                and not previous.relu
            ):
                raise _unsupported(layer, "a batch normalisation must follow a Dense/Conv2D layer without activation")
            if layer.axis not in (-1, len(layer.input.shape) - 1):
                raise _unsupported(layer, "only a normalisation over the last (channel) axis can be merged")
            previous.norm = layer
        elif kind == "weighted" and isinstance(layer, keras.layers.Dense | keras.layers.Conv2D):
            if isinstance(layer, keras.layers.Conv2D) and (layer.data_format != "channels_last" or layer.groups != 1):
                raise _unsupported(layer, "only channels_last convolutions without groups are supported")
            activation = activation_name(layer)
            if activation not in ("relu", "linear") and not (last and activation == "softmax"):
                raise _unsupported(layer, f"its activation {activation!r} is not ReLU or linear")
            kind_of_linear = "dense" if isinstance(layer, keras.layers.Dense) else "conv"
            steps.append(LinearLayer(layer, kind_of_linear, nonnegative_input=nonnegative, relu=activation == "relu"))
            nonnegative = activation == "relu"
        elif kind in ("activation", "elementwise"):
            if kind == "activation" and activation_name(layer) not in ("relu", "linear"):
                raise _unsupported(layer, f"activation {activation_name(layer)!r} is not ReLU or linear")
            if kind == "elementwise" and not (isinstance(layer, keras.layers.ReLU) and is_plain_relu(layer)):
                raise _unsupported(layer, "only the plain ReLU (no max_value, slope or threshold) is supported")
            is_relu = kind == "elementwise" or activation_name(layer) == "relu"
            if is_relu and isinstance(previous, LinearLayer) and not previous.relu:
                previous.relu = True  # merged: one fused layer + ReLU in the forward pass
            else:
                steps.append(RoutingLayer(layer.name, layer))
            nonnegative = nonnegative or is_relu
        elif kind == "average_pooling":
            steps.append(LinearLayer(layer, "pool", nonnegative_input=nonnegative))
        elif kind in ("max_pooling", "reshaping", "identity"):
            steps.append(RoutingLayer(layer.name, layer))
        else:
            raise _unsupported(layer)
    return steps


def _gradient_split(steps, rules) -> int:
    """Index from which every linear layer's rule has a ``gradient_form`` (one backward pass covers them)."""
    split = len(steps)
    while split > 0 and (not isinstance(steps[split - 1], LinearLayer) or hasattr(rules[split - 1], "gradient_form")):
        split -= 1
    return split


def _propagate(steps, rules, x, targets):
    """Relevance of the input: one forward pass, one modified backward pass, then explicit rules below.

    The layers from :func:`_gradient_split` up keep their output values z but pass the rules' modified
    gradients (``rule.gradient_form(layer, a, z)``), so
    one ``tape.gradient`` gives c with R = a ⊙ c at the input of those layers. The layers below (the
    z^B or flat rule in the first layer, custom rules without a gradient form) apply their rule
    explicitly, each on the input it saw in the forward pass.
    """
    split = _gradient_split(steps, rules)
    inputs = []
    h = x
    for step in steps[:split]:
        inputs.append(h)
        h = step.output(h) if isinstance(step, LinearLayer) else step(h)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(h)
        top = h
        for step, rule in zip(steps[split:], rules[split:], strict=True):
            h = rule.gradient_form(step, h, step.output(h)) if isinstance(step, LinearLayer) else step(h)
        score = select(h, targets)
    relevance = top * tape.gradient(score, top)  # R = f_c(x) at the target logit, then down
    for step, rule, a in zip(reversed(steps[:split]), reversed(rules[:split]), reversed(inputs), strict=True):
        relevance = rule(step, a, relevance)
    return relevance


def _explainer(model, rules, *, nonnegative_input: bool, numbers_as_tensors: bool = True):
    """The compiled :func:`_propagate` for this model and composite (traced once per rule structure).

    The composite's float fields (ε, α, β, bounds) are the tensor argument ``values``, so a new ε
    reuses the graph. With ``numbers_as_tensors=False`` (a custom rule that needs its numbers in
    Python) they are part of the key and baked into the graph. ``nonnegative_input`` (all of x ≥ 0,
    e.g. pixels) lets the sign-splitting rules skip the negative part in the first layer too.
    """
    alive = []
    key = (
        "lrp",
        structural_key(rules, alive) if numbers_as_tensors else (structural_key(rules, alive), tuple(numbers(rules))),
        "x >= 0" if nonnegative_input else "x signed",
    )
    keep_alive(model, alive)

    def build():
        steps = network_layers(model, nonnegative_input=nonnegative_input)
        first = next((step for step in steps if isinstance(step, LinearLayer)), None)  # sees the input pixels

        def run(x, targets, values):
            filled = with_numbers(rules, iter(tf.unstack(values))) if numbers_as_tensors else rules
            assigned = [
                filled.rule_for(step.kind, step is first) if isinstance(step, LinearLayer) else route for step in steps
            ]
            return _propagate(steps, assigned, x, targets)

        return tf.function(run, reduce_retracing=True, autograph=False)

    return compiled(model, key, build)


def lrp(model, x, target=None, rule="epsilon", epsilon=1e-6, alpha=2.0, beta=1.0, *, low=0.0, high=1.0):
    """Layer-wise relevance propagation of the pre-softmax score of ``target``.

    Starting from R = S_c(x) at the logits, each linear layer hands relevance down with its rule,
    R_i = Σ_j (contribution of i to z'_j) / z'_j · R_j (e.g. ε: a_i w_ij / (z_j + ε·sign z_j) · R_j),
    and ReLU, max pooling, flatten and dropout pass it on as the gradient does.

    Parameters
    ----------
    model : keras.Model
        A chain of the layers listed in the module docstring (ReLU network).
    x : array (B, H, W, C)
        The inputs.
    target : None, int or B ints
        The class to explain (None: the predicted class of each sample).
    rule : str, rule object or :class:`~course_lib.attribution.lrp_rules.Composite`
        ``"z"`` (LRP-0), ``"epsilon"`` (LRP-ε with stabiliser ε·sign(z)), ``"zplus"`` (α1β0),
        ``"alpha_beta"`` (α, β with α − β = 1), ``"epsilon_plus"`` (z^B with bounds ``low``/``high``
        in the first layer, z⁺ in convolutions and pooling, ε in dense layers) or
        ``"epsilon_plus_flat"`` (the flat rule in the first layer). Formulas and papers:
        :mod:`course_lib.attribution.lrp_rules`.
    epsilon, alpha, beta : float
        Parameters of the ε and αβ rules.
    low, high : float
        The range of the inputs, for the z^B rule (MNIST pixels: 0 and 1).

    Returns
    -------
    numpy.ndarray, float32, shape of ``x``: the relevance of every input value (unreduced). With
    the z⁺ rule, or ε → 0 in a bias-free ReLU network, it sums to the score f_c(x); biases and ε
    absorb part of it otherwise. No absolute value, no channel sum, no normalisation.

    References: S. Bach, A. Binder, G. Montavon, F. Klauschen, K.-R. Müller, W. Samek, "On Pixel-Wise
    Explanations for Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation", PLoS ONE
    2015; G. Montavon, A. Binder, S. Lapuschkin, W. Samek, K.-R. Müller, "Layer-Wise Relevance
    Propagation: An Overview", in Explainable AI, LNCS 11700, Springer 2019.
    """
    x, targets = prepare(model, x, target)
    if len(model.outputs[0].shape) != 2:
        raise ValueError(
            f"LRP explains class scores of shape (B, n_classes); the model outputs {model.outputs[0].shape}"
        )
    rules = composite(rule, epsilon=epsilon, alpha=alpha, beta=beta, low=low, high=high)
    if isinstance(rules.first, ZBox) and (x.min() < rules.first.low or x.max() > rules.first.high):
        raise ValueError(
            f"the z^B rule needs inputs within [low, high] = [{low}, {high}]; x spans [{x.min()}, {x.max()}]"
        )
    arguments = (tf.constant(x), tf.constant(targets), tf.constant(numbers(rules), tf.float32))
    python_rules = compiled(model, "lrp rules deciding in Python", set)  # keys whose numbers cannot be tensors
    key = structural_key(rules)
    nonnegative = bool(x.min() >= 0.0)
    if key not in python_rules:
        try:
            return _explainer(model, rules, nonnegative_input=nonnegative)(*arguments).numpy().astype(np.float32)
        except TypeError:  # a custom rule branches in Python on a float field: trace with the numbers fixed
            python_rules.add(key)
    explain = _explainer(model, rules, nonnegative_input=nonnegative, numbers_as_tensors=False)
    return explain(*arguments).numpy().astype(np.float32)
