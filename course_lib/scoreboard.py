"""Every method of the course on every ground-truth network, scored by every metric.

:func:`score_all` explains a few inputs of each network of :mod:`course_lib.ground_truth` with each
method of :data:`METHODS` (the course's methods with the lectures' settings, plus a random map as
the floor) and scores every explanation with each metric of :data:`METRICS`
(:mod:`course_lib.evaluation`). The result, a :class:`Scoreboard`, holds the mean over the inputs
of every (network, method, metric) — NaN where a method does not apply (CAM needs a
convolution → global average pooling → dense head) — and the maps themselves, for plotting.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from course_lib import evaluation as ev
from course_lib import ground_truth as gt

__all__ = ["METHODS", "METRICS", "Metric", "Scoreboard", "sample_inputs", "score_all"]


def _random_map(model, x, target=None):
    """A map that ignores the model: seeded Gaussian noise (the floor every method must beat)."""
    return np.random.default_rng(0).standard_normal(np.shape(x)).astype(np.float32)


def _methods() -> dict[str, Callable]:
    import course_lib as cl

    return {
        "random": _random_map,
        "gradient": cl.saliency,
        "gradient × input": cl.gradient_x_input,
        "SmoothGrad": lambda m, x, target=None: cl.smoothgrad(m, x, target, samples=16),
        "IG (black)": lambda m, x, target=None: cl.integrated_gradients(m, x, target, steps=16),
        "IG (blur)": lambda m, x, target=None: cl.integrated_gradients(m, x, target, baseline="blur", steps=16),
        "DeepLIFT": cl.deeplift,
        "LRP-ε": lambda m, x, target=None: cl.lrp(m, x, target, rule="epsilon", epsilon=0.01),
        "LRP-z⁺": lambda m, x, target=None: cl.lrp(m, x, target, rule="zplus"),
        "occlusion": cl.occlusion,
        "CAM": lambda m, x, target=None: cl.cam(m, x, target, upsample=True),
        "Grad-CAM": lambda m, x, target=None: cl.grad_cam(m, x, target, upsample=True),
        "guided backprop": cl.guided_backprop,
    }


METHODS = tuple(_methods())
"""Names of the scored methods, in table order."""


@dataclass(frozen=True)
class Metric:
    """One column of the table: ``score(network, method, x, maps, targets)`` → (B,), and which way is better."""

    score: Callable
    better: str  # "higher" or "lower"
    family: str  # "ground truth", "faithfulness", "randomisation", "robustness", "completeness"


def _road(network, method, x, maps, targets):
    """Mean ROAD-MoRF score over the removal fractions, relative to the intact score S_c(x)."""
    curve = ev.road_curve(network.model, x, maps, targets)
    intact = ev.deletion_curve(network.model, x, maps, targets, steps=1).scores[:, 0]
    span = float(curve.fractions[-1] - curve.fractions[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(intact) > 1e-12, curve.auc / span / intact, np.nan)


_RANDOMIZED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _randomization(network, method, x, maps, targets):
    """Model randomisation against one fully randomised copy per network, shared by all methods."""
    if network.model not in _RANDOMIZED:
        _RANDOMIZED[network.model] = ev.randomized_copy(network.model)
    return ev.model_randomization_score(network.model, x, method, targets, randomized=_RANDOMIZED[network.model])


METRICS: dict[str, Metric] = {
    "rank correlation": Metric(
        lambda n, f, x, r, t: ev.rank_correlation(r, n.contributions(x, t), n.regions), "higher", "ground truth"
    ),
    "mass accuracy": Metric(
        lambda n, f, x, r, t: ev.relevance_mass_accuracy(r, n.mask(x, t)), "higher", "ground truth"
    ),
    "rank accuracy": Metric(
        lambda n, f, x, r, t: ev.relevance_rank_accuracy(r, n.mask(x, t)), "higher", "ground truth"
    ),
    "deletion (black)": Metric(
        lambda n, f, x, r, t: ev.deletion_auc(n.model, x, r, t, reference="black"), "lower", "faithfulness"
    ),
    "deletion (blur)": Metric(
        lambda n, f, x, r, t: ev.deletion_auc(n.model, x, r, t, reference="blur"), "lower", "faithfulness"
    ),
    "insertion (black)": Metric(
        lambda n, f, x, r, t: ev.insertion_auc(n.model, x, r, t, reference="black"), "higher", "faithfulness"
    ),
    "insertion (blur)": Metric(
        lambda n, f, x, r, t: ev.insertion_auc(n.model, x, r, t, reference="blur"), "higher", "faithfulness"
    ),
    "ROAD (MoRF)": Metric(_road, "lower", "faithfulness"),
    "randomisation": Metric(_randomization, "lower", "randomisation"),
    "max-sensitivity": Metric(
        lambda n, f, x, r, t: ev.max_sensitivity(n.model, x, f, t, radius=0.02, samples=4), "lower", "robustness"
    ),
    "completeness error": Metric(
        lambda n, f, x, r, t: ev.completeness_error(n.model, x, r, t), "lower", "completeness"
    ),
}


def sample_inputs(name: str, n: int = 4, *, seed: int = 0) -> np.ndarray:
    """Inputs of the ground-truth network ``name``, float32 (n, H, W, 1).

    Ising networks: lattices simulated at temperatures from 2.0 to 2.3, around Tc ≈ 2.27, so that
    they are magnetised and carry domains and domain walls (:func:`course_lib.data.simulate_ising`,
    seeded); additive: the first bundled test digits;
    Clever Hans: the same digits with the watermark stamped on.
    """
    from course_lib import clever_hans, data

    if name in ("magnetization", "energy"):
        spins, _ = data.simulate_ising(
            np.linspace(2.0, 2.3, n), chains_per_temperature=1, snapshots=1, equilibration_sweeps=200, seed=seed
        )
        return spins[..., None].astype(np.float32)
    (_, _), (x_test, _) = data.load_mnist(source="bundled", verbose=False)
    if name == "additive":
        return x_test[:n]
    if name == "clever_hans":
        return clever_hans.stamp_watermark(x_test[:n])
    raise ValueError(f"unknown network {name!r}; valid names: magnetization, energy, additive, clever_hans")


@dataclass
class Scoreboard:
    """Result of :func:`score_all`.

    values : (networks, methods, metrics) float — mean over the inputs (NaN: not applicable)
    maps : {(network, method): maps (B, H, W[, C])}; inputs : {network: x}; truth : {network: (B, H, W)}
    seconds : wall time of each (network, method) row
    """

    networks: list
    methods: list
    metrics: list
    values: np.ndarray
    maps: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    truth: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def value(self, network: str, method: str, metric: str) -> float:
        return float(self.values[self.networks.index(network), self.methods.index(method), self.metrics.index(metric)])

    def best(self, network: str, metric: str) -> str:
        """The method with the best value of ``metric`` on ``network`` (the random map excluded)."""
        column = self.values[self.networks.index(network), :, self.metrics.index(metric)].copy()
        column[[m == "random" for m in self.methods]] = np.nan
        sign = 1.0 if METRICS[metric].better == "higher" else -1.0
        return self.methods[int(np.nanargmax(sign * column))]

    def markdown(self, network: str, digits: int = 2) -> str:
        """The table of one network as Markdown: one row per method, one column per metric (↑/↓ = better)."""
        arrows = [("↑" if METRICS[m].better == "higher" else "↓") for m in self.metrics]
        header = "| method | " + " | ".join(f"{m} {a}" for m, a in zip(self.metrics, arrows, strict=True)) + " |"
        lines = [header, "|---" * (len(self.metrics) + 1) + "|"]
        i = self.networks.index(network)
        for j, method in enumerate(self.methods):
            best = {k for k, metric in enumerate(self.metrics) if self.best(network, metric) == method}
            cells = []
            for k, v in enumerate(self.values[i, j]):
                text = "n/a" if np.isnan(v) else f"{v:.{digits}f}"
                cells.append(f"**{text}**" if k in best else text)
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def score_all(networks=None, methods=None, metrics=None, *, n: int = 4) -> Scoreboard:
    """Explain ``n`` inputs of every network with every method and score each map with every metric.

    ``networks``, ``methods``, ``metrics``: names (default: all of :func:`ground_truth_networks`,
    :data:`METHODS`, :data:`METRICS`). Each network explains its predicted classes. A method that
    does not apply to a network (it raises ``ValueError``) gets NaN in every metric.
    """
    all_networks = gt.ground_truth_networks()
    all_methods = _methods()
    networks = list(networks or all_networks)
    methods = list(methods or all_methods)
    metrics = list(metrics or METRICS)
    for names, valid, what in ((networks, all_networks, "network"), (methods, all_methods, "method")):
        unknown = [name for name in names if name not in valid]
        if unknown:
            raise ValueError(f"unknown {what}(s) {unknown}; valid: {list(valid)}")
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid: {list(METRICS)}")
    board = Scoreboard(networks, methods, metrics, np.full((len(networks), len(methods), len(metrics)), np.nan))
    for i, name in enumerate(networks):
        network = all_networks[name]
        x = sample_inputs(name, n)
        targets = network.targets(x)
        board.inputs[name] = x
        board.truth[name] = network.attribution(x, targets)
        for j, method_name in enumerate(methods):
            method = all_methods[method_name]
            start = time.perf_counter()
            try:
                maps = np.asarray(method(network.model, x, target=targets), dtype=np.float32)
            except ValueError:
                continue  # the method does not apply to this architecture
            board.maps[name, method_name] = maps
            for k, metric in enumerate(metrics):
                scores = np.asarray(METRICS[metric].score(network, method, x, maps, targets), dtype=np.float64)
                board.values[i, j, k] = np.nanmean(scores) if np.isfinite(scores).any() else np.nan
            board.seconds[name, method_name] = time.perf_counter() - start
    return board
