"""What the grading-pipeline tests share: a submission ``Case``, notebook edits, the zip of a
class's submissions, and a fixture factory that grades one assignment's batch once per module.

Each ``tests/test_grading_pipeline*.py`` file lists its own cases and calls :func:`grader`.
"""

from __future__ import annotations

import copy
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import COURSE_ROOT, Course

TEST_CELL_TIMEOUT = 20  # seconds per test cell in these tests (an infinite loop costs this much)


@dataclass(frozen=True)
class Case:
    """One submission: ``edit(answered, release)`` returns the handed-in notebook (or raw bytes).

    ``lost``: the test cells that must score zero; every other test cell must get full points.
    ``member``: file name inside the zip (default ``<student>_<assignment>.ipynb``).
    ``finding``: text that the check report of this student must contain.
    """

    student: str
    edit: Callable
    lost: tuple[str, ...] = ()
    member: str | None = None
    finding: str | None = None


def answered(answered_nb, release):
    return answered_nb


def untouched(answered_nb, release):
    return release


def edit(*steps):
    """Chain notebook edits, each ``(function, *arguments)`` applied to the answered notebook."""

    def apply(answered_nb, release):
        nb = answered_nb
        for function, *arguments in steps:
            nb = function(nb, *arguments)
        return nb

    return apply


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
