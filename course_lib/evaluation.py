"""Evaluating explanations: completeness, deletion curves, the model-randomisation sanity check.

An attribution map is a claim about the model. Three checks put the claim to the test:

- **Completeness** — methods such as integrated gradients, DeepLIFT and (bias-free) LRP promise
  Σ_i R_i = S_c(x) − S_c(x′). :func:`completeness_delta` measures how far a map is from that.
- **Deletion (pixel flipping)** — if R ranks pixels by importance, removing the most relevant
  pixels first should make the score collapse fast (Samek et al. 2017, "Evaluating the
  Visualization of What a Deep Neural Network Has Learned"; the "deletion" metric of Petsiuk et al.
  2018). :func:`deletion_curve` returns the curve and its area: smaller area = faster fall.
- **Model randomisation** — an explanation that does not change when the weights are destroyed
  cannot be explaining the model (Adebayo et al. 2018, "Sanity Checks for Saliency Maps",
  NeurIPS). :func:`model_randomization_check` randomises the layers of a *copy* of the model from
  the top down and reports how similar each explanation stays to the original one.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from scipy import stats

from course_lib._batching import (
    DEFAULT_BATCH_SIZE,
    completeness_gap,
    predict_logits,
    prepare,
    score_difference,
    target_scores,
)
from course_lib._graph import flat_layers, get_layer
from course_lib._validation import as_batch, resolve_targets
from course_lib.attribution.baselines import make_baseline

__all__ = [
    "completeness_delta",
    "deletion_curve",
    "DeletionCurve",
    "model_randomization_check",
    "RandomizationCheck",
]


def _check_attributions(attributions, x: np.ndarray) -> np.ndarray:
    attributions = as_batch(attributions, rank=None, name="attributions")
    if attributions.shape == x.shape[:3]:  # one value per pixel, e.g. an upsampled CAM
        attributions = attributions[..., None]
    if attributions.shape[:3] != x.shape[:3] or attributions.shape[3:] not in ((1,), x.shape[3:]):
        raise ValueError(
            f"attributions must have the shape of x {x.shape} (input attributions) or one value per pixel "
            f"{x.shape[:3]}; got {attributions.shape}"
        )
    return attributions


def completeness_delta(
    model, x, attributions, target=None, baseline=None, *, seed: int = 0, blur_sigma: float = 3.0
) -> np.ndarray:
    """Completeness gap per sample: δ = Σ_i R_i − (S_c(x) − S_c(x′)), float32 (B,).

    ``baseline`` is built as in :func:`course_lib.make_baseline` (None/"zeros", "uniform", "blur",
    or an array) — pass the same one (and ``seed``) that produced the attributions. δ ≈ 0 for
    integrated gradients with enough steps and for DeepLIFT; gradient × input and LRP-ε miss the
    bias contributions.
    """
    prepared = prepare(model, x, target)
    x, targets = prepared.x, prepared.targets
    attributions = _check_attributions(attributions, x)
    reference = make_baseline(x, baseline, seed=seed, blur_sigma=blur_sigma)
    return completeness_gap(attributions, *score_difference(model, x, reference, targets))


@dataclass(frozen=True)
class DeletionCurve:
    """Result of :func:`deletion_curve`.

    fractions : (steps + 1,) — fraction of pixels removed, 0 … 1
    scores : (B, steps + 1) — pre-softmax score of the target class after each removal step
    auc : (B,) — area under each curve over the fractions (trapezoid rule); smaller = faster fall
    targets : (B,) — the explained classes (fixed from the intact input)
    """

    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    targets: np.ndarray

    def normalized(self) -> np.ndarray:
        """Scores divided by the intact score S_c(x), so that every curve starts at 1."""
        return self.scores / self.scores[:, :1]


def deletion_curve(
    model,
    x,
    attributions,
    target=None,
    steps: int = 20,
    value: float = 0.0,
    *,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> DeletionCurve:
    """Remove the most relevant pixels first and record the target score after each step.

    Pixels (all channels at once) are ranked by the channel sum of ``attributions`` (B, H, W, C) —
    or by per-pixel maps (B, H, W) such as an upsampled CAM —
    highest first (ties broken by position). At step k = 0 … ``steps`` the first
    round(k/steps · H·W) pixels of the ranking are set to ``value``; the score S_c of each of these
    ``steps + 1`` images is measured — all B·(steps + 1) images in compiled batches.

    Returns
    -------
    :class:`DeletionCurve` with ``fractions`` (steps + 1,), ``scores`` (B, steps + 1), ``auc`` (B,).
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    prepared = prepare(model, x, target)
    x, targets = prepared.x, prepared.targets
    attributions = _check_attributions(attributions, x)
    batch, height, width, _ = x.shape
    n_pixels = height * width
    relevance = attributions.sum(axis=-1).reshape(batch, n_pixels)
    order = np.argsort(-relevance, axis=1, kind="stable")  # most relevant first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_pixels)[None].repeat(batch, 0), axis=1)
    counts = np.round(np.linspace(0, 1, steps + 1) * n_pixels).astype(int)  # pixels removed per step
    removed = rank[:, None, :] < counts[None, :, None]  # (B, steps + 1, H·W)
    removed = removed.reshape(batch, steps + 1, height, width, 1)
    images = np.where(removed, np.float32(value), x[:, None]).reshape((-1,) + x.shape[1:])
    scores = target_scores(model, images, np.repeat(targets, steps + 1), batch_size=batch_size).reshape(
        batch, steps + 1
    )
    fractions = counts / n_pixels
    auc = np.trapezoid(scores, fractions, axis=1) if hasattr(np, "trapezoid") else np.trapz(scores, fractions, axis=1)  # noqa: NPY201
    return DeletionCurve(fractions.astype(np.float32), scores.astype(np.float32), np.asarray(auc, np.float32), targets)


@dataclass(frozen=True)
class RandomizationCheck:
    """Result of :func:`model_randomization_check`.

    layers : names of the randomised layers, in the order they were randomised (top first);
        step k has layers[:k + 1] randomised (cascading)
    similarity : (len(layers), B) — Spearman rank correlation between |original map| and
        |map after step k| of each sample (1 = same ranking of pixels)
    original : the explanation of the intact model
    explanations : (len(layers), *original.shape) — the explanation after each step
    """

    layers: list
    similarity: np.ndarray
    original: np.ndarray
    explanations: np.ndarray


def _randomize_layer(layer, rng: np.random.Generator) -> None:
    """Replace the layer's kernel and bias with N(0, s²) noise, s = the std of the current values."""
    for attribute in ("kernel", "bias", "depthwise_kernel", "pointwise_kernel"):
        variable = getattr(layer, attribute, None)
        if variable is None:
            continue
        values = keras.ops.convert_to_numpy(variable)
        scale = float(values.std())
        variable.assign(rng.normal(0.0, scale, size=values.shape).astype(values.dtype) if scale > 0 else values)


def _weighted_layers(model) -> list:
    return [
        layer
        for layer in flat_layers(model)
        if getattr(layer, "kernel", None) is not None or hasattr(layer, "depthwise_kernel")
    ]


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of |a_i| and |b_i| for every sample i (flattened maps)."""
    values = []
    for first, second in zip(np.abs(a).reshape(len(a), -1), np.abs(b).reshape(len(b), -1), strict=True):
        if np.array_equal(first, second):
            values.append(1.0)
        elif np.ptp(first) == 0 or np.ptp(second) == 0:
            values.append(0.0)  # a constant map carries no ranking
        else:
            values.append(stats.spearmanr(first, second).statistic)
    return np.asarray(values, dtype=np.float32)


def model_randomization_check(
    model, x, method, target=None, layers=None, seed: int = 0, **method_options
) -> RandomizationCheck:
    """Cascading model-parameter randomisation (Adebayo et al. 2018) on a *copy* of the model.

    The copy (``keras.models.clone_model`` + the original weights) has its layers randomised one
    after the other, from the top (logits) down; after each step ``method(copy, x, target=...)`` is
    recomputed and compared with the original explanation by the Spearman rank correlation of the
    absolute maps (``scipy.stats.spearmanr``). The original model's weights are never touched.

    Randomisation: each kernel and bias is replaced by Gaussian noise N(0, s²) with s the standard
    deviation of the trained values (constant arrays, e.g. all-zero biases, are left as they are).

    Parameters
    ----------
    model : keras.Model
    x : array (B, H, W, C)
    method : callable ``method(model, x, target=..., **method_options)`` → maps of any shape (B, ...)
        e.g. ``course_lib.saliency``.
    target : None, int or B ints — resolved once on the *original* model, so every step explains
        the same classes.
    layers : names/indices of the layers to randomise, in order; default: every layer with a
        kernel, from the last to the first.
    seed : seed of the random weights.

    Returns
    -------
    :class:`RandomizationCheck`
    """
    if not callable(method):
        raise TypeError(f"method must be a callable like course_lib.saliency, got {type(method).__name__}")
    x = as_batch(x)
    targets = resolve_targets(target, predict_logits(model, x))
    original = np.asarray(method(model, x, target=targets, **method_options))

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    if layers is None:
        chosen = list(reversed(_weighted_layers(copy)))
        if not chosen:
            raise ValueError(f"model {model.name!r} has no layer with weights to randomise")
    else:
        chosen = [
            get_layer(copy, layer if not isinstance(layer, keras.layers.Layer) else layer.name) for layer in layers
        ]
    rng = np.random.default_rng(seed)
    explanations, similarity = [], []
    for layer in chosen:
        _randomize_layer(layer, rng)
        maps = np.asarray(method(copy, x, target=targets, **method_options))
        explanations.append(maps)
        similarity.append(_spearman(original, maps))
    return RandomizationCheck(
        layers=[layer.name for layer in chosen],
        similarity=np.stack(similarity),
        original=original,
        explanations=np.stack(explanations),
    )
