"""Baselines: the reference input x′ that integrated gradients, DeepLIFT and completeness measure from.

Path and difference methods explain S_c(x) − S_c(x′), so the choice of x′ is part of the
explanation (Sturmfels, Lundberg, Lee, "Visualizing the Impact of Feature Attribution Baselines",
Distill 2020): the black image says "compared with nothing", a blurred copy "compared with the
same image without its fine detail", uniform noise "compared with random pixels".
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from course_lib._validation import as_batch

__all__ = ["make_baseline"]

BASELINES = ("zeros", "uniform", "blur")


def make_baseline(x, baseline=None, *, seed: int = 0, blur_sigma: float = 3.0) -> np.ndarray:
    """The reference input x′ for each sample of ``x`` (B, H, W, C) → float32 array of the same shape.

    ``baseline``:
      - ``None`` or ``"zeros"``: the black image, x′ = 0;
      - ``"uniform"``: uniform noise in [min x, max x] of each sample, drawn with ``seed``;
      - ``"blur"``: the input blurred with a Gaussian of ``blur_sigma`` pixels along H and W
        (Sturmfels et al., "Visualizing the Impact of Feature Attribution Baselines", Distill 2020);
      - an array of the shape of ``x`` or of one sample (H, W, C), broadcast over the batch.
    """
    x = as_batch(x)
    if baseline is None or (isinstance(baseline, str) and baseline == "zeros"):
        return np.zeros_like(x)
    if isinstance(baseline, str):
        if baseline == "uniform":
            rng = np.random.default_rng(seed)
            axes = tuple(range(1, x.ndim))
            low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
            return (low + (high - low) * rng.random(x.shape)).astype(np.float32)
        if baseline == "blur":
            if not blur_sigma > 0:
                raise ValueError(f"blur_sigma must be positive, got {blur_sigma!r}")
            return ndimage.gaussian_filter(x, sigma=(0, blur_sigma, blur_sigma, 0), mode="nearest").astype(np.float32)
        raise ValueError(f"unknown baseline {baseline!r}; use None, one of {BASELINES}, or an array shaped like x")
    reference = as_batch(baseline, rank=None, name="baseline")
    if reference.shape == x.shape[1:]:
        reference = reference[None]
    if reference.ndim != x.ndim or reference.shape[1:] != x.shape[1:] or reference.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"baseline must have the shape of x {x.shape} or of one sample {x.shape[1:]}; got {reference.shape}"
        )
    return np.broadcast_to(reference, x.shape).astype(np.float32)
