"""Pure array post-processing of attribution maps: reduce channels, upsample, normalise.

The methods of :mod:`course_lib.attribution` return raw, unreduced maps (the method contract, ARCHITECTURE.md §2). Turning a
map into something to look at — summing or max-ing the channels, resizing a coarse CAM to the
input, scaling into [0, 1] or [−1, 1] — is done here, explicitly, so no method hides it.
Nothing here draws and nothing here needs a model.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["normalize_map", "reduce_channels", "upsample_bilinear"]

_REDUCTIONS = ("sum", "mean", "abs_sum", "max_abs", "l2")


def reduce_channels(maps, how: str = "sum") -> np.ndarray:
    """Collapse the channel axis of input attributions ``(B, H, W, C)`` → ``(B, H, W)``.

    ``how``: ``"sum"`` (keeps signs; Σ over channels preserves completeness), ``"mean"``,
    ``"abs_sum"`` (Σ|R|), ``"max_abs"`` (max |R|, as in Simonyan et al. 2014) or ``"l2"``.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 4:
        raise ValueError(f"maps must have shape (B, H, W, C) to reduce channels; got shape {maps.shape}")
    if how == "sum":
        return maps.sum(axis=-1)
    if how == "mean":
        return maps.mean(axis=-1)
    if how == "abs_sum":
        return np.abs(maps).sum(axis=-1)
    if how == "max_abs":
        return np.abs(maps).max(axis=-1)
    if how == "l2":
        return np.sqrt((maps**2).sum(axis=-1))
    raise ValueError(f"unknown channel reduction {how!r}; choose one of {_REDUCTIONS}")


def upsample_bilinear(maps, size) -> np.ndarray:
    """Resize maps ``(B, h, w)`` (or ``(B, h, w, C)``) to ``size = (H, W)`` by bilinear interpolation.

    Pixel centres are aligned ("half-pixel" convention: output pixel i samples the input at
    (i + 0.5)·h/H − 0.5, clamped at the borders), the convention of ``tf.image.resize``.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim not in (3, 4):
        raise ValueError(f"maps must have shape (B, h, w) or (B, h, w, C); got shape {maps.shape}")
    if len(size) != 2:
        raise ValueError(f"size must be (H, W), got {size!r}")
    squeeze = maps.ndim == 3
    images = maps[..., None] if squeeze else maps
    out = tf.image.resize(images, (int(size[0]), int(size[1])), method="bilinear").numpy()
    return out[..., 0] if squeeze else out


def normalize_map(maps, *, mode: str = "absmax", eps: float = 1e-12) -> np.ndarray:
    """Scale each map of a batch separately (axis 0 is the batch).

    ``mode="absmax"``: R / max|R| → [−1, 1], signs kept (the usual heat-map scale);
    ``mode="minmax"``: (R − min R) / (max R − min R) → [0, 1];
    ``mode="abs"``: |R| / max|R| → [0, 1].
    An all-zero map stays zero.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim < 2:
        raise ValueError(f"maps must be a batch (B, ...); got shape {maps.shape}. Use maps[None] for one map.")
    axes = tuple(range(1, maps.ndim))
    if mode == "absmax":
        scale = np.abs(maps).max(axis=axes, keepdims=True)
        return (maps / np.maximum(scale, eps)).astype(np.float32)
    if mode == "abs":
        scale = np.abs(maps).max(axis=axes, keepdims=True)
        return (np.abs(maps) / np.maximum(scale, eps)).astype(np.float32)
    if mode == "minmax":
        low = maps.min(axis=axes, keepdims=True)
        span = maps.max(axis=axes, keepdims=True) - low
        return ((maps - low) / np.maximum(span, eps)).astype(np.float32)
    raise ValueError(f"unknown mode {mode!r}; choose 'absmax', 'minmax' or 'abs'")
