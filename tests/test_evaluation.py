"""Evaluation: completeness delta, deletion curves, the model-randomisation sanity check."""

import keras
import numpy as np
import pytest
import toy_models as tm
from scipy import stats

import course_lib as cl
from course_lib._batching import predict_logits


def test_completeness_delta_by_hand():
    model = tm.relu_toy()
    x = tm.RELU_TOY_X  # f = [0, 1], f(0) = 0
    np.testing.assert_allclose(cl.completeness_delta(model, x, np.zeros_like(x)), [0, -1])
    deeplift = cl.deeplift(model, x)
    np.testing.assert_allclose(cl.completeness_delta(model, x, deeplift), 0, atol=1e-6)
    # baseline (1, 0) at x = (2, 0): f(x) − f(x′) = 1
    x2, ref = tm.as_rows([2.0, 0.0]), tm.as_rows([1.0, 0.0])
    np.testing.assert_allclose(cl.completeness_delta(model, x2, tm.as_rows([0.25, 0.0]), baseline=ref), [-0.75])
    with pytest.raises(ValueError, match="shape of x"):
        cl.completeness_delta(model, x, np.zeros((2, 2)))


def test_deletion_curve_on_a_linear_model(rng):
    """S(x) = w·x: removing pixels in a known order changes the score by known amounts."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    w = model.layers[-1].kernel.numpy()[:, 0]
    x = rng.random((1, 2, 2, 1)).astype(np.float32) + 0.5
    relevance = np.array([0.1, 0.4, 0.3, 0.2], np.float32).reshape(1, 2, 2, 1)  # order: 1, 2, 3, 0
    curve = cl.deletion_curve(model, x, relevance, steps=4)
    assert isinstance(curve, cl.DeletionCurve)
    np.testing.assert_allclose(curve.fractions, [0, 0.25, 0.5, 0.75, 1])
    contributions = w * x.reshape(-1)
    expected = [contributions.sum()]
    for pixel in (1, 2, 3, 0):
        expected.append(expected[-1] - contributions[pixel])
    np.testing.assert_allclose(curve.scores[0], expected, rtol=1e-5, atol=1e-6)
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 (numpy < 2)
    np.testing.assert_allclose(curve.auc, trapezoid(expected, curve.fractions), rtol=1e-5)
    np.testing.assert_allclose(curve.normalized()[:, 0], 1)


def test_deletion_curve_endpoints(mnist_model, digits):
    x = digits[0][:3]
    curve = cl.deletion_curve(mnist_model, x, cl.saliency(mnist_model, x), steps=5, value=0.0)
    assert curve.scores.shape == (3, 6) and curve.auc.shape == (3,)
    logits = predict_logits(mnist_model, x)
    np.testing.assert_allclose(curve.scores[:, 0], logits[np.arange(3), curve.targets], rtol=1e-5)
    np.testing.assert_allclose(
        curve.scores[:, -1], predict_logits(mnist_model, 0 * x)[np.arange(3), curve.targets], rtol=1e-5
    )


def test_relevant_pixels_first_beats_a_random_order(mnist_model, digits, rng):
    x = digits[0]
    random_map = rng.standard_normal(x.shape).astype(np.float32)
    random_auc = cl.deletion_curve(mnist_model, x, random_map, steps=10).auc
    candidates = {"integrated_gradients": cl.integrated_gradients(mnist_model, x, steps=32)}
    if hasattr(cl, "lrp"):
        candidates["lrp"] = cl.lrp(mnist_model, x)
    for name, attributions in candidates.items():
        auc = cl.deletion_curve(mnist_model, x, attributions, steps=10).auc
        assert auc.mean() < random_auc.mean() - 1.0, name
        assert (auc < random_auc).mean() >= 0.75, name


def test_randomization_check_leaves_the_model_alone_and_destroys_saliency(mnist_model, digits):
    x = digits[0][:4]
    before = [w.copy() for w in mnist_model.get_weights()]
    result = cl.model_randomization_check(mnist_model, x, cl.saliency, seed=0)
    after = mnist_model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert result.layers == ["logits", "conv2d_4", "conv2d_3", "conv2d_2", "conv2d_1"]
    assert result.similarity.shape == (5, 4) and result.explanations.shape == (5,) + x.shape
    np.testing.assert_allclose(result.original, cl.saliency(mnist_model, x), rtol=1e-5, atol=1e-6)
    assert result.similarity[-1].mean() < 0.3, result.similarity  # fully randomised: far from the original
    assert result.similarity[-1].mean() < result.similarity[0].mean()


def test_randomization_check_catches_a_model_independent_method(mnist_model, digits):
    """An 'explanation' that ignores the model (here: the input itself) keeps similarity 1 — it fails the check."""
    x = digits[0][:2]
    result = cl.model_randomization_check(
        mnist_model, x, lambda model, x, target=None: x, layers=["logits", "conv2d_4"]
    )
    np.testing.assert_allclose(result.similarity, 1)
    assert result.layers == ["logits", "conv2d_4"]


def test_randomization_check_errors(mnist_model, digits):
    with pytest.raises(TypeError, match="callable"):
        cl.model_randomization_check(mnist_model, digits[0][:1], "saliency")
    with pytest.raises(ValueError, match="valid layer names"):
        cl.model_randomization_check(mnist_model, digits[0][:1], cl.saliency, layers=["nope"])


def test_deletion_curve_accepts_per_pixel_maps(mnist_model, digits):
    x = digits[0][:2]
    maps = cl.cam(mnist_model, x, upsample=True)
    per_pixel = cl.deletion_curve(mnist_model, x, maps, steps=4)
    as_input = cl.deletion_curve(mnist_model, x, maps[..., None], steps=4)
    np.testing.assert_allclose(per_pixel.scores, as_input.scores)
    with pytest.raises(ValueError, match="one value per pixel"):
        cl.deletion_curve(mnist_model, x, maps[:, :14], steps=4)


# --------------------------------------------------------------------------- references, insertion


def _linear_model(weights, bias=0.0, shape=(2, 2, 1)):
    """S(x) = w·x + b on a small image, weights set by hand."""
    weights = np.asarray(weights, np.float32).reshape(-1, 1)
    model = keras.Sequential(
        [
            keras.Input(shape),
            keras.layers.Flatten(),
            keras.layers.Dense(
                1,
                kernel_initializer=keras.initializers.Constant(weights),
                bias_initializer=keras.initializers.Constant(bias),
            ),
        ]
    )
    return model


LINEAR_W = np.array([1.0, -2.0, 3.0, 0.5], np.float32)
LINEAR_X = np.array([0.2, 0.9, 0.6, 0.4], np.float32).reshape(1, 2, 2, 1)
LINEAR_R = np.array([0.1, 0.4, 0.3, 0.2], np.float32).reshape(1, 2, 2, 1)  # pixel order 1, 2, 3, 0


def _by_hand(reference, mode):
    """S after each step: every replaced pixel i moves the score by w_i (r_i − x_i)."""
    x, r = LINEAR_X.reshape(-1), np.asarray(reference, np.float32).reshape(-1)
    start, end = (x, r) if mode == "deletion" else (r, x)
    score = float(LINEAR_W @ start) + 0.5
    expected = [score]
    for pixel in (1, 2, 3, 0):
        score += LINEAR_W[pixel] * (end[pixel] - start[pixel])
        expected.append(score)
    return np.array(expected)


@pytest.mark.parametrize(
    "reference, image",
    [
        ("black", np.zeros(4)),
        ("mean", np.full(4, LINEAR_X.mean())),
        (0.7, np.full(4, 0.7)),
        (np.array([0.5, 0.0, 1.0, 0.25], np.float32).reshape(2, 2, 1), [0.5, 0.0, 1.0, 0.25]),
    ],
)
def test_deletion_and_insertion_curves_by_hand(reference, image):
    model = _linear_model(LINEAR_W, bias=0.5)
    deletion = cl.deletion_curve(model, LINEAR_X, LINEAR_R, steps=4, reference=reference)
    insertion = cl.insertion_curve(model, LINEAR_X, LINEAR_R, steps=4, reference=reference)
    np.testing.assert_allclose(deletion.scores[0], _by_hand(image, "deletion"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(insertion.scores[0], _by_hand(image, "insertion"), rtol=1e-5, atol=1e-6)
    # trapezoid rule over the fractions 0, 1/4, …, 1 by hand
    for curve in (deletion, insertion):
        s = curve.scores[0]
        np.testing.assert_allclose(curve.auc, [(s[0] / 2 + s[1:-1].sum() + s[-1] / 2) / 4], rtol=1e-5)
    assert deletion.mode == "deletion" and insertion.mode == "insertion"
    np.testing.assert_allclose(deletion.normalized()[:, 0], 1)
    np.testing.assert_allclose(insertion.normalized()[:, -1], 1)  # the intact image is the last point


def test_deletion_value_is_the_constant_reference():
    model = _linear_model(LINEAR_W, bias=0.5)
    by_value = cl.deletion_curve(model, LINEAR_X, LINEAR_R, steps=4, value=0.7)
    np.testing.assert_allclose(by_value.scores[0], _by_hand(np.full(4, 0.7), "deletion"), rtol=1e-5)
    with pytest.raises(ValueError, match="either value= or reference="):
        cl.deletion_curve(model, LINEAR_X, LINEAR_R, value=0.7, reference="blur")
    with pytest.raises(ValueError, match="unknown reference"):
        cl.deletion_curve(model, LINEAR_X, LINEAR_R, reference="grey")


def test_blur_reference_of_a_constant_image_changes_nothing():
    """Blurring a constant image gives the same image: the blurred deletion curve is flat."""
    model = _linear_model(LINEAR_W, bias=0.5)
    x = np.full((1, 2, 2, 1), 0.3, np.float32)
    curve = cl.deletion_curve(model, x, LINEAR_R, steps=4, reference="blur")
    np.testing.assert_allclose(curve.scores[0], LINEAR_W.sum() * 0.3 + 0.5, rtol=1e-5)
    np.testing.assert_allclose(cl.perturbation_reference(x, "blur"), x, rtol=1e-6)


def test_perturbation_reference_mean_is_per_image_and_channel(rng):
    x = rng.random((2, 3, 3, 2)).astype(np.float32)
    reference = cl.perturbation_reference(x, "mean")
    np.testing.assert_allclose(reference[1, 2, 0], x[1].reshape(-1, 2).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(reference[0, 0, 1], x[0].reshape(-1, 2).mean(axis=0), rtol=1e-6)


# --------------------------------------------------------------------------- data randomisation


@pytest.mark.parametrize(
    "other_weights, spearman",
    [
        ([-4.0, 3.0, -2.0, 1.0], -1.0),  # |w'| ranks the pixels in the opposite order
        ([10.0, 20.0, 30.0, 40.0], 1.0),  # same order
        ([1.0, 3.0, 2.0, 4.0], 0.8),  # two neighbours swapped: 1 − 6·2 / (4·15)
    ],
)
def test_data_randomization_check_by_hand(other_weights, spearman):
    """The saliency of S = w·x is w, so the check compares the rankings of |w| and |w'|."""
    model = _linear_model([1.0, 2.0, 3.0, 4.0])
    other = _linear_model(other_weights)
    result = cl.data_randomization_check(model, other, LINEAR_X, cl.saliency)
    assert isinstance(result, cl.DataRandomizationCheck)
    np.testing.assert_allclose(result.similarity, [spearman], atol=1e-6)
    np.testing.assert_allclose(result.randomized.reshape(-1), other_weights, rtol=1e-6)


def test_data_randomization_explains_the_same_classes(mnist_model, digits):
    random_labels = cl.pretrained("mnist_cnn_random_labels")
    x = digits[0][:3]
    result = cl.data_randomization_check(mnist_model, random_labels, x, cl.gradient_x_input)
    predicted = predict_logits(mnist_model, x).argmax(axis=1)
    np.testing.assert_allclose(result.randomized, cl.gradient_x_input(random_labels, x, target=predicted), atol=1e-6)
    with pytest.raises(TypeError, match="callable"):
        cl.data_randomization_check(mnist_model, random_labels, x, "saliency")


def test_random_label_model_learned_nothing_about_the_test_set(mnist):
    """Trained on shuffled labels it may memorise its training set but must stay near chance on the test set."""
    (_, _), (x_test, y_test) = mnist
    model = cl.pretrained("mnist_cnn_random_labels")
    accuracy = np.mean(predict_logits(model, x_test).argmax(axis=1) == y_test)
    assert accuracy < 0.2
    card = cl.models.model_card("mnist_cnn_random_labels")
    assert card["recipe"]["shuffle_labels"] is True
    assert card["test_accuracy"] == pytest.approx(accuracy, abs=2e-3)


# --------------------------------------------------------------------------- other signatures


def _two_dense(w1, w2):
    """S(x) = w2ᵀ W1ᵀ x: two linear layers without biases, so every backward rule gives the gradient W1 w2."""
    return keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, use_bias=False, kernel_initializer=keras.initializers.Constant(w1), name="hidden"),
            keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(w2), name="out"),
        ]
    )


def test_model_randomization_with_guided_backprop_by_hand():
    """Linear layers only: guided backprop = W1 w2; the check must see each newly drawn kernel."""
    w1 = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [0.5, -3.0]], np.float32)
    w2 = np.array([[2.0], [-1.0]], np.float32)
    model = _two_dense(w1, w2)
    result = cl.model_randomization_check(model, LINEAR_X, cl.guided_backprop, seed=3)
    assert result.layers == ["out", "hidden"]
    rng = np.random.default_rng(3)  # the documented randomisation: N(0, std²) per kernel, top layer first
    w2_new = rng.normal(0.0, w2.std(), size=w2.shape).astype(np.float32)
    w1_new = rng.normal(0.0, w1.std(), size=w1.shape).astype(np.float32)
    expected = [w1 @ w2_new, w1_new @ w2_new]
    for step, gradient in enumerate(expected):
        np.testing.assert_allclose(result.explanations[step].reshape(-1), gradient[:, 0], rtol=1e-5, atol=1e-6)
        by_hand = stats.spearmanr(np.abs(w1 @ w2)[:, 0], np.abs(gradient)[:, 0]).statistic
        np.testing.assert_allclose(result.similarity[step], [by_hand], atol=1e-6)


def test_explainer_renames_the_target_and_fixes_options():
    calls = []

    def recording(model, x, filter_index=None, layer=None, keep="map"):
        calls.append((filter_index, layer, keep))
        return np.zeros_like(x)

    method = cl.explainer(recording, target_argument="filter_index", layer="conv")
    method("model", LINEAR_X, target=3, keep="max")
    cl.explainer(recording, target_argument=None, layer="conv")("model", LINEAR_X, target=3)
    assert calls == [(3, "conv", "max"), (None, "conv", "map")]
    with pytest.raises(TypeError, match="callable"):
        cl.explainer("deconvnet")


def test_model_randomization_with_deconvnet_by_hand():
    """One linear 1×1 convolution with kernel k: the DeconvNet projection of its map is k·(k·x) = k² x."""
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(1.5), name="conv"),
            keras.layers.GlobalAveragePooling2D(),
        ]
    )
    method = cl.explainer(cl.deconvnet, target_argument=None, layer="conv")
    np.testing.assert_allclose(method(model, LINEAR_X), 1.5**2 * LINEAR_X, rtol=1e-6)
    result = cl.model_randomization_check(model, LINEAR_X, method, seed=1)
    assert result.layers == ["conv"]
    # a one-element kernel has standard deviation 0: it is left as it is, and so is the projection
    np.testing.assert_allclose(result.explanations[0], 1.5**2 * LINEAR_X, rtol=1e-6)
    np.testing.assert_allclose(result.similarity, 1)


def test_model_randomization_with_deconvnet_on_the_course_model(mnist_model, digits):
    """The check's DeconvNet maps equal those of a copy randomised the documented way."""
    x = digits[0][:2]
    method = cl.explainer(cl.deconvnet, target_argument=None, layer="conv2d_3")
    result = cl.model_randomization_check(mnist_model, x, method, layers=["conv2d_3", "conv2d_2"], seed=0)
    copy = keras.models.clone_model(mnist_model)
    copy.set_weights(mnist_model.get_weights())
    rng = np.random.default_rng(0)
    for step, name in enumerate(["conv2d_3", "conv2d_2"]):
        layer = copy.get_layer(name)
        for variable in (layer.kernel, layer.bias):
            values = variable.numpy()
            variable.assign(rng.normal(0.0, values.std(), size=values.shape).astype(np.float32))
        np.testing.assert_allclose(result.explanations[step], cl.deconvnet(copy, x, "conv2d_3"), rtol=1e-4, atol=1e-5)
