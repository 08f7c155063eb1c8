"""LRP rules: how one linear layer hands the relevance of its outputs down to its inputs.

A linear layer computes ``z_j = b_j + Σ_i a_i w_ij`` (a dense layer, a convolution, or an average
pooling). Every rule below has the same shape (Montavon et al., "Layer-wise relevance propagation:
an overview", 2019, eq. 3 and §10.2.2)::

    R_i = Σ_j  (contribution of input i to the modified output z'_j) / z'_j · R_j

and is computed with the same four-line "gradient trick", without ever forming the matrix of
contributions (see :func:`redistribute`)::

    z = modified_layer(a)          # forward through the layer with modified weights
    s = R / stabilise(z)           # relevance per unit of output
    c = (∂z/∂a)ᵀ s                 # one vector-Jacobian product, i.e. a backward pass
    R_in = a · c                   # relevance of each input

The rules differ only in how they modify the layer (which weights, which inputs, with or without
the bias) and in the stabiliser. A rule is a small immutable object called as
``rule(layer, a, relevance)``; ``layer(a, weights=ρ, bias=True)`` evaluates the linear layer with
its weights replaced by ``ρ(w)``, and ``layer.nonnegative_input`` says whether a ≥ 0 is known
(the layer follows a ReLU).

**One backward pass.** Above the first layer, relevance always has the form R = a ⊙ c (the
layer's input times a "modified gradient" c), so the whole propagation can run as *one* gradient
computation in which each layer's output keeps its value z but gets a modified gradient. A rule
that can say so defines ``gradient_form(layer, a, z)``: a tensor with the value z whose gradient
with respect to ``a`` is the rule's (:func:`with_gradient`), e.g. for LRP-ε z with its gradient
scaled by z / (z + ε·sign z), for z⁺ z with the gradient of z⁺ = a·w⁺ scaled by z / z⁺
(:func:`course_lib.attribution.lrp` then costs one forward and one backward pass). A rule without
it is applied explicitly, layer by layer, below the highest such rule.

Here z is the layer's *output*: after its ReLU when ``layer.relu`` (a ReLU that follows a linear
layer is merged into it, so that the forward pass runs fused, as in a plain forward pass). This
changes nothing: every rule hands on R_j / z'_j with R_j ∝ z_j, so its gradient is a multiple of z_j
and vanishes exactly where the ReLU is off — write custom rules the same way.

**Numbers as tensors.** The float fields of a rule (ε, α, β, the z^B bounds) reach the compiled
pass as tensors, so moving an ε slider reuses the compiled graph. Keep Python decisions (``if``)
on ints, bools or the rule's type, not on its float fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf


# --- weight modifiers ρ(w) -------------------------------------------------------------------
def identity(w):
    return w


def positive(w):
    """w⁺ = max(w, 0)."""
    return tf.maximum(w, 0.0)


def negative(w):
    """w⁻ = min(w, 0)."""
    return tf.minimum(w, 0.0)


def square(w):
    return tf.square(w)


def ones(w):
    return tf.ones_like(w)


# --- the gradient trick -------------------------------------------------------------------------
def stabilise(z, epsilon):
    """``z + ε·sign(z)`` with sign(0) := +1: pushes the denominator away from zero, never across it."""
    return z + epsilon * tf.where(z >= 0.0, 1.0, -1.0)


def with_gradient(z, through, scale=None):
    """A tensor with the value of ``z`` whose gradient flows into ``through`` instead of ``z``.

    On the way back the incoming gradient is multiplied by ``scale()`` (computed in the backward
    pass only), so a rule's modified gradient costs nothing in the forward pass: LRP-ε is
    ``with_gradient(z, z, lambda: |z| / (|z| + ε))``, z⁺ ``with_gradient(z, z⁺, lambda: z / z⁺)``.
    """

    @tf.custom_gradient
    def forward(value, target):
        def backward(upstream):
            return None, upstream if scale is None else upstream * scale()

        return tf.identity(value), backward

    return forward(z, through)


def redistribute(forward, inputs, relevance, epsilon=0.0):
    """Share ``relevance`` among ``inputs`` in proportion to their contributions to ``forward(*inputs)``.

    ``forward`` must be linear in its inputs (no bias, or a bias that then keeps some relevance).
    Returns the relevance of the inputs, ``Σ_k x_k · (∂z/∂x_k)ᵀ (R / stabilise(z, ε))``; a unit with
    z = 0 passes nothing on (0/0 := 0).
    """
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        z = forward(*inputs)
    s = tf.math.divide_no_nan(relevance, stabilise(z, epsilon))
    grads = tape.gradient(z, inputs, output_gradients=s)
    return tf.add_n([x * c for x, c in zip(inputs, grads, strict=True)])


# --- the rules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Epsilon:
    """LRP-ε (Bach et al., "On pixel-wise explanations for non-linear classifier decisions by
    layer-wise relevance propagation", PLoS ONE 2015)::

        R_i = Σ_j a_i w_ij / (z_j + ε·sign(z_j)) · R_j,     z_j = b_j + Σ_i' a_i' w_i'j

    The lecture writes the denominator ε + z_j; adding ε with the sign of z_j (sign(0) := +1)
    does the same for positive z_j and avoids a division by ~0 when z_j is close to −ε.
    The stabiliser and the bias absorb relevance, so Σ_i R_i ≤ Σ_j R_j in magnitude; a large ε
    keeps only the strongest paths (sparser, less noisy maps). ``Epsilon(0)`` is LRP-0 (the z rule).
    """

    epsilon: float = 1e-6

    def __post_init__(self):
        if not self.epsilon >= 0:
            raise ValueError(f"epsilon must be >= 0, got {self.epsilon}")

    def __call__(self, layer, a, relevance):
        return redistribute(layer, [a], relevance, self.epsilon)

    def gradient_form(self, layer, a, z):
        # z / (z + ε·sign z) = |z| / (|z| + ε): the share of z_j each unit passes on
        return with_gradient(z, z, lambda: tf.math.divide_no_nan(tf.abs(z), tf.abs(z) + self.epsilon))


def Z() -> Epsilon:  # noqa: N802  (named like the other rules)
    """LRP-0, the z rule (Bach et al. 2015): R_i = Σ_j a_i w_ij / z_j · R_j. For ReLU networks it
    equals gradient × input."""
    return Epsilon(0.0)


def _split_by_sign(layer, a) -> list:
    """The inputs a⁺ and a⁻ (just a = a⁺ where a ≥ 0 is known, e.g. after a ReLU: then a⁻ = 0)."""
    return [a] if layer.nonnegative_input else [tf.maximum(a, 0.0), tf.minimum(a, 0.0)]


def _contributions(layer, rho_for_positive_a, rho_for_negative_a):
    """z(a⁺, a⁻) = a⁺ ρ(W) + a⁻ ρ'(W) without bias: the positive (w⁺, w⁻) or negative (w⁻, w⁺) part."""

    def z(a_pos, a_neg=None):
        out = layer(a_pos, rho_for_positive_a, bias=False)
        return out if a_neg is None else out + layer(a_neg, rho_for_negative_a, bias=False)

    return z


def _positive_part(layer):
    return _contributions(layer, positive, negative)


def _negative_part(layer):
    return _contributions(layer, negative, positive)


@dataclass(frozen=True)
class AlphaBeta:
    """LRP-αβ (Bach et al. 2015; Montavon et al. 2019, eq. 6 of the overview)::

        R_i = Σ_j ( α (a_i w_ij)⁺ / Σ_i' (a_i' w_i'j)⁺  −  β (a_i w_ij)⁻ / Σ_i' (a_i' w_i'j)⁻ ) R_j

    with α − β = 1 so that relevance is conserved; the bias is ignored. The positive contributions
    (a w)⁺ are a⁺w⁺ + a⁻w⁻, the negative ones a⁺w⁻ + a⁻w⁺. A unit without negative contributions
    hands all its relevance on by the first term (0/0 would otherwise lose β R_j). α = 1, β = 0 is the
    z⁺ rule (:class:`ZPlus`, which skips the negative term).
    """

    alpha: float = 2.0
    beta: float = 1.0

    def __post_init__(self):
        if self.alpha < 0 or self.beta < 0 or abs(self.alpha - self.beta - 1.0) > 1e-6:
            raise ValueError(
                f"alpha_beta needs alpha >= 0, beta >= 0 and alpha - beta = 1; got {self.alpha}, {self.beta}"
            )

    def _weights(self, negative_part):
        # a unit without negative contributions (z⁻_j = 0, e.g. pooling of ReLU outputs) passes all of
        # its relevance by the positive part (α_j = 1, β_j = 0), so that relevance stays conserved
        has_negative = negative_part < 0.0
        return tf.where(has_negative, self.alpha, 1.0), tf.where(has_negative, self.beta, 0.0)

    def __call__(self, layer, a, relevance):
        inputs = _split_by_sign(layer, a)
        alpha, beta = self._weights(_negative_part(layer)(*inputs))
        kept = redistribute(_positive_part(layer), inputs, alpha * relevance)
        subtracted = redistribute(_negative_part(layer), inputs, beta * relevance)
        return kept - subtracted

    def gradient_form(self, layer, a, z):
        inputs = _split_by_sign(layer, a)
        z_pos, z_neg = _positive_part(layer)(*inputs), _negative_part(layer)(*inputs)
        alpha, beta = self._weights(z_neg)
        kept = tf.stop_gradient(tf.math.divide_no_nan(alpha * z, z_pos)) * z_pos
        return with_gradient(z, kept - tf.stop_gradient(tf.math.divide_no_nan(beta * z, z_neg)) * z_neg)


@dataclass(frozen=True)
class ZPlus:
    """The z⁺ rule, α1β0 (Montavon et al., "Explaining nonlinear classification decisions with deep
    Taylor decomposition", Pattern Recognition 2017): R_i = Σ_j a_i w_ij⁺ / Σ_i' a_i' w_i'j⁺ · R_j
    (for a ≥ 0; bias ignored). Conserves relevance wherever some input contributes positively;
    equal to ``AlphaBeta(1, 0)``."""

    def __call__(self, layer, a, relevance):
        return redistribute(_positive_part(layer), _split_by_sign(layer, a), relevance)

    def gradient_form(self, layer, a, z):
        if layer.kind == "pool" and layer.nonnegative_input:
            return z  # equal positive weights and a >= 0: z⁺ = z, the rule is the plain gradient
        z_pos = _positive_part(layer)(*_split_by_sign(layer, a))
        return with_gradient(z, z_pos, lambda: tf.math.divide_no_nan(z, z_pos))


@dataclass(frozen=True)
class ZBox:
    """The z^B rule for inputs bounded by ``low ≤ x ≤ high`` (Montavon et al. 2017, deep Taylor
    decomposition), meant for the first layer, e.g. pixels in [0, 1]::

        R_i = Σ_j (x_i w_ij − l_i w_ij⁺ − h_i w_ij⁻) / Σ_i' (x_i' w_i'j − l_i' w_i'j⁺ − h_i' w_i'j⁻) · R_j

    Every term of the denominator is ≥ 0 inside the box; the bias is ignored.
    """

    low: float = 0.0
    high: float = 1.0

    def __call__(self, layer, a, relevance):
        def z(x, low, high):
            return layer(x, bias=False) - layer(low, positive, bias=False) - layer(high, negative, bias=False)

        bounds = [tf.ones_like(a) * self.low, tf.ones_like(a) * self.high]
        return redistribute(z, [a, *bounds], relevance)


@dataclass(frozen=True)
class WSquare:
    """The w² rule for unbounded inputs (Montavon et al. 2017): R_i = Σ_j w_ij² / Σ_i' w_i'j² · R_j.
    It ignores the input values; ``WSquare(flat=True)`` is the flat rule (all weights 1: relevance
    spread uniformly over each unit's receptive field; Lapuschkin et al., Nat. Commun. 2019)."""

    flat: bool = False

    def __call__(self, layer, a, relevance):
        rho = ones if self.flat else square
        return redistribute(lambda unit: layer(unit, rho, bias=False), [tf.ones_like(a)], relevance)


def Flat() -> WSquare:  # noqa: N802
    """The flat rule: R_i = Σ_j R_j / (number of inputs of unit j)."""
    return WSquare(flat=True)


def route(layer, a, relevance):
    """Layers that only select or reshape (ReLU, max pooling, flatten, dropout) pass relevance as the
    gradient does: ReLU and dropout unchanged, max pooling to the winning input, flatten reshaped."""
    with tf.GradientTape() as tape:
        tape.watch(a)
        out = layer(a)
    return tape.gradient(out, a, output_gradients=relevance)


# --- composites: which rule for which layer -----------------------------------------------------
@dataclass(frozen=True)
class Composite:
    """A rule per kind of linear layer; ``first`` (if set) overrides the rule of the first linear layer,
    the one that sees the input pixels. Pooling layers use the rule of the convolutions."""

    dense: object
    conv: object
    first: object | None = None

    def rule_for(self, kind: str, is_first: bool):
        if is_first and self.first is not None:
            return self.first
        return self.dense if kind == "dense" else self.conv


def composite(rule, *, epsilon=1e-6, alpha=2.0, beta=1.0, low=0.0, high=1.0) -> Composite:
    """The :class:`Composite` for a rule name, a rule object or a :class:`Composite`.

    Names: ``"z"``, ``"epsilon"``, ``"zplus"``, ``"alpha_beta"`` (one rule everywhere); ``"epsilon_plus"`` — z^B in the first layer, z⁺ in convolutions and pooling,
    ε in dense layers (Kohlbrenner et al., "Towards best practice in explaining neural network
    decisions with LRP", IJCNN 2020; Montavon et al. 2019 §10.1); ``"epsilon_plus_flat"`` — the same
    with the flat rule in the first layer.
    """
    if isinstance(rule, Composite):
        return rule
    epsilon, alpha, beta, low, high = (float(v) for v in (epsilon, alpha, beta, low, high))
    if not isinstance(rule, str):
        if not callable(rule):
            raise TypeError(f"rule must be a rule name, a rule object or a Composite, got {type(rule).__name__}")
        return Composite(dense=rule, conv=rule)
    single = {
        "z": Z,
        "epsilon": lambda: Epsilon(epsilon),
        "zplus": ZPlus,
        "alpha_beta": lambda: AlphaBeta(alpha, beta),
    }
    if rule in single:
        chosen = single[rule]()
        return Composite(dense=chosen, conv=chosen)
    first = {"epsilon_plus": ZBox(low, high), "epsilon_plus_flat": Flat()}
    if rule in first:
        return Composite(dense=Epsilon(epsilon), conv=ZPlus(), first=first[rule])
    raise ValueError(f"unknown LRP rule {rule!r}; valid names: {sorted(single) + sorted(first)}")
