"""The panels of the live explorers: one figure region each, drawn into a given figure.

Unlike the grids (:mod:`course_lib.plotting.grids`), a panel draws into a figure the explorer
owns (``fig`` is required and not cleared here) and returns what the caption needs.
"""

from __future__ import annotations

import numpy as np

from course_lib.plotting.grids import _as_images, frame, is_dead_map, mark_box, show, support_box

__all__ = ["probability_bars", "activation_panel", "deconvnet_panel", "maximization_panel", "relevance_panel"]


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


def activation_panel(fig, image, maps, channel: int, *, layer: str = "", image_title: str = "input"):
    """The digit, its feature map ``channel`` of ``layer`` large, and all maps ``(h, w, C)`` of the layer."""
    maps = np.asarray(maps, dtype=np.float32)
    count = maps.shape[-1]
    columns = 8
    rows = int(np.ceil(count / columns))
    outer = fig.add_gridspec(1, 3, width_ratios=[1.1, 1.3, 3.6], wspace=0.15)
    show(fig.add_subplot(outer[0]), _as_images(np.asarray(image)[None])[0], title=image_title)
    chosen = maps[..., channel]
    ax = fig.add_subplot(outer[1])
    artist = ax.imshow(chosen, cmap="viridis", vmin=0, vmax=max(float(chosen.max()), 1e-6), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{layer}[{channel}]" + ("  dead" if is_dead_map(chosen) else ""), fontsize=9)
    fig.colorbar(artist, ax=ax, fraction=0.046, pad=0.03)
    grid = outer[2].subgridspec(rows, columns, wspace=0.08, hspace=0.25)
    for index in range(count):
        panel = fig.add_subplot(grid[index // columns, index % columns])
        single = maps[..., index]
        top = float(single.max())
        show(panel, single, cmap="viridis", vmin=0, vmax=top if top > 0 else 1.0)
        panel.set_title(f"{index}", fontsize=7, color="tab:red" if index == channel else "black")
        if index == channel:
            frame(panel)
    return fig


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
    box = support_box(projection)
    show(axes[0], image, title="input")
    show(axes[1], feature_map, cmap="viridis", title=f"{layer} map ({feature_map.shape[0]}×{feature_map.shape[1]})")
    if float(feature_map.max()) > 0:
        row, col = np.unravel_index(int(np.argmax(feature_map)), feature_map.shape)
        axes[1].plot(col, row, marker="x", color="tab:red", markersize=9, markeredgewidth=2)
    limit = float(np.abs(projection).max()) or 1.0
    show(axes[2], projection, cmap="RdBu_r", vmin=-limit, vmax=limit, title="DeconvNet projection")
    if box is None:
        axes[3].set_axis_off()
        axes[3].set_title("dead map: nothing to project", fontsize=9)
        return None
    top, left, height, width = box
    mark_box(axes[0], top, left, height, width)
    mark_box(axes[2], top, left, height, width, colour="black")
    show(axes[3], image[top : top + height, left : left + width], title=f"patch {height}×{width}")
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
        show(ax, image, cmap="gray", vmin=float(image.min()), vmax=float(image.max()) + 1e-6)
        if count > 1:
            label = f"{index} dead" if dead[index] else f"{index}"
            ax.set_title(label, fontsize=7, color="tab:red" if index == chosen else "black")
        if index == chosen and count > 1:
            frame(ax)
    name = f"{layer} (whole layer)" if objective == "layer" else f"{layer}[{chosen}]"
    show(fig.add_subplot(outer[1]), images[chosen], cmap="gray", title=f"{name}\n{objective} objective")
    show(fig.add_subplot(outer[2]), _as_images(np.asarray(digit)[None])[0], title="a test digit")
    ax = fig.add_subplot(outer[3])
    curve = history[chosen] if history.ndim == 2 else history
    ax.plot(curve, color="tab:red", linewidth=2)
    ax.set_xlabel("ascent step", fontsize=8)
    ax.set_title("objective h(x)", fontsize=9)
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def relevance_panel(fig, digit, relevance, *, cmap: str = "bwr", title: str = ""):
    """The model's input next to its relevance map on a colour scale centred at zero (the draw demo)."""
    from course_lib.plotting.heatmaps import heatmap, signed_limit

    ax_in, ax_rel = fig.subplots(1, 2)
    ax_in.imshow(digit, cmap="gray", vmin=0, vmax=1)
    ax_in.set_title(f"model input ({digit.shape[0]}×{digit.shape[1]})", fontsize=9)
    ax_in.set_axis_off()
    artist = heatmap(ax_rel, relevance, cmap=cmap, limit=max(signed_limit(relevance), 1e-12))
    fig.colorbar(artist, ax=ax_rel, fraction=0.046, pad=0.04)
    ax_rel.set_title(title, fontsize=9)
    ax_rel.set_axis_off()
    return fig
