"""Layer-wise relevance propagation: analytic oracles (ARCHITECTURE.md §7), plain-numpy re-derivations of
each rule on one dense layer, invariants (LRP-0 = gradient × input, conservation), batch-norm merging,
error messages, and the effect of ε on the shipped MNIST network."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import toy_models as toys

import course_lib as cl
from course_lib._graph import logits_model
from course_lib.attribution import lrp_rules
from course_lib.attribution.lrp import LinearLayer, network_layers


def scores(model, x):
    return logits_model(model)(x).numpy()


def gradient_times_input(model, x, target):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        chosen = tf.reduce_sum(logits_model(model)(x) * tf.one_hot(target, 3))
    return (tape.gradient(chosen, x) * x).numpy()


def small_cnn(seed=0, bias=True, head="gap"):
    """A seeded ReLU CNN with max, average and global pooling (and biases unless ``bias=False``)."""
    keras.utils.set_random_seed(seed)
    b = dict(use_bias=bias, bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed))
    layers = [
        keras.Input(shape=(10, 10, 2)),
        keras.layers.Conv2D(4, 3, padding="same", activation="relu", **b),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(6, 3, padding="same", **b),
        keras.layers.ReLU(),
        keras.layers.AveragePooling2D(2, strides=1),
        keras.layers.Conv2D(5, 3, strides=2, padding="same", activation="relu", **b),
    ]
    if head == "gap":
        layers += [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(8, activation="relu", **b)]
    else:
        layers += [keras.layers.GlobalMaxPooling2D(), keras.layers.Dense(8, **b), keras.layers.Activation("relu")]
    layers += [keras.layers.Dropout(0.5), keras.layers.Dense(3, **b), keras.layers.Activation("softmax")]
    return keras.Sequential(layers)


def one_dense(seed=0):
    """Flatten → Dense(5 → 3) with bias: the scores are the logits, so one rule does all the work."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input(shape=(1, 5, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=seed)),
        ]
    )


# ---------------------------------------------------------- ARCHITECTURE.md §7 oracles


@pytest.mark.parametrize("separate", [False, True])
def test_relu_toy_epsilon_to_zero(separate):
    model = toys.relu_toy(separate_activations=separate)
    relevance = cl.lrp(model, toys.RELU_TOY_X, rule="epsilon", epsilon=1e-9)
    np.testing.assert_allclose(toys.flat(relevance), [[0, 0], [3, -1]], atol=1e-5)


@pytest.mark.parametrize("separate", [False, True])
def test_lrp_toy_epsilon_everywhere(separate):
    relevance = toys.flat(cl.lrp(toys.lrp_toy(separate_activations=separate), toys.LRP_TOY_X, rule="epsilon"))
    np.testing.assert_allclose(relevance, [[18, 36, 54]], rtol=1e-5)
    np.testing.assert_allclose(relevance.sum(), 108, rtol=1e-5)


# ---------------------------------------------------------------- each rule in plain numpy


def numpy_rule(rule, x, w, b, relevance, epsilon=0.0, alpha=2.0, beta=1.0, low=-1.0, high=1.0):
    """One dense layer z = x W + b, relevance R (B, out) → relevance of x, written as matrices:
    contributions C[b, i, j] of input i to output j, then R_i = Σ_j C_ij / Σ_i' C_i'j · R_j."""

    def share(contrib, denominator=None, weight=1.0):
        denominator = contrib.sum(1) if denominator is None else denominator
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(denominator == 0, 0.0, weight * relevance / denominator)
        return (contrib * s[:, None, :]).sum(2)

    xw = x[:, :, None] * w[None]
    if rule == "epsilon":
        z = xw.sum(1) + b
        return share(xw, z + epsilon * np.where(z >= 0, 1.0, -1.0))
    if rule == "alpha_beta":
        # a unit without negative contributions passes all its relevance by the positive term
        has_negative = np.minimum(xw, 0).sum(1) < 0
        alpha, beta = np.where(has_negative, alpha, 1.0), np.where(has_negative, beta, 0.0)
        return share(np.maximum(xw, 0), weight=alpha) - share(np.minimum(xw, 0), weight=beta)
    if rule == "zB":
        return share(xw - low * np.maximum(w, 0)[None] - high * np.minimum(w, 0)[None])
    if rule == "w2":
        return share(np.broadcast_to(w[None] ** 2, xw.shape))
    if rule == "flat":
        return share(np.ones_like(xw))
    raise AssertionError(rule)


@pytest.mark.parametrize(
    "rule, oracle",
    [
        (dict(rule="epsilon", epsilon=0.3), dict(rule="epsilon", epsilon=0.3)),
        (dict(rule="z"), dict(rule="epsilon")),
        (dict(rule="zplus"), dict(rule="alpha_beta", alpha=1.0, beta=0.0)),
        (dict(rule="alpha_beta", alpha=2.0, beta=1.0), dict(rule="alpha_beta", alpha=2.0, beta=1.0)),
        (dict(rule="alpha_beta", alpha=3.0, beta=2.0), dict(rule="alpha_beta", alpha=3.0, beta=2.0)),
        (dict(rule="epsilon_plus", low=-1.0, high=1.0), dict(rule="zB")),  # the only layer is the first one
        (dict(rule="epsilon_plus_flat"), dict(rule="flat")),
        (dict(rule=lrp_rules.WSquare()), dict(rule="w2")),
    ],
)
def test_rules_match_matrix_form_on_one_dense_layer(rule, oracle, rng):
    model = one_dense()
    x = rng.uniform(-1, 1, size=(6, 1, 5, 1)).astype(np.float32)
    target = np.array([0, 1, 2, 0, 1, 2])
    w, b = (v.astype(np.float64) for v in model.layers[-1].get_weights())
    z = x.reshape(6, 5) @ w + b
    top = np.eye(3)[target] * z  # R at the output: the target's score
    expected = numpy_rule(x=x.reshape(6, 5).astype(np.float64), w=w, b=b, relevance=top, **oracle)
    got = cl.lrp(model, x, target, **rule)
    np.testing.assert_allclose(toys.flat(got), expected, rtol=1e-4, atol=1e-5)


def test_zplus_after_relu_matches_two_layer_matrix_form(rng):
    """Two dense layers: the second sees ReLU outputs, where the rule skips the negative-input term."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(1, 4, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    x = rng.normal(size=(5, 1, 4, 1)).astype(np.float32)
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in model.layers[1:])
    h = np.maximum(x.reshape(5, 4) @ w1 + b1, 0)
    out = h @ w2 + b2
    top = np.eye(2)[out.argmax(1)] * out
    hidden = numpy_rule("alpha_beta", h, w2, b2, top, alpha=1.0, beta=0.0)
    expected = numpy_rule("alpha_beta", x.reshape(5, 4), w1, b1, hidden, alpha=1.0, beta=0.0)
    np.testing.assert_allclose(toys.flat(cl.lrp(model, x, rule="zplus")), expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- invariants on small CNNs


@pytest.mark.parametrize("head", ["gap", "gmp"])
def test_z_rule_is_gradient_times_input(head, rng):
    model = small_cnn(seed=2, head=head)
    x = rng.uniform(0, 1, size=(4, 10, 10, 2)).astype(np.float32)
    target = np.array([0, 1, 2, 1])
    expected = gradient_times_input(model, x, target)
    np.testing.assert_allclose(cl.lrp(model, x, target, rule="z"), expected, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(
    "options, head",
    [
        (dict(rule="zplus"), "gap"),
        (dict(rule="zplus"), "gmp"),
        (dict(rule="epsilon", epsilon=1e-9), "gap"),
        (dict(rule="epsilon", epsilon=1e-9), "gmp"),
        (dict(rule="alpha_beta"), "gap"),
    ],
)
def test_conservation_without_biases(options, head, rng):
    model = small_cnn(seed=3, bias=False, head=head)
    x = rng.normal(size=(4, 10, 10, 2)).astype(np.float32)
    relevance = cl.lrp(model, x, **options)
    score = scores(model, x).max(1)
    np.testing.assert_allclose(relevance.sum((1, 2, 3)), score, rtol=1e-4, atol=1e-6)


def test_biases_break_conservation_for_z_and_epsilon(rng):
    model = small_cnn(seed=3, bias=True)
    x = rng.uniform(0, 1, size=(4, 10, 10, 2)).astype(np.float32)
    score = scores(model, x).max(1)
    for rule in ("z", "epsilon"):
        total = cl.lrp(model, x, rule=rule).sum((1, 2, 3))
        assert np.all(np.abs(total - score) > 1e-3 * np.abs(score)), rule


def test_epsilon_plus_conserves_without_biases(rng):
    model = small_cnn(seed=4, bias=False)
    x = rng.uniform(-1, 1, size=(3, 10, 10, 2)).astype(np.float32)  # e.g. Ising spins: bounds -1, 1
    for rule in ("epsilon_plus", "epsilon_plus_flat"):
        total = cl.lrp(model, x, rule=rule, epsilon=1e-9, low=-1, high=1).sum((1, 2, 3))
        np.testing.assert_allclose(total, scores(model, x).max(1), rtol=1e-4)


def test_alpha1_beta0_equals_zplus(rng):
    model = small_cnn(seed=5)
    x = rng.uniform(0, 1, size=(3, 10, 10, 2)).astype(np.float32)
    np.testing.assert_allclose(
        cl.lrp(model, x, rule="alpha_beta", alpha=1.0, beta=0.0), cl.lrp(model, x, rule="zplus"), rtol=1e-6, atol=1e-7
    )


def test_nested_sequential_is_unrolled(rng):
    inner = small_cnn(seed=6)
    outer = keras.Sequential([keras.Input(shape=(10, 10, 2)), inner])
    x = rng.uniform(0, 1, size=(2, 10, 10, 2)).astype(np.float32)
    np.testing.assert_allclose(cl.lrp(outer, x, rule="zplus"), cl.lrp(inner, x, rule="zplus"), rtol=1e-6)


# ---------------------------------------------------------------- batch normalisation


def bn_model():
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(6, 6, 1)),
            keras.layers.Conv2D(3, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Flatten(),
            keras.layers.Dense(5, use_bias=False),
            keras.layers.BatchNormalization(scale=False),
            keras.layers.Activation("relu"),
            keras.layers.Dense(3),
        ]
    )
    rng = np.random.default_rng(7)
    for layer in model.layers:  # non-trivial statistics, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2.0, v.shape) if i == len(layer.weights) - 1 else rng.normal(size=v.shape)
                               for i, v in enumerate(layer.get_weights())])  # fmt: skip
    return model


def test_batch_norm_merge_keeps_outputs(rng):
    model = bn_model()
    x = rng.normal(size=(4, 6, 6, 1)).astype(np.float32)
    steps = network_layers(model)
    linear = [step for step in steps if isinstance(step, LinearLayer)]
    assert [step.norm is not None for step in linear] == [True, True, False]
    assert [step.relu for step in linear] == [True, True, False]  # the ReLU after each normalisation, merged
    h = tf.constant(x)
    for step in steps:
        h = step.output(h) if isinstance(step, LinearLayer) else step(h)
    np.testing.assert_allclose(h.numpy(), model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_lrp_through_batch_norm(rng):
    model = bn_model()
    x = rng.normal(size=(4, 6, 6, 1)).astype(np.float32)
    target = np.array([0, 1, 2, 0])
    expected = gradient_times_input(model, x, target)
    np.testing.assert_allclose(cl.lrp(model, x, target, rule="z"), expected, atol=1e-5 * np.abs(expected).max())


# ---------------------------------------------------------------- targets, shapes, errors


def test_targets_none_int_array_agree(rng):
    model = small_cnn(seed=8)
    x = rng.uniform(0, 1, size=(3, 10, 10, 2)).astype(np.float32)
    predicted = scores(model, x).argmax(1)
    by_none = cl.lrp(model, x)
    assert by_none.shape == x.shape and by_none.dtype == np.float32
    np.testing.assert_allclose(by_none, cl.lrp(model, x, predicted), rtol=1e-6)
    np.testing.assert_allclose(cl.lrp(model, x, 2), cl.lrp(model, x, [2, 2, 2]), rtol=1e-6)
    one_by_one = np.concatenate([cl.lrp(model, x[i : i + 1], [t]) for i, t in enumerate([0, 1, 2])])
    np.testing.assert_allclose(cl.lrp(model, x, [0, 1, 2]), one_by_one, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="out of range"):
        cl.lrp(model, x, 3)
    with pytest.raises(ValueError, match="unknown LRP rule"):
        cl.lrp(model, x, rule="gamma")
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        cl.lrp(model, x, rule="alpha_beta", alpha=2.0, beta=2.0)
    with pytest.raises(ValueError, match="z\\^B"):
        cl.lrp(model, x * 3, rule="epsilon_plus")


@pytest.mark.parametrize(
    "layer, name",
    [
        (keras.layers.Conv1D(2, 3, name="conv1d_x"), "Conv1D"),
        (keras.layers.LSTM(2, name="lstm_x"), "LSTM"),
        (keras.layers.Dense(2, activation="tanh", name="dense_tanh"), "Dense"),
    ],
)
def test_unsupported_layer_is_named(layer, name):
    model = keras.Sequential([keras.Input(shape=(5, 3)), layer, keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=f"{layer.name}.*{name}"):
        cl.lrp(model, np.zeros((1, 5, 3), np.float32))


def test_custom_layer_and_branching_graph_are_rejected():
    class Double(keras.layers.Layer):
        def call(self, x):
            return 2 * x

    model = keras.Sequential(
        [keras.Input(shape=(1, 4, 1)), keras.layers.Flatten(), Double(name="double"), keras.layers.Dense(2)]
    )
    with pytest.raises(ValueError, match="double.*Double"):
        cl.lrp(model, np.zeros((1, 1, 4, 1), np.float32))
    inputs = keras.Input(shape=(1, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    merged = keras.layers.Add()([keras.layers.Dense(4)(flat), flat])
    with pytest.raises(ValueError, match="chains of layers"):
        cl.lrp(keras.Model(inputs, keras.layers.Dense(2)(merged)), np.zeros((1, 1, 4, 1), np.float32))


def test_batch_norm_after_relu_is_rejected():
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.BatchNormalization(name="bn_late"),
        ]
    )
    with pytest.raises(ValueError, match="bn_late"):
        cl.lrp(model, np.zeros((1, 4), np.float32))


# ---------------------------------------------------------------- the shipped MNIST network


def top_mass(relevance, fraction=0.05):
    """Sparsity: the share of Σ|R| held by the top ``fraction`` of pixels (1 = all mass in few pixels)."""
    magnitude = np.abs(relevance.reshape(len(relevance), -1))
    k = int(fraction * magnitude.shape[1])
    return (np.sort(magnitude, axis=1)[:, -k:].sum(1) / magnitude.sum(1)).mean()


def test_larger_epsilon_absorbs_more_and_is_sparser(mnist_model, mnist):
    (_, _), (x_test, _) = mnist
    x = x_test[:16]
    score = scores(mnist_model, x).max(1)
    absorbed, sparsity = [], []
    for epsilon in (1e-2, 1e-1, 1.0, 10.0):
        relevance = cl.lrp(mnist_model, x, rule="epsilon", epsilon=epsilon)
        absorbed.append(np.mean(np.abs(score - relevance.sum((1, 2, 3))) / np.abs(score)))
        sparsity.append(top_mass(relevance))
    assert np.all(np.diff(absorbed) > 0), absorbed
    assert absorbed[0] < 0.1 and absorbed[-1] > 0.9, absorbed
    assert np.all(np.diff(sparsity) > 0), sparsity


def test_shipped_model_rules_run_and_roughly_conserve(mnist_model, digits):
    x, labels = digits
    score = scores(mnist_model, x)[np.arange(len(x)), labels]
    for rule in ("zplus", "epsilon_plus"):
        relevance = cl.lrp(mnist_model, x, labels, rule=rule)
        assert relevance.shape == x.shape and np.all(np.isfinite(relevance))
        np.testing.assert_allclose(relevance.sum((1, 2, 3)), score, rtol=0.1)


class _LayerByLayer:
    """A rule without ``gradient_form``: LRP applies it explicitly, layer by layer."""

    def __init__(self, rule):
        self.rule = rule

    def __call__(self, layer, a, relevance):
        return self.rule(layer, a, relevance)


@pytest.mark.parametrize("rule", ["z", "epsilon", "zplus", "alpha_beta"])
def test_the_one_backward_pass_equals_the_layer_by_layer_rules(rule):
    # the gradient forms of the rules must give what the rules give when applied one layer at a time
    model = toys.no_pool_cnn(seed=3)
    x = np.random.default_rng(4).uniform(0.0, 1.0, (3, 8, 8, 1)).astype(np.float32)
    rules = lrp_rules.composite(rule, epsilon=0.1)
    explicit = lrp_rules.Composite(dense=_LayerByLayer(rules.dense), conv=_LayerByLayer(rules.conv))
    one_pass = cl.lrp(model, x, [0, 1, 2], rule=rule, epsilon=0.1)
    np.testing.assert_allclose(one_pass, cl.lrp(model, x, [0, 1, 2], rule=explicit), rtol=1e-4, atol=1e-7)
    assert np.abs(one_pass).max() > 1e-3
