"""The grading pipeline on the attribution exercises (3 saliency maps, 4 LRP, 5 integrated gradients).

Same machinery as ``test_grading_pipeline.py`` (``grading_harness``: ``Case``/``edit`` helpers, the notebook
mutations of :mod:`course_lib.grading.mutations` and :class:`~course_lib.grading.pipeline.Course`):
every submission is the released notebook with the model answers filled in, then edited. All
submissions of one assignment are graded by nbgrader in ONE batch (collect → check/repair →
autograde → feedback → export).

Each wrong answer is a mistake students make with these methods (the gradient of the softmax
probability, ε added without its sign, the bias missing from the denominator, integrated gradients
without the factor (x − x′), the baseline ignored, a left Riemann sum, ...). A case lists exactly
the test cells it must lose — the mistake's own cells and the cells of functions that call the
wrong one; every other test cell must keep its full points. Mistakes whose losses do not overlap
share one submission, to keep the number of notebook runs (each starts TensorFlow) small.
"""

from __future__ import annotations

import pytest
from grading_harness import TEST_CELL_TIMEOUT, Case, answered, assert_lost_exactly, edit, grader, untouched

from course_lib.grading import mutations as mut

# One nbgrader batch per assignment is graded once per worker: keep this file on one xdist worker.
pytestmark = pytest.mark.xdist_group("grading_ex3_ex5")

EX3 = "ex3_saliency_maps"
EX4 = "ex4_layerwise_relevance_propagation"
EX5 = "ex5_integrated_gradients"


def pair(name: str) -> tuple[str, str]:
    """The visible and the hidden test cell of one function."""
    return (f"test_{name}", f"test_{name}_hidden")


LOGITS, SALIENCY, GXI, SMOOTH = (
    pair(n) for n in ("logits_model", "saliency_map", "gradient_times_input", "smoothgrad_map")
)
EPS, NETWORK, GAP, KEPT = (
    pair(n) for n in ("lrp_epsilon_dense", "lrp_dense_network", "conservation_gap", "relevance_kept")
)
LAYERS = ("test_dense_layers",)
ALPHAS, IG, COMPLETE = (pair(n) for n in ("midpoint_alphas", "integrated_gradients_midpoint", "completeness_gap"))

EVERY_TEST = {
    EX3: LOGITS + SALIENCY + GXI + SMOOTH,
    EX4: EPS + LAYERS + NETWORK + GAP + KEPT,
    EX5: ALPHAS + IG + COMPLETE,
}

# ------------------------------------------------------------------------------------ mistakes
# (answer cell, line of the model answer, the wrong line)

SOFTMAX_GRADIENT = ("saliency_map", "scores_model = logits_model(model)", "scores_model = model")
ABS_ATTRIBUTION = (
    "gradient_times_input",
    'return np.asarray(x, dtype="float32") * saliency_map(model, x, target)',
    'return np.abs(np.asarray(x, dtype="float32") * saliency_map(model, x, target))',
)
SUM_NOT_MEAN = ("smoothgrad_map", ".mean(axis=0)", ".sum(axis=0)")

EPSILON_WITHOUT_SIGN = (
    "lrp_epsilon_dense",
    "denominator = z + epsilon * np.where(z >= 0, 1.0, -1.0)",
    "denominator = z + epsilon",
)
BIAS_NOT_IN_DENOMINATOR = ("lrp_epsilon_dense", "z = a @ W + b", "z = a @ W")
PROBABILITY_NOT_SCORE = ("relevance_kept", "scores = checks.logits_of(model, x)[", "scores = np.asarray(model(x))[")

WITHOUT_DIFFERENCE = (
    "integrated_gradients_midpoint",
    'return ((x - baseline) * gradients.mean(axis=0)).astype("float32")',
    'return gradients.mean(axis=0).astype("float32")',
)
BASELINE_IGNORED = (
    "integrated_gradients_midpoint",
    'baseline = np.broadcast_to(np.asarray(baseline, dtype="float32"), x.shape)',
    "baseline = np.zeros_like(x)",
)
LEFT_RIEMANN = ("midpoint_alphas", "(np.arange(steps) + 0.5) / steps", "np.arange(steps) / steps")
NOISY_IG = (
    "integrated_gradients_midpoint",
    "    alphas = midpoint_alphas(steps)",
    "    import sys\n    import warnings\n"
    '    print("my path has", steps, "points", file=sys.stderr)\n'
    '    warnings.warn("a warning from the student\'s code")\n'
    "    alphas = midpoint_alphas(steps)",
)


def wrong(*mistakes):
    return edit(*[(mut.replace_in_cell, *mistake) for mistake in mistakes])


CASES: dict[str, list[Case]] = {
    EX3: [
        Case("solution", answered),
        Case("release", untouched, lost=EVERY_TEST[EX3]),
        # every later function calls saliency_map, so they all lose their points
        Case("softmax", wrong(SOFTMAX_GRADIENT), lost=SALIENCY + GXI + SMOOTH),
        Case(
            # two independent mistakes; the notebook was renamed and lost its nbgrader metadata on the way
            "abs-and-sum",
            edit(
                (mut.replace_in_cell, *ABS_ATTRIBUTION),
                (mut.replace_in_cell, *SUM_NOT_MEAN),
                (mut.strip_nbgrader_metadata,),
            ),
            lost=GXI + SMOOTH,
            member=f"abs-and-sum/Copy of {EX3}.ipynb",
            finding="restored lost nbgrader metadata",
        ),
    ],
    EX4: [
        Case("solution", answered),
        Case("release", untouched, lost=EVERY_TEST[EX4]),
        # visible network test: true classes, positive scores, where the sign of ε cannot matter;
        # the hidden tests explain negative scores (least likely class, an untrained MLP class)
        Case("unsigned-epsilon", wrong(EPSILON_WITHOUT_SIGN), lost=EPS + ("test_lrp_dense_network_hidden",) + GAP[1:]),
        Case(
            # two independent mistakes; the visible LRP test was replaced by a print and is restored
            "bias-and-probability",
            edit(
                (mut.replace_in_cell, *BIAS_NOT_IN_DENOMINATOR),
                (mut.replace_in_cell, *PROBABILITY_NOT_SCORE),
                (mut.set_source, "test_lrp_dense_network", 'print("looks right")'),
            ),
            lost=EPS + NETWORK + GAP + KEPT,
            finding="restored the released test",
        ),
    ],
    EX5: [
        Case("solution", answered),
        Case("release", untouched, lost=EVERY_TEST[EX5]),
        Case("no-difference", wrong(WITHOUT_DIFFERENCE), lost=IG + COMPLETE),
        Case(
            # the toy's baselines (1, 0) and (1, 1) lie on the path from 0 in the visible tests only
            # partly: the visible IG test catches it, the gap only with the hidden blurred baseline.
            # The function also writes to stderr and warns: that must not cost the passing cells.
            "baseline-ignored",
            wrong(BASELINE_IGNORED, NOISY_IG),
            lost=IG + COMPLETE[1:],
        ),
        Case("left-riemann", wrong(LEFT_RIEMANN), lost=ALPHAS + IG + COMPLETE),
    ],
}

ALL_CASES = [pytest.param(a, c, id=f"{a}-{c.student}") for a in CASES for c in CASES[a]]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """``graded(assignment)`` → (course, outcome of Course.grade): one batch per assignment, cached."""
    return grader(
        tmp_path_factory,
        CASES,
        unsafe_members=lambda assignment: {f"../../escape_{assignment}.ipynb": b"{}"},
        timeout=240,
        test_cell_timeout=TEST_CELL_TIMEOUT * 3,
    )


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "case"), ALL_CASES)
def test_each_submission_loses_exactly_the_expected_cells(graded, assignment, case):
    _, outcome = graded(assignment)
    assert_lost_exactly(outcome, case, EVERY_TEST[assignment])


@pytest.mark.slow
@pytest.mark.parametrize("assignment", list(CASES))
def test_batch_grades_every_student_with_feedback_and_refuses_unsafe_members(graded, assignment):
    course, outcome = graded(assignment)
    students = {case.student for case in CASES[assignment]}
    assert set(outcome["scores"]) == students
    assert all(result.success for result in outcome["graded"]), [r.error for r in outcome["graded"] if not r.success]
    refused = [c.source for c in outcome["collected"] if c.path is None]
    assert refused == [f"../../escape_{assignment}.ipynb"]
    assert not (course.grading_root.parent.parent / f"escape_{assignment}.ipynb").exists()
    for student in students:
        assert list((course.grading_root / "feedback" / student / assignment).glob("*.html")), student
    assert outcome["scores"]["solution"]["needs_manual"], "the written answers wait for a human grader"
    assert outcome["scores"]["release"]["needs_manual"] == []


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "case"), [p for p in ALL_CASES if p.values[1].finding])
def test_check_report_says_what_was_repaired(graded, assignment, case):
    _, outcome = graded(assignment)
    text = "\n".join(str(r) for r in outcome["reports"] if r.student_id == case.student)
    text += "\n".join(str(f) for c in outcome["collected"] if c.student_id == case.student for f in c.findings)
    assert case.finding in text, text


@pytest.mark.slow
def test_stderr_of_student_code_is_kept_but_costs_nothing(graded):
    course, _ = graded(EX5)
    autograded = course.grading_root / "autograded" / "baseline-ignored" / EX5 / f"{EX5}.ipynb"
    assert "[stderr] my path has" in autograded.read_text()


@pytest.mark.slow
def test_regrading_gives_the_same_scores(graded):
    course, outcome = graded(EX4)
    course.autograde(EX4, ["unsigned-epsilon"])
    assert course.scores(EX4)["unsigned-epsilon"] == outcome["scores"]["unsigned-epsilon"]
