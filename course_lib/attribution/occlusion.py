"""Occlusion: how much does the class score drop when a patch of the input is hidden?

Zeiler and Fergus (2014) slid a grey square over the image and watched the classifier's output.
For every patch position p (a ``patch``-sized window moved by ``stride``),

    d_p = S_c(x) − S_c(x with the patch p set to ``value``),

a perturbation measurement that needs no gradients — only forward passes. Each pixel receives
the mean drop of the patches that cover it,

    R[h, w, :] = Σ_{p ∋ (h, w)} d_p / #{p ∋ (h, w)},

the same value for all channels (a patch hides every channel). Positive R: hiding the pixel
lowers the score (evidence for class c); negative: hiding it raises the score.

All occluded copies (B × number of patches) are evaluated in compiled batches of ``batch_size``
images; the windows are placed every ``stride`` pixels and, if the stride does not reach the last
row/column, one more window is added flush with the border so every pixel is covered.

Reference: M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks",
ECCV 2014, arXiv:1311.2901.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from course_lib._batching import DEFAULT_BATCH_SIZE, chunks, logits_of, prepare, select, target_scores
from course_lib._cache import compiled
from course_lib._validation import pair

__all__ = ["occlusion", "occlusion_masks"]


def _starts(size: int, window: int, step: int) -> list[int]:
    starts = list(range(0, size - window + 1, step))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def occlusion_masks(image_shape, patch=4, stride=2) -> np.ndarray:
    """Boolean masks (P, H, W) of every patch position for an image of shape (H, W) or (H, W, C)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    ph, pw = pair(patch, "patch")
    sh, sw = pair(stride, "stride")
    if ph > height or pw > width:
        raise ValueError(f"patch {(ph, pw)} is larger than the image {(height, width)}")
    if sh > ph or sw > pw:
        raise ValueError(
            f"stride {(sh, sw)} must not exceed patch {(ph, pw)}: otherwise some pixels are never occluded"
        )
    rows, cols = _starts(height, ph, sh), _starts(width, pw, sw)
    masks = np.zeros((len(rows) * len(cols), height, width), dtype=bool)
    for k, (r, c) in enumerate((r, c) for r in rows for c in cols):
        masks[k, r : r + ph, c : c + pw] = True
    return masks


def _occluded_scores_fn(model):
    """Compiled: scores (b, p) of the b samples with each of the p masks applied."""
    lm = logits_of(model)

    @tf.function(reduce_retracing=True)
    def run(x, masks, targets, value):
        b, p = tf.shape(x)[0], tf.shape(masks)[0]
        keep = 1.0 - masks[None, :, :, :, None]  # (1, p, H, W, 1)
        images = x[:, None] * keep + value * (1.0 - keep)  # (b, p, H, W, C)
        images = tf.reshape(images, tf.concat([[-1], tf.shape(x)[1:]], axis=0))
        scores = select(lm(images, training=False), tf.repeat(targets, p))
        return tf.reshape(scores, [b, p])

    return run


def occlusion(
    model,
    x,
    target=None,
    patch=4,
    stride=2,
    value: float = 0.0,
    *,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Occlusion sensitivity: mean score drop of the patches covering each pixel (Zeiler & Fergus 2014).

    Parameters
    ----------
    model : keras.Model
    x : array (B, H, W, C)
    target : None, int or B ints (None = class predicted for the unoccluded x)
    patch : int or (ph, pw)
        Window size in pixels (every channel is hidden).
    stride : int or (sh, sw)
        Step between window positions (``stride < patch`` → overlapping windows).
    value : float
        What the hidden pixels are set to (0 = black for MNIST).
    batch_size : int or None
        Largest number of occluded images per compiled call.

    Returns
    -------
    float32 array of the shape of ``x``: R = mean over covering patches of S_c(x) − S_c(x_occluded),
    signed (no absolute value, no normalisation), equal in every channel of a pixel.

    Reference: M. D. Zeiler, R. Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014.
    """
    if not np.isscalar(value) or not np.isfinite(value):
        raise ValueError(f"value must be a finite number, got {value!r}")
    x, targets = prepare(model, x, target)
    masks = occlusion_masks(x.shape[1:], patch, stride)
    n_masks = len(masks)
    run = compiled(model, "occlusion_fn", lambda: _occluded_scores_fn(model))
    limit = batch_size or len(x) * n_masks
    occluded = np.zeros((len(x), n_masks), dtype=np.float32)
    masks_f = masks.astype(np.float32)
    for rows in chunks(len(x), limit):
        xs, ts = tf.constant(x[rows]), tf.constant(targets[rows])
        for part in chunks(n_masks, max(1, limit // (rows.stop - rows.start))):
            occluded[rows, part] = run(xs, tf.constant(masks_f[part]), ts, tf.constant(value, tf.float32)).numpy()
    drops = target_scores(model, x, targets, batch_size=batch_size)[:, None] - occluded  # (B, P)
    coverage = masks_f.sum(axis=0)  # (H, W), ≥ 1 everywhere
    per_pixel = np.tensordot(drops, masks_f, axes=1) / coverage  # (B, H, W)
    return np.repeat(per_pixel[..., None], x.shape[-1], axis=-1).astype(np.float32)
