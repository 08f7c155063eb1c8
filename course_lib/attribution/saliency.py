"""Sensitivity analysis: saliency maps, gradient × input, SmoothGrad.

A saliency map answers "which pixels would change the class score most if they changed a little?"
It is the gradient of the pre-softmax score S_c with respect to the input,

    saliency(x) = ∂S_c/∂x                                     (Simonyan et al. 2014)

— a *sensitivity*, not an attribution: it says nothing about how much each pixel contributed to
S_c(x). Multiplying by the input gives a first-order attribution (a Taylor term at the zero point),

    gradient_x_input(x) = x ⊙ ∂S_c/∂x,

and averaging gradients over noisy copies of x smooths the notoriously noisy gradient,

    smoothgrad(x) = 1/n Σ_k ∂S_c/∂x |_(x + ε_k),  ε_k ~ N(0, σ²),  σ = noise · (max x − min x)
                                                              (Smilkov et al. 2017).

All three return arrays of the shape of ``x`` (B, H, W, C), float32, signs kept, channels kept:
reduce them for display with :func:`course_lib.postprocess.reduce_channels` (e.g. ``"max_abs"``
as in Simonyan et al.) and :func:`normalize_map`.

References: K. Simonyan, A. Vedaldi, A. Zisserman, "Deep Inside Convolutional Networks: Visualising
Image Classification Models and Saliency Maps", ICLR workshop 2014, arXiv:1312.6034.
D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg, "SmoothGrad: removing noise by adding
noise", arXiv:1706.03825, 2017.
"""

from __future__ import annotations

import numpy as np

from course_lib._batching import DEFAULT_BATCH_SIZE, input_gradients, prepare
from course_lib._validation import check_count
from course_lib.postprocess import normalize_map

__all__ = ["saliency", "gradient_x_input", "smoothgrad", "normalize_map"]


def saliency(model, x, target=None, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Gradient of the pre-softmax class score with respect to the input, ∂S_c/∂x.

    Parameters
    ----------
    model : keras.Model
        A classifier; a final softmax is cut off so that the logit S_c is explained.
    x : array (B, H, W, C)
    target : None, int or B ints
        Class per sample (None = predicted class).
    batch_size : int
        Largest number of images per compiled call.

    Returns
    -------
    float32 array (B, H, W, C): the signed gradient. No absolute value, no channel max, no
    normalisation (Simonyan et al. display max_c |∂S_c/∂x|: :func:`course_lib.postprocess.reduce_channels`).

    Reference: K. Simonyan, A. Vedaldi, A. Zisserman, "Deep Inside Convolutional Networks: Visualising
    Image Classification Models and Saliency Maps", ICLR workshop 2014.
    """
    x, targets = prepare(model, x, target)
    _, grads = input_gradients(model, x, targets, batch_size=batch_size)
    return grads


def gradient_x_input(model, x, target=None, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Gradient × input, R = x ⊙ ∂S_c/∂x (shape of ``x``, float32).

    For a ReLU network without biases this equals LRP-0 and sums to S_c(x); with biases the sum
    misses the bias contributions. Shrikumar et al. 2016 ("Not just a black box", arXiv:1605.01713)
    discuss it as an attribution method.

    ``x`` (B, H, W, C) → float32 array of the same shape, signed and unreduced; the batch is
    processed in compiled chunks of ``batch_size``.
    """
    x, targets = prepare(model, x, target)
    _, grads = input_gradients(model, x, targets, batch_size=batch_size)
    return (x * grads).astype(np.float32)


def smoothgrad(
    model,
    x,
    target=None,
    samples: int = 25,
    noise: float = 0.15,
    seed: int = 0,
    *,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """SmoothGrad: the mean saliency over ``samples`` noisy copies of each input.

        R = 1/n Σ_{k=1..n} ∂S_c/∂x |_(x + ε_k),   ε_k ~ N(0, σ² I),   σ = noise · (max(x) − min(x))

    with max/min taken per sample (Smilkov et al. 2017 recommend noise ≈ 0.1–0.2). The target class
    of each sample is fixed from the clean input (``target=None`` → predicted class of ``x``).
    All ``samples × B`` noisy images are evaluated together, in compiled chunks of ``batch_size``.
    Noise is drawn from ``numpy.random.default_rng(seed)``, so results are reproducible.
    ``noise=0`` gives back :func:`saliency`.

    Returns
    -------
    float32 array, shape of ``x``: the mean *signed* gradient (no absolute value, no squaring — the
    SmoothGrad-Squared variant is not offered — and no normalisation).

    Reference: D. Smilkov, N. Thorat, B. Kim, F. Viégas, M. Wattenberg, "SmoothGrad: removing noise by
    adding noise", ICML workshop on visualization for deep learning 2017, arXiv:1706.03825.
    """
    samples = check_count(samples, "samples")
    if not np.isscalar(noise) or not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a non-negative number (a fraction of the input range), got {noise!r}")
    x, targets = prepare(model, x, target)
    axes = tuple(range(1, x.ndim))
    sigma = noise * (x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True))  # (B, 1, 1, 1)
    rng = np.random.default_rng(seed)
    noisy = x[None] + sigma[None] * rng.standard_normal((samples,) + x.shape).astype(np.float32)  # (n, B, ...)
    flat_targets = np.tile(targets, samples)
    _, grads = input_gradients(model, noisy.reshape((-1,) + x.shape[1:]), flat_targets, batch_size=batch_size)
    return grads.reshape((samples,) + x.shape).mean(axis=0).astype(np.float32)
