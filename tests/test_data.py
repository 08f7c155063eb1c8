"""MNIST loading (offline, never the network) and the generated Ising data: physics, not just shapes."""

import numpy as np
import pytest

import course_lib as cl
from course_lib import data


def test_bundled_mnist_split_and_ranges(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (4000, 28, 28, 1) and x_test.shape == (1000, 28, 28, 1)
    assert x_train.dtype == np.float32 and 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert x_train.max() == 1.0  # scaled from 0..255, not left as raw bytes
    # shuffled before splitting: every class in both parts, roughly balanced (500 per class in all)
    assert set(np.unique(y_test)) == set(range(10))
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert np.all(counts == 500)
    assert 60 <= np.bincount(y_test).min() and np.bincount(y_test).max() <= 140


def test_bundled_mnist_is_deterministic(mnist):
    (_, _), (x_test, y_test) = cl.load_mnist(source="bundled", verbose=False)
    np.testing.assert_array_equal(y_test, mnist[1][1])
    np.testing.assert_array_equal(x_test, mnist[1][0])


def test_auto_falls_back_offline_and_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached full MNIST
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    (x_train, _), _ = cl.load_mnist()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "bundled" in lines[0]
    assert len(x_train) == 4000


def test_keras_source_offline_names_alternatives(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="bundled"):
        cl.load_mnist(source="keras")


def test_unknown_source_lists_choices():
    with pytest.raises(ValueError, match="auto.*keras.*bundled"):
        cl.load_mnist(source="kaggle")


def test_keras_cache_is_used_when_present(monkeypatch, tmp_path):
    """With a cached mnist.npz, "auto" picks full MNIST (here a tiny fake file) without the network."""
    cache = tmp_path / "datasets"
    cache.mkdir()
    rng = np.random.default_rng(0)
    fake = {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": np.arange(6),
        "x_test": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": np.arange(3),
    }
    np.savez(cache / "mnist.npz", **fake)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    monkeypatch.setattr(
        data, "_mnist_from_keras", lambda: ((fake["x_train"], fake["y_train"]), (fake["x_test"], fake["y_test"]))
    )
    (x_train, _), (x_test, y_test) = cl.load_mnist(verbose=False)
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (3, 28, 28, 1)
    np.testing.assert_allclose(x_test[..., 0], fake["x_test"] / 255.0, rtol=1e-6)


# ------------------------------------------------------------------------------------------ Ising


def onsager_magnetization(temperature):
    """Spontaneous magnetisation of the infinite 2D Ising model (Onsager/Yang), 0 above Tc."""
    if temperature >= cl.ISING_TC:
        return 0.0
    return (1.0 - np.sinh(2.0 / temperature) ** -4) ** 0.125


def test_critical_temperature():
    assert cl.ISING_TC == pytest.approx(2.269185, abs=1e-6)


@pytest.fixture(scope="module")
def ising_all(ising):
    (x_train, y_train, t_train), (x_test, y_test, t_test) = ising
    return np.concatenate([x_train, x_test]), np.concatenate([y_train, y_test]), np.concatenate([t_train, t_test])


def test_ising_shapes_values_and_labels(ising_all):
    x, y, t = ising_all
    assert x.shape[1:] == (32, 32, 1) and x.dtype == np.float32
    assert set(np.unique(x)) == {-1.0, 1.0}
    np.testing.assert_array_equal(y, (t > cl.ISING_TC).astype(y.dtype))
    assert np.allclose(np.unique(t), cl.data.default_temperatures())


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_ising_magnetization_matches_onsager(ising_all, temperature):
    x, _, t = ising_all
    m = np.abs(x[np.isclose(t, temperature)].mean(axis=(1, 2, 3)))
    assert m.mean() == pytest.approx(onsager_magnetization(temperature), abs=0.05)


def test_ising_disordered_above_tc(ising_all):
    x, _, t = ising_all
    for temperature in np.unique(t[t >= 3.0 - 1e-6]):
        m = np.abs(x[np.isclose(t, temperature)].mean(axis=(1, 2, 3)))
        assert m.mean() < 0.25, temperature


def test_ising_sign_symmetry(ising_all):
    """Half of the lattices are flipped, so the sign of m says nothing about the phase."""
    x, _, t = ising_all
    cold = x[t < 2.0].mean(axis=(1, 2, 3))
    assert 0.35 < np.mean(cold > 0) < 0.65


def test_chain_ids_follow_the_simulation_order():
    """Without sweeps between snapshots, the snapshots of one chain are identical and other chains differ."""
    temperatures, chains, snapshots = [2.5, 3.0], 3, 4
    spins, temps = cl.data.simulate_ising(
        temperatures, chains, snapshots, size=8, equilibration_sweeps=3, sweeps_between_snapshots=0, seed=5
    )
    ids = cl.data.ising_chain_ids(len(temperatures), chains, snapshots)
    assert ids.shape == (len(spins),)
    same_lattice = np.all(spins[:, None] == spins[None, :], axis=(2, 3))
    np.testing.assert_array_equal(same_lattice, ids[:, None] == ids[None, :])
    np.testing.assert_array_equal(temps, np.repeat(temperatures, chains)[ids])


def test_ising_split_keeps_every_chain_on_one_side(monkeypatch):
    """Each lattice carries its chain number in its first row; no chain may reach both sets."""
    temperatures, chains, snapshots = [1.5, 2.2, 2.3, 3.0], 10, 3

    def labelled_chains(temperatures, chains_per_temperature, snapshots, seed=0):
        ids = cl.data.ising_chain_ids(len(temperatures), chains_per_temperature, snapshots)
        spins = np.ones((len(ids), 32, 32), dtype=np.int8)
        bits = (ids[:, None] >> np.arange(8)) & 1
        spins[:, 0, 1:9] = 1 - 2 * bits  # bit set → spin opposite to spins[:, 0, 0]
        return spins, np.repeat(np.asarray(temperatures, np.float32), chains_per_temperature)[ids]

    monkeypatch.setattr(cl.data, "simulate_ising", labelled_chains)
    (x_train, _, t_train), (x_test, _, t_test) = cl.load_ising(
        chains, snapshots, temperatures=temperatures, test_fraction=0.2, cache=False
    )

    def chain_of(x):
        return ((x[:, 0, 1:9, 0] * x[:, 0, :1, 0] < 0) * (1 << np.arange(8))).sum(axis=1)

    train_chains, test_chains = chain_of(x_train), chain_of(x_test)
    assert not set(train_chains) & set(test_chains)
    assert len(x_train) + len(x_test) == len(temperatures) * chains * snapshots
    for chain in np.unique(test_chains):  # a test chain brings all its snapshots
        assert np.sum(test_chains == chain) == snapshots
    for temperature in temperatures:  # 20 % of the 10 chains of every temperature
        assert len(np.unique(test_chains[np.isclose(t_test, temperature)])) == 2
        assert len(np.unique(train_chains[np.isclose(t_train, temperature)])) == 8


def test_ising_split_needs_two_chains_per_temperature():
    with pytest.raises(ValueError, match="chains_per_temperature >= 2"):
        cl.load_ising(chains_per_temperature=1, snapshots=1, temperatures=[1.0], cache=False)


def test_near_critical_band():
    np.testing.assert_array_equal(
        cl.data.near_critical([2.0, 2.1, cl.ISING_TC, 2.5, 2.6]), [False, True, True, True, False]
    )


def test_ising_cache_detects_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    small = dict(chains_per_temperature=2, snapshots=1, temperatures=[1.0, 3.0])
    first = cl.load_ising(**small)
    files = list(tmp_path.glob("ising_*.npz"))
    assert len(files) == 1
    # truncate the file: the next call must notice and regenerate the same data
    files[0].write_bytes(files[0].read_bytes()[:100])
    second = cl.load_ising(**small)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    assert files[0].stat().st_size > 100
    # flip bytes in the stored spins while keeping a valid archive: the checksum catches it
    with np.load(files[0]) as stored:
        content = dict(stored)
    content["spins"] = -content["spins"]
    np.savez_compressed(files[0], **content)
    third = cl.load_ising(**small)
    np.testing.assert_array_equal(first[0][0], third[0][0])


def test_ising_cache_never_inside_repo(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_LIB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert str(cl.data.cache_dir()).startswith(str(tmp_path))


def test_simulation_rejects_bad_temperatures():
    with pytest.raises(ValueError, match="positive"):
        cl.data.simulate_ising([1.0, -2.0])
