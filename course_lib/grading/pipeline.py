"""The instructor's workflow on top of nbgrader's own Python API (``nbgrader.apps.NbGraderAPI``).

Nothing here re-implements grading: releasing is ``generate_assignment``, grading is
``autograde``, feedback is ``generate_feedback`` and the CSV comes from nbgrader's CSV export
plugin. What this module adds is the plumbing around them:

* one **grading directory** (default ``grading/`` in the repository, ignored by git) holds all
  working files — ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``, a private
  ``release/`` copy, ``originals/`` of repaired files and ``reports/``;
* the course configuration is read from the repository's ``nbgrader_config.py``; only the paths
  are pointed at the grading directory, and the source stays ``solutions/``;
* submissions are checked and repaired (:mod:`course_lib.grading.submissions`) before nbgrader
  sees them, and every student is graded on their own, so one broken notebook never stops the batch;
* lines that change the tools the tests use are kept for review: ``reports/<assignment>_review.json``,
  the ``review`` column of the CSV and the ``scores`` table;
* feedback shows the results of the hidden tests, not their source
  (:class:`~course_lib.grading.preprocessors.HideHiddenTests`).
"""

from __future__ import annotations

import csv
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SAWarning

from course_lib.grading import execution, submissions

# nbgrader's gradebook session warns about its own autoflush ordering while autograding; the
# grades are right, and the instructor cannot act on it.
warnings.filterwarnings("ignore", category=SAWarning, module="nbgrader")

__all__ = [
    "COURSE_ROOT",
    "Course",
    "assignments",
]

COURSE_ROOT = Path(__file__).resolve().parents[2]  # the repository folder (solutions/, exercises/, nbgrader_config.py)


def assignments(repo: Path = COURSE_ROOT) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook."""
    return sorted(p.name for p in (Path(repo) / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _tools_on_path() -> None:
    """nbgrader runs the ``alembic`` command when it creates a gradebook: find it next to this Python."""
    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = tools + os.pathsep + os.environ.get("PATH", "")


# nbgrader's feedback steps with the hidden tests' source taken out (their results stay).
FEEDBACK_PREPROCESSORS = [
    "nbgrader.preprocessors.GetGrades",
    "course_lib.grading.preprocessors.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]


@dataclass(frozen=True)
class _TestCellTimeout:
    """nbclient's ``timeout_func``: ``test`` seconds for graded test cells, ``other`` for the rest."""

    test: int
    other: int

    def __call__(self, cell) -> int:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        return self.test if meta.get("grade") and not meta.get("solution") else self.other


@dataclass
class GradingResult:
    """Outcome of autograding one student: ``success`` False means nbgrader itself failed."""

    student_id: str
    success: bool
    log: str = ""
    error: str = ""
    incidents: list[str] = field(default_factory=list)  # e.g. "the kernel died (out of memory?) in cell …"

    @property
    def cause(self) -> str:
        """Why nbgrader failed, from its log (its own error text says only 'see the above traceback')."""
        return execution.failure_cause(self.log, self.error)


@dataclass
class Course:
    """The course (``repo``) together with one grading directory.

    ``timeout`` overrides the per-cell timeout of ``nbgrader_config.py``; ``test_cell_timeout``
    gives graded test cells their own, shorter limit (set-up cells that start TensorFlow keep
    ``timeout``), so that a student's infinite loop costs little time.

    ``jobs`` > 1 executes that many submissions at once on a local Dask cluster; ``scheduler``
    (``tcp://host:8786``) sends them to a running Dask cluster instead
    (:class:`course_lib.grading.execution.ParallelAutograde`). ``sandbox``, ``memory_mb`` and
    ``processes`` override the kernel sandbox of ``nbgrader_config.py`` (``SandboxedExecute``).
    """

    grading_root: Path = field(default_factory=lambda: COURSE_ROOT / "grading")
    repo: Path = COURSE_ROOT
    timeout: int | None = None
    test_cell_timeout: int | None = None
    jobs: int = 1
    scheduler: str | None = None
    sandbox: bool | None = None
    memory_mb: int | None = None
    processes: int | None = None

    def __post_init__(self):
        self.grading_root = Path(self.grading_root).resolve()
        self.repo = Path(self.repo).resolve()

    # -------------------------------------------------------------------------------- nbgrader

    def config(self, *, release_directory: Path | None = None):
        """The repository's nbgrader configuration with the paths of this grading directory."""
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.repo)).load_config()
        config.CourseDirectory.root = str(self.grading_root)
        config.CourseDirectory.source_directory = str(self.repo / "solutions")
        config.CourseDirectory.release_directory = str(release_directory or (self.grading_root / "release"))
        config.CourseDirectory.db_url = f"sqlite:///{self.grading_root / 'gradebook.db'}"
        config.Exchange.root = str(self.grading_root / "exchange")  # never the system-wide exchange
        config.GenerateFeedback.preprocessors = FEEDBACK_PREPROCESSORS
        if self.timeout is not None:
            config.Execute.timeout = int(self.timeout)
        if self.test_cell_timeout is not None:
            config.Execute.timeout_func = _TestCellTimeout(int(self.test_cell_timeout), int(config.Execute.timeout))
        for name in ("sandbox", "memory_mb", "processes"):
            if getattr(self, name) is not None:
                setattr(config.SandboxedExecute, name, getattr(self, name))
        return config

    def api(self, *, config=None, **kwargs):
        _tools_on_path()
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        config = config if config is not None else self.config(**kwargs)
        self.grading_root.mkdir(parents=True, exist_ok=True)
        self._write_local_config()
        return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)

    def _write_local_config(self) -> Path:
        """``<grading dir>/nbgrader_config.py``: plain nbgrader commands (formgrader for the written
        answers) started inside the grading directory see the same course and paths."""
        path = self.grading_root / "nbgrader_config.py"
        path.write_text(
            "# Written by `python -m course_lib.grading`: the course's configuration with this folder's paths.\n"
            "c = get_config()  # noqa: F821\n"
            f"load_subconfig({str(self.repo / 'nbgrader_config.py')!r})  # noqa: F821\n"
            f"c.CourseDirectory.root = {str(self.grading_root)!r}\n"
            f"c.CourseDirectory.source_directory = {str(self.repo / 'solutions')!r}\n"
            f"c.CourseDirectory.release_directory = {str(self.grading_root / 'release')!r}\n"
            f"c.GenerateFeedback.preprocessors = {FEEDBACK_PREPROCESSORS!r}\n",
            encoding="utf-8",
        )
        return path

    @staticmethod
    def _check(result: dict, what: str) -> dict:
        if not result.get("success"):
            raise RuntimeError(f"{what} failed:\n{result.get('error', '')}\n{result.get('log', '')}")
        return result

    # -------------------------------------------------------------------------------- steps

    def release(self, assignment: str) -> Path:
        """``generate_assignment``: write ``exercises/<assignment>/`` of the repository from ``solutions/``.

        Its gradebook entries go to the grading directory's ``gradebook.db``.
        """
        target = self.repo / "exercises"
        self._check(
            self.api(release_directory=target).generate_assignment(assignment, force=True), f"releasing {assignment}"
        )
        return target / assignment

    def prepare(self, assignment: str) -> Path:
        """Generate the release inside the grading directory (this also registers it in the gradebook)."""
        self._check(self.api().generate_assignment(assignment, force=True), f"preparing {assignment}")
        return self.grading_root / "release" / assignment

    def collect(self, assignment: str, source, *, roster=None) -> list[submissions.CollectedFile]:
        """Unpack a zip (or copy a folder) of downloaded notebooks into ``submitted/``."""
        notebooks = sorted((self.repo / "solutions" / assignment).glob("*.ipynb"))
        if len(notebooks) != 1:
            raise ValueError(
                f"{assignment} must have exactly one notebook to collect single files; found {len(notebooks)}"
            )
        return submissions.collect(source, assignment, self.grading_root, notebook=notebooks[0].stem, roster=roster)

    def check(self, assignment: str, *, repair: bool = True) -> list[submissions.SubmissionReport]:
        """Check every collected notebook against the release and repair what can be repaired."""
        release_dir = self.prepare(assignment)
        reports = submissions.check_submissions(self.grading_root, assignment, release_dir, repair=repair)
        self._write_report(assignment, "check", [str(r) for r in reports])
        self._write_table(assignment, "review", {r.student_id: [f.message for f in r.reviews] for r in reports})
        return reports

    def _write_table(self, assignment: str, kind: str, table: dict) -> None:
        """``reports/<assignment>_<kind>.json``: a ``{student: [lines]}`` table of one grading step."""
        path = self.grading_root / "reports" / f"{assignment}_{kind}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(table, indent=1, sort_keys=True, ensure_ascii=False), encoding="utf-8")

    def _read_table(self, assignment: str, kind: str) -> dict[str, list[str]]:
        path = self.grading_root / "reports" / f"{assignment}_{kind}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def review(self, assignment: str) -> dict[str, list[str]]:
        """``{student: [lines to review]}`` found by the last ``check`` of ``assignment`` (empty if none)."""
        return self._read_table(assignment, "review")

    def students(self, assignment: str) -> list[str]:
        return sorted(p.parent.name for p in (self.grading_root / "submitted").glob(f"*/{assignment}") if p.is_dir())

    def autograde(self, assignment: str, students=None) -> list[GradingResult]:
        """nbgrader ``autograde`` of every student (a failure is recorded, the batch goes on).

        Serial with ``jobs`` = 1; otherwise the executions run on Dask and nbgrader records the
        results one at a time, as they come (:class:`~course_lib.grading.execution.ParallelAutograde`).
        """
        api = self.api()
        self._check(api.generate_assignment(assignment, force=True), f"preparing {assignment}")
        students = list(students or self.students(assignment))
        if self.jobs > 1 or self.scheduler:
            parallel = execution.ParallelAutograde(jobs=self.jobs, scheduler=self.scheduler)
            outcomes = parallel.run(lambda config: self.api(config=config), self.config(), assignment, students)
        else:
            outcomes = {student: api.autograde(assignment, student, force=True, create=True) for student in students}
        results = [
            GradingResult(
                student,
                bool(outcome.get("success")),
                outcome.get("log", ""),
                outcome.get("error", ""),
                execution.take_incidents(assignment, student),
            )
            for student, outcome in outcomes.items()
        ]
        self._record_incidents(assignment, results)
        failed = [f"{r.student_id}: {r.cause}" for r in results if not r.success]
        noted = [f"{r.student_id}: {note}" for r in results for note in r.incidents]
        self._write_report(assignment, "autograde", failed + noted or ["every submission was graded"])
        return results

    def incidents(self, assignment: str) -> dict[str, list[str]]:
        """``{student: [what went wrong while executing]}`` from the latest autograding of each student."""
        return self._read_table(assignment, "incidents")

    def _record_incidents(self, assignment: str, results) -> None:
        table = self.incidents(assignment)
        for result in results:
            table.pop(result.student_id, None)
            if result.incidents:
                table[result.student_id] = result.incidents
        self._write_table(assignment, "incidents", table)

    def feedback(self, assignment: str, students=None) -> Path:
        """nbgrader ``generate_feedback``: one HTML file per student in ``feedback/``."""
        api = self.api()
        for student in students or self.students(assignment):
            api.generate_feedback(assignment, student, force=True)
        return self.grading_root / "feedback"

    def export(self, to=None) -> Path:
        """nbgrader's CSV export of the whole gradebook (one row per student and assignment)."""
        from nbgrader.api import Gradebook
        from nbgrader.plugins import CsvExportPlugin

        to = Path(to) if to else self.grading_root / "grades.csv"
        config = self.config()
        plugin = CsvExportPlugin(config=config)
        plugin.to = str(to)
        with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gradebook:
            plugin.export(gradebook)
        self._add_review_column(to)
        execution.add_incident_column(to, self.grading_root / "reports")
        return to

    def _add_review_column(self, path: Path) -> None:
        """A ``review`` column: the lines of each submission that an instructor should look at."""
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        if not rows:
            return
        reviews = {}
        for assignment in {row["assignment"] for row in rows}:
            reviews.update({(assignment, s): lines for s, lines in self.review(assignment).items()})
        for row in rows:
            row["review"] = "; ".join(reviews.get((row["assignment"], row["student_id"]), []))
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)

    def scores(self, assignment: str) -> dict[str, dict]:
        """``{student: {"auto_score", "max_auto", "needs_manual", "cells", "lost", "review", "incidents"}}``.

        ``cells`` maps each autograded test cell to ``(score, max)`` and ``lost`` lists the cells
        below their maximum. Only autograded test cells count into ``auto_score``; written answers
        are listed in ``needs_manual`` until they have been graded by hand. ``review`` holds the
        lines that ``check`` found for the instructor to look at, ``incidents`` what went wrong while
        the notebook ran (a kernel that died).
        """
        from nbgrader.api import Gradebook

        config = self.config()
        review = self.review(assignment)
        table, incidents = {}, self.incidents(assignment)
        with Gradebook(config.CourseDirectory.db_url, config.CourseDirectory.course_id) as gradebook:
            for submission in gradebook.assignment_submissions(assignment):
                cells, manual = {}, []
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.cell.cell_type == "code":
                            cells[grade.name] = (float(grade.auto_score or 0.0), float(grade.max_score))
                        elif grade.needs_manual_grade:
                            manual.append(grade.name)
                table[submission.student.id] = {
                    "incidents": incidents.get(submission.student.id, []),
                    "auto_score": sum(score for score, _ in cells.values()),
                    "max_auto": sum(top for _, top in cells.values()),
                    "needs_manual": sorted(manual),
                    "cells": cells,
                    "lost": [cell for cell, (score, top) in cells.items() if score < top],
                    "review": review.get(submission.student.id, []),
                }
        return table

    def grade(self, assignment: str, source, *, roster=None) -> dict:
        """Everything in one go: collect, check and repair, autograde, feedback, export."""
        collected = self.collect(assignment, source, roster=roster)
        reports = self.check(assignment)
        graded = self.autograde(assignment)
        self.feedback(assignment)
        csv_path = self.export()
        return {
            "collected": collected,
            "reports": reports,
            "graded": graded,
            "csv": csv_path,
            "scores": self.scores(assignment),
        }

    # -------------------------------------------------------------------------------- reports

    def _write_report(self, assignment: str, step: str, lines) -> Path:
        folder = self.grading_root / "reports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}_{step}.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path
