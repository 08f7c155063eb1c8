"""The grading pipeline end to end, with nbgrader itself, on a temporary grading directory.

Data-driven: ``CASES`` lists, per assignment, the submissions to grade — each made by editing the
released notebook with the model answers filled in — and which test cells each must lose. All
submissions of one assignment are graded in ONE batch (collect → check/repair → autograde →
feedback → export). To cover another exercise, add its assignment id and cases to ``CASES``.
The machinery shared with the other pipeline tests is in ``grading_harness.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    answered,
    assert_lost_exactly,
    edit,
    grader,
    read_notebook,
    untouched,
)
from nbformat.notebooknode import from_dict

from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import COURSE_ROOT
from course_lib.grading.preprocessors import RelabelStderr
from course_lib.grading.submissions import check_notebook

# One nbgrader batch per assignment is graded once per worker: keep this file on one xdist worker.
pytestmark = pytest.mark.xdist_group("grading_ex1_ex2")

EX1 = "ex1_activation_maximization"
EX2 = "ex2_class_activation_maps"
NOISY = (
    "    import sys\n    import warnings\n"
    '    print("checking my gradient", file=sys.stderr)\n'
    '    warnings.warn("a warning from the student\'s code")\n'
    '    print("x" * 300_000)\n'
    "    grads = tf.convert_to_tensor"
)
ASCENT_TESTS = ("test_gradient_ascent", "test_gradient_ascent_hidden")
OBJECTIVE_TESTS = ("test_channel_objective", "test_channel_objective_hidden")
NORMALIZE_TESTS = ("test_normalize_gradient", "test_normalize_gradient_hidden")
CAM_TESTS = ("test_class_activation_maps", "test_class_activation_maps_hidden")
INDEX_TESTS = ("test_correct_and_wrong_indices", "test_correct_and_wrong_indices_hidden")
NO_BIAS = (
    "class_activation_maps",
    'np.einsum("ixyz,zc->ixyc", features, weights) + bias',
    'np.einsum("ixyz,zc->ixyc", features, weights)',
)
SWAPPED = ("correct_and_wrong_indices", "return correct, wrong", "return wrong, correct")
EVERY_TEST = {
    EX1: NORMALIZE_TESTS + OBJECTIVE_TESTS + ASCENT_TESTS,
    EX2: CAM_TESTS
    + ("test_last_conv_features", "test_last_conv_features_hidden", "test_compute_cams", "test_compute_cams_hidden")
    + INDEX_TESTS,
}

CASES: dict[str, list[Case]] = {
    EX1: [
        Case("solution", answered),
        Case("release", untouched, lost=EVERY_TEST[EX1]),
        Case(
            "descent",
            edit((mut.replace_in_cell, "gradient_ascent", "images.assign_add(", "images.assign_sub(")),
            lost=ASCENT_TESTS,
        ),
        Case(
            "batch-rms",  # one root mean square for the whole batch instead of one per image
            edit((mut.replace_in_cell, "normalize_gradient", "axis=[1, 2, 3], keepdims=True", "keepdims=True")),
            lost=NORMALIZE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "feature-maps",  # returns the sub-model's output instead of the image
            edit((mut.replace_in_cell, "gradient_ascent", "return images.numpy()", "return sub_model(images).numpy()")),
            lost=ASCENT_TESTS,
        ),
        Case(
            "all-channels",  # averages every feature map instead of picking one
            edit(
                (
                    mut.replace_in_cell,
                    "channel_objective",
                    "return tf.reduce_mean(chosen, axis=[1, 2])",
                    "return tf.reduce_mean(activations, axis=[1, 2, 3])",
                )
            ),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "sum-not-mean",  # h·w times larger gradients: with the ε of the normalisation the steps differ too
            edit(
                (
                    mut.replace_in_cell,
                    "channel_objective",
                    "return tf.reduce_mean(chosen, axis=[1, 2])",
                    "return tf.reduce_sum(chosen, axis=[1, 2])",
                )
            ),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "raising",  # the answer cell raises before it defines the function
            edit(
                (
                    mut.replace_in_cell,
                    "channel_objective",
                    "def channel_objective",
                    'raise RuntimeError("not finished")\n\n\ndef channel_objective',
                )
            ),
            lost=OBJECTIVE_TESTS + ASCENT_TESTS,
        ),
        Case(
            "noisy",  # stderr, warnings and 300,000 characters of output in every call; renamed file in a folder
            edit((mut.replace_in_cell, "normalize_gradient", "    grads = tf.convert_to_tensor", NOISY)),
            member="noisy/Copy of ex1_activation_maximization (2).ipynb",
            finding="file name",
        ),
        Case("stripped", edit((mut.strip_nbgrader_metadata,)), finding="restored lost nbgrader metadata"),
        Case(
            "broken",
            lambda nb, release: b"{ this is not a notebook",
            lost=EVERY_TEST[EX1],
            finding="not a readable notebook",
        ),
    ],
    EX2: [
        Case("solution", answered),
        Case("release", untouched, lost=EVERY_TEST[EX2]),
        Case(
            "wrong-axis",  # sums over the classes instead of the features
            edit((mut.replace_in_cell, "class_activation_maps", '"ixyz,zc->ixyc"', '"ixyz,zc->ixyz"')),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "no-bias",
            edit((mut.replace_in_cell, *NO_BIAS)),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "transposed",  # swaps x and y: the spatial mean (and so the visible compute_cams test) cannot see it
            edit((mut.replace_in_cell, "class_activation_maps", '"ixyz,zc->ixyc"', '"ixyz,zc->iyxc"')),
            lost=CAM_TESTS + ("test_compute_cams_hidden",),
        ),
        Case("swapped", edit((mut.replace_in_cell, *SWAPPED)), lost=INDEX_TESTS),
        Case(
            "endless",  # an infinite loop on small inputs: both test cells time out, the rest of the notebook is graded
            edit(
                (
                    mut.replace_in_cell,
                    "correct_and_wrong_indices",
                    "    predicted = np.argmax",
                    "    while len(labels) < 10:\n        pass\n    predicted = np.argmax",
                )
            ),
            lost=INDEX_TESTS,
        ),
        Case(
            "nan",
            edit((mut.replace_in_cell, *NO_BIAS[:2], "np.full(features.shape[:3] + (weights.shape[1],), np.nan)")),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
        ),
        Case(
            "edited-test",  # a wrong answer and a visible test reduced to a print: the test is restored
            edit((mut.replace_in_cell, *NO_BIAS), (mut.set_source, "test_class_activation_maps", 'print("all good")')),
            lost=CAM_TESTS + ("test_compute_cams", "test_compute_cams_hidden"),
            finding="restored the released test",
        ),
        Case(
            "deleted-test",  # a wrong answer whose visible test was deleted: the test is put back
            edit((mut.replace_in_cell, *SWAPPED), (mut.delete_cell, "test_correct_and_wrong_indices")),
            lost=INDEX_TESTS,
            finding="was deleted; put it back",
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


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(assignment)`` → (course, outcome of Course.grade): one batch per assignment, cached."""
    return grader(
        tmp_path_factory, CASES, unsafe_members=_unsafe_members, timeout=180, test_cell_timeout=TEST_CELL_TIMEOUT
    )


ALL_CASES = [pytest.param(a, c, id=f"{a}-{c.student}") for a in CASES for c in CASES[a]]


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "case"), ALL_CASES)
def test_each_submission_loses_exactly_the_expected_cells(graded, assignment, case):
    _, outcome = graded(assignment)
    assert_lost_exactly(outcome, case, EVERY_TEST[assignment])


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(CASES))
def test_batch_grades_every_student_and_refuses_unsafe_members(graded, assignment):
    course, outcome = graded(assignment)
    students = {case.student for case in CASES[assignment]}
    assert set(outcome["scores"]) == students, "the gradebook must hold every student"
    assert all(result.success for result in outcome["graded"]), [r.error for r in outcome["graded"] if not r.success]
    refused = [c for c in outcome["collected"] if c.path is None and any("refused" in f.message for f in c.findings)]
    assert {c.source for c in refused} == {f"../escape_{assignment}.ipynb", f"/tmp/absolute_{assignment}.ipynb"}
    assert not (course.grading_root.parent / f"escape_{assignment}.ipynb").exists()
    assert not Path(f"/tmp/absolute_{assignment}.ipynb").exists()
    for student in students:
        assert list((course.grading_root / "feedback" / student / assignment).glob("*.html")), (
            f"no feedback for {student}"
        )
    csv_text = outcome["csv"].read_text()
    assert all(student in csv_text for student in students)


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "case"), [p for p in ALL_CASES if p.values[1].finding])
def test_check_report_says_what_was_repaired(graded, assignment, case):
    _, outcome = graded(assignment)
    report = [r for r in outcome["reports"] if r.student_id == case.student]
    collected = [c for c in outcome["collected"] if c.student_id == case.student]
    text = "\n".join(str(r) for r in report) + "\n".join(str(f) for c in collected for f in c.findings)
    assert case.finding in text, text


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(CASES))
def test_written_answers_wait_for_manual_grading(graded, assignment):
    _, outcome = graded(assignment)
    assert outcome["scores"]["solution"]["needs_manual"], "the answered written cells need a human grader"
    assert outcome["scores"]["release"]["needs_manual"] == [], "unchanged written cells score 0 automatically"


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
