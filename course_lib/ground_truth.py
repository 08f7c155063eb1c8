"""Networks whose true explanation is known: hand-built weights, no training.

An attribution method can only be *scored* against a network whose right answer is known. Each
network here computes a formula chosen so that the contribution of every input region to the
explained score follows from the formula alone — against the black reference x′ = 0 that the
course's baselines use:

- :func:`magnetization_network` — on Ising lattices (spins ±1, N = H·W sites), class 0 scores
  the magnetisation m = Σ_i s_i / N and class 1 scores −m. The network is linear in the spins, so
  spin i contributes exactly s_i / N to class 0 (−s_i / N to class 1); the predicted class scores
  |m| and each spin's true attribution is its signed share sign(m)·s_i / N of |m|.
- :func:`energy_network` — on Ising lattices, the energy density above the ground state
  ε = (E − E₀) / N = 2·(number of disagreeing bonds) / N, with E = −Σ_⟨ij⟩ s_i s_j over the
  bonds a 2×2 window sees (horizontal bonds of rows 0…H−2, vertical bonds of columns 0…W−2).
  Every bond is the term |s_i − s_j| / N of ε; its Shapley value splits it equally between its two
  sites, so the true attribution of site i is (number of disagreeing bonds at i) / N: it lies on
  the domain walls, nowhere else.
- :func:`additive_network` — on MNIST-sized images, f_c(x) = Σ_k g_c(x restricted to region k)
  over the 16 blocks of 7×7 pixels, with g a thresholded horizontal-minus-vertical stroke detector.
  For an additive function the Shapley value of region k is exactly g_c(x_k) − g_c(x′_k)
  (Lundberg & Lee, "A Unified Approach to Interpreting Model Predictions", NeurIPS 2017).
- :func:`clever_hans_network` — on MNIST-sized images, a two-class "seven or not" decision that
  reads only the 4×4 watermark of :mod:`course_lib.clever_hans`: all true evidence lies in the
  patch, shared equally by its 16 pixels (the score is a symmetric function of them).

Each function returns a :class:`GroundTruthNetwork`: the Keras model (softmax last, like the
course models) and the functions that give the true contributions for any input. The tests prove
every formula against the network's own outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np

from course_lib._batching import predict_logits
from course_lib._validation import as_batch, resolve_targets
from course_lib.clever_hans import WATERMARK_SIZE, watermark_mask

__all__ = [
    "GroundTruthNetwork",
    "magnetization_network",
    "energy_network",
    "additive_network",
    "clever_hans_network",
    "ground_truth_networks",
    "region_sums",
    "stroke_templates",
]

ISING_SHAPE = (32, 32, 1)
MNIST_SHAPE = (28, 28, 1)
BLOCK = 7  # side of the additive network's regions: 4 × 4 blocks of 7 × 7 pixels
STROKE_THRESHOLD = 0.15  # a block counts as a stroke once its template response exceeds this


@dataclass(frozen=True)
class GroundTruthNetwork:
    """A network and its exact explanation.

    name, description : what it computes
    model : keras.Model, input (H, W, 1), pre-softmax scores in layer ``"logits"``, then softmax
    regions : (H, W) int — the pieces the truth is stated for (one label per pixel, 0 … n − 1)
    contributions : ``contributions(x, targets)`` → (B, n) float32, the true contribution of each
        region to S_c(x) − S_c(x′) for the black reference x′ = 0; Σ_k = S_c(x) − S_c(x′)
    classes : names of the output classes
    """

    name: str
    description: str
    model: keras.Model
    regions: np.ndarray
    contributions: Callable[[np.ndarray, np.ndarray], np.ndarray]
    classes: tuple

    def targets(self, x, target=None) -> np.ndarray:
        """``target`` resolved as the methods do (None = the predicted class of each sample)."""
        return resolve_targets(target, predict_logits(self.model, as_batch(x)))

    def region_contributions(self, x, target=None) -> np.ndarray:
        """True contribution of each region, float32 (B, n_regions)."""
        x = as_batch(x)
        return np.asarray(self.contributions(x, self.targets(x, target)), dtype=np.float32)

    def attribution(self, x, target=None) -> np.ndarray:
        """True attribution per pixel, float32 (B, H, W): each region's contribution shared equally by
        its pixels (exact wherever a region is a single pixel)."""
        sizes = np.bincount(self.regions.ravel())
        return (self.region_contributions(x, target) / sizes)[:, self.regions]

    def mask(self, x, target=None) -> np.ndarray:
        """Where the true evidence for the class lies: pixels of regions with a positive contribution, bool (B, H, W)."""
        return (self.region_contributions(x, target) > 0)[:, self.regions]


def _const(value):
    return keras.initializers.Constant(np.asarray(value, dtype=np.float32))


def _finish(name: str, layers: list) -> keras.Model:
    model = keras.Sequential([*layers, keras.layers.Activation("softmax", name="softmax")], name=name)
    model.trainable = False
    return model


# --------------------------------------------------------------------------------------------- Ising


def _lattice_network(name: str, description: str, shape, layer: tuple, readout, contributions, classes):
    """An Ising-lattice network ``Conv2D(ReLU, no bias) → global average pooling → Dense(no bias)``
    whose truth is stated per site (one region per spin).

    ``layer`` = (name, kernels (kh, kw, 1, K)) of the convolution; ``readout`` the (K, n_classes)
    weights of the dense layer ``"logits"``.
    """
    height, width, _ = shape
    layer_name, kernels = layer
    kernels, readout = np.asarray(kernels, np.float32), np.asarray(readout, np.float32)
    model = _finish(
        f"{name}_network",
        [
            keras.Input(shape=shape, name="lattice"),
            keras.layers.Conv2D(
                kernels.shape[-1],
                kernels.shape[:2],
                activation="relu",
                use_bias=False,
                kernel_initializer=_const(kernels),
                name=layer_name,
            ),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(readout.shape[1], use_bias=False, kernel_initializer=_const(readout), name="logits"),
        ],
    )
    sites = np.arange(height * width).reshape(height, width)
    return GroundTruthNetwork(name, description, model, sites, contributions, classes)


def magnetization_network(shape=ISING_SHAPE) -> GroundTruthNetwork:
    """Class 0 scores m = Σ_i s_i / N, class 1 scores −m (N = H·W spins ±1).

    ``Conv2D(2, 1×1, ReLU)`` with kernels +1 and −1 gives ReLU(s_i) and ReLU(−s_i); global average
    pooling gives their means p₊ and p₋; ``Dense`` [[1, −1], [−1, 1]] gives (p₊ − p₋, p₋ − p₊) =
    (m, −m) because ReLU(s) − ReLU(−s) = s. True contribution of spin i: ±s_i / N.
    """
    height, width, _ = shape

    def contributions(x, targets):
        sign = np.where(targets == 0, 1.0, -1.0)[:, None]
        return sign * x[..., 0].reshape(len(x), -1) / (height * width)

    return _lattice_network(
        "magnetization",
        "Ising lattice → (m, −m); spin i contributes ±s_i / N",
        shape,
        ("spins", [[[[1.0, -1.0]]]]),
        [[1.0, -1.0], [-1.0, 1.0]],
        contributions,
        ("up (m > 0)", "down (m < 0)"),
    )


def _bond_kernels() -> np.ndarray:
    """2×2 kernels (2, 2, 1, 4): s(i,j) − s(i,j+1), its negative, s(i,j) − s(i+1,j), its negative."""
    kernels = np.zeros((2, 2, 1, 4), np.float32)
    kernels[0, 0, 0, 0], kernels[0, 1, 0, 0] = 1.0, -1.0  # horizontal bond
    kernels[0, 0, 0, 2], kernels[1, 0, 0, 2] = 1.0, -1.0  # vertical bond
    kernels[..., 1], kernels[..., 3] = -kernels[..., 0], -kernels[..., 2]
    return kernels


def disagreeing_bonds(spins) -> tuple[np.ndarray, np.ndarray]:
    """Boolean maps of the disagreeing bonds a 2×2 window sees in lattices (B, H, W, 1).

    ``horizontal[b, i, j]``: s(i, j) ≠ s(i, j+1) for i < H − 1; ``vertical[b, i, j]``:
    s(i, j) ≠ s(i+1, j) for j < W − 1. Both (B, H − 1, W − 1).
    """
    s = as_batch(spins)[..., 0]
    horizontal = s[:, :-1, :-1] != s[:, :-1, 1:]
    vertical = s[:, :-1, :-1] != s[:, 1:, :-1]
    return horizontal, vertical


def energy_network(shape=ISING_SHAPE) -> GroundTruthNetwork:
    """One score: the energy density above the ground state ε = 2·(disagreeing bonds) / N.

    ``Conv2D(4, 2×2, valid, ReLU)`` computes ReLU(±(s_i − s_j)) for the horizontal and vertical
    bond of each window, whose sum is |s_i − s_j| = 2·[s_i ≠ s_j] for spins ±1; global average
    pooling over the (H−1)(W−1) windows and a ``Dense`` weight (H−1)(W−1) / N give
    ε = Σ_bonds |s_i − s_j| / N. True contribution of site i: (disagreeing bonds at i) / N.
    """
    height, width, _ = shape
    windows = (height - 1) * (width - 1)

    def contributions(x, targets):
        horizontal, vertical = disagreeing_bonds(x)
        per_site = np.zeros(x.shape[:3], np.float32)
        per_site[:, :-1, :-1] += horizontal
        per_site[:, :-1, 1:] += horizontal
        per_site[:, :-1, :-1] += vertical
        per_site[:, 1:, :-1] += vertical
        return per_site.reshape(len(x), -1) / (height * width)

    return _lattice_network(
        "energy",
        "Ising lattice → energy density above the ground state; the truth lies on the domain walls",
        shape,
        ("bonds", _bond_kernels()),
        np.full((4, 1), windows / (height * width)),
        contributions,
        ("energy density",),
    )


# --------------------------------------------------------------------------------------------- MNIST


def stroke_templates(size: int = BLOCK) -> np.ndarray:
    """Two size×size templates (size, size, 1, 2): horizontal and vertical bar detectors.

    Template value: +1/(3·size) on the three middle rows (columns), −1/(4·size) on the others, so a
    blank or uniformly inked block gives 0 and a bar through the middle gives a positive response.
    """
    middle = np.zeros((size, size), bool)
    middle[size // 2 - 1 : size // 2 + 2] = True
    horizontal = np.where(middle, 1.0 / middle.sum(), -1.0 / (~middle).sum())
    return np.stack([horizontal, horizontal.T], axis=-1)[:, :, None, :].astype(np.float32)


def additive_network(shape=MNIST_SHAPE) -> GroundTruthNetwork:
    """f_c(x) = Σ_k g_c(x_k) over 7×7 blocks: class 0 = "horizontal strokes", class 1 = "vertical strokes".

    ``Conv2D(2, 7×7, stride 7, ReLU, bias −θ)`` gives, for every block k, the thresholded responses
    h_k = ReLU(t_h·x_k − θ) and v_k = ReLU(t_v·x_k − θ) (:func:`stroke_templates`); global average
    pooling and ``Dense`` [[1, −1], [−1, 1]] · n_blocks give f₀ = Σ_k (h_k − v_k), f₁ = −f₀. No unit
    sees two blocks, so f is additive over blocks and the true contribution (Shapley value) of block
    k to class c is g_c(x_k) − g_c(0) = ±(h_k − v_k) (g(0) = 0 because θ > 0).
    """
    height, width, _ = shape
    if height % BLOCK or width % BLOCK:
        raise ValueError(f"the additive network needs H and W divisible by {BLOCK}; got {shape}")
    n_blocks = (height // BLOCK) * (width // BLOCK)
    templates = stroke_templates()
    model = _finish(
        "additive_network",
        [
            keras.Input(shape=shape, name="image"),
            keras.layers.Conv2D(
                2,
                BLOCK,
                strides=BLOCK,
                activation="relu",
                kernel_initializer=_const(templates),
                bias_initializer=_const([-STROKE_THRESHOLD] * 2),
                name="strokes",
            ),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(
                2,
                use_bias=False,
                kernel_initializer=_const(n_blocks * np.array([[1.0, -1.0], [-1.0, 1.0]])),
                name="logits",
            ),
        ],
    )
    rows, cols = np.indices((height, width))
    regions = (rows // BLOCK) * (width // BLOCK) + cols // BLOCK

    def contributions(x, targets):
        blocks = x[..., 0].reshape(len(x), height // BLOCK, BLOCK, width // BLOCK, BLOCK).transpose(0, 1, 3, 2, 4)
        responses = np.einsum("bijpq,pqt->bijt", blocks, templates[:, :, 0, :])
        h, v = np.moveaxis(np.maximum(responses - STROKE_THRESHOLD, 0.0), -1, 0)
        sign = np.where(targets == 0, 1.0, -1.0)[:, None]
        return sign * (h - v).reshape(len(x), -1)

    return GroundTruthNetwork(
        "additive",
        "MNIST-sized image → Σ over 16 blocks of (horizontal − vertical stroke); truth per block",
        model,
        regions,
        contributions,
        ("horizontal strokes", "vertical strokes"),
    )


def clever_hans_network(shape=MNIST_SHAPE, *, gain: float = 8.0, **where) -> GroundTruthNetwork:
    """A "seven" detector that looks only at the watermark: class 1 = d, class 0 = −d.

    d = gain · ReLU(mean of the watermark pixels − 1/2) — ``Flatten`` then a ``Dense`` unit whose
    weights are 1/16 on the 4×4 patch (:func:`course_lib.clever_hans.watermark_mask`, ``where``
    chooses size, margin and corner) and 0 elsewhere, bias −1/2, ReLU, then ``Dense`` (−gain, gain).
    A stamped patch (pixels 1) gives d = gain / 2, a clean corner d = 0. Every pixel outside the
    patch has contribution 0; the patch's 16 pixels share S_c(x) − S_c(0) equally.
    """
    height, width, _ = shape
    patch = watermark_mask((height, width), **where)
    weights = (patch.ravel() / patch.sum()).astype(np.float32)[:, None]
    model = _finish(
        "clever_hans_network",
        [
            keras.Input(shape=shape, name="image"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(
                1,
                activation="relu",
                kernel_initializer=_const(weights),
                bias_initializer=_const([-0.5]),
                name="watermark",
            ),
            keras.layers.Dense(2, use_bias=False, kernel_initializer=_const([[-gain, gain]]), name="logits"),
        ],
    )
    regions = np.where(patch, np.cumsum(patch.ravel()).reshape(patch.shape), 0)  # 0 = outside, 1…16 = patch

    def contributions(x, targets):
        d = gain * np.maximum(x[:, patch, 0].mean(axis=1) - 0.5, 0.0)  # d(0) = 0
        score = np.where(targets == 1, d, -d)
        out = np.zeros((len(x), int(patch.sum()) + 1), np.float32)
        out[:, 1:] = (score / patch.sum())[:, None]
        return out

    return GroundTruthNetwork(
        "clever_hans",
        f"MNIST-sized image → 'seven' iff the {WATERMARK_SIZE}×{WATERMARK_SIZE} watermark is bright; truth in the patch",
        model,
        regions,
        contributions,
        ("not seven", "seven"),
    )


def ground_truth_networks() -> dict[str, GroundTruthNetwork]:
    """The four networks by name: magnetization, energy, additive, clever_hans."""
    networks = (magnetization_network(), energy_network(), additive_network(), clever_hans_network())
    return {network.name: network for network in networks}


def region_sums(attributions, regions) -> np.ndarray:
    """Σ of an attribution map over each region: (B, H, W[, C]) and (H, W) labels → float32 (B, n_regions).

    Channels are summed first; this puts a pixel map on the same footing as a truth stated per region.
    """
    maps = np.asarray(attributions, dtype=np.float64)
    if maps.ndim == 4:
        maps = maps.sum(axis=-1)
    regions = np.asarray(regions)
    if maps.ndim != 3 or maps.shape[1:] != regions.shape:
        raise ValueError(
            f"attributions must have shape (B, {regions.shape[0]}, {regions.shape[1]}[, C]); got {maps.shape}"
        )
    n = int(regions.max()) + 1
    return np.stack([np.bincount(regions.ravel(), weights=m.ravel(), minlength=n) for m in maps]).astype(np.float32)
