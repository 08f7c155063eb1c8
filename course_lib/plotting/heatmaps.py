"""Attribution heatmaps: a diverging colour map centred at zero, overlays, side-by-side comparisons."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["heatmap", "overlay", "compare_maps", "signed_limit", "attribution_row", "outline_mask", "relevance_sums"]

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


def outline_mask(ax, mask, *, colour: str = "limegreen", label: str | None = None, linewidth: float = 1.5):
    """Frame the bounding box of the boolean ``mask`` (H, W) on ``ax`` (e.g. a watermark patch)."""
    from matplotlib.patches import Rectangle

    rows, cols = np.nonzero(np.asarray(mask, dtype=bool))
    if len(rows) == 0:
        return None
    box = Rectangle(
        (cols.min() - 0.5, rows.min() - 0.5),
        cols.max() - cols.min() + 1,
        rows.max() - rows.min() + 1,
        fill=False,
        edgecolor=colour,
        linewidth=linewidth,
    )
    ax.add_patch(box)
    if label:
        ax.text(cols.max() + 1.0, rows.min(), label, color=colour, fontsize=7, va="top")
    return box


def attribution_row(
    fig,
    image,
    maps: dict,
    *,
    image_title: str = "input",
    shared_limit: bool = False,
    overlay_alpha: float | None = None,
    mask=None,
    colorbar: bool = True,
):
    """One sample: the input (grey), then one zero-centred heatmap per entry of ``maps`` ``{title: (H, W[, C])}``.

    Red raises the explained score, blue lowers it, white is neutral. ``shared_limit`` puts every
    map on one colour scale (fair when the maps have the same units, e.g. relevances that sum to
    the score); otherwise each map uses its own robust symmetric limit. ``overlay_alpha`` draws the
    maps over the digit instead of on white. ``mask`` (H, W) is outlined on every panel.
    Returns the list of axes.
    """
    image = _as_map(image)
    columns = 1 + len(maps)
    axes = fig.subplots(1, columns, squeeze=False)[0]
    axes[0].imshow(image, cmap="gray_r", vmin=0.0, vmax=max(1.0, float(image.max())), interpolation="nearest")
    axes[0].set_axis_off()
    axes[0].set_title(image_title, fontsize=9)
    limit = max(signed_limit(_as_map(m)) for m in maps.values()) if shared_limit and maps else None
    for ax, (title, values) in zip(axes[1:], maps.items(), strict=True):
        values = _as_map(values)
        own = signed_limit(values) if limit is None else limit
        if overlay_alpha is not None:
            ax.imshow(image, cmap="gray_r", interpolation="nearest")
            artist = ax.imshow(
                values, cmap=DIVERGING, vmin=-own, vmax=own, alpha=overlay_alpha, interpolation="nearest"
            )
            ax.set_axis_off()
            ax.set_title(title, fontsize=9)
        else:
            artist = heatmap(ax, values, limit=own, title=title)
        if colorbar:
            bar = fig.colorbar(artist, ax=ax, fraction=0.046, pad=0.03)
            bar.ax.tick_params(labelsize=7)
            bar.ax.yaxis.get_offset_text().set_fontsize(7)
    if mask is not None:
        for ax in axes:
            outline_mask(ax, mask)
    return list(axes)


def relevance_sums(ax, sums: dict, score: float, *, title: str | None = "conservation"):
    """Horizontal bars: the explained score S_c (grey) and Σ_i R_i of each map in ``sums``.

    Equal bars mean the relevance is conserved; the gap is what biases (and ε) absorbed.
    """
    names = ["score S_c", *sums]
    values = [float(score), *(float(v) for v in sums.values())]
    colours = ["0.6", *("tab:red" if v >= 0 else "tab:blue" for v in values[1:])]
    ax.barh(names, values, color=colours, height=0.55)
    span = max(abs(v) for v in values) or 1.0
    for row, value in enumerate(values):
        ax.text(
            value + 0.02 * span * np.sign(value or 1),
            row,
            f"{value:.2f}",
            va="center",
            ha="left" if value >= 0 else "right",
            fontsize=8,
        )
    ax.axvline(0.0, color="grey", linewidth=0.8)
    low, high = min(0.0, min(values)), max(0.0, max(values))
    ax.set_xlim(low - (0.25 * span if low < 0 else 0.0), high + (0.25 * span if high > 0 else 0.0))
    ax.invert_yaxis()
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
