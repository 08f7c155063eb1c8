"""The lecture-09 explorer shows the scoreboard's own numbers and maps."""

import numpy as np
import pytest

from course_lib import scoreboard, widgets


@pytest.fixture(scope="module")
def board():
    return scoreboard.score_all(
        ["additive", "clever_hans"], ["random", "gradient × input", "CAM"], ["rank correlation"], n=2
    )


def test_caption_reports_the_selected_cell(board):
    explorer = widgets.scoreboard_explorer(board, network="additive", method="gradient × input")
    value = board.value("additive", "gradient × input", "rank correlation")
    assert f"rank correlation = {value:.3f}" in explorer.caption.value
    explorer.controls["method"].value = "random"
    assert f"= {board.value('additive', 'random', 'rank correlation'):.3f}" in explorer.caption.value
    assert "best: gradient × input" in explorer.caption.value
    assert explorer.renders == 2


def test_a_method_that_does_not_apply_is_shown_as_such(board):
    explorer = widgets.scoreboard_explorer(board, network="clever_hans", method="CAM")
    assert "n/a" in explorer.caption.value and "cannot show" not in explorer.caption.value
    assert np.isnan(board.value("clever_hans", "CAM", "rank correlation"))


def test_bad_choices_are_refused(board):
    with pytest.raises(ValueError, match="metric must be one of"):
        widgets.scoreboard_explorer(board, metric="accuracy")
