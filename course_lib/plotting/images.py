"""Grids of images: first-layer filters, feature maps, visualised patterns, digits."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = [
    "image_grid",
    "digits_row",
    "probability_bars",
    "filter_grid",
    "feature_map_grid",
    "forward_pass",
    "mark_box",
    "objective_curves",
    "activation_panel",
    "deconvnet_panel",
    "maximization_panel",
    "class_profile",
    "top_patches",
    "pattern_grid",
    "overlay_grid",
]


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


# ----------------------------------------------------------------------------------- course figures


def _new_figure(fig, width: float, height: float):
    """A cleared ``fig`` or a new pyplot figure of the given size (inches)."""
    if fig is None:
        return plt.figure(figsize=(width, height))
    fig.clear()
    return fig


def _dead(map_: np.ndarray) -> bool:
    return float(np.ptp(map_)) < 1e-12


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


def probability_bars(ax, probabilities, *, label=None, title: str | None = None):
    """A bar chart of one sample's class probabilities; the predicted bar dark, the true class outlined."""
    probabilities = np.asarray(probabilities, dtype=np.float32).ravel()
    classes = np.arange(len(probabilities))
    colours = ["tab:blue" if c == int(np.argmax(probabilities)) else "lightsteelblue" for c in classes]
    bars = ax.bar(classes, probabilities, color=colours)
    if label is not None:
        bars[int(label)].set_edgecolor("black")
        bars[int(label)].set_linewidth(1.5)
    ax.set_xticks(classes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return bars


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
    titles = [f"{index} (dead)" if _dead(panel) else f"{index}" for index, panel in enumerate(panels)]
    fig = image_grid(panels, titles=titles, columns=columns, cmap=cmap, size=size, suptitle=suptitle, fig=fig)
    if highlight is not None:
        _frame(fig.axes[int(highlight)])
    return fig


def _frame(ax, colour: str = "tab:red"):
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.5)


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


def mark_box(ax, top: int, left: int, height: int, width: int, *, colour: str = "tab:red", label: str | None = None):
    """Outline the pixel box ``[top, top+height) × [left, left+width)`` on an image axis."""
    from matplotlib.patches import Rectangle

    box = Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=colour, linewidth=1.8)
    ax.add_patch(box)
    if label:
        ax.text(left - 0.5, top - 1.0, label, color=colour, fontsize=8, va="bottom")
    return box


def objective_curves(history, *, ax=None, title: str | None = "objective during gradient ascent"):
    """Plot per-step objective values ``history`` of shape ``(F, steps)`` (one faint line per filter)."""
    history = np.asarray(history, dtype=np.float32)
    if ax is None:
        ax = plt.figure(figsize=(6.0, 2.6)).subplots()
    if history.ndim == 1:
        history = history[None]
    ax.plot(history.T, linewidth=1.0, alpha=0.6)
    ax.plot(history.mean(axis=0), color="black", linewidth=2.0, label="mean over filters")
    ax.set_xlabel("ascent step")
    ax.set_ylabel("objective h(x)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ------------------------------------------------------------------------------- explorer panels


def _show(ax, image, *, cmap="gray_r", title=None, **kwargs):
    ax.imshow(image, cmap=cmap, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def activation_panel(fig, image, maps, channel: int, *, layer: str = "", image_title: str = "input"):
    """The digit, its feature map ``channel`` of ``layer`` large, and all maps ``(h, w, C)`` of the layer."""
    maps = np.asarray(maps, dtype=np.float32)
    count = maps.shape[-1]
    columns = 8
    rows = int(np.ceil(count / columns))
    outer = fig.add_gridspec(1, 3, width_ratios=[1.1, 1.3, 3.6], wspace=0.15)
    _show(fig.add_subplot(outer[0]), _as_images(np.asarray(image)[None])[0], title=image_title)
    chosen = maps[..., channel]
    ax = fig.add_subplot(outer[1])
    artist = ax.imshow(chosen, cmap="viridis", vmin=0, vmax=max(float(chosen.max()), 1e-6), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{layer}[{channel}]" + ("  dead" if _dead(chosen) else ""), fontsize=9)
    fig.colorbar(artist, ax=ax, fraction=0.046, pad=0.03)
    grid = outer[2].subgridspec(rows, columns, wspace=0.08, hspace=0.25)
    for index in range(count):
        panel = fig.add_subplot(grid[index // columns, index % columns])
        single = maps[..., index]
        top = float(single.max())
        _show(panel, single, cmap="viridis", vmin=0, vmax=top if top > 0 else 1.0)
        panel.set_title(f"{index}", fontsize=7, color="tab:red" if index == channel else "black")
        if index == channel:
            _frame(panel)
    return fig


def _support_box(values: np.ndarray, fraction: float = 0.05):
    """(top, left, height, width) of the pixels whose |value| exceeds ``fraction`` of the maximum."""
    magnitude = np.abs(values)
    if magnitude.max() <= 0:
        return None
    rows, cols = np.nonzero(magnitude > fraction * magnitude.max())
    return int(rows.min()), int(cols.min()), int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def deconvnet_panel(fig, image, feature_map, projection, *, layer: str = ""):
    """Input with the projected region boxed, the feature map, the signed projection, the input patch.

    ``projection`` is the DeconvNet image ``(H, W[, C])`` of one feature map. Returns the box
    ``(top, left, height, width)`` that holds the projection (pixels above 5 % of its peak), or
    None when the projection is empty (a dead map).
    """
    image = _as_images(np.asarray(image)[None])[0]
    projection = np.asarray(projection, dtype=np.float32)
    projection = projection.sum(axis=-1) if projection.ndim == 3 else projection
    feature_map = np.asarray(feature_map, dtype=np.float32)
    axes = fig.subplots(1, 4, gridspec_kw={"wspace": 0.25})
    box = _support_box(projection)
    _show(axes[0], image, title="input")
    _show(axes[1], feature_map, cmap="viridis", title=f"{layer} map ({feature_map.shape[0]}×{feature_map.shape[1]})")
    if float(feature_map.max()) > 0:
        row, col = np.unravel_index(int(np.argmax(feature_map)), feature_map.shape)
        axes[1].plot(col, row, marker="x", color="tab:red", markersize=9, markeredgewidth=2)
    limit = float(np.abs(projection).max()) or 1.0
    _show(axes[2], projection, cmap="RdBu_r", vmin=-limit, vmax=limit, title="DeconvNet projection")
    if box is None:
        axes[3].set_axis_off()
        axes[3].set_title("dead map: nothing to project", fontsize=9)
        return None
    top, left, height, width = box
    mark_box(axes[0], top, left, height, width)
    mark_box(axes[2], top, left, height, width, colour="black")
    _show(axes[3], image[top : top + height, left : left + width], title=f"patch {height}×{width}")
    return box


def maximization_panel(
    fig, images, history, chosen: int, digit, *, layer: str = "", objective: str = "channel", dead=None
):
    """All optimised patterns (the chosen one framed), the chosen one large, a test digit, the ascent curve.

    ``history`` is ``(F, steps)``; ``dead`` (F,) bool marks maps whose objective stayed zero: they
    had no gradient, so their images are still the starting noise; they are drawn as they are and titled "dead".
    """
    images = _as_images(images)
    history = np.asarray(history, dtype=np.float32)
    count = len(images)
    columns = 8 if count > 1 else 1
    rows = int(np.ceil(count / columns))
    outer = fig.add_gridspec(1, 4, width_ratios=[3.4 if count > 1 else 1.0, 1.3, 1.3, 1.9], wspace=0.3)
    grid = outer[0].subgridspec(rows, columns, wspace=0.08, hspace=0.25)
    dead = np.zeros(count, dtype=bool) if dead is None else np.asarray(dead, dtype=bool)
    for index in range(count):
        ax = fig.add_subplot(grid[index // columns, index % columns])
        image = images[index]
        _show(ax, image, cmap="gray", vmin=float(image.min()), vmax=float(image.max()) + 1e-6)
        if count > 1:
            label = f"{index} dead" if dead[index] else f"{index}"
            ax.set_title(label, fontsize=7, color="tab:red" if index == chosen else "black")
        if index == chosen and count > 1:
            _frame(ax)
    name = f"{layer} (whole layer)" if objective == "layer" else f"{layer}[{chosen}]"
    _show(fig.add_subplot(outer[1]), images[chosen], cmap="gray", title=f"{name}\n{objective} objective")
    _show(fig.add_subplot(outer[2]), _as_images(np.asarray(digit)[None])[0], title="a test digit")
    ax = fig.add_subplot(outer[3])
    curve = history[chosen] if history.ndim == 2 else history
    ax.plot(curve, color="tab:red", linewidth=2)
    ax.set_xlabel("ascent step", fontsize=8)
    ax.set_title("objective h(x)", fontsize=9)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
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
        _show(top, images[index], title=None if titles is None else str(titles[index]))
        limit = float(np.abs(projections[index]).max()) or 1.0
        _show(bottom, projections[index], cmap="RdBu_r", vmin=-limit, vmax=limit)
        box = _support_box(projections[index])
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
            _frame(ax, colour="0.6")
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
