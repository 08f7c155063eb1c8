"""Networks with known explanations: each stated truth is proved from the network's own outputs."""

import itertools
import math

import numpy as np
import pytest

from course_lib import ground_truth as gt
from course_lib._batching import predict_logits
from course_lib.clever_hans import stamp_watermark, watermark_mask


def _spins(rng, batch=4, size=32, up=0.5):
    return np.where(rng.random((batch, size, size, 1)) < up, 1.0, -1.0).astype(np.float32)


def _scores(network, x, targets):
    return predict_logits(network.model, x)[np.arange(len(x)), targets]


def _shapley_by_brute_force(network, x, target):
    """Exact Shapley values of the regions of one input: every coalition evaluated by the network.

    φ_k = Σ_{S ⊆ N∖k} |S|! (n − |S| − 1)! / n! · (f(x_{S∪k}) − f(x_S)), x_S = x on S, 0 elsewhere.
    """
    regions = network.regions
    n = int(regions.max()) + 1
    coalitions = np.array(list(itertools.product([0, 1], repeat=n)), dtype=bool)  # (2ⁿ, n)
    images = np.where(coalitions[:, regions][..., None], x[None], 0.0).astype(np.float32)
    values = dict(
        zip(map(tuple, coalitions), predict_logits(network.model, images)[:, target].astype(np.float64), strict=True)
    )
    phi = np.zeros(n)
    for k in range(n):
        for coalition in coalitions[~coalitions[:, k]]:
            size = int(coalition.sum())
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            with_k = coalition.copy()
            with_k[k] = True
            phi[k] += weight * (values[tuple(with_k)] - values[tuple(coalition)])
    return phi


def test_every_truth_is_complete(rng):
    """Σ_k contribution_k = S_c(x) − S_c(0) for every network, sample and class."""
    mnist_like = rng.random((3, 28, 28, 1)).astype(np.float32) * (rng.random((3, 28, 28, 1)) < 0.3)
    inputs = {
        "magnetization": _spins(rng, up=0.7),
        "energy": _spins(rng, up=0.8),
        "additive": mnist_like,
        "clever_hans": np.concatenate([stamp_watermark(mnist_like[:2]), mnist_like[2:]]),
    }
    for name, network in gt.ground_truth_networks().items():
        x = inputs[name]
        for target in range(len(network.classes)):
            targets = np.full(len(x), target)
            truth = network.region_contributions(x, target)
            delta = _scores(network, x, targets) - _scores(network, np.zeros_like(x), targets)
            np.testing.assert_allclose(truth.sum(axis=1), delta, rtol=1e-4, atol=1e-5, err_msg=name)
            np.testing.assert_allclose(network.attribution(x, target).sum(axis=(1, 2)), delta, rtol=1e-4, atol=1e-5)


def test_magnetization_network_computes_m_and_each_spin_adds_its_share(rng):
    network = gt.magnetization_network()
    x = _spins(rng, up=0.3)
    m = x.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(predict_logits(network.model, x), np.stack([m, -m], axis=1), atol=1e-6)
    # linear: zeroing spin i changes class 0 by exactly s_i / N, for every spin
    flipped = np.repeat(x[:1], 1024, axis=0).reshape(1024, -1)
    flipped[np.arange(1024), np.arange(1024)] = 0.0
    change = m[0] - predict_logits(network.model, flipped.reshape(1024, 32, 32, 1))[:, 0]
    np.testing.assert_allclose(change, x[0].ravel() / 1024, atol=1e-6)
    # the predicted class scores |m| and the truth is the signed share sign(m)·s_i / N of it
    truth = network.attribution(x)
    np.testing.assert_allclose(truth, np.sign(m)[:, None, None] * x[..., 0] / 1024, atol=1e-7)
    np.testing.assert_array_equal(network.mask(x), np.sign(m)[:, None, None] * x[..., 0] > 0)


def test_energy_network_is_the_energy_density_above_the_ground_state(rng):
    network = gt.energy_network()
    x = _spins(rng, up=0.6)
    s = x[..., 0].astype(np.float64)
    # E = −Σ s_i s_j over the bonds a 2×2 window sees; ground state E₀ = −(number of those bonds)
    energy = -(s[:, :-1, :-1] * s[:, :-1, 1:]).sum(axis=(1, 2)) - (s[:, :-1, :-1] * s[:, 1:, :-1]).sum(axis=(1, 2))
    ground = -2 * 31 * 31
    np.testing.assert_allclose(predict_logits(network.model, x)[:, 0], (energy - ground) / 1024, rtol=1e-5)
    np.testing.assert_allclose(predict_logits(network.model, np.ones_like(x))[:, 0], 0, atol=1e-7)


def test_energy_truth_is_the_shapley_value_of_each_site():
    network = gt.energy_network(shape=(3, 3, 1))
    x = np.array([[1, 1, -1], [1, -1, -1], [1, 1, 1]], np.float32).reshape(1, 3, 3, 1)
    phi = _shapley_by_brute_force(network, x[0], target=0)
    np.testing.assert_allclose(network.region_contributions(x)[0], phi, atol=1e-6)
    # by hand: the 2×2 windows see bonds (0,0)-(0,1), (0,1)-(0,2), (1,0)-(1,1), (1,1)-(1,2) and
    # (0,0)-(1,0), (1,0)-(2,0), (0,1)-(1,1), (1,1)-(2,1); disagreeing: (0,1)-(0,2), (1,0)-(1,1),
    # (0,1)-(1,1), (1,1)-(2,1) → site (1,1) sits on three of them, (0,1) on two, (0,2), (1,0), (2,1) on one
    expected = np.array([[0, 2, 1], [1, 3, 0], [0, 1, 0]]) / 9
    np.testing.assert_allclose(network.attribution(x)[0], expected, atol=1e-7)
    np.testing.assert_array_equal(network.mask(x)[0], expected > 0)


def test_additive_network_is_additive_over_its_blocks(rng, digits):
    """f(x on S) − f(0) = Σ_{k∈S} φ_k for random block sets S: additivity, hence φ are the Shapley values."""
    network = gt.additive_network()
    x = digits[0][:4]
    truth = network.region_contributions(x, 0)
    assert np.abs(truth).sum(axis=1).min() > 0.1  # the digits do switch stroke detectors on
    subsets = rng.random((4, 12, 16)) < 0.5
    for b in range(4):
        images = np.where(subsets[b][:, network.regions][..., None], x[b], 0.0).astype(np.float32)
        scores = predict_logits(network.model, images)[:, 0]
        np.testing.assert_allclose(scores, subsets[b] @ truth[b], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(network.region_contributions(x, 1), -truth)


def test_additive_network_by_hand():
    """A horizontal bar through the middle of block 5: t_h·x = 21 · 1/21 = 1, so h = 1 − θ; and
    t_v·x = 9 · 1/21 − 12 · 1/28 = 0, so v = 0."""
    network = gt.additive_network()
    x = np.zeros((1, 28, 28, 1), np.float32)
    x[0, 7 + 2 : 7 + 5, 7:14] = 1.0  # rows 2-4 of the block in row 1, column 1 of the 4×4 grid
    truth = network.region_contributions(x, 0)[0]
    expected = np.zeros(16)
    expected[5] = 1.0 - gt.STROKE_THRESHOLD
    np.testing.assert_allclose(truth, expected, atol=1e-6)
    np.testing.assert_allclose(predict_logits(network.model, x)[0], [expected.sum(), -expected.sum()], atol=1e-5)


def test_clever_hans_network_reads_only_the_watermark(rng, digits):
    network = gt.clever_hans_network()
    patch = watermark_mask()
    x = stamp_watermark(digits[0][:4])
    noise = rng.random(x.shape).astype(np.float32) * ~patch[None, :, :, None]
    np.testing.assert_allclose(predict_logits(network.model, x), predict_logits(network.model, x + noise), atol=1e-6)
    np.testing.assert_allclose(predict_logits(network.model, x), [[-4.0, 4.0]] * 4, atol=1e-6)  # d = 8·(1 − ½)
    assert (network.targets(x) == 1).all() and (network.targets(digits[0]) == 0).all()
    truth = network.attribution(x)
    np.testing.assert_allclose(truth[:, patch], 4.0 / 16, atol=1e-7)
    np.testing.assert_allclose(truth[:, ~patch], 0)
    np.testing.assert_array_equal(network.mask(x), np.broadcast_to(patch, truth.shape))


def test_clever_hans_patch_pixels_are_symmetric(rng):
    """The score is symmetric in the patch pixels, so their Shapley values are equal: permuting them changes nothing."""
    network = gt.clever_hans_network()
    patch = watermark_mask()
    x = rng.random((1, 28, 28, 1)).astype(np.float32)
    x[0, patch, 0] = np.linspace(0.5, 1.0, 16)
    shuffled = x.copy()
    shuffled[0, patch, 0] = rng.permutation(x[0, patch, 0])
    np.testing.assert_allclose(predict_logits(network.model, shuffled), predict_logits(network.model, x), atol=1e-6)


def test_region_sums(rng):
    maps = rng.random((2, 4, 4, 3)).astype(np.float32)
    regions = np.repeat(np.repeat(np.arange(4).reshape(2, 2), 2, axis=0), 2, axis=1)
    sums = gt.region_sums(maps, regions)
    np.testing.assert_allclose(sums[1, 3], maps[1, 2:, 2:].sum(), rtol=1e-5)
    np.testing.assert_allclose(sums.sum(axis=1), maps.sum(axis=(1, 2, 3)), rtol=1e-5)
    with pytest.raises(ValueError, match="attributions must have shape"):
        gt.region_sums(maps[:, :3], regions)
