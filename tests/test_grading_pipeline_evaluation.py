"""The grading pipeline on exercise 6 (evaluating explanations).

Same design as ``test_grading_pipeline_attribution.py``: every submission is the released notebook with
the model answers filled in, then edited with a mistake students make with these metrics (the least
relevant pixels deleted first, the mean of the scores taken for the area, |R| instead of the positive
relevance, Pearson on the values instead of the ranks, signed maps compared, the original model
randomised in place, the work handed to course_lib; listed in
``tests/mistakes/ex6_evaluating_explanations.toml``). A case lists exactly the test cells it must lose;
every other test cell must keep its full points. All submissions are graded in ONE nbgrader batch.
"""

from __future__ import annotations

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    hidden,
    mistakes,
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

MISTAKES = mistakes(EX6)


CASES: dict[str, list[Case]] = {
    EX6: [
        *reference_cases(EVERY_TEST[EX6]),
        # two independent mistakes of task 1
        Case(
            "least-first-and-mean", wrong(MISTAKES.least_relevant_first, MISTAKES.mean_not_area), lost=DELETION + AREA
        ),
        # |R| in the mass, and a "Spearman" that correlates the values: the check built on it loses too
        Case(
            "abs-and-pearson", wrong(MISTAKES.absolute_mass, MISTAKES.pearson_of_values), lost=MASS + SPEARMAN + CASCADE
        ),
        Case("signed-maps", wrong(MISTAKES.signed_maps), lost=CASCADE),
        # the original network randomised in place: the weights check of both cells fails
        Case("in-place", wrong(MISTAKES.in_place), lost=CASCADE),
        Case("delegates", wrong(MISTAKES.delegating), lost=hidden(DELETION, AREA, MASS, SPEARMAN, CASCADE)),
    ],
}


# the graded batches (one per assignment) and the tests every pipeline file runs on them
globals().update(pipeline_tests(CASES, EVERY_TEST, timeout=300, test_cell_timeout=TEST_CELL_TIMEOUT * 3))
