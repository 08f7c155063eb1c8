"""Time nbgrader's autograding of one submission per exercise, TensorFlow start-up included.

Each graded notebook runs in a fresh kernel, so every submission pays for starting Python,
importing TensorFlow and loading the model. The grading process itself imports course_lib (for
the stderr preprocessor) once per batch; that cost is reported separately.

    python benchmarks/autograde.py [ASSIGNMENT ...]

Target (ARCHITECTURE.md §7): ≤ 20 s per submission on a 2-core CPU.
"""

from __future__ import annotations

import io
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

import nbformat  # noqa: E402

from course_lib.grading import mutations  # noqa: E402
from course_lib.grading.pipeline import REPOSITORY, Course, assignments  # noqa: E402


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the kernels)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def answered_submission(assignment: str) -> str:
    release = nbformat.read(REPOSITORY / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(REPOSITORY / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    buffer = io.StringIO()
    nbformat.write(mutations.answered_release(release, solution), buffer)
    return buffer.getvalue()


def main(selected) -> None:
    print(f"cpu cores: {os.cpu_count()}, load average (1 min): {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as scratch:
        for assignment in selected:
            course = Course(Path(scratch) / assignment)
            folder = Path(scratch) / f"{assignment}_handed_in"
            folder.mkdir()
            for student in ("first", "second"):
                (folder / f"{student}_{assignment}.ipynb").write_text(answered_submission(assignment))
            course.collect(assignment, folder)
            course.check(assignment)
            start = time.perf_counter()
            api = course.api()
            api.generate_assignment(assignment, force=True)
            prepared = time.perf_counter()
            times, cpu = [], []
            for student in ("first", "second"):
                begin, used = time.perf_counter(), _cpu_seconds()
                result = api.autograde(assignment, student, force=True, create=True)
                times.append(time.perf_counter() - begin)
                cpu.append(_cpu_seconds() - used)
                if not result["success"]:
                    print(result.get("error", ""), file=sys.stderr)
            scores = course.scores(assignment)
            row = scores["second"]
            print(
                f"{assignment}: batch set-up {prepared - start:.1f} s; first submission {times[0]:.1f} s "
                f"(includes importing course_lib in the grader), each further submission {times[1]:.1f} s "
                f"wall / {cpu[1]:.1f} s CPU (grader + kernel); "
                f"score {row['auto_score']:.0f}/{row['max_auto']:.0f}"
            )


if __name__ == "__main__":
    main(sys.argv[1:] or [a for a in assignments() if (REPOSITORY / "exercises" / a).is_dir()])
