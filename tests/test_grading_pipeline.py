"""The grading pipeline end to end, with nbgrader itself, on a temporary grading directory.

Data-driven: ``CASES`` lists, per assignment, the submissions to grade — each made by editing the
released notebook with the model answers filled in — and which test cells each must lose. All
submissions of one assignment are graded in ONE batch (collect → check/repair → autograde →
feedback → export). To cover another exercise, add its assignment id and cases to ``CASES``.
The machinery shared with the other pipeline tests is in ``grading_harness.py``.
"""

from __future__ import annotations

import pytest
from grading_harness import Case, edit, pipeline_tests, read_notebook, reference_cases
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
NO_EPSILON = (  # the RMS alone, made safe for a zero gradient: epsilon is ignored
    "normalize_gradient",
    "return grads / (rms + epsilon)",
    "return tf.math.divide_no_nan(grads, rms)",
)
# Every graded function of exercise 1 handing its work to a reference: an oracle of the checks through an
# alias, through a helper, and mixed into an own computation so that gradients still flow.
DELEGATING_EX1 = (
    (
        mut.replace_in_cell,
        "normalize_gradient",
        "    grads = tf.convert_to_tensor(grads, dtype=tf.float32)",
        "    from course_lib.grading.checks import reference_normalize as _tidy\n"
        "\n    return _tidy(np.asarray(grads), epsilon)\n    grads = tf.convert_to_tensor(grads, dtype=tf.float32)",
    ),
    (
        mut.replace_in_cell,
        "channel_objective",
        "    return tf.reduce_mean(chosen, axis=[1, 2])",
        "    same = checks.reference_channel_objective(sub_model, np.asarray(images), np.asarray(filters))\n"
        "    return tf.constant(same) + 0.0 * tf.reduce_mean(chosen, axis=[1, 2])",
    ),
    (
        mut.replace_in_cell,
        "gradient_ascent",
        "    shape = (len(filters), *sub_model.input_shape[1:])",
        "    return _ascend(sub_model, filters, steps, step_size, seed)\n    shape = (len(filters), *sub_model.input_shape[1:])",
    ),
    (
        mut.replace_in_cell,
        "gradient_ascent",
        "def gradient_ascent(",
        "def _ascend(*arguments):\n    return checks.reference_gradient_ascent(*arguments)\n\n\ndef gradient_ascent(",
    ),
)
# Exercise 2 handed to course_lib: an alias, a helper around cl.activations, cl.cam called directly.
DELEGATING_EX2 = (
    (
        mut.replace_in_cell,
        "class_activation_maps",
        '    return np.einsum("ixyz,zc->ixyc", features, weights) + bias',
        "    from course_lib import class_activation_maps as _maps\n\n    return _maps(features, weights, bias)",
    ),
    (
        mut.replace_in_cell,
        "last_conv_features",
        "    conv_layers = [",
        "    return _last(cl.activations(model, np.asarray(x)))\n    conv_layers = [",
    ),
    (
        mut.replace_in_cell,
        "last_conv_features",
        "def last_conv_features(",
        "def _last(maps):\n    return list(maps.values())[-1]\n\n\ndef last_conv_features(",
    ),
    (
        mut.replace_in_cell,
        "compute_cams",
        "    features = last_conv_features(model, x)",
        "    classes = model.output_shape[-1]\n"
        "    return np.stack([cl.cam(model, x, target=c) for c in range(classes)], axis=-1)\n"
        "    features = last_conv_features(model, x)",
    ),
)
# A wrong answer (all zeros) that also replaces the checks, NumPy's comparison and the reference the
# hidden test compares with: the test cells put the originals back, and check reports the lines.
TAMPERING = (
    "class_activation_maps",
    '    return np.einsum("ixyz,zc->ixyc", features, weights) + bias',
    "    return np.zeros(features.shape[:3] + (weights.shape[1],))\n\n\n"
    "checks.expect_close = lambda *args, **kwargs: None\n"
    "np.allclose = lambda *args, **kwargs: False\n"
    'setattr(cl, "cam", lambda *args, **kwargs: 0.0)',
)
EVERY_TEST = {
    EX1: NORMALIZE_TESTS + OBJECTIVE_TESTS + ASCENT_TESTS,
    EX2: CAM_TESTS
    + ("test_last_conv_features", "test_last_conv_features_hidden", "test_compute_cams", "test_compute_cams_hidden")
    + INDEX_TESTS,
}

CASES: dict[str, list[Case]] = {
    EX1: [
        *reference_cases(EVERY_TEST[EX1]),
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
        Case(  # gradient_ascent normalises with it, so its tests see the missing epsilon too
            "no-epsilon", edit((mut.replace_in_cell, *NO_EPSILON)), lost=NORMALIZE_TESTS + ASCENT_TESTS
        ),
        Case(
            "delegates",  # right values from the references: the visible tests pass, every hidden test catches it
            edit(*DELEGATING_EX1),
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
            "delegates",
            edit(*DELEGATING_EX2),
            lost=("test_class_activation_maps_hidden", "test_last_conv_features_hidden", "test_compute_cams_hidden"),
        ),
        Case(
            "tampers",
            edit((mut.replace_in_cell, *TAMPERING)),
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
