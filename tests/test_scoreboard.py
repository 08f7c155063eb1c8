"""The scoreboard: every method on every ground-truth network, scored by every metric."""

import numpy as np
import pytest

from course_lib import scoreboard


@pytest.fixture(scope="module")
def board():
    return scoreboard.score_all(
        ["magnetization", "clever_hans"],
        ["random", "gradient × input", "CAM"],
        ["rank correlation", "mass accuracy", "completeness error", "randomisation"],
        n=2,
    )


def test_exact_methods_score_exactly_on_a_linear_network(board):
    """The magnetisation network is linear in the spins: gradient × input is the truth s_i/N itself."""
    assert board.value("magnetization", "gradient × input", "rank correlation") == pytest.approx(1.0)
    assert board.value("magnetization", "gradient × input", "mass accuracy") == pytest.approx(1.0)
    assert board.value("magnetization", "gradient × input", "completeness error") == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(
        board.maps["magnetization", "gradient × input"][..., 0], board.truth["magnetization"], atol=1e-7
    )


def test_random_map_fails_the_randomisation_check_and_does_not_win(board):
    assert board.value("clever_hans", "random", "randomisation") == pytest.approx(1.0)
    assert board.best("clever_hans", "rank correlation") != "random"


def test_methods_that_do_not_apply_are_not_applicable(board):
    """CAM needs a conv → GAP → dense head; the Clever-Hans network is dense only."""
    assert np.isnan(board.values[board.networks.index("clever_hans"), board.methods.index("CAM")]).all()
    table = board.markdown("clever_hans")
    assert "| CAM | n/a" in table and table.count("\n") == 1 + len(board.methods)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown metric"):
        scoreboard.score_all(metrics=["accuracy"])
    with pytest.raises(ValueError, match="unknown network"):
        scoreboard.sample_inputs("cifar")
