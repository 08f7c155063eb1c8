"""Attribution heatmaps: a diverging colour map centred at zero, overlays, side-by-side comparisons."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["heatmap", "overlay", "compare_maps", "signed_limit"]

DIVERGING = "bwr"  # blue = negative evidence, white = none, red = positive evidence


def _as_map(values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float32)
    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim == 3:
        values = values.sum(axis=-1)  # colour images: relevance per pixel is the channel sum
    if values.ndim != 2:
        raise ValueError(f"a map must have shape (H, W) or (H, W, C); got {values.shape}")
    return values


def signed_limit(values, percentile: float = 99.5) -> float:
    """A symmetric colour limit: the ``percentile`` of |values| (robust to a few extreme pixels)."""
    limit = float(np.percentile(np.abs(values), percentile))
    return limit if limit > 0 else 1.0


def heatmap(ax, values, *, cmap: str = DIVERGING, limit: float | None = None, title: str | None = None, colorbar=False):
    """Draw one map on ``ax`` with a colour scale centred at zero; returns the image artist."""
    values = _as_map(values)
    limit = signed_limit(values) if limit is None else limit
    artist = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        plt.colorbar(artist, ax=ax, fraction=0.046, pad=0.04)
    return artist


def overlay(ax, image, values, *, alpha: float = 0.5, cmap: str = "jet", title: str | None = None, signed=False):
    """Draw ``values`` (a map, e.g. an upsampled CAM) over a grey ``image`` with opacity ``alpha``.

    ``signed=True`` uses the diverging colour map centred at zero; otherwise the map is scaled to
    its own range (as CAMs are usually shown).
    """
    image = _as_map(image)
    values = _as_map(values)
    if values.shape != image.shape:
        raise ValueError(f"map shape {values.shape} differs from image shape {image.shape}; upsample the map first")
    ax.imshow(image, cmap="gray", interpolation="nearest")
    if signed:
        limit = signed_limit(values)
        artist = ax.imshow(values, cmap=DIVERGING, vmin=-limit, vmax=limit, alpha=alpha, interpolation="bilinear")
    else:
        artist = ax.imshow(values, cmap=cmap, alpha=alpha, interpolation="bilinear")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return artist


def compare_maps(images, maps: dict, *, size: float = 1.6, shared_limit: bool = False, fig=None):
    """A grid with one row per sample: the input, then one heatmap per method in ``maps``.

    ``maps`` is ``{method name: array (B, H, W[, C])}``. Each map gets its own symmetric colour
    scale unless ``shared_limit``.
    """
    images = np.asarray(images)
    rows, columns = len(images), 1 + len(maps)
    if fig is None:
        fig = plt.figure(figsize=(size * columns, size * rows))
    else:
        fig.clear()
    axes = fig.subplots(rows, columns, squeeze=False)
    limit = max(signed_limit(m) for m in maps.values()) if shared_limit else None
    for row in range(rows):
        axes[row, 0].imshow(_as_map(images[row]), cmap="gray")
        axes[row, 0].set_axis_off()
        if row == 0:
            axes[row, 0].set_title("input", fontsize=9)
        for column, (name, values) in enumerate(maps.items(), start=1):
            heatmap(axes[row, column], values[row], limit=limit, title=name if row == 0 else None)
    fig.tight_layout()
    return fig
