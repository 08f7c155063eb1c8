"""The scoreboard at a glance: one panel per network, methods × metrics, coloured by rank."""

from __future__ import annotations

import numpy as np

__all__ = ["score_grid", "metric_bars"]


def _ranks(column: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """0 = best … 1 = worst within one column; NaN stays NaN; ties share a rank."""
    valid = np.isfinite(column)
    out = np.full(column.shape, np.nan)
    if valid.sum() < 2:
        out[valid] = 0.0
        return out
    values = column[valid] if higher_is_better else -column[valid]
    order = np.array([(values > v).sum() for v in values], dtype=float)  # how many are strictly better
    out[valid] = order / max(1, valid.sum() - 1)
    return out


def score_grid(values, methods, metrics, better, *, titles=None, fig=None, cmap: str = "RdYlGn_r"):
    """Heatmaps of ``values`` (networks, methods, metrics): green = best of its column, red = worst.

    ``better`` gives "higher" or "lower" per metric; each cell shows its value, "n/a" where NaN.
    Colours compare methods *within* one network and one metric only — the numbers of different
    metrics are on different scales.
    """
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=float)
    n_networks = values.shape[0]
    if fig is None:
        fig = plt.figure(figsize=(4.6 * n_networks, 0.32 * len(methods) + 2.2))
    axes = fig.subplots(1, n_networks, squeeze=False)[0]
    for index, ax in enumerate(axes):
        ranks = np.stack([_ranks(values[index, :, k], better[k] == "higher") for k in range(len(metrics))], axis=1)
        ax.imshow(np.ma.masked_invalid(ranks), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, k), value in np.ndenumerate(values[index]):
            ax.text(k, i, "n/a" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(metrics)))
        ax.set_xticklabels(
            [f"{m} {'↑' if b == 'higher' else '↓'}" for m, b in zip(metrics, better, strict=True)],
            rotation=60,
            ha="right",
            fontsize=7,
        )
        ax.set_yticks(range(len(methods)))
        ax.set_yticklabels(methods if index == 0 else [], fontsize=7)
        if titles is not None:
            ax.set_title(titles[index], fontsize=10)
    return fig


def metric_bars(ax, methods, values, *, highlight=None, better: str = "higher", title: str | None = None):
    """Horizontal bars of one metric for every method; ``highlight`` is drawn dark, NaN is marked n/a."""
    values = np.asarray(values, dtype=float)
    colours = ["tab:blue" if m == highlight else "lightsteelblue" for m in methods]
    positions = np.arange(len(methods))
    ax.barh(positions, np.nan_to_num(values), color=colours)
    for position, value in zip(positions, values, strict=True):
        if np.isnan(value):
            ax.text(0, position, " n/a", va="center", fontsize=7)
    ax.set_yticks(positions)
    ax.set_yticklabels(methods, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.6)
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"{'higher' if better == 'higher' else 'lower'} is better", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
