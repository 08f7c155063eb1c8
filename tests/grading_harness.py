"""What the grading-pipeline tests share: a submission ``Case``, notebook edits, the catalogues of
students' mistakes (``tests/mistakes/<assignment>.toml``), the zip of a class's submissions, and
the graded batch of one assignment with the tests every pipeline file runs on it.

Each ``tests/test_grading_pipeline*.py`` file lists its own cases and calls :func:`pipeline_tests`.
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import COURSE_ROOT, Course

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, where pytest brings tomli
    import tomli as tomllib

TEST_CELL_TIMEOUT = 20  # seconds per test cell in these tests (an infinite loop costs this much)
MISTAKES = Path(__file__).parent / "mistakes"


@dataclass(frozen=True)
class Case:
    """One submission: ``edit(answered, release)`` returns the handed-in notebook (or raw bytes).

    ``lost``: the test cells that must score zero; every other test cell must get full points.
    ``member``: file name inside the zip (default ``<student>_<assignment>.ipynb``).
    ``finding``: text that the check report of this student must contain.
    ``review``: text of the finding that flags this student for review (``None``: no review finding at all).
    """

    student: str
    edit: Callable
    lost: tuple[str, ...] = ()
    member: str | None = None
    finding: str | None = None
    review: str | None = None


def answered(answered_nb, release):
    return answered_nb


def untouched(answered_nb, release):
    return release


def unanswered(grade_id: str):
    """The answered notebook with the answer cell ``grade_id`` left as released (a task the student skipped)."""

    def apply(answered_nb, release):
        return mut.set_source(answered_nb, grade_id, release.cells[mut.find_cell(release, grade_id)].source)

    return apply


def edit(*steps):
    """Chain notebook edits, each ``(function, *arguments)`` applied to the answered notebook."""

    def apply(answered_nb, release):
        nb = answered_nb
        for function, *arguments in steps:
            nb = function(nb, *arguments)
        return nb

    return apply


def reference_cases(every_test: tuple[str, ...]) -> list[Case]:
    """The two submissions every batch holds: the model answers (full marks) and the release (no points)."""
    return [Case("solution", answered), Case("release", untouched, lost=every_test)]


def mistakes(assignment: str) -> SimpleNamespace:
    """The mistakes of ``tests/mistakes/<assignment>.toml``, by name: each a tuple of edits
    ``(answer cell, line of the model answer, wrong line)``."""
    with open(MISTAKES / f"{assignment}.toml", "rb") as file:
        table = tomllib.load(file)
    return SimpleNamespace(
        **{
            name: tuple((e["cell"], e["right"], e["wrong"]) for e in (edits if isinstance(edits, list) else [edits]))
            for name, edits in table.items()
        }
    )


def replacements(*mistakes) -> list:
    """The notebook edits (for :func:`edit`) that make these mistakes."""
    return [(mut.replace_in_cell, *replacement) for mistake in mistakes for replacement in mistake]


def wrong(*mistakes):
    """The answered notebook with these mistakes (from :func:`mistakes`)."""
    return edit(*replacements(*mistakes))


def pair(name: str) -> tuple[str, str]:
    """The visible and the hidden test cell of one graded function."""
    return (f"test_{name}", f"test_{name}_hidden")


def hidden(*pairs):
    """The hidden test cells of these (visible, hidden) pairs."""
    return tuple(p[1] for p in pairs)


def read_notebook(folder: Path, assignment: str):
    return nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)


def zip_of_submissions(assignment: str, cases, path: Path, unsafe_members: dict[str, bytes]) -> Path:
    """Write every case's handed-in notebook into one zip, as an LMS export would, plus ``unsafe_members``."""
    release = read_notebook(COURSE_ROOT / "exercises", assignment)
    full = mut.answered_release(release, read_notebook(COURSE_ROOT / "solutions", assignment))
    with zipfile.ZipFile(path, "w") as archive:
        for case in cases:
            handed_in = case.edit(copy.deepcopy(full), copy.deepcopy(release))
            if not isinstance(handed_in, bytes):
                buffer = io.StringIO()
                nbformat.write(handed_in, buffer)
                handed_in = buffer.getvalue().encode()
            archive.writestr(case.member or f"{case.student}_{assignment}.ipynb", handed_in)
        for name, content in unsafe_members.items():
            archive.writestr(name, content)
    return path


def grader(tmp_path_factory, cases: dict[str, list[Case]], *, unsafe_members, timeout: int, test_cell_timeout: int):
    """``run(assignment)`` → (course, outcome of Course.grade): one nbgrader batch per assignment, cached.

    ``unsafe_members(assignment)`` gives the zip members that collection must refuse.
    """
    results: dict[str, tuple] = {}

    def run(assignment: str):
        if assignment not in results:
            root = tmp_path_factory.mktemp(f"grading_{assignment}")
            archive = zip_of_submissions(
                assignment, cases[assignment], root.parent / f"{assignment}_submissions.zip", unsafe_members(assignment)
            )
            course = Course(root / "grading", timeout=timeout, test_cell_timeout=test_cell_timeout)
            results[assignment] = (course, course.grade(assignment, archive))
        return results[assignment]

    return run


def assert_lost_exactly(outcome, case: Case, every_test) -> None:
    """The student of ``case`` scored zero in exactly ``case.lost`` and full points in every other test cell."""
    row = outcome["scores"][case.student]
    assert set(row["cells"]) == set(every_test)
    for cell, (score, top) in row["cells"].items():
        expected = 0.0 if cell in case.lost else top
        assert score == expected, (
            f"{case.student}: {cell} scored {score} of {top}, expected {expected}; all: {row['cells']}"
        )


def assert_batch_complete(course, outcome, assignment: str, cases, refused: set[str]) -> None:
    """Every student is in the gradebook, the CSV and has feedback; exactly ``refused`` zip members were refused
    and none of them was written anywhere."""
    students = {case.student for case in cases}
    assert set(outcome["scores"]) == students, "the gradebook must hold every student"
    assert all(result.success for result in outcome["graded"]), [r.error for r in outcome["graded"] if not r.success]
    assert {c.source for c in outcome["collected"] if c.path is None and not c.student_id} == refused
    for name in refused:
        places = (
            [Path(name)]
            if name.startswith("/")
            else [d / name for d in (course.grading_root / "submitted", course.grading_root)]
        )
        assert not any(place.resolve().exists() for place in places), f"{name} was written"
    for student in students:
        assert list((course.grading_root / "feedback" / student / assignment).glob("*.html")), (
            f"no feedback for {student}"
        )
    csv_text = outcome["csv"].read_text()
    assert all(student in csv_text for student in students)
    conventional = [c for c in outcome["collected"] if c.path and c.source == f"{c.student_id}_{assignment}.ipynb"]
    assert conventional and not any(c.findings for c in conventional), "a conventional file name needs no report"
    assert outcome["scores"]["solution"]["needs_manual"], "the answered written cells need a human grader"
    assert outcome["scores"]["release"]["needs_manual"] == [], "unchanged written cells score 0 automatically"


def check_report_text(outcome, student: str) -> str:
    """Everything ``collect`` and ``check`` said about ``student``."""
    text = "\n".join(str(r) for r in outcome["reports"] if r.student_id == student)
    return text + "\n".join(str(f) for c in outcome["collected"] if c.student_id == student for f in c.findings)


def assert_review_flags_exactly(course, outcome, case: Case) -> None:
    """Review findings, the ``review`` of ``scores`` and the CSV column name exactly the students who tampered."""
    import csv

    reviews = [f.message for r in outcome["reports"] if r.student_id == case.student for f in r.reviews]
    rows = [r for r in csv.DictReader(outcome["csv"].open()) if r["student_id"] == case.student]
    if case.review is None:
        assert not reviews and not outcome["scores"][case.student]["review"], reviews
        assert all(not row["review"] for row in rows), rows
    else:
        assert any(case.review in message for message in reviews), reviews
        assert outcome["scores"][case.student]["review"] == reviews
        assert any(case.review in row["review"] for row in rows), rows


def _hidden_lines(assignment: str) -> list[str]:
    from course_lib.grading.preprocessors import split_hidden

    solution = read_notebook(COURSE_ROOT / "solutions", assignment)
    lines = [line.strip() for cell in solution.cells for line in split_hidden(cell.source)[1]]
    return [line for line in lines if len(line) > 12 and not line.startswith("#")]


def _visible_test_lines(assignment: str) -> list[str]:
    release = read_notebook(COURSE_ROOT / "exercises", assignment)
    tests = [
        c
        for c in release.cells
        if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")
    ]
    return [line.strip() for cell in tests for line in cell.source.splitlines() if len(line.strip()) > 30]


def _as_text(html_text: str) -> str:
    """The text a reader sees: tags (also the syntax-highlighting spans) removed, entities decoded, spaces collapsed."""
    import html
    import re

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", html_text)).split())


def assert_feedback_hides_hidden_tests(course, assignment: str) -> None:
    """No line of a hidden test in any feedback file; the visible tests (same rendering) are found, and so
    are the hidden tests' results."""
    release = read_notebook(COURSE_ROOT / "exercises", assignment)
    released_text = " ".join(" ".join(cell.source.split()) for cell in release.cells)
    hidden = [" ".join(line.split()) for line in _hidden_lines(assignment)]
    hidden = [line for line in hidden if line not in released_text]  # generic lines the release shows anyway
    visible = [" ".join(line.split()) for line in _visible_test_lines(assignment)]
    assert hidden and visible
    files = sorted((course.grading_root / "feedback").glob(f"*/{assignment}/*.html"))
    assert files
    for path in files:
        text = _as_text(path.read_text(encoding="utf-8"))
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"{path}: hidden-test lines in the feedback: {leaked[:3]}"
        assert any(line in text for line in visible), f"{path}: the scan cannot see code at all"
        assert "hidden tests: they ran when grading" in text


def escaping_member(assignment: str) -> dict[str, bytes]:
    """A zip member whose path climbs out of the submissions folder: collection must refuse it."""
    return {f"../../escape_{assignment}.ipynb": b"{}"}


def pipeline_tests(
    cases: dict[str, list[Case]],
    every_test: dict[str, tuple[str, ...]],
    *,
    timeout: int,
    test_cell_timeout: int = TEST_CELL_TIMEOUT,
    unsafe_members=escaping_member,
    refused=None,
):
    """The ``graded`` fixture and the tests every pipeline file runs on its batches.

    ``graded(assignment)`` → (course, outcome of Course.grade): one nbgrader batch per assignment and
    module, holding the ``cases`` and the ``unsafe_members(assignment)`` of the zip; ``refused(assignment)``
    (default: every unsafe member) is what collection must refuse. Returns ``{name: fixture or test}``;
    a test module puts them in its namespace (``globals().update(...)``) so that pytest collects them.
    """

    @pytest.fixture(scope="module")
    def graded(tmp_path_factory):
        return grader(
            tmp_path_factory,
            cases,
            unsafe_members=unsafe_members,
            timeout=timeout,
            test_cell_timeout=test_cell_timeout,
        )

    refused = refused or (lambda assignment: set(unsafe_members(assignment)))
    return {"graded": graded, **_batch_tests(cases, every_test, refused)}


def _batch_tests(cases: dict[str, list[Case]], every_test: dict[str, tuple[str, ...]], refused):
    """The tests of :func:`pipeline_tests`, as ``{name: test}``."""

    every_case = [pytest.param(a, c, id=f"{a}-{c.student}") for a in cases for c in cases[a]]

    @pytest.mark.slow
    @pytest.mark.parametrize(("assignment", "case"), every_case)
    def test_each_submission_loses_exactly_the_expected_cells(graded, assignment, case):
        _, outcome = graded(assignment)
        assert_lost_exactly(outcome, case, every_test[assignment])

    @pytest.mark.slow
    @pytest.mark.parametrize("assignment", list(cases))
    def test_batch_grades_every_student_with_feedback_and_refuses_unsafe_members(graded, assignment):
        course, outcome = graded(assignment)
        assert_batch_complete(course, outcome, assignment, cases[assignment], refused(assignment))

    with_findings = [p for p in every_case if p.values[1].finding]

    @pytest.mark.slow
    @pytest.mark.parametrize(("assignment", "case"), with_findings)
    def test_check_report_says_what_was_repaired(graded, assignment, case):
        _, outcome = graded(assignment)
        text = check_report_text(outcome, case.student)
        assert case.finding in text, text

    @pytest.mark.slow
    @pytest.mark.parametrize(("assignment", "case"), every_case)
    def test_lines_that_change_the_tests_tools_are_flagged_for_review_and_nothing_else(graded, assignment, case):
        course, outcome = graded(assignment)
        assert_review_flags_exactly(course, outcome, case)

    @pytest.mark.slow
    @pytest.mark.parametrize("assignment", list(cases))
    def test_feedback_shows_hidden_results_but_not_hidden_tests(graded, assignment):
        course, _ = graded(assignment)
        assert_feedback_hides_hidden_tests(course, assignment)

    tests = (
        test_each_submission_loses_exactly_the_expected_cells,
        test_batch_grades_every_student_with_feedback_and_refuses_unsafe_members,
        *([test_check_report_says_what_was_repaired] if with_findings else []),  # no case, no empty test
        test_lines_that_change_the_tests_tools_are_flagged_for_review_and_nothing_else,
        test_feedback_shows_hidden_results_but_not_hidden_tests,
    )
    return {test.__name__: test for test in tests}
