"""Input checks shared by every method: batches, targets, indices, counts and window sizes.

Every public method of course_lib takes the same arguments (see ARCHITECTURE.md): a batch ``x`` of shape
``(B, H, W, C)`` and a ``target`` that is ``None`` (the predicted class of each sample), an ``int``
(that class for all samples) or ``B`` ints (one class per sample). The helpers here turn those
arguments into arrays, or raise an error that says what was expected.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def as_batch(x, *, rank: int | None = 4, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float32 numpy array after checking its rank and finiteness."""
    if isinstance(x, (list, tuple)):
        x = np.asarray(x)
    if isinstance(x, tf.Tensor | tf.Variable):
        x = x.numpy()
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or a tensor, got {type(x).__name__}")
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if rank is not None and x.ndim != rank:
        expected = "(B, H, W, C)" if rank == 4 else f"rank {rank}"
        hint = " Add a batch axis with x[None] for a single sample." if x.ndim == rank - 1 else ""
        raise ValueError(f"{name} must have shape {expected}; got shape {x.shape}.{hint}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values; expected finite numbers")
    return x


def check_input_shape(model, x: np.ndarray, name: str = "x") -> None:
    """Raise if the sample shape of ``x`` does not match the model's input shape."""
    expected = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if expected is None:
        return
    got = tuple(x.shape[1:])
    if len(got) != len(expected) or any(e is not None and e != g for e, g in zip(expected, got, strict=True)):
        raise ValueError(f"{name} has samples of shape {got}, but the model expects {expected}")


def resolve_targets(target, scores) -> np.ndarray:
    """Turn ``target`` into one class index per sample.

    Parameters
    ----------
    target : None, int or sequence of ints
        ``None`` picks the arg-max class of each row of ``scores``; an int is used for every sample;
        a sequence must have one entry per sample.
    scores : array (B, n_classes)
        The model's class scores (logits) for the batch.

    Returns
    -------
    numpy.ndarray of int32, shape (B,)
    """
    scores = np.asarray(scores)
    batch, n_classes = scores.shape[0], scores.shape[-1]
    if target is None:
        return np.argmax(scores, axis=-1).astype(np.int32)
    if isinstance(target, bool):
        raise TypeError("target must be None, an int or a sequence of ints, not a bool")
    if np.isscalar(target):
        if not float(target).is_integer():
            raise TypeError(f"target must be an integer class index, got {target!r}")
        targets = np.full(batch, int(target), dtype=np.int32)
    else:
        targets = np.asarray(target)
        if targets.ndim != 1 or targets.shape[0] != batch:
            raise ValueError(
                f"target must be None, an int, or {batch} ints (one per sample); got shape {targets.shape}"
            )
        if not np.issubdtype(targets.dtype, np.integer):
            raise TypeError(f"target must hold integer class indices, got dtype {targets.dtype}")
        targets = targets.astype(np.int32)
    if np.any(targets < 0) or np.any(targets >= n_classes):
        raise ValueError(
            f"target out of range: the model has {n_classes} classes (0..{n_classes - 1}); got {targets.tolist()}"
        )
    return targets


def check_index(index, size: int, what: str) -> int:
    """Check that ``index`` is an int in ``[0, size)``."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"{what} must be an int, got {type(index).__name__}")
    if not 0 <= index < size:
        raise ValueError(f"{what} {index} is out of range: valid values are 0..{size - 1}")
    return int(index)


def check_count(value, name: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an int (not a bool) of at least ``minimum``: a number of steps, samples, pixels."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int ≥ {minimum}"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as ``(rows, cols)``, all positive (a window size or a stride)."""
    values = (value, value) if np.isscalar(value) else tuple(value)
    if len(values) != 2 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(values) < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return int(values[0]), int(values[1])
