"""Fast checks of the grading's honesty helpers: tampering found by reading code, feedback without hidden
tests, file names that need no report, and the per-student line of the command line."""

from __future__ import annotations

import pytest
from nbformat.notebooknode import from_dict

from course_lib.grading import integrity
from course_lib.grading.__main__ import _print_scores
from course_lib.grading.preprocessors import HIDDEN_PLACEHOLDER, HideHiddenTests
from course_lib.grading.submissions import _follows_convention

IMPORTS = "import numpy as np\nimport course_lib as cl\nfrom course_lib.grading import checks\n"


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("checks.expect_close = lambda *a, **k: None", "checks.expect_close"),
        ("np.allclose, other = (lambda *a: True), 1", "np.allclose"),
        ("np.random.default_rng = None", "np.random.default_rng"),
        ("del cl.saliency", "cl.saliency"),
        ('setattr(checks, "expect_array", print)', "setattr on checks"),
        ('import sys\nsys.modules["numpy"] = None', "sys.modules"),
        ("sys.modules.pop('course_lib')", "sys.modules"),
        ("import builtins\nbuiltins.print = None", "builtins.print"),
        ("my_function.__code__ = (lambda: 0).__code__", "__code__"),
        ("import importlib\nimportlib.reload(checks)", "importlib.reload"),
        ("import sys\nsys.setprofile(None)", "sys.setprofile"),
        ("get_ipython().set_custom_exc((Exception,), None)", "IPython"),
        ("exec('x = 1')", "exec"),
    ],
)
def test_lines_that_change_the_tests_tools_are_found(line, what):
    source = IMPORTS + line
    found = integrity.tampering(source, integrity.imported_names([source]))
    assert found and any(what in message for _, message in found), found
    assert all(number > 3 for number, _ in found), "the imports themselves are not tampering"


@pytest.mark.parametrize(
    "line",
    [
        "model.trainable = False",
        "model = cl.pretrained('mnist_cnn')",
        "np.random.seed(0)",
        "plt_settings = {}\nplt_settings['a'] = 1",
        "x = np.zeros(3)\nx[0] = 1",
        "%matplotlib inline",
        "checks_copy = checks",
    ],
)
def test_ordinary_code_is_not_reported(line):
    source = IMPORTS + line
    assert integrity.tampering(source, integrity.imported_names([source])) == []


def _test_cell(source, outputs):
    meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1, "locked": True}}
    cell = {"cell_type": "code", "metadata": meta, "source": source, "outputs": outputs, "execution_count": 1}
    return from_dict(cell)


def test_feedback_keeps_hidden_results_and_drops_hidden_source():
    source = "_ = f(1)\n### BEGIN HIDDEN TESTS\nassert f(2) == 3, 'f(2) should be 3'\n### END HIDDEN TESTS"
    error = {
        "output_type": "error",
        "ename": "AssertionError",
        "evalue": "f(2) should be 3",
        "traceback": ["----> 3 assert f(2) == 3, 'f(2) should be 3'", "AssertionError: f(2) should be 3"],
    }
    warning = {
        "output_type": "stream",
        "name": "stdout",
        "text": "[stderr] <cell>:3: warning\n  assert f(2) == 3, 'f(2) should be 3'\n",
    }
    cell, _ = HideHiddenTests().preprocess_cell(_test_cell(source, [warning, error]), {}, 0)
    assert cell.source == f"_ = f(1)\n{HIDDEN_PLACEHOLDER}"
    assert cell.outputs[1]["traceback"] == ["AssertionError: f(2) should be 3"]
    assert "assert f(2)" not in cell.outputs[0]["text"] and "warning" in cell.outputs[0]["text"]
    visible, _ = HideHiddenTests().preprocess_cell(_test_cell("assert f(1) == 2", [error]), {}, 0)
    assert visible.source == "assert f(1) == 2" and len(visible.outputs[0]["traceback"]) == 2


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("ab12_ex1.ipynb", True),
        ("ab12/ex1.ipynb", True),
        ("ab12_Copy of ex1.ipynb", False),
        ("ab12/ex1 (2).ipynb", False),
    ],
)
def test_only_unconventional_file_names_are_reported(original, expected):
    assert _follows_convention(original, "ab12", "ex1.ipynb") is expected


def test_scores_line_names_the_cells_that_lost_points(capsys):
    row = {
        "auto_score": 3.0,
        "max_auto": 5.0,
        "needs_manual": [],
        "cells": {"test_a": (1.0, 1.0), "test_b": (0.0, 2.0), "test_c": (2.0, 2.0)},
        "lost": ["test_b"],
        "review": ["answer cell 'f', line 3: changes the module attribute np.allclose"],
    }
    _print_scores({"ab12": row, "cd34": {**row, "auto_score": 5.0, "lost": [], "review": []}})
    lines = capsys.readouterr().out.splitlines()
    assert "lost: test_b (0/2)" in lines[0] and "REVIEW 1 line(s)" in lines[0]
    assert "lost" not in lines[1] and "REVIEW" not in lines[1]
