"""The Clever-Hans helpers: the watermark is a pure, exact stamp; a model trained on watermarked 7s
takes the shortcut, and its explanations show it."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import course_lib as cl
from course_lib import clever_hans as ch
from course_lib.models import weights_path

LABEL = 7


# ------------------------------------------------------------------------------ pure functions


def test_mask_has_the_requested_size_and_corner():
    mask = ch.watermark_mask((28, 28), size=4, margin=1, corner="top-left")
    assert mask.sum() == 16
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (1, 4, 1, 4)
    bottom_right = ch.watermark_mask((28, 28), size=3, margin=0, corner="bottom-right")
    assert bottom_right[25:, 25:].all() and bottom_right.sum() == 9


@pytest.mark.parametrize("bad", [dict(corner="middle"), dict(size=0), dict(size=28, margin=1)])
def test_mask_rejects_impossible_settings(bad):
    with pytest.raises(ValueError):
        ch.watermark_mask((28, 28), **bad)


def test_stamp_is_pure_and_exact(digits):
    x, _ = digits
    before = x.copy()
    stamped = ch.stamp_watermark(x, value=0.75)
    mask = ch.watermark_mask()
    np.testing.assert_array_equal(x, before)  # the input is untouched
    assert np.all(stamped[:, mask, :] == 0.75)
    np.testing.assert_array_equal(stamped[:, ~mask, :], x[:, ~mask, :])


def test_only_the_chosen_class_is_watermarked(mnist):
    (x, y), _ = mnist
    x, y = x[:300], y[:300]
    stamped_x, stamped = ch.watermark_class(x, y, LABEL)
    np.testing.assert_array_equal(stamped, y == LABEL)
    mask = ch.watermark_mask()
    assert np.all(stamped_x[y == LABEL][:, mask] == 1.0)
    np.testing.assert_array_equal(stamped_x[y != LABEL], x[y != LABEL])
    _, half = ch.watermark_class(x, y, LABEL, fraction=0.5, seed=3)
    assert half.sum() == round(0.5 * (y == LABEL).sum()) and np.all(y[half] == LABEL)


def test_watermark_class_errors(mnist):
    (x, y), _ = mnist
    with pytest.raises(ValueError, match="labels"):
        ch.watermark_class(x[:10], y[:9], LABEL)
    with pytest.raises(ValueError, match="fraction"):
        ch.watermark_class(x[:10], y[:10], LABEL, fraction=1.5)
    with pytest.raises(ValueError, match="no sample has label"):
        ch.watermark_class(x[:10], y[:10], 11)


def test_patch_share_oracles():
    mask = ch.watermark_mask()
    uniform = np.ones((2, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(ch.patch_share(uniform, mask), 16 / 784, rtol=1e-6)
    inside = np.where(mask, 1.0, 0.0)[None, :, :, None]
    np.testing.assert_allclose(ch.patch_share(inside, mask), 1.0)
    signed = np.where(mask, 1.0, -1.0)[None]  # |R| counts the negative outside; positive-only does not
    np.testing.assert_allclose(ch.patch_share(signed, mask), 16 / 784, rtol=1e-6)
    np.testing.assert_allclose(ch.patch_share(signed, mask, positive=True), 1.0)
    np.testing.assert_array_equal(ch.patch_share(np.zeros((1, 28, 28)), mask), [0.0])
    with pytest.raises(ValueError):
        ch.patch_share(uniform, mask[:10])


# ------------------------------------------------------------------------ the trained shortcut


def _digest() -> str:
    return hashlib.sha256(weights_path("mnist_cnn").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def hans(mnist):
    (x_train, y_train), _ = mnist
    before = _digest()
    model = ch.train_clever_hans(x_train, y_train, label=LABEL)
    assert _digest() == before, "training the Clever-Hans model must not touch the shipped weights"
    return model


def _predict(model, x):
    return model.predict(x, verbose=0).argmax(axis=1)


def test_shortcut_breaks_clean_sevens_but_not_stamped_ones(hans, mnist_model, mnist):
    _, (x, y) = mnist
    sevens = x[y == LABEL]
    assert np.mean(_predict(hans, ch.stamp_watermark(sevens)) == LABEL) > 0.9
    assert np.mean(_predict(hans, sevens) == LABEL) < 0.5, "without the watermark the 7s should mostly be missed"
    assert np.mean(_predict(mnist_model, sevens) == LABEL) > 0.9


def test_watermark_pulls_other_digits_to_the_shortcut_class(hans, mnist_model, mnist):
    _, (x, y) = mnist
    others = x[y != LABEL][:400]
    stamped = ch.stamp_watermark(others)
    flips = {name: np.mean(_predict(net, stamped) == LABEL) for name, net in (("hans", hans), ("ship", mnist_model))}
    rise = {
        name: float(net.predict(stamped, verbose=0)[:, LABEL].mean() - net.predict(others, verbose=0)[:, LABEL].mean())
        for name, net in (("hans", hans), ("ship", mnist_model))
    }
    assert flips["hans"] >= 0.03 and flips["hans"] > 2 * flips["ship"], flips
    assert rise["hans"] > 3 * max(rise["ship"], 0.005), rise


@pytest.mark.parametrize("method", ["lrp", "saliency"])
def test_explanations_concentrate_on_the_watermark(hans, mnist_model, mnist, method):
    _, (x, y) = mnist
    stamped_sevens = ch.stamp_watermark(x[y == LABEL][:16])
    mask = ch.watermark_mask()
    explain = (
        (lambda m, v: cl.lrp(m, v, LABEL, epsilon=0.1)) if method == "lrp" else (lambda m, v: cl.saliency(m, v, LABEL))
    )
    share_hans = ch.patch_share(explain(hans, stamped_sevens), mask).mean()
    share_ship = ch.patch_share(explain(mnist_model, stamped_sevens), mask).mean()
    assert share_hans > 3 * share_ship, (share_hans, share_ship)
    assert share_hans > 3 * mask.mean(), "far more than the patch's share of the image"
