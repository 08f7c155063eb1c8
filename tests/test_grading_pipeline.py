"""The grading pipeline end to end, with nbgrader itself, on a temporary grading directory.

Data-driven: ``CASES`` lists, per assignment, the submissions to grade — each made by editing the
released notebook with the model answers filled in, most with a mistake from ``tests/mistakes/`` —
and which test cells each must lose. All submissions of one assignment are graded in ONE batch
(collect → check/repair → autograde → feedback → export). To cover another exercise, write its
catalogue of mistakes and add its assignment id and cases to ``CASES``.
The machinery shared with the other pipeline tests is in ``grading_harness.py``.
"""

from __future__ import annotations

import pytest
from grading_harness import Case, edit, mistakes, pipeline_tests, read_notebook, reference_cases, replacements, wrong
from nbformat.notebooknode import from_dict

from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import COURSE_ROOT
from course_lib.grading.preprocessors import RelabelStderr
from course_lib.grading.submissions import check_notebook

# One nbgrader batch per assignment is graded once per worker: keep this file on one xdist worker.
pytestmark = pytest.mark.xdist_group("grading_ex1_ex2")

EX1 = "ex1_activation_maximization"
EX2 = "ex2_class_activation_maps"
ASCENT_TESTS = ("test_gradient_ascent", "test_gradient_ascent_hidden")
OBJECTIVE_TESTS = ("test_channel_objective", "test_channel_objective_hidden")
NORMALIZE_TESTS = ("test_normalize_gradient", "test_normalize_gradient_hidden")
CAM_TESTS = ("test_class_activation_maps", "test_class_activation_maps_hidden")
INDEX_TESTS = ("test_correct_and_wrong_indices", "test_correct_and_wrong_indices_hidden")
EVERY_TEST = {
    EX1: NORMALIZE_TESTS + OBJECTIVE_TESTS + ASCENT_TESTS,
    EX2: CAM_TESTS
    + ("test_last_conv_features", "test_last_conv_features_hidden", "test_compute_cams", "test_compute_cams_hidden")
    + INDEX_TESTS,
}

ASCENT_MISTAKES, CAM_MISTAKES = mistakes(EX1), mistakes(EX2)

CASES: dict[str, list[Case]] = {
    EX1: [
        *reference_cases(EVERY_TEST[EX1]),
        Case(
            "descent",
            wrong(ASCENT_MISTAKES.descent),
            lost=ASCENT_TESTS,
        ),
        Case(
            "batch-rms",  # one root mean square for the whole batch instead of one per image
            wrong(ASCENT_MISTAKES.batch_rms),
            lost=NORMALIZE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "feature-maps",  # returns the sub-model's output instead of the image
            wrong(ASCENT_MISTAKES.feature_maps),
            lost=ASCENT_TESTS,
        ),
        Case(
            "all-channels",  # averages every feature map instead of picking one
            wrong(ASCENT_MISTAKES.all_channels),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "sum-not-mean",  # h·w times larger gradients: with the ε of the normalisation the steps differ too
            wrong(ASCENT_MISTAKES.sum_not_mean),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "raising",  # the answer cell raises before it defines the function
            wrong(ASCENT_MISTAKES.raising),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "noisy",  # stderr, warnings and 300,000 characters of output in every call; renamed file in a folder
            wrong(ASCENT_MISTAKES.noisy),
            member="noisy/Copy of ex1_activation_maximization (2).ipynb",
            finding="file name",
        ),
        Case("stripped", edit((mut.strip_nbgrader_metadata,)), finding="restored lost nbgrader metadata"),
        Case(  # gradient_ascent normalises with it, so its tests see the missing epsilon too
            "no-epsilon", wrong(ASCENT_MISTAKES.no_epsilon), lost=NORMALIZE_TESTS + ASCENT_TESTS
        ),
        Case(
            "delegates",  # right values from the references: the visible tests pass, every hidden test catches it
            wrong(ASCENT_MISTAKES.delegating),
            lost=(NORMALIZE_TESTS[1], OBJECTIVE_TESTS[1], ASCENT_TESTS[1]),
        ),
        Case(
            "broken",
            lambda nb, release: b"{ this is not a notebook",
            lost=EVERY_TEST[EX1],
            finding="not a readable notebook",
        ),
    ],
    EX2: [
        *reference_cases(EVERY_TEST[EX2]),
        Case(
            "wrong-axis",  # sums over the classes instead of the features
            wrong(CAM_MISTAKES.wrong_axis),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "no-bias",
            wrong(CAM_MISTAKES.no_bias),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "transposed",  # swaps x and y: the spatial mean (and so the visible compute_cams test) cannot see it
            wrong(CAM_MISTAKES.transposed),
            lost=CAM_TESTS + ("test_compute_cams_hidden",),
        ),
        Case("swapped", wrong(CAM_MISTAKES.swapped), lost=INDEX_TESTS),
        Case(
            "endless",  # an infinite loop on small inputs: both test cells time out, the rest of the notebook is graded
            wrong(CAM_MISTAKES.endless),
            lost=INDEX_TESTS,
        ),
        Case(
            "nan",
            wrong(CAM_MISTAKES.nan_maps),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "edited-test",  # a wrong answer and a visible test reduced to a print: the test is restored
            edit(
                *replacements(CAM_MISTAKES.no_bias), (mut.set_source, "test_class_activation_maps", 'print("all good")')
            ),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
            finding="restored the released test",
        ),
        Case(
            "deleted-test",  # a wrong answer whose visible test was deleted: the test is put back
            edit(*replacements(CAM_MISTAKES.swapped), (mut.delete_cell, "test_correct_and_wrong_indices")),
            lost=INDEX_TESTS,
            finding="was deleted; put it back",
        ),
        Case(
            "delegates",
            wrong(CAM_MISTAKES.delegating),
            lost=("test_class_activation_maps_hidden", "test_last_conv_features_hidden", "test_compute_cams_hidden"),
        ),
        Case(
            "tampers",
            wrong(CAM_MISTAKES.tampering),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
            review="checks.expect_close",
        ),
        Case(
            "messy",  # a duplicated answer cell and a test cell turned into markdown
            edit((mut.duplicate_cell, "compute_cams"), (mut.change_cell_type, "test_last_conv_features", "markdown")),
            finding="had become a markdown cell",
        ),
    ],
}


_read = read_notebook


def _unsafe_members(assignment: str) -> dict[str, bytes]:
    return {
        f"../escape_{assignment}.ipynb": b"{}",
        f"/tmp/absolute_{assignment}.ipynb": b"{}",
        "__MACOSX/._solution_x.ipynb": b"",
    }


def refused_members(assignment: str) -> set[str]:
    return {f"../escape_{assignment}.ipynb", f"/tmp/absolute_{assignment}.ipynb"}


# the graded batches (one per assignment) and the tests every pipeline file runs on them
globals().update(
    pipeline_tests(CASES, EVERY_TEST, timeout=180, unsafe_members=_unsafe_members, refused=refused_members)
)


@pytest.mark.slow
def test_noisy_output_is_kept_small_and_regrading_gives_the_same_scores(graded):
    course, outcome = graded(EX1)
    autograded = course.grading_root / "autograded" / "noisy" / EX1 / f"{EX1}.ipynb"
    assert autograded.stat().st_size < 2_000_000, "huge outputs must be cut"
    text = autograded.read_text()
    assert "[stderr] checking my gradient" in text, "stderr is kept for the feedback, relabelled"
    course.autograde(EX1, ["sum-not-mean"])
    assert course.scores(EX1)["sum-not-mean"] == outcome["scores"]["sum-not-mean"]


# ------------------------------------------------------------------------------------ fast unit tests


def _graded_cell(outputs):
    return from_dict(
        {
            "cell_type": "code",
            "metadata": {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 2, "locked": True}},
            "source": "assert True",
            "outputs": outputs,
            "execution_count": 1,
        }
    )


def test_stderr_no_longer_zeroes_a_passing_test_but_errors_still_do():
    from nbgrader.utils import determine_grade

    stderr = {"output_type": "stream", "name": "stderr", "text": "a warning\n"}
    cell = _graded_cell([stderr])
    assert determine_grade(cell) == (0, 2.0), "nbgrader's own rule: stderr scores zero"
    cell, _ = RelabelStderr().preprocess_cell(cell, {}, 0)
    assert determine_grade(cell) == (2.0, 2.0)
    assert cell.outputs[0]["text"] == "[stderr] a warning\n"
    error = {"output_type": "error", "ename": "AssertionError", "evalue": "no", "traceback": []}
    failing, _ = RelabelStderr().preprocess_cell(_graded_cell([stderr, error]), {}, 0)
    assert determine_grade(failing) == (0, 2.0)


@pytest.mark.parametrize("assignment", list(CASES))
def test_check_restores_stripped_deleted_and_duplicated_cells(assignment):
    release = _read(COURSE_ROOT / "exercises", assignment)
    full = mut.answered_release(release, _read(COURSE_ROOT / "solutions", assignment))
    graded_ids = [c.metadata["nbgrader"]["grade_id"] for c in release.cells if "nbgrader" in c.metadata]
    tests = [g for g in graded_ids if g.startswith("test_")]
    damaged = mut.strip_nbgrader_metadata(mut.delete_cell(mut.duplicate_cell(full, tests[0]), tests[1]))
    repaired, findings = check_notebook(damaged, release)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in repaired.cells]
    assert [g for g in ids if g] == graded_ids, findings
    assert any("deleted" in f.message for f in findings)
    answers = {g for g in graded_ids if not g.startswith("test_")}
    for cell in repaired.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            assert "raise NotImplementedError" not in cell.source, f"{grade_id}: matched the wrong cell"
