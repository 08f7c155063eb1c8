"""The grading pipeline on exercise 6 (evaluating explanations).

Same design as ``test_grading_pipeline_attribution.py``: every submission is the released notebook with
the model answers filled in, then edited with a mistake students make with these metrics (the least
relevant pixels deleted first, the mean of the scores taken for the area, |R| instead of the positive
relevance, Pearson on the values instead of the ranks, signed maps compared, the original model
randomised in place, the work handed to course_lib). A case lists exactly the test cells it must lose;
every other test cell must keep its full points. All submissions are graded in ONE nbgrader batch.
"""

from __future__ import annotations

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    hidden,
    pair,
    pipeline_tests,
    reference_cases,
    wrong,
)

pytestmark = pytest.mark.xdist_group("grading_ex6")

EX6 = "ex6_evaluating_explanations"


DELETION, AREA, MASS, SPEARMAN, CASCADE = (
    pair(n)
    for n in ("deletion_curve", "deletion_auc", "relevance_mass_accuracy", "spearman", "cascading_randomization")
)
EVERY_TEST = {EX6: DELETION + AREA + MASS + SPEARMAN + CASCADE}

# ------------------------------------------------------------------------------------ mistakes
# (answer cell, line of the model answer, the wrong line)

LEAST_RELEVANT_FIRST = (
    "deletion_curve",
    'order = np.argsort(-pixel_relevance, axis=1, kind="stable")',
    'order = np.argsort(pixel_relevance, axis=1, kind="stable")',
)
MEAN_NOT_AREA = (
    "deletion_auc",
    "return ((scores[:, 1:] + scores[:, :-1]) / 2 * np.diff(fractions)).sum(axis=1)",
    "return scores.mean(axis=1)",
)
ABSOLUTE_MASS = ("relevance_mass_accuracy", "positive = np.maximum(relevance, 0.0)", "positive = np.abs(relevance)")
PEARSON_OF_VALUES = (
    "spearman",
    "    ranks_a = stats.rankdata(np.ravel(a))\n    ranks_b = stats.rankdata(np.ravel(b))",
    "    ranks_a = np.ravel(a)\n    ranks_b = np.ravel(b)",
)
SIGNED_MAPS = ("cascading_randomization", "spearman(np.abs(before), np.abs(after))", "spearman(before, after)")
IN_PLACE = (
    "cascading_randomization",
    "    copy = keras.models.clone_model(model)\n    copy.set_weights(model.get_weights())",
    "    copy = model",
)
DELEGATING = (
    (
        "deletion_curve",
        '    x = np.asarray(x, dtype="float32")',
        "    return cl.deletion_curve(model, x, relevance, target, steps=steps).scores\n"
        '    x = np.asarray(x, dtype="float32")',
    ),
    (
        "deletion_auc",
        '    scores = np.asarray(scores, dtype="float64")',
        "    from course_lib.evaluation import _area\n\n"
        "    return _area(np.asarray(scores), np.linspace(0, 1, np.shape(scores)[1]))\n"
        '    scores = np.asarray(scores, dtype="float64")',
    ),
    (
        "relevance_mass_accuracy",
        '    relevance = np.asarray(relevance, dtype="float64")',
        "    return cl.relevance_mass_accuracy(relevance, mask)\n"
        '    relevance = np.asarray(relevance, dtype="float64")',
    ),
    (
        "spearman",
        "    ranks_a = stats.rankdata(np.ravel(a))",
        "    return float(stats.spearmanr(np.ravel(a), np.ravel(b)).statistic)\n    ranks_a = stats.rankdata(np.ravel(a))",
    ),
    (
        "cascading_randomization",
        "    copy = keras.models.clone_model(model)",
        "    return cl.model_randomization_check(model, x, method, target, seed=seed).similarity\n"
        "    copy = keras.models.clone_model(model)",
    ),
)


CASES: dict[str, list[Case]] = {
    EX6: [
        *reference_cases(EVERY_TEST[EX6]),
        # two independent mistakes of task 1
        Case("least-first-and-mean", wrong(LEAST_RELEVANT_FIRST, MEAN_NOT_AREA), lost=DELETION + AREA),
        # |R| in the mass, and a "Spearman" that correlates the values: the check built on it loses too
        Case("abs-and-pearson", wrong(ABSOLUTE_MASS, PEARSON_OF_VALUES), lost=MASS + SPEARMAN + CASCADE),
        Case("signed-maps", wrong(SIGNED_MAPS), lost=CASCADE),
        # the original network randomised in place: the weights check of both cells fails
        Case("in-place", wrong(IN_PLACE), lost=CASCADE),
        Case("delegates", wrong(*DELEGATING), lost=hidden(DELETION, AREA, MASS, SPEARMAN, CASCADE)),
    ],
}


# the graded batches (one per assignment) and the tests every pipeline file runs on them
globals().update(pipeline_tests(CASES, EVERY_TEST, timeout=300, test_cell_timeout=TEST_CELL_TIMEOUT * 3))
