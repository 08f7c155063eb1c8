"""Grids of images: filters, feature maps, visualised patterns, digits, overlays.

Each function draws a whole figure (``fig=None`` makes a new pyplot figure, a given one is
cleared) and returns it. The small helpers (:func:`show`, :func:`frame`, :func:`mark_box`,
:func:`is_dead_map`) are shared with the explorer panels (:mod:`course_lib.plotting.panels`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "image_grid",
    "digits_row",
    "filter_grid",
    "feature_map_grid",
    "forward_pass",
    "mark_box",
    "class_profile",
    "top_patches",
    "pattern_grid",
    "overlay_grid",
    "is_dead_map",
]


def _as_images(images) -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W), (N, H, W, 1) or (N, H, W, 3); got {images.shape}")
    return images


def _new_figure(fig, width: float, height: float):
    """A cleared ``fig`` or a new pyplot figure of the given size (inches)."""
    if fig is None:
        return plt.figure(figsize=(width, height))
    fig.clear()
    return fig


def is_dead_map(values) -> bool:
    """True for a map without any variation (e.g. a ReLU map that is zero everywhere for this input).

    The grids draw such maps black and title them "dead" instead of stretching rounding noise.
    """
    return float(np.ptp(np.asarray(values))) < 1e-12


def show(ax, image, *, cmap="gray_r", title=None, **kwargs):
    """Draw ``image`` on ``ax`` without ticks, with an optional small title."""
    ax.imshow(image, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def frame(ax, colour: str = "tab:red"):
    """Frame an image axis in ``colour`` (the chosen panel of a grid)."""
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.5)


def mark_box(ax, top: int, left: int, height: int, width: int, *, colour: str = "tab:red", label: str | None = None):
    """Outline the pixel box ``[top, top+height) × [left, left+width)`` on an image axis."""
    from matplotlib.patches import Rectangle

    box = Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour, linewidth=1.8)
    ax.add_patch(box)
    if label:
        ax.text(left - 0.5, top - 1.0, label, color=colour, fontsize=8, va="bottom")
    return box


def support_box(values: np.ndarray, fraction: float = 0.05):
    """(top, left, height, width) of the pixels whose |value| exceeds ``fraction`` of the maximum."""
    magnitude = np.abs(values)
    if magnitude.max() <= 0:
        return None
    rows, cols = np.nonzero(magnitude > fraction * magnitude.max())
    return int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


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
            if is_dead_map(image):  # show it black, as it is
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


def digits_row(images, labels=None, *, predictions=None, columns: int = 10, size: float = 1.0, fig=None):
    """A row (or rows) of digits titled with their label; with ``predictions``, wrong ones in red."""
    images = _as_images(images)
    count = len(images)
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    fig = _new_figure(fig, size * columns, size * rows + 0.2)
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        ax.imshow(images[index], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        title, colour = "", "black"
        if labels is not None:
            title = f"{int(labels[index])}"
        if predictions is not None:
            title = f"{title} → {int(predictions[index])}" if title else f"{int(predictions[index])}"
            if labels is not None and int(predictions[index]) != int(labels[index]):
                colour = "tab:red"
        ax.set_title(title, fontsize=9, color=colour)
    fig.tight_layout()
    return fig


def filter_grid(kernels, *, columns: int = 8, size: float = 1.0, suptitle: str | None = None, fig=None):
    """First-layer kernels ``(F, kh, kw[, 1])`` on a diverging scale centred at zero (red +, blue −)."""
    kernels = _as_images(kernels)
    titles = [f"{index}" for index in range(len(kernels))]
    return image_grid(
        kernels, titles=titles, columns=columns, cmap="RdBu_r", symmetric=True, size=size, suptitle=suptitle, fig=fig
    )


def feature_map_grid(
    maps,
    *,
    columns: int = 8,
    size: float = 1.0,
    highlight: int | None = None,
    cmap: str = "viridis",
    suptitle: str | None = None,
    fig=None,
):
    """All feature maps of one sample, ``maps`` of shape ``(h, w, channels)``, one panel per channel.

    Every map is scaled to its own range; maps that are zero everywhere (dead ReLUs for this
    input) are drawn black and titled "dead". ``highlight`` frames one channel in red.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (h, w, channels) for one sample; got {maps.shape}")
    panels = np.moveaxis(maps, -1, 0)
    titles = [f"{index} (dead)" if is_dead_map(panel) else f"{index}" for index, panel in enumerate(panels)]
    fig = image_grid(panels, titles=titles, columns=columns, cmap=cmap, size=size, suptitle=suptitle, fig=fig)
    if highlight is not None:
        frame(fig.axes[int(highlight)])
    return fig


def forward_pass(image, activations: dict, *, maps_per_layer: int = 4, size: float = 1.3, fig=None):
    """How one input travels through the network: the input, then a few maps of each layer (columns).

    ``activations`` is ``{layer name: array (h, w, channels)}`` for one sample; each column shows the
    ``maps_per_layer`` most active maps of that layer, so the shrinking resolution and growing
    abstraction are visible side by side.
    """
    names = list(activations)
    columns = 1 + len(names)
    fig = _new_figure(fig, size * columns, size * maps_per_layer)
    axes = fig.subplots(maps_per_layer, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    axes[0, 0].imshow(_as_images(np.asarray(image)[None])[0], cmap="gray_r", interpolation="nearest")
    axes[0, 0].set_title("input", fontsize=9)
    for column, name in enumerate(names, start=1):
        maps = np.asarray(activations[name], dtype=np.float32)
        strongest = np.argsort(maps.mean(axis=(0, 1)))[::-1][:maps_per_layer]
        for row, channel in enumerate(strongest):
            axes[row, column].imshow(maps[..., channel], cmap="viridis", interpolation="nearest")
            heading = f"{name} ({maps.shape[0]}×{maps.shape[1]})\nmap {channel}"
            axes[row, column].set_title(heading if row == 0 else f"map {channel}", fontsize=8)
    fig.tight_layout()
    return fig


def class_profile(profile, *, ax=None, title: str | None = None, ylabel: str = "class"):
    """A (classes × channels) matrix of mean activations, each channel scaled to its own maximum.

    Read a column: which classes switch that channel on. Columns that are zero everywhere are
    dead channels.
    """
    profile = np.asarray(profile, dtype=np.float32)
    if ax is None:
        ax = plt.figure(figsize=(9.0, 0.28 * profile.shape[0] + 0.6)).subplots()
    peak = profile.max(axis=0, keepdims=True)
    scaled = np.divide(profile, peak, out=np.zeros_like(profile), where=peak > 0)
    artist = ax.imshow(scaled, cmap="magma", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(profile.shape[0]))
    ax.set_xlabel("channel")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.figure.colorbar(artist, ax=ax, fraction=0.03, pad=0.02, label="share of the channel's peak")
    return artist


def top_patches(images, projections, *, titles=None, size: float = 1.5, suptitle: str | None = None, fig=None):
    """Zeiler–Fergus style: inputs (top row, the projected region boxed) over their projections (bottom row).

    ``images`` and ``projections`` are ``(N, H, W[, 1])``; each projection (e.g. a DeconvNet image
    of one feature map) is drawn on its own diverging scale centred at zero.
    """
    images, projections = _as_images(images), _as_images(projections)
    count = len(images)
    fig = _new_figure(fig, size * count, 2 * size + (0.4 if suptitle else 0.0))
    axes = fig.subplots(2, count, squeeze=False)
    for index in range(count):
        top, bottom = axes[0, index], axes[1, index]
        show(top, images[index], title=None if titles is None else str(titles[index]))
        limit = float(np.abs(projections[index]).max()) or 1.0
        show(bottom, projections[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
        box = support_box(projections[index])
        if box is not None:
            mark_box(top, *box)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def pattern_grid(images, *, dead=None, titles=None, columns: int = 16, size: float = 0.75, suptitle=None, fig=None):
    """Optimised input patterns (activation maximisation), each on its own grey scale.

    Patterns of ``dead`` maps (a bool per image: the objective stayed zero, so the gradient was zero
    and the ascent never moved) are still the starting noise; they are drawn as they are, titled
    "dead" and framed in grey, so the figure shows what the optimisation really returned.
    """
    images = _as_images(images)
    dead = np.zeros(len(images), dtype=bool) if dead is None else np.asarray(dead, dtype=bool)
    if titles is None:
        titles = [f"{index}" for index in range(len(images))]
    titles = [f"{title} dead" if is_dead else str(title) for title, is_dead in zip(titles, dead, strict=True)]
    fig = image_grid(images, titles=titles, columns=columns, size=size, suptitle=suptitle, fig=fig)
    for ax, is_dead in zip(fig.axes, dead, strict=False):
        if is_dead:
            frame(ax, colour="0.6")
    return fig


def overlay_grid(
    images, maps, *, titles=None, alpha: float = 0.6, columns: int = 8, size: float = 1.5, suptitle=None, fig=None
):
    """One signed overlay per sample: ``maps`` (N, H, W) over grey ``images`` (N, H, W[, 1]).

    Every map uses a diverging colour scale centred at zero (red = evidence for, blue = against)
    with its own symmetric limit; ``alpha`` is the overlay's opacity.
    """
    from course_lib.plotting.heatmaps import overlay

    images, maps = _as_images(images), np.asarray(maps, dtype=np.float32)
    count = len(images)
    columns = max(1, min(columns, count))
    rows = int(np.ceil(count / columns))
    fig = _new_figure(fig, size * columns, size * rows + (0.4 if suptitle else 0.0))
    axes = fig.subplots(rows, columns, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < count:
            title = None if titles is None else str(titles[index])
            overlay(ax, images[index], maps[index], alpha=alpha, signed=True, title=title)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
