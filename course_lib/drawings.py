"""Drawings → MNIST digits: the preprocessing LeCun et al. applied to MNIST, for any drawing.

MNIST digits were prepared in a fixed way (LeCun et al., "Gradient-based learning applied to
document recognition", 1998): the digit's bounding box is scaled to fit a 20×20 box with its
aspect ratio kept (grey levels from area averaging, i.e. anti-aliasing), then it is placed in a
28×28 field so that its centre of mass sits at the field's centre. A drawing that skips this step
— a small "7" in a corner — is not a digit the network has ever seen.

A chain of small pure numpy functions on 2-D float arrays: :func:`bounding_box`,
:func:`resize_area`, :func:`fit_to_box`, :func:`center_of_mass`, :func:`place_by_center_of_mass`
and :func:`mnist_preprocess`, which runs them all. The draw-a-digit demo
(:mod:`course_lib.widgets.draw`) feeds its canvas through :func:`mnist_preprocess`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "bounding_box",
    "resize_area",
    "fit_to_box",
    "center_of_mass",
    "place_by_center_of_mass",
    "mnist_preprocess",
]

FIELD = 28  # MNIST image side
BOX = 20  # side of the box the digit's bounding box is scaled into
EMPTY_THRESHOLD = 0.05  # a drawing whose brightest pixel is below this counts as empty


def as_grey_image(image) -> np.ndarray:
    """``image`` as a 2-D float32 array, from (H, W) or (H, W, 1), with finite values."""
    array = np.asarray(image, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D grey image (H, W) or (H, W, 1), got shape {np.shape(image)}")
    if not np.all(np.isfinite(array)):
        raise ValueError("the image contains NaN or infinite values")
    return array


def bounding_box(image, threshold: float = EMPTY_THRESHOLD) -> tuple[int, int, int, int] | None:
    """The rows ``[r0, r1)`` and columns ``[c0, c1)`` holding every pixel > ``threshold``; None if none does."""
    ink = as_grey_image(image) > threshold
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """Matrix A (size_out, size_in): A[i, j] = overlap of output cell i with input cell j, rows summing to 1.

    Output cell i covers [i·s, (i+1)·s) in input coordinates with s = size_in / size_out.
    """
    scale = size_in / size_out
    starts = np.arange(size_out)[:, None] * scale
    stops = starts + scale
    left, right = np.arange(size_in)[None, :], np.arange(size_in)[None, :] + 1
    overlap = np.clip(np.minimum(stops, right) - np.maximum(starts, left), 0.0, None)
    return (overlap / scale).astype(np.float32)


def resize_area(image, shape: tuple[int, int]) -> np.ndarray:
    """Resample ``image`` to ``shape`` by area averaging: out = A_rows · image · A_colsᵀ.

    Each output pixel is the mean of the input area it covers, so shrinking is anti-aliased and the
    mean grey level is preserved; enlarging repeats pixels.
    """
    array = as_grey_image(image)
    rows, cols = shape
    if rows < 1 or cols < 1:
        raise ValueError(f"target shape must be positive, got {shape}")
    return _area_weights(array.shape[0], rows) @ array @ _area_weights(array.shape[1], cols).T


def fit_to_box(image, box: int = BOX, threshold: float = EMPTY_THRESHOLD) -> np.ndarray | None:
    """Crop to the bounding box and scale it so that its longer side is ``box`` pixels (aspect kept).

    Returns None for an empty image.
    """
    array = as_grey_image(image)
    bbox = bounding_box(array, threshold)
    if bbox is None:
        return None
    r0, r1, c0, c1 = bbox
    crop = array[r0:r1, c0:c1]
    height, width = crop.shape
    scale = box / max(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    return resize_area(crop, shape)


def center_of_mass(image) -> tuple[float, float]:
    """Intensity-weighted mean position (row, column): Σ_ij I_ij·(i, j) / Σ_ij I_ij."""
    array = as_grey_image(image)
    total = float(array.sum())
    if total <= 0:
        raise ValueError("the centre of mass of an empty image is undefined")
    rows, cols = np.indices(array.shape)
    return float((rows * array).sum() / total), float((cols * array).sum() / total)


def place_by_center_of_mass(digit, field: int = FIELD) -> np.ndarray:
    """Paste ``digit`` into a ``field``×``field`` zero image so that its centre of mass lands at (field/2, field/2).

    The shift is a whole number of pixels (as for MNIST), so the centre of mass ends within half a
    pixel of the centre; whatever would fall outside the field is cut off.
    """
    array = as_grey_image(digit)
    com_r, com_c = center_of_mass(array)
    top, left = round(field / 2 - com_r), round(field / 2 - com_c)
    out = np.zeros((field, field), np.float32)
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + array.shape[0], field), min(left + array.shape[1], field)
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = array[r0 - top : r1 - top, c0 - left : c1 - left]
    return out


def mnist_preprocess(drawing, threshold: float = EMPTY_THRESHOLD) -> np.ndarray | None:
    """A drawing (H, W) with ink > 0 on a 0 background → a (28, 28, 1) float32 digit in [0, 1], MNIST style.

    Steps: scale the grey levels so the brightest pixel is 1; crop to the bounding box; scale it to fit
    20×20 keeping the aspect ratio (area averaging); place it in 28×28 with its centre of mass at the
    centre; scale so the brightest pixel is 1 again. Returns None when nothing was drawn.
    """
    array = as_grey_image(drawing)
    peak = float(array.max(initial=0.0))
    if peak <= threshold:
        return None
    digit = fit_to_box(array / peak, BOX, threshold)
    placed = place_by_center_of_mass(digit, FIELD)
    return (placed / placed.max())[..., None].astype(np.float32)
