"""Evaluating explanations: completeness, deletion curves, the model-randomisation sanity check.

An attribution map is a claim about the model. Three checks put the claim to the test:

- **Completeness** — methods such as integrated gradients, DeepLIFT and (bias-free) LRP promise
  Σ_i R_i = S_c(x) − S_c(x′). :func:`completeness_delta` measures how far a map is from that.
- **Deletion (pixel flipping) and insertion** — if R ranks pixels by importance, replacing the
  most relevant pixels first by a reference (black, blurred, the image mean) should make the score
  collapse fast (Samek et al. 2017, "Evaluating the Visualization of What a Deep Neural Network Has
  Learned"; the "deletion" metric of Petsiuk et al. 2018), and putting them first into the
  reference should make it rise fast ("insertion", Petsiuk et al. 2018). :func:`deletion_curve`
  and :func:`insertion_curve` return the curve and its area.
- **Model and data randomisation** — an explanation that does not change when the weights are
  destroyed, or when the model learned nothing about the labels, cannot be explaining the model
  (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS).
  :func:`model_randomization_check` randomises the layers of a *copy* of the model from the top
  down; :func:`data_randomization_check` compares with the same architecture trained on shuffled
  labels (``course_lib.pretrained("mnist_cnn_random_labels")``). Methods whose signature differs
  from ``method(model, x, target=None, **options)`` (e.g. the DeconvNet) enter through
  :func:`explainer`.

The metrics at the end turn each check into one number per sample (float32 (B,)), each with its
paper: agreement with a known truth (:func:`rank_correlation`, :func:`relevance_mass_accuracy`,
:func:`relevance_rank_accuracy` — Arras et al. 2022, "CLEVR-XAI"), faithfulness
(:func:`deletion_auc`, :func:`insertion_auc`, :func:`road_curve` — Rong et al. 2022, ROAD),
randomisation (:func:`model_randomization_score`), robustness (:func:`max_sensitivity` — Yeh et
al. 2019) and completeness (:func:`completeness_error`). The networks whose truth is known live
in :mod:`course_lib.ground_truth`.
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
from course_lib._validation import as_batch, check_count, check_input_shape, resolve_targets
from course_lib.attribution.baselines import make_baseline

__all__ = [
    "completeness_delta",
    "completeness_error",
    "deletion_auc",
    "insertion_auc",
    "max_sensitivity",
    "model_randomization_score",
    "noisy_linear_imputation",
    "rank_correlation",
    "relevance_mass_accuracy",
    "relevance_rank_accuracy",
    "road_curve",
    "data_randomization_check",
    "DataRandomizationCheck",
    "deletion_curve",
    "DeletionCurve",
    "explainer",
    "insertion_curve",
    "model_randomization_check",
    "perturbation_reference",
    "PerturbationCurve",
    "RandomizationCheck",
    "randomized_copy",
]

REFERENCES = ("black", "blur", "mean")


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
class PerturbationCurve:
    """Result of :func:`deletion_curve` and :func:`insertion_curve`.

    fractions : (steps + 1,) — fraction of pixels replaced (deletion) or inserted (insertion), 0 … 1
    scores : (B, steps + 1) — pre-softmax score of the target class after each step
    auc : (B,) — area under each curve over the fractions (trapezoid rule); for deletion smaller =
        faster fall = better, for insertion larger = faster rise = better
    targets : (B,) — the explained classes (fixed from the intact input)
    mode : "deletion" or "insertion"
    """

    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    targets: np.ndarray
    mode: str = "deletion"

    def normalized(self) -> np.ndarray:
        """Scores divided by the intact score S_c(x) (the first point of a deletion curve, the last
        of an insertion curve), so that every curve passes through 1 at the intact image; NaN where
        S_c(x) = 0."""
        intact = self.scores[:, :1] if self.mode == "deletion" else self.scores[:, -1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(intact != 0, self.scores / intact, np.nan).astype(np.float32)

    def normalized_auc(self) -> np.ndarray:
        """Area under :meth:`normalized` (B,), NaN where S_c(x) = 0: deletion — smaller is better;
        insertion — larger is better. Dimensionless, so comparable across networks."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return _area(self.normalized(), self.fractions)


DeletionCurve = PerturbationCurve  # the name under which the deletion result was introduced


def perturbation_reference(x, reference="black", *, blur_sigma: float = 3.0) -> np.ndarray:
    """The image that replaces removed pixels, float32 of the shape of ``x`` (B, H, W, C).

    ``reference``:
      - ``"black"``: x′ = 0 (what the zero baseline of integrated gradients and DeepLIFT assumes);
      - ``"blur"``: x blurred by a Gaussian of ``blur_sigma`` pixels along H and W (Fong & Vedaldi,
        "Interpretable Explanations of Black Boxes by Meaningful Perturbation", ICCV 2017);
      - ``"mean"``: every pixel set to the mean of its channel over the image;
      - a number: every pixel set to that value;
      - an array of the shape of ``x`` or of one sample (H, W, C).
    """
    x = as_batch(x)
    if isinstance(reference, str):
        if reference == "black":
            return np.zeros_like(x)
        if reference == "blur":
            return make_baseline(x, "blur", blur_sigma=blur_sigma)
        if reference == "mean":
            return np.broadcast_to(x.mean(axis=(1, 2), keepdims=True), x.shape).astype(np.float32)
        raise ValueError(f"unknown reference {reference!r}; use one of {REFERENCES}, a number or an array like x")
    if np.isscalar(reference) and not isinstance(reference, bool):
        return np.full_like(x, np.float32(reference))
    return make_baseline(x, reference)


def _perturbation_curve(model, x, attributions, target, steps, reference, mode, blur_sigma, batch_size):
    """Shared body of deletion and insertion: step k shows the image with the top round(k/steps·H·W)
    pixels of the ranking taken from ``x`` (insertion) or from the reference (deletion)."""
    check_count(steps, "steps")
    prepared = prepare(model, x, target)
    x, targets = prepared.x, prepared.targets
    attributions = _check_attributions(attributions, x)
    reference = perturbation_reference(x, reference, blur_sigma=blur_sigma)
    batch, height, width, _ = x.shape
    n_pixels = height * width
    relevance = attributions.sum(axis=-1).reshape(batch, n_pixels)
    order = np.argsort(-relevance, axis=1, kind="stable")  # most relevant first
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(n_pixels)[None].repeat(batch, 0), axis=1)
    counts = np.round(np.linspace(0, 1, steps + 1) * n_pixels).astype(int)  # pixels changed per step
    changed = rank[:, None, :] < counts[None, :, None]  # (B, steps + 1, H·W)
    changed = changed.reshape(batch, steps + 1, height, width, 1)
    start, end = (x, reference) if mode == "deletion" else (reference, x)
    images = np.where(changed, end[:, None], start[:, None]).reshape((-1,) + x.shape[1:])
    scores = target_scores(model, images, np.repeat(targets, steps + 1), batch_size=batch_size).reshape(
        batch, steps + 1
    )
    fractions = (counts / n_pixels).astype(np.float32)
    return PerturbationCurve(fractions, scores.astype(np.float32), _area(scores, fractions), targets, mode)


def _area(values: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Trapezoid-rule area under each row of ``values`` over ``fractions``, float32."""
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 (numpy < 2)
    return np.asarray(trapezoid(values, fractions, axis=-1), np.float32)


def deletion_curve(
    model,
    x,
    attributions,
    target=None,
    steps: int = 20,
    value: float | None = None,
    *,
    reference="black",
    blur_sigma: float = 3.0,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> PerturbationCurve:
    """Replace the most relevant pixels first by a reference and record the target score after each step.

    Pixels (all channels at once) are ranked by the channel sum of ``attributions`` (B, H, W, C) —
    or by per-pixel maps (B, H, W) such as an upsampled CAM —
    highest first (ties broken by position). At step k = 0 … ``steps`` the first
    round(k/steps · H·W) pixels of the ranking take their value from the reference image x′
    (:func:`perturbation_reference`: ``"black"``, ``"blur"``, ``"mean"``, a number or an array);
    ``value=v`` is the older spelling of ``reference=v``. The score S_c of each of these
    ``steps + 1`` images is measured — all B·(steps + 1) images in compiled batches. A good
    explanation makes the score fall fast: a small area under the curve.

    References: W. Samek, A. Binder, G. Montavon, S. Lapuschkin, K.-R. Müller, "Evaluating the
    Visualization of What a Deep Neural Network Has Learned", IEEE TNNLS 2017; V. Petsiuk, A. Das,
    K. Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box Models", BMVC 2018.

    Returns
    -------
    :class:`PerturbationCurve` with ``fractions`` (steps + 1,), ``scores`` (B, steps + 1), ``auc`` (B,).
    """
    if value is not None:
        if not (isinstance(reference, str) and reference == "black"):
            raise ValueError("pass either value= or reference=, not both")
        reference = value
    return _perturbation_curve(model, x, attributions, target, steps, reference, "deletion", blur_sigma, batch_size)


def insertion_curve(
    model,
    x,
    attributions,
    target=None,
    steps: int = 20,
    *,
    reference="blur",
    blur_sigma: float = 3.0,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> PerturbationCurve:
    """Start from the reference x′ and put the most relevant pixels of x back first.

    The mirror image of :func:`deletion_curve` (same ranking, same references): step k shows x′
    with the top round(k/steps · H·W) pixels taken from x, so the curve runs from S_c(x′) to S_c(x).
    A good explanation makes the score rise fast: a large area under the curve. Petsiuk et al.
    start from a blurred image (the default here) so that the inserted pixels do not create sharp
    edges the network has never seen.

    Reference: V. Petsiuk, A. Das, K. Saenko, "RISE: Randomized Input Sampling for Explanation of
    Black-box Models", BMVC 2018.
    """
    return _perturbation_curve(model, x, attributions, target, steps, reference, "insertion", blur_sigma, batch_size)


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


def _spearman(a: np.ndarray, b: np.ndarray, *, absolute: bool = True) -> np.ndarray:
    """Spearman rank correlation of |a_i| and |b_i| (signed a_i, b_i if not ``absolute``) for every sample i."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if absolute:
        a, b = np.abs(a), np.abs(b)
    values = []
    for first, second in zip(a.reshape(len(a), -1), b.reshape(len(b), -1), strict=True):
        if np.array_equal(first, second):
            values.append(1.0)
        elif np.ptp(first) == 0 or np.ptp(second) == 0:
            values.append(0.0)  # a constant map carries no ranking
        else:
            values.append(stats.spearmanr(first, second).statistic)
    return np.asarray(values, dtype=np.float32)


def explainer(function, target_argument: str | None = "target", **fixed_options):
    """Wrap ``function`` into the course's method signature ``method(model, x, target=None, **options)``.

    For methods whose arguments differ, so that the checks of this module can call them:
    ``target`` is passed on as ``target_argument`` (``None`` = not passed at all) and
    ``fixed_options`` are added to every call. Examples::

        explainer(course_lib.deconvnet, target_argument=None, layer="conv2d_4")  # strongest map
        explainer(course_lib.deconvnet, target_argument="filter_index", layer="conv2d_4")
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")

    def method(model, x, target=None, **options):
        if target_argument is not None:
            options[target_argument] = target
        return function(model, x, **fixed_options, **options)

    method.__name__ = getattr(function, "__name__", "method")
    method.__doc__ = f"{method.__name__} called as method(model, x, target=None, **options)."
    return method


def _copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _layers_to_randomize(copy, model, layers) -> list:
    """The layers of ``copy`` to randomise, in order: ``layers`` or every weighted layer, top first."""
    if layers is None:
        chosen = list(reversed(_weighted_layers(copy)))
        if not chosen:
            raise ValueError(f"model {model.name!r} has no layer with weights to randomise")
        return chosen
    return [get_layer(copy, layer if not isinstance(layer, keras.layers.Layer) else layer.name) for layer in layers]


def randomized_copy(model, layers=None, seed: int = 0):
    """A copy of ``model`` with ``layers`` (default: every weighted layer) randomised, top first.

    The same draws as the last step of :func:`model_randomization_check` with the same ``seed``;
    the original model is not touched.
    """
    copy = _copy(model)
    rng = np.random.default_rng(seed)
    for layer in _layers_to_randomize(copy, model, layers):
        _randomize_layer(layer, rng)
    return copy


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
        e.g. ``course_lib.saliency`` or ``course_lib.guided_backprop``; other signatures through
        :func:`explainer`.
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

    copy = _copy(model)
    chosen = _layers_to_randomize(copy, model, layers)
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


@dataclass(frozen=True)
class DataRandomizationCheck:
    """Result of :func:`data_randomization_check`.

    similarity : (B,) — Spearman rank correlation between |map of the model| and |map of the
        random-label model| for each sample (near 0 = the method sees the difference)
    original : the explanation of the model
    randomized : the explanation of the model trained on shuffled labels
    """

    similarity: np.ndarray
    original: np.ndarray
    randomized: np.ndarray


def data_randomization_check(
    model, random_label_model, x, method, target=None, **method_options
) -> DataRandomizationCheck:
    """Data-randomisation sanity check (Adebayo et al. 2018): same method, model trained on shuffled labels.

    A network trained on permuted labels can only memorise; an explanation of it that still looks
    like the explanation of the real network (high rank correlation) shows the method depends on
    the input and the architecture, not on what the network learned from the labels. The targets
    are resolved once on ``model`` (its predicted classes by default) and the same classes are
    explained on both networks. Similarity: Spearman rank correlation of the absolute maps.

    Reference: J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for
    Saliency Maps", NeurIPS 2018 (section 3.2).

    Parameters
    ----------
    model, random_label_model : keras.Model — same input shape and classes, e.g.
        ``pretrained("mnist_cnn")`` and ``pretrained("mnist_cnn_random_labels")``.
    x : array (B, H, W, C)
    method : callable ``method(model, x, target=..., **method_options)`` (see :func:`explainer`).
    """
    if not callable(method):
        raise TypeError(f"method must be a callable like course_lib.saliency, got {type(method).__name__}")
    x = as_batch(x)
    check_input_shape(random_label_model, x)
    targets = resolve_targets(target, predict_logits(model, x))
    original = np.asarray(method(model, x, target=targets, **method_options))
    randomized = np.asarray(method(random_label_model, x, target=targets, **method_options))
    return DataRandomizationCheck(_spearman(original, randomized), original, randomized)


# --------------------------------------------------------------------------------------------- metrics
#
# One number per sample, float32 (B,). Faithfulness metrics take (model, x, attributions, target);
# ground-truth metrics take (attributions, truth); robustness and randomisation take the method.


def completeness_error(model, x, attributions, target=None, baseline=None, **baseline_options) -> np.ndarray:
    """Relative completeness error |δ| / |S_c(x) − S_c(x′)| per sample (0 = complete), float32 (B,).

    δ from :func:`completeness_delta`; NaN where S_c(x) = S_c(x′). Completeness ("summation to
    delta") is the axiom of M. Sundararajan, A. Taly, Q. Yan, "Axiomatic Attribution for Deep
    Networks", ICML 2017, and of A. Shrikumar, P. Greenside, A. Kundaje, "Learning Important
    Features Through Propagating Activation Differences", ICML 2017.
    """
    prepared = prepare(model, x, target)
    reference = make_baseline(prepared.x, baseline, **baseline_options)
    score_x, score_ref = score_difference(model, prepared.x, reference, prepared.targets)
    delta = completeness_gap(_check_attributions(attributions, prepared.x), score_x, score_ref)
    span = np.abs(score_x - score_ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(span > 1e-12, np.abs(delta) / span, np.nan).astype(np.float32)


def deletion_auc(model, x, attributions, target=None, *, reference="black", steps: int = 20, **options) -> np.ndarray:
    """Area under the deletion curve divided by S_c(x) (so it starts at 1), float32 (B,); smaller is better.

    :func:`deletion_curve` then :meth:`PerturbationCurve.normalized_auc`. Samek et al., IEEE TNNLS 2017;
    Petsiuk et al., BMVC 2018.
    """
    return deletion_curve(model, x, attributions, target, steps, reference=reference, **options).normalized_auc()


def insertion_auc(model, x, attributions, target=None, *, reference="blur", steps: int = 20, **options) -> np.ndarray:
    """Area under the insertion curve divided by S_c(x) (so it ends at 1), float32 (B,); larger is better.

    :func:`insertion_curve` then :meth:`PerturbationCurve.normalized_auc`. Petsiuk et al., BMVC 2018.
    """
    return insertion_curve(model, x, attributions, target, steps, reference=reference, **options).normalized_auc()


_NEIGHBOURS = [(-1, 0, 1 / 6), (1, 0, 1 / 6), (0, -1, 1 / 6), (0, 1, 1 / 6)] + [
    (di, dj, 1 / 12) for di in (-1, 1) for dj in (-1, 1)
]


def noisy_linear_imputation(image, removed, *, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """Fill the ``removed`` pixels of one image (H, W, C) from their neighbours, as ROAD does.

    Every removed pixel p is made the weighted mean of its 8 neighbours q (weight 1/6 for the 4
    direct ones, 1/12 for the diagonals, renormalised at the border): Σ_q w_pq (x_p − x_q) = 0.
    Known neighbours go to the right-hand side; the sparse linear system is solved per channel
    (``scipy.sparse.linalg.spsolve``), then Gaussian noise of standard deviation ``noise`` is added
    to the imputed values. Kept pixels are returned unchanged.

    Reference: Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci, "A Consistent and Efficient
    Evaluation Strategy for Attribution Methods", ICML 2022.
    """
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    image = np.asarray(image, dtype=np.float64)
    removed = np.asarray(removed, dtype=bool)
    if image.ndim != 3 or removed.shape != image.shape[:2]:
        raise ValueError(f"image must be (H, W, C) and removed (H, W); got {image.shape} and {removed.shape}")
    if removed.all():
        raise ValueError("every pixel is removed: nothing to impute from")
    out = image.copy()
    if not removed.any():
        return out.astype(np.float32)
    height, width, _ = image.shape
    index = -np.ones((height, width), dtype=int)
    rows, cols = np.nonzero(removed)
    index[rows, cols] = np.arange(len(rows))
    matrix_rows, matrix_cols, values = [], [], []
    diagonal = np.zeros(len(rows))
    rhs = np.zeros((len(rows), image.shape[2]))
    for di, dj, weight in _NEIGHBOURS:
        r, c = rows + di, cols + dj
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        p, r, c = np.flatnonzero(inside), r[inside], c[inside]
        diagonal[p] += weight
        unknown = index[r, c] >= 0
        matrix_rows.append(p[unknown])
        matrix_cols.append(index[r, c][unknown])
        values.append(np.full(unknown.sum(), -weight))
        np.add.at(rhs, p[~unknown], weight * image[r[~unknown], c[~unknown]])
    n = len(rows)
    matrix = sparse.csr_matrix(
        (
            np.concatenate([diagonal, *values]),
            (np.concatenate([np.arange(n), *matrix_rows]), np.concatenate([np.arange(n), *matrix_cols])),
        ),
        shape=(n, n),
    )
    solution = spsolve(matrix.tocsc(), rhs).reshape(n, -1)
    if noise:
        solution = solution + np.random.default_rng(seed).normal(0.0, noise, size=solution.shape)
    out[rows, cols] = solution
    return out.astype(np.float32)


def road_curve(
    model,
    x,
    attributions,
    target=None,
    fractions=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    order: str = "morf",
    noise: float = 0.01,
    seed: int = 0,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> PerturbationCurve:
    """ROAD — RemOve And Debias: remove a fraction of pixels and impute them from their neighbours.

    For each fraction, the most (``order="morf"``) or least (``"lerf"``) relevant pixels — ranked
    by the channel sum of ``attributions`` as in :func:`deletion_curve` — are replaced by
    :func:`noisy_linear_imputation`, which leaves no sharp-edged hole whose *shape* would tell the
    network which pixels were removed (the class leakage that biases deletion with a constant
    reference), and needs no retraining (unlike ROAR). Returns a :class:`PerturbationCurve` of mode
    ``"road-morf"``/``"road-lerf"`` whose ``auc`` is the trapezoid area over ``fractions``:
    MoRF — smaller is better; LeRF — larger is better.

    Reference: Y. Rong, T. Leemann, V. Borisov, G. Kasneci, E. Kasneci, "A Consistent and Efficient
    Evaluation Strategy for Attribution Methods", ICML 2022.
    """
    if order not in ("morf", "lerf"):
        raise ValueError(f"order must be 'morf' (most relevant first) or 'lerf' (least relevant first), got {order!r}")
    fractions = np.asarray(fractions, dtype=np.float32)
    if fractions.ndim != 1 or len(fractions) < 2 or fractions.min() < 0 or fractions.max() >= 1:
        raise ValueError(f"fractions must be at least two numbers in [0, 1); got {fractions}")
    prepared = prepare(model, x, target)
    x, targets = prepared.x, prepared.targets
    attributions = _check_attributions(attributions, x)
    batch, height, width, _ = x.shape
    relevance = attributions.sum(axis=-1).reshape(batch, -1)
    if order == "lerf":
        relevance = -relevance
    order_ = np.argsort(-relevance, axis=1, kind="stable")
    counts = np.round(fractions * height * width).astype(int)
    images = np.empty((batch, len(fractions)) + x.shape[1:], np.float32)
    for b in range(batch):
        for f, count in enumerate(counts):
            removed = np.zeros(height * width, bool)
            removed[order_[b, :count]] = True
            images[b, f] = noisy_linear_imputation(
                x[b], removed.reshape(height, width), noise=noise, seed=seed + b * len(counts) + f
            )
    scores = target_scores(
        model, images.reshape((-1,) + x.shape[1:]), np.repeat(targets, len(fractions)), batch_size=batch_size
    ).reshape(batch, len(fractions))
    return PerturbationCurve(fractions, scores, _area(scores, fractions), targets, f"road-{order}")


def _pixel_relevance(attributions, mask) -> tuple[np.ndarray, np.ndarray]:
    """Channel-summed relevance (B, H·W) and the boolean mask (B, H·W), shapes checked."""
    maps = np.asarray(attributions, dtype=np.float64)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2 and maps.ndim == 3 and mask.shape == maps.shape[1:]:
        mask = np.broadcast_to(mask, maps.shape)
    if maps.ndim != 3 or mask.shape != maps.shape:
        raise ValueError(
            f"attributions must be (B, H, W[, C]) and mask (H, W) or (B, H, W) of the same H, W; "
            f"got {np.shape(attributions)} and {np.shape(mask)}"
        )
    return maps.reshape(len(maps), -1), mask.reshape(len(maps), -1)


def relevance_mass_accuracy(attributions, mask) -> np.ndarray:
    """Share of the positive relevance that falls inside the true region, float32 (B,).

    RMA = Σ_{p ∈ GT} R⁺_p / Σ_p R⁺_p with R_p the channel sum at pixel p and R⁺ = max(R, 0);
    1 = all positive evidence inside the ground-truth mask. NaN for a map without positive relevance.

    Reference: L. Arras, A. Osman, W. Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations", Information Fusion 81, 2022.
    """
    relevance, mask = _pixel_relevance(attributions, mask)
    positive = np.maximum(relevance, 0.0)
    total = positive.sum(axis=1)
    inside = (positive * mask).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, inside / total, np.nan).astype(np.float32)


def relevance_rank_accuracy(attributions, mask) -> np.ndarray:
    """Share of the K most relevant pixels that lie in the true region (K = its size), float32 (B,).

    RRA = |top-K(R) ∩ GT| / K, pixels ranked by the channel sum R (ties: first position first).
    NaN for an empty mask.

    Reference: L. Arras, A. Osman, W. Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations", Information Fusion 81, 2022.
    """
    relevance, mask = _pixel_relevance(attributions, mask)
    values = []
    for r, m in zip(relevance, mask, strict=True):
        k = int(m.sum())
        top = np.argsort(-r, kind="stable")[:k]
        values.append(m[top].mean() if k else np.nan)
    return np.asarray(values, dtype=np.float32)


def rank_correlation(attributions, truth, regions=None) -> np.ndarray:
    """Spearman rank correlation between an explanation and the true attribution, float32 (B,).

    ``truth`` is either per pixel (B, H, W) — then the channel-summed map is compared pixel by pixel
    — or per region (B, n) with ``regions`` (H, W) integer labels, and the map is first summed
    over each region (:func:`course_lib.ground_truth.region_sums`). Signed: a map that gets the
    sign of the evidence wrong is penalised. 1 = the same order, 0 for a constant map.

    Reference: the rank-correlation agreement with a known attribution of L. Arras, A. Osman,
    W. Samek, "CLEVR-XAI", Information Fusion 81, 2022 (and of Adebayo et al. 2018 between maps).
    """
    from course_lib.ground_truth import region_sums

    truth = np.asarray(truth, dtype=np.float64)
    if regions is None:
        maps = np.asarray(attributions, dtype=np.float64)
        maps = maps.sum(axis=-1) if maps.ndim == 4 else maps
        if maps.shape != truth.shape:
            raise ValueError(f"attributions {np.shape(attributions)} do not match the per-pixel truth {truth.shape}")
    else:
        maps = region_sums(attributions, regions)
        if maps.shape != truth.shape:
            raise ValueError(f"{maps.shape[1]} regions in the map but the truth has shape {truth.shape}")
    return _spearman(maps, truth, absolute=False)


def max_sensitivity(
    model, x, method, target=None, *, radius: float = 0.02, samples: int = 10, seed: int = 0, **method_options
) -> np.ndarray:
    """Max-sensitivity: the largest relative change of the explanation under small input noise, float32 (B,).

    SENS_max = max_j ‖Φ(x + δ_j) − Φ(x)‖₂ / ‖Φ(x)‖₂ over ``samples`` draws δ_j ~ U[−r, r]^d
    (r = ``radius``, drawn as ``default_rng(seed).uniform(-r, r, (samples, *x.shape))``), the
    target fixed to that of x. 0 = the explanation does not move; Yeh et al. define the
    unnormalised maximum; dividing by ‖Φ(x)‖ makes methods of different scale comparable.

    Reference: C.-K. Yeh, C.-Y. Hsieh, A. S. Suggala, D. I. Inouye, P. Ravikumar, "On the
    (In)fidelity and Sensitivity of Explanations", NeurIPS 2019.
    """
    if not callable(method):
        raise TypeError(f"method must be a callable like course_lib.saliency, got {type(method).__name__}")
    check_count(samples, "samples")
    prepared = prepare(model, x, target)
    x, targets = prepared.x, prepared.targets
    original = np.asarray(method(model, x, target=targets, **method_options), dtype=np.float64)
    noise = np.random.default_rng(seed).uniform(-radius, radius, size=(samples,) + x.shape).astype(np.float32)
    perturbed = np.stack(
        [np.asarray(method(model, x + delta, target=targets, **method_options), np.float64) for delta in noise]
    )  # one call per draw: the batch keeps its shape, so compiled functions are reused
    change = np.sqrt(((perturbed - original[None]) ** 2).reshape(samples, len(x), -1).sum(axis=-1)).max(axis=0)
    norm = np.sqrt((original**2).reshape(len(x), -1).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, change / norm, np.where(change > 0, np.inf, 0.0)).astype(np.float32)


def model_randomization_score(
    model, x, method, target=None, *, seed: int = 0, randomized=None, **method_options
) -> np.ndarray:
    """Spearman rank correlation between the explanation and that of the fully randomised model, float32 (B,).

    Equal to the last step of :func:`model_randomization_check` (every weighted layer randomised,
    top down, same ``seed``) without the intermediate steps; pass ``randomized`` (from
    :func:`randomized_copy`) to score several methods against one copy. Near 0 = the method
    depends on the weights, as it should; near 1 = it does not (a failed check).

    Reference: J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt, B. Kim, "Sanity Checks for
    Saliency Maps", NeurIPS 2018.
    """
    if not callable(method):
        raise TypeError(f"method must be a callable like course_lib.saliency, got {type(method).__name__}")
    x = as_batch(x)
    targets = resolve_targets(target, predict_logits(model, x))
    randomized = randomized_copy(model, seed=seed) if randomized is None else randomized
    original = np.asarray(method(model, x, target=targets, **method_options))
    return _spearman(original, np.asarray(method(randomized, x, target=targets, **method_options)))
