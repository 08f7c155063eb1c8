"""Curves: deletion (pixel-flipping) curves, completeness convergence, the similarity of
explanations under model randomisation, and the objective of activation maximisation."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

__all__ = ["deletion_curves", "convergence_curves", "similarity_curves", "objective_curves"]

_STYLE = {"linewidth": 1.8}


def _tidy(ax, xlabel: str, ylabel: str, title: str | None):
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False)


def deletion_curves(ax, curves: dict, *, normalized: bool = True, title: str | None = "deletion curves"):
    """Plot one deletion curve per method: ``{name: DeletionCurve}`` (or ``{name: (fractions, scores)}``).

    ``scores`` may be (B, K): the mean over samples is drawn with a band of ± one standard error.
    With ``normalized`` every sample's curve is divided by its intact score, so all start at 1.
    The legend gives the mean area under each curve (smaller = the map found the evidence faster).
    """
    for name, curve in curves.items():
        fractions, scores = (curve.fractions, curve.scores) if hasattr(curve, "fractions") else curve
        scores = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        if normalized:
            scores = scores / np.where(np.abs(scores[:, :1]) > 0, scores[:, :1], 1.0)
        mean = scores.mean(axis=0)
        area = float(np.mean(np.sum((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions), axis=1)))
        (line,) = ax.plot(fractions, mean, label=f"{name} (area {area:.3f})", **_STYLE)
        if len(scores) > 1:
            error = scores.std(axis=0, ddof=1) / np.sqrt(len(scores))
            ax.fill_between(fractions, mean - error, mean + error, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    _tidy(
        ax, "fraction of pixels removed (most relevant first)", "score / intact score" if normalized else "score", title
    )
    return ax


def convergence_curves(ax, steps, deltas: dict, *, relative_to=None, title: str | None = "completeness vs. steps"):
    """|completeness delta| against the number of integration steps, one line per quadrature rule.

    ``deltas`` is ``{name: array (len(steps),) or (len(steps), B)}`` (the mean |δ| over samples is
    drawn). With ``relative_to`` (the score differences S_c(x) − S_c(x′), shape (B,)) the relative
    error |δ| / |ΔS| is drawn instead. Log-log axes.
    """
    steps = np.asarray(steps)
    for name, values in deltas.items():
        values = np.abs(np.asarray(values, dtype=np.float64))
        if relative_to is not None:
            values = values / np.abs(np.asarray(relative_to, dtype=np.float64))
        if values.ndim == 2:
            values = values.mean(axis=1)
        ax.loglog(steps, np.maximum(values, 1e-12), marker="o", markersize=4, label=name, **_STYLE)
    label = "|Σ R − ΔS| / |ΔS|" if relative_to is not None else "|Σ R − (S(x) − S(x′))|"
    _tidy(ax, "integration steps m", label, title)
    return ax


def similarity_curves(ax, layers, similarity: dict, *, title: str | None = "model-randomisation check"):
    """Rank correlation with the original explanation as layers are randomised from the top down.

    ``similarity`` is ``{method: array (len(layers), B)}``; the mean over samples is drawn with the
    per-sample range shaded. An explanation that stays near 1 while the model is destroyed is not
    explaining the model.
    """
    positions = np.arange(len(layers) + 1)
    for name, values in similarity.items():
        values = np.asarray(values, dtype=np.float64).reshape(len(layers), -1)
        values = np.vstack([np.ones((1, values.shape[1])), values])  # step 0: the intact model
        (line,) = ax.plot(positions, values.mean(axis=1), marker="o", markersize=4, label=name, **_STYLE)
        ax.fill_between(
            positions, values.min(axis=1), values.max(axis=1), color=line.get_color(), alpha=0.12, linewidth=0
        )
    ax.set_xticks(positions)
    ax.set_xticklabels(["intact", *[f"+{name}" for name in layers]], rotation=35, ha="right", fontsize=8)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_ylim(-0.2, 1.05)
    _tidy(ax, "layers randomised (cascading, from the top)", "Spearman ρ with the original", title)
    return ax


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
