"""A "Clever Hans" model: a network that learns a spurious watermark instead of the digit.

Clever Hans was a horse that seemed to count but read its trainer's body language. Lapuschkin et
al. ("Unmasking Clever Hans predictors and assessing what machines really learn", Nature
Communications 10, 1096, 2019) found image classifiers doing the same: a "horse" detector that
looked at a copyright tag printed on many horse photos. Explanations revealed the shortcut; the test
accuracy on the usual (tagged) test set did not.

This module rebuilds that situation on MNIST in seconds:

* :func:`stamp_watermark` — a pure function that prints a small bright square into a corner of
  every image it is given (a copy; the input is never modified);
* :func:`watermark_class` — stamps the watermark on the training digits of one class only;
* :func:`train_clever_hans` — trains a fresh ``mnist_cnn`` on those digits, seeded and short;
* :func:`patch_share` — how much of an explanation's mass falls inside the watermark.

Design choice: the Clever-Hans model is *trained on the spot* (a few seconds on two CPU cores)
rather than shipped as a second weight file. Training it is the point of the demonstration — the
student sees that nothing but the data changed — and it keeps ``course_lib/weights/`` to the two
course models. Nothing here writes to disk; the shipped ``mnist_cnn`` weights are never touched.
"""

from __future__ import annotations

import keras
import numpy as np

from course_lib import models
from course_lib._validation import as_batch

__all__ = [
    "WATERMARK_SIZE",
    "stamp_watermark",
    "watermark_mask",
    "watermark_class",
    "train_clever_hans",
    "patch_share",
]

WATERMARK_SIZE = 4  # pixels; a 4×4 square covers 2 % of a 28×28 digit
_CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")


def watermark_mask(shape=(28, 28), *, size: int = WATERMARK_SIZE, margin: int = 1, corner: str = "top-left"):
    """Boolean ``(H, W)`` mask of the watermark square: ``size`` pixels wide, ``margin`` from ``corner``."""
    if corner not in _CORNERS:
        raise ValueError(f"unknown corner {corner!r}; choose one of {_CORNERS}")
    height, width = int(shape[0]), int(shape[1])
    if size < 1 or margin < 0 or size + margin > min(height, width):
        raise ValueError(f"a {size}-pixel watermark with margin {margin} does not fit a {height}×{width} image")
    mask = np.zeros((height, width), dtype=bool)
    rows = slice(margin, margin + size) if corner.startswith("top") else slice(height - margin - size, height - margin)
    cols = slice(margin, margin + size) if corner.endswith("left") else slice(width - margin - size, width - margin)
    mask[rows, cols] = True
    return mask


def stamp_watermark(x, *, value: float = 1.0, **where) -> np.ndarray:
    """A copy of the batch ``x`` (B, H, W, C) with a bright square (pixels set to ``value``) stamped on.

    ``where`` holds :func:`watermark_mask`'s ``size``, ``margin`` and ``corner``. Pure: ``x`` is
    left unchanged.
    """
    x = as_batch(x).copy()
    mask = watermark_mask(x.shape[1:3], **where)
    x[:, mask, :] = value
    return x


def watermark_class(x, y, label: int, *, fraction: float = 1.0, seed: int = 0, **where):
    """Stamp the watermark on ``fraction`` of the samples of class ``label``; other classes stay clean.

    Returns ``(x_stamped, stamped)``: a copy of ``x`` and a boolean vector marking stamped samples.
    """
    x = as_batch(x)
    y = np.asarray(y).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    candidates = np.flatnonzero(y == label)
    if len(candidates) == 0:
        raise ValueError(f"no sample has label {label}; labels present: {sorted(set(y.tolist()))}")
    chosen = np.random.default_rng(seed).permutation(candidates)[: int(round(fraction * len(candidates)))]
    stamped = np.zeros(len(x), dtype=bool)
    stamped[chosen] = True
    x_out = x.copy()
    x_out[stamped] = stamp_watermark(x[stamped], **where)
    return x_out, stamped


def train_clever_hans(
    x,
    y,
    label: int = 7,
    *,
    samples: int = 3000,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float = 5e-3,
    fraction: float = 1.0,
    seed: int = 0,
    verbose: int = 0,
    **where,
) -> keras.Model:
    """Train a fresh ``mnist_cnn`` on digits whose class ``label`` carries the watermark.

    The first ``samples`` digits of ``(x, y)`` are used (a small subset, so that training takes a
    few seconds on a CPU even with full MNIST), class ``label`` gets the watermark on ``fraction`` of
    its digits, and the network is trained for ``epochs`` with Adam from a seeded initialisation
    (``keras.utils.set_random_seed(seed)``: Python, NumPy and TensorFlow global seeds are set).
    Returns the trained model (softmax output, inference mode). The shipped weights are not used or
    touched.

    A short training is deliberate: a bright square is far easier to detect than the shape of a
    digit, so the network takes the shortcut first.
    """
    x = as_batch(x)[:samples]
    y = np.asarray(y).reshape(-1)[:samples].astype(np.int64)
    x_stamped, _ = watermark_class(x, y, label, fraction=fraction, seed=seed, **where)
    keras.utils.set_random_seed(seed)
    model = models.mnist_cnn()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    model.fit(x_stamped, y, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
    model.trainable = False
    return model


def patch_share(maps, mask, *, positive: bool = False) -> np.ndarray:
    """Per sample, the share of an explanation's mass that lies inside ``mask``.

    ``share_b = Σ_{p ∈ mask} m_b(p) / Σ_p m_b(p)`` with ``m = |R|`` (or ``m = max(R, 0)`` when
    ``positive``), channels summed first. A map spread evenly over the image gives the mask's
    area fraction (16/784 ≈ 0.02 for the default watermark); a map that looks only at the
    watermark gives 1.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (B, H, W) or (B, H, W, C); got {maps.shape}")
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != maps.shape[1:]:
        raise ValueError(f"mask shape {mask.shape} differs from the maps' image shape {maps.shape[1:]}")
    mass = np.maximum(maps, 0.0) if positive else np.abs(maps)
    total = mass.sum(axis=(1, 2))
    inside = mass[:, mask].sum(axis=1)
    return (inside / np.where(total > 0, total, 1.0)).astype(np.float32)
