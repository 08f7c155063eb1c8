"""Grids of images: first-layer filters, feature maps, visualised patterns, digits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["image_grid"]


def _as_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {images.shape}")
    return images


def image_grid(
    images,
    *,
    titles=None,
    columns: int = 8,
    cmap: str = "gray",
    size: float = 1.2,
    symmetric: bool = False,
    per_image_scale: bool = True,
    suptitle: str | None = None,
    fig=None,
):
    """Draw ``images`` (N, H, W[, C]) in a grid and return the figure.

    Each image is scaled to its own range by default (``per_image_scale``); ``symmetric=True``
    centres the colour scale at zero (for filters and signed maps, best with ``cmap="RdBu_r"``).
    Dead (constant) images are drawn as they are: black, not stretched noise.
    """
    images = _as_images(images)
    count = len(images)
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    if fig is None:
        fig = plt.figure(figsize=(size * columns, size * rows + (0.4 if suptitle else 0.0)))
    else:
        fig.clear()
    axes = fig.subplots(rows, columns, squeeze=False)
    global_max = float(np.abs(images).max()) or 1.0
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        image = images[index]
        if symmetric:
            bound = (float(np.abs(image).max()) if per_image_scale else global_max) or 1.0
            vmin, vmax = -bound, bound
        elif per_image_scale:
            vmin, vmax = float(image.min()), float(image.max())
            if vmax - vmin < 1e-12:  # a dead map: show it black, as it is
                vmin, vmax = 0.0, max(vmax, 1.0)
        else:
            vmin, vmax = float(images.min()), float(images.max())
        ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[index]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
