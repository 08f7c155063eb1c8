"""Batches through the network: the method preamble, chunked compiled calls, scores and gradients.

Every method explains the *pre-softmax* score of one class per sample,

    S_c(x) = logits(x)[c],

so every method starts with the same preamble, :func:`prepare`: check the model and the batch,
cut the softmax off the model (:func:`logits_of`, compiled once per model) and turn ``target``
into one class index per sample. :func:`input_gradients` then gives ∂S_c/∂x for a batch, in
compiled chunks of at most ``batch_size`` samples (:func:`score_gradient` inside,
:func:`map_chunks` outside); :func:`completeness_gap` is the Σ R − (S_c(x) − S_c(x′)) check of
integrated gradients, DeepLIFT and the evaluation. Compiled functions live in
:mod:`course_lib._cache`.
"""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from course_lib._cache import compiled
from course_lib._graph import logits_model
from course_lib._validation import as_batch, check_input_shape, resolve_targets

DEFAULT_BATCH_SIZE = 32
"""Largest number of images sent through the network together.

Small on purpose: on a 2-core CPU a gradient costs less per image in batches of 16–64 (the
activations stay in cache) than in batches of 128 or more — integrated gradients with 50 steps on
32 digits took ≈ 31× one plain gradient in chunks of 32 images against ≈ 80× in chunks of 128
(``benchmarks/attribution.py``). Pass a larger ``batch_size`` on a GPU."""


def logits_of(model: keras.Model) -> keras.Model:
    """The model that returns pre-softmax class scores (built once per model and cached)."""
    return compiled(model, "logits", lambda: logits_model(model))


class Prepared(NamedTuple):
    """Checked inputs of one method call; unpacks as ``x, targets = prepare(model, x, target)``."""

    x: np.ndarray  # float32 (B, H, W, C)
    targets: np.ndarray  # int32 (B,)


def n_classes(model: keras.Model) -> int:
    """Number of class scores of the (pre-softmax) model."""
    return int(logits_of(model).outputs[0].shape[-1])


def checked_batch(model: keras.Model, x) -> np.ndarray:
    """``x`` as float32 after checking it against the model: its rank, sample shape and finiteness."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    x = as_batch(x, rank=len(model.inputs[0].shape) if getattr(model, "inputs", None) else 4)
    check_input_shape(model, x)
    return x


def prepare(model: keras.Model, x, target=None) -> Prepared:
    """The preamble of every method: check the model and ``x`` (B, H, W, C), resolve ``target``.

    ``x`` becomes float32 of the model's input rank and sample shape; ``target`` (None, an int or
    B ints) becomes one class index per sample. ``target=None`` needs the predicted classes, hence
    one compiled forward pass; an int or an array does not.
    """
    x = checked_batch(model, x)
    if target is None:
        scores = predict_logits(model, x)
    else:
        scores = np.zeros((x.shape[0], n_classes(model)), dtype=np.float32)
    return Prepared(x, resolve_targets(target, scores))


def select(logits, targets):
    """``logits[i, targets[i]]`` for every row i (a tensor op, differentiable in ``logits``)."""
    return tf.gather(logits, tf.cast(targets, tf.int32), axis=1, batch_dims=1)


def chunks(n: int, size: int | None):
    """Slices covering ``range(n)`` in pieces of at most ``size`` (all at once when ``size`` is None)."""
    size = n if not size else max(1, int(size))
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def score_gradient(scores_model, x, targets):
    """S_c(x) (b,) and ∂S_c/∂x (shape of x) for a batch tensor ``x``: one forward, one backward pass.

    ``scores_model`` maps images to class scores (the pre-softmax model, or a copy of it with
    modified backward rules as in guided backpropagation). Meant to be called inside a ``tf.function``.
    """
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = select(scores_model(x, training=False), targets)
    return scores, tape.gradient(scores, x)


def map_chunks(run, arrays, batch_size: int | None):
    """``run`` applied to aligned slices of ``arrays`` (at most ``batch_size`` rows each), as numpy.

    ``run`` is a compiled function of tensors; its output (a tensor or a tuple of tensors) is
    concatenated along the first axis over the chunks, keeping its structure.
    """
    results = []
    for part in chunks(len(arrays[0]), batch_size):
        out = run(*(tf.constant(a[part]) for a in arrays))
        results.append([t.numpy() for t in out] if isinstance(out, list | tuple) else out.numpy())
    if isinstance(results[0], list):
        return tuple(np.concatenate(column) for column in zip(*results, strict=True))
    return np.concatenate(results)


def predict_logits(model: keras.Model, x, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Pre-softmax scores (B, n_classes) as float32 numpy, in compiled chunks."""
    lm = logits_of(model)
    run = compiled(model, "logits_fn", lambda: tf.function(lambda t: lm(t, training=False), reduce_retracing=True))
    return map_chunks(run, [np.asarray(x, dtype=np.float32)], batch_size)


def target_scores(model: keras.Model, x, targets, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """S_c(x) for each sample: float32 (B,)."""
    logits = predict_logits(model, x, batch_size=batch_size)
    return logits[np.arange(len(logits)), np.asarray(targets)].astype(np.float32)


def input_gradients(model: keras.Model, x, targets, *, batch_size: int | None = DEFAULT_BATCH_SIZE):
    """Scores S_c(x) (B,) and input gradients ∂S_c/∂x (same shape as x), float32 numpy.

    ``x`` must already be checked (:func:`prepare`) and ``targets`` resolved; samples are independent,
    so the batch is processed in compiled chunks of at most ``batch_size``.
    """
    lm = logits_of(model)
    run = compiled(
        model, "gradient_fn", lambda: tf.function(lambda x, t: score_gradient(lm, x, t), reduce_retracing=True)
    )
    arrays = [np.asarray(x, dtype=np.float32), np.asarray(targets, dtype=np.int32)]
    return map_chunks(run, arrays, batch_size)


def completeness_gap(attributions, score_x, score_ref) -> np.ndarray:
    """δ = Σ_i R_i − (S_c(x) − S_c(x′)) per sample, float32 (B,) (the sum taken in float64).

    The convergence check of integrated gradients and the summation-to-delta check of DeepLIFT.
    """
    attributions = np.asarray(attributions)
    total = attributions.reshape(len(attributions), -1).sum(axis=1, dtype=np.float64)
    return (total - (np.asarray(score_x, np.float64) - np.asarray(score_ref, np.float64))).astype(np.float32)


def score_difference(model, x, reference, targets, *, batch_size: int | None = DEFAULT_BATCH_SIZE):
    """S_c(x) and S_c(x′) (two float32 arrays (B,)), both from one chunked forward pass."""
    scores = target_scores(
        model, np.concatenate([x, reference]), np.concatenate([targets, targets]), batch_size=batch_size
    )
    return scores[: len(x)], scores[len(x) :]
