"""The metrics of course_lib.evaluation on toys whose value is computed by hand."""

import keras
import numpy as np
import pytest
from scipy import stats

import course_lib as cl

W = np.array([1.0, -2.0, 3.0, 0.5], np.float32)
X = np.array([0.2, 0.9, 0.6, 0.4], np.float32).reshape(1, 2, 2, 1)


def linear_model(weights=W, bias=0.5, shape=(2, 2, 1)):
    """S(x) = w·x + b."""
    weights = np.asarray(weights, np.float32).reshape(-1, 1)
    return keras.Sequential(
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


# --------------------------------------------------------------------------- ground truth


def test_relevance_mass_accuracy_by_hand():
    maps = np.array([[[3.0, -1.0], [1.0, 0.0]], [[-1.0, -2.0], [0.0, -3.0]]], np.float32)
    mask = np.array([[True, False], [False, False]])
    # sample 0: positive mass 3 + 1 = 4, 3 inside → 0.75; sample 1: no positive relevance → NaN
    np.testing.assert_allclose(cl.relevance_mass_accuracy(maps, mask), [0.75, np.nan])
    # channels are summed first: (2, 1) and (0.5, 0.5) → 3 and 1 as above
    channels = np.stack([maps[:1], maps[:1]], axis=-1) / 2
    np.testing.assert_allclose(cl.relevance_mass_accuracy(channels, mask), [0.75])
    with pytest.raises(ValueError, match="mask"):
        cl.relevance_mass_accuracy(maps, np.ones((3, 3), bool))


def test_relevance_rank_accuracy_by_hand():
    maps = np.array([[[3.0, 2.0], [1.0, 0.0]]], np.float32)
    # K = 2 true pixels (0, 1) and (1, 0); the two most relevant are (0, 0) and (0, 1) → one of two
    np.testing.assert_allclose(cl.relevance_rank_accuracy(maps, np.array([[False, True], [True, False]])), [0.5])
    np.testing.assert_allclose(cl.relevance_rank_accuracy(maps, np.array([[True, True], [False, False]])), [1.0])
    np.testing.assert_allclose(cl.relevance_rank_accuracy(maps, np.zeros((2, 2), bool)), [np.nan])


def test_rank_correlation_by_hand():
    truth = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_allclose(cl.rank_correlation(2 * truth + 1, truth), [1.0])
    np.testing.assert_allclose(cl.rank_correlation(-truth, truth), [-1.0])  # signed: wrong sign is penalised
    np.testing.assert_allclose(cl.rank_correlation(np.ones_like(truth), truth), [0.0])
    np.testing.assert_allclose(cl.rank_correlation(np.array([[[1.0, 3.0], [2.0, 4.0]]]), truth), [0.8])
    # per region: the map sums to (3, 0.5) over the rows, the truth orders them the other way
    regions = np.array([[0, 0], [1, 1]])
    maps = np.array([[[1.0, 2.0], [0.0, 0.5]]])
    np.testing.assert_allclose(cl.rank_correlation(maps, np.array([[1.0, 2.0]]), regions), [-1.0])
    with pytest.raises(ValueError, match="regions"):
        cl.rank_correlation(maps, np.array([[1.0, 2.0, 3.0]]), regions)


# --------------------------------------------------------------------------- faithfulness


def test_completeness_error_by_hand():
    model = linear_model()  # S(x) − S(0) = w·x
    exact = W.reshape(1, 2, 2, 1) * X
    np.testing.assert_allclose(cl.completeness_error(model, X, exact), [0.0], atol=1e-6)
    np.testing.assert_allclose(cl.completeness_error(model, X, np.zeros_like(X)), [1.0], rtol=1e-6)
    np.testing.assert_allclose(cl.completeness_error(model, X, 0.5 * exact), [0.5], rtol=1e-5)


def test_deletion_and_insertion_auc_by_hand():
    """Ranking 1, 2, 3, 0 against the black reference: contributions w_i x_i leave in that order."""
    model = linear_model()
    ranking = np.array([0.1, 0.4, 0.3, 0.2], np.float32).reshape(1, 2, 2, 1)
    contributions = (W * X.ravel())[[1, 2, 3, 0]]
    intact = contributions.sum() + 0.5  # S(x) = w·x + b
    deletion = np.concatenate([[intact], intact - np.cumsum(contributions)]) / intact  # starts at 1
    insertion = np.concatenate([[0.5], 0.5 + np.cumsum(contributions)]) / intact  # ends at 1
    area = lambda v: (v[0] / 2 + v[1:-1].sum() + v[-1] / 2) / 4  # noqa: E731
    np.testing.assert_allclose(cl.deletion_auc(model, X, ranking, steps=4), [area(deletion)], rtol=1e-5)
    np.testing.assert_allclose(
        cl.insertion_auc(model, X, ranking, steps=4, reference="black"), [area(insertion)], rtol=1e-5
    )
    curve = cl.deletion_curve(model, X, ranking, steps=4)
    np.testing.assert_allclose(curve.normalized()[0], deletion, rtol=1e-5, atol=1e-6)
    silent = linear_model(bias=0.0)
    flat = cl.deletion_curve(silent, np.zeros_like(X), ranking, steps=4)  # S(x) = 0: nothing to normalise by
    assert np.isnan(flat.normalized()).all() and np.isnan(flat.normalized_auc()).all()


def test_noisy_linear_imputation_by_hand(rng):
    image = np.arange(9, dtype=np.float32).reshape(3, 3, 1)
    removed = np.zeros((3, 3), bool)
    removed[1, 1] = True
    # centre = (1/6)(1 + 3 + 5 + 7) + (1/12)(0 + 2 + 6 + 8) = 16/6 + 16/12 = 4
    filled = cl.noisy_linear_imputation(image, removed, noise=0.0)
    np.testing.assert_allclose(filled[1, 1, 0], 4.0, rtol=1e-6)
    np.testing.assert_array_equal(filled[~removed], image[~removed])
    # a corner: neighbours (0,1) and (1,0) weigh 1/6, (1,1) weighs 1/12 → (1/6 + 3/6 + 4/12) / (5/12) = 12/5
    corner = np.zeros((3, 3), bool)
    corner[0, 0] = True
    np.testing.assert_allclose(cl.noisy_linear_imputation(image, corner, noise=0.0)[0, 0, 0], 2.4, rtol=1e-6)
    # any mask: every imputed pixel is the weighted mean of its neighbours (the defining equations)
    big = rng.random((6, 7, 2)).astype(np.float32)
    mask = rng.random((6, 7)) < 0.6
    out = cl.noisy_linear_imputation(big, mask, noise=0.0).astype(np.float64)
    for i, j in zip(*np.nonzero(mask), strict=True):
        total, weights = 0.0, 0.0
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                if (di or dj) and 0 <= i + di < 6 and 0 <= j + dj < 7:
                    w = 1 / 6 if di == 0 or dj == 0 else 1 / 12
                    total, weights = total + w * out[i + di, j + dj], weights + w
        np.testing.assert_allclose(out[i, j], total / weights, rtol=1e-5, atol=1e-6)
    noisy = cl.noisy_linear_imputation(image, removed, noise=0.1, seed=3)
    expected_noise = np.random.default_rng(3).normal(0.0, 0.1, size=(1, 1))[0, 0]
    np.testing.assert_allclose(noisy[1, 1, 0], 4.0 + expected_noise, rtol=1e-5)
    with pytest.raises(ValueError, match="every pixel"):
        cl.noisy_linear_imputation(image, np.ones((3, 3), bool))


def test_road_curve_by_hand():
    """3×3 image, S = w·x: removing the centre replaces x₁₁ = 0 by the weighted mean 4 of its neighbours."""
    weights = np.zeros(9, np.float32)
    weights[4] = 2.0
    weights[0] = 1.0
    model = linear_model(weights, bias=0.0, shape=(3, 3, 1))
    image = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
    image[0, 1, 1, 0] = 0.0
    relevance = np.arange(9, dtype=np.float32)[::-1].reshape(1, 3, 3, 1)  # pixel 0 first, pixel 8 last
    relevance[0, 1, 1, 0] = 100.0  # the centre is the most relevant pixel
    morf = cl.road_curve(model, image, relevance, fractions=[0.0, 1 / 9], noise=0.0)
    # fraction 0: S = 2·0 + 1·0 = 0; fraction 1/9: centre = (1+3+5+7)/6 + (0+2+6+8)/12 = 4 → S = 8
    np.testing.assert_allclose(morf.scores[0], [0.0, 8.0], atol=1e-5)
    np.testing.assert_allclose(morf.auc, [(0.0 + 8.0) / 2 / 9], rtol=1e-5)
    assert morf.mode == "road-morf"
    # least relevant first removes pixel 8 (weight 0): the score does not move
    lerf = cl.road_curve(model, image, relevance, fractions=[0.0, 1 / 9], order="lerf", noise=0.0)
    np.testing.assert_allclose(lerf.scores[0], [0.0, 0.0], atol=1e-5)
    with pytest.raises(ValueError, match="order"):
        cl.road_curve(model, image, relevance, order="random")


# --------------------------------------------------------------------------- robustness, randomisation


def test_max_sensitivity_by_hand(rng):
    model = linear_model()
    # the saliency of a linear model is w everywhere: it never moves
    np.testing.assert_allclose(cl.max_sensitivity(model, X, cl.saliency, radius=0.1, samples=5), [0.0])
    # Φ(x) = x moves by exactly the noise: max_j ‖δ_j‖ / ‖x‖ with the documented draws
    identity = lambda model, x, target=None: x  # noqa: E731
    x = rng.random((2, 2, 2, 1)).astype(np.float32)
    noise = np.random.default_rng(7).uniform(-0.1, 0.1, size=(4,) + x.shape).astype(np.float32)
    expected = np.linalg.norm(noise.reshape(4, 2, -1), axis=-1).max(axis=0) / np.linalg.norm(x.reshape(2, -1), axis=1)
    np.testing.assert_allclose(
        cl.max_sensitivity(model, x, identity, radius=0.1, samples=4, seed=7), expected, rtol=1e-4
    )
    with pytest.raises(ValueError, match="samples"):
        cl.max_sensitivity(model, x, identity, samples=0)


def test_model_randomization_score_by_hand():
    """S = w2ᵀ W1ᵀ x: after both layers are redrawn the gradient is W1' w2'."""
    w1 = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0], [0.5, -3.0]], np.float32)
    w2 = np.array([[2.0], [-1.0]], np.float32)
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(2, use_bias=False, kernel_initializer=keras.initializers.Constant(w1)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer=keras.initializers.Constant(w2)),
        ]
    )
    rng = np.random.default_rng(5)
    w2_new = rng.normal(0.0, w2.std(), size=w2.shape)
    w1_new = rng.normal(0.0, w1.std(), size=w1.shape)
    expected = stats.spearmanr(np.abs(w1 @ w2)[:, 0], np.abs(w1_new @ w2_new)[:, 0]).statistic
    np.testing.assert_allclose(cl.model_randomization_score(model, X, cl.saliency, seed=5), [expected], atol=1e-6)


def test_model_randomization_score_is_the_last_step_of_the_check():
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="relu", kernel_initializer=keras.initializers.RandomNormal(seed=1)),
            keras.layers.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=2)),
        ]
    )
    x = np.random.default_rng(0).random((3, 2, 2, 1)).astype(np.float32)
    check = cl.model_randomization_check(model, x, cl.gradient_x_input, seed=4)
    np.testing.assert_allclose(
        cl.model_randomization_score(model, x, cl.gradient_x_input, seed=4), check.similarity[-1]
    )
    targets = np.argmax(model.predict(x, verbose=0), axis=1)  # the check explains the intact model's classes
    copy = cl.randomized_copy(model, seed=4)
    np.testing.assert_allclose(cl.gradient_x_input(copy, x, target=targets), check.explanations[-1], atol=1e-6)
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), model.get_weights(), strict=True)) is False
