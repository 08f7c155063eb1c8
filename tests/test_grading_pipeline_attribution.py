"""The grading pipeline on the attribution exercises (3 saliency maps, 4 LRP, 5 integrated gradients).

Same machinery as ``test_grading_pipeline.py`` (``grading_harness``: ``Case``/``edit`` helpers, the notebook
mutations of :mod:`course_lib.grading.mutations` and :class:`~course_lib.grading.pipeline.Course`):
every submission is the released notebook with the model answers filled in, then edited. All
submissions of one assignment are graded by nbgrader in ONE batch (collect → check/repair →
autograde → feedback → export).

Each wrong answer is a mistake students make with these methods, from the catalogues in
``tests/mistakes/`` (the gradient of the softmax probability, ε added without its sign, the bias
missing from the denominator, integrated gradients without the factor (x − x′), the baseline
ignored, a left Riemann sum, ...). A case lists exactly
the test cells it must lose — the mistake's own cells and the cells of functions that call the
wrong one; every other test cell must keep its full points. Mistakes whose losses do not overlap
share one submission, to keep the number of notebook runs (each starts TensorFlow) small.
"""

from __future__ import annotations

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    edit,
    hidden,
    mistakes,
    pair,
    pipeline_tests,
    reference_cases,
    replacements,
    unanswered,
    wrong,
)

from course_lib.grading import mutations as mut

# One nbgrader batch per assignment is graded once per worker: keep this file on one xdist worker.
pytestmark = pytest.mark.xdist_group("grading_ex3_ex5")

EX3 = "ex3_saliency_maps"
EX4 = "ex4_layerwise_relevance_propagation"
EX5 = "ex5_integrated_gradients"


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

SALIENCY_MISTAKES, LRP_MISTAKES, IG_MISTAKES = (mistakes(assignment) for assignment in (EX3, EX4, EX5))


CASES: dict[str, list[Case]] = {
    EX3: [
        *reference_cases(EVERY_TEST[EX3]),
        # every later function calls saliency_map, so they all lose their points
        Case("softmax", wrong(SALIENCY_MISTAKES.softmax_gradient), lost=SALIENCY + GXI + SMOOTH),
        Case(
            # two independent mistakes; the notebook was renamed and lost its nbgrader metadata on the way
            "abs-and-sum",
            edit(
                *replacements(SALIENCY_MISTAKES.abs_attribution, SALIENCY_MISTAKES.sum_not_mean),
                (mut.strip_nbgrader_metadata,),
            ),
            lost=GXI + SMOOTH,
            member=f"abs-and-sum/Copy of {EX3}.ipynb",
            finding="restored lost nbgrader metadata",
        ),
        # the one-channel digits cannot see it: the colour images of the visible test and the 2-channel
        # networks of the hidden tests of saliency_map and of the functions built on it do
        Case("channel-sum", wrong(SALIENCY_MISTAKES.channel_sum), lost=SALIENCY + hidden(GXI, SMOOTH)),
        # tensors returned instead of arrays, and an answer cell that rebinds the notebook's `model`: correct work
        Case(
            "tensors-and-model",
            wrong(
                SALIENCY_MISTAKES.tensor_saliency, SALIENCY_MISTAKES.numpy_in_smoothgrad, SALIENCY_MISTAKES.rebind_model
            ),
        ),
        Case("delegates", wrong(SALIENCY_MISTAKES.delegating), lost=hidden(LOGITS, SALIENCY, GXI, SMOOTH)),
    ],
    EX4: [
        *reference_cases(EVERY_TEST[EX4]),
        # visible network test: true classes, positive scores, where the sign of ε cannot matter;
        # the hidden tests explain negative scores (least likely class, an untrained MLP class)
        Case(
            "unsigned-epsilon",
            wrong(LRP_MISTAKES.epsilon_without_sign),
            lost=EPS + ("test_lrp_dense_network_hidden",) + GAP[1:],
        ),
        Case(
            # two independent mistakes; the visible LRP test was replaced by a print and is restored
            "bias-and-probability",
            edit(
                *replacements(LRP_MISTAKES.bias_not_in_denominator, LRP_MISTAKES.probability_not_score),
                (mut.set_source, "test_lrp_dense_network", 'print("looks right")'),
            ),
            lost=EPS + NETWORK + GAP + KEPT,
            finding="restored the released test",
        ),
        # a division without the guard (NaN for a dead unit at epsilon = 0) and a gap without its sign
        Case("no-guard-and-abs-gap", wrong(LRP_MISTAKES.no_zero_guard, LRP_MISTAKES.abs_gap), lost=EPS + GAP),
        # task 3 skipped: the functions that call it lose their points, relevance_kept (cl.lrp) keeps its own
        Case("skipped", unanswered("lrp_dense_network"), lost=NETWORK + GAP),
        Case("delegates", wrong(LRP_MISTAKES.delegating), lost=hidden(EPS, NETWORK, GAP)),
    ],
    EX5: [
        *reference_cases(EVERY_TEST[EX5]),
        Case("no-difference", wrong(IG_MISTAKES.without_difference), lost=IG + COMPLETE),
        Case(
            # the visible IG test catches it, and so does the visible gap from the toy's baseline (2, 0),
            # where the path from 0 gives sum R = 1 but S(x) - S(x') = 0.
            # The function also writes to stderr and warns: that must not cost the passing cells.
            "baseline-ignored",
            wrong(IG_MISTAKES.baseline_ignored, IG_MISTAKES.noisy_ig),
            lost=IG + COMPLETE,
        ),
        Case("left-riemann", wrong(IG_MISTAKES.left_riemann), lost=ALPHAS + IG + COMPLETE),
        # S_c(x') at a black image (the toy's baseline (2, 0) scores 1) and IG returned as a tf.Tensor
        Case(
            "black-score-and-tensor",
            wrong(IG_MISTAKES.black_score, IG_MISTAKES.tensor_ig, IG_MISTAKES.numpy_in_gap),
            lost=COMPLETE,
        ),
        Case("delegates", wrong(IG_MISTAKES.delegating), lost=hidden(ALPHAS, IG, COMPLETE)),
    ],
}


# the graded batches (one per assignment) and the tests every pipeline file runs on them
globals().update(pipeline_tests(CASES, EVERY_TEST, timeout=240, test_cell_timeout=TEST_CELL_TIMEOUT * 3))


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
