"""Autograding a batch serially and in parallel, and what the sandbox costs per submission.

    python benchmarks/autograde.py [--assignment ex5_integrated_gradients] [--students 20] [--jobs 2]

1. One batch of ``--students`` answered submissions (the release with the model answers) is
   autograded twice in this run, into two grading directories: serially (``jobs=1``) and with
   ``--jobs`` executions at once on a local Dask cluster. Both wall times, their ratio and
   whether the scores are identical are printed. Each submission runs in a fresh sandboxed kernel
   (Python, TensorFlow and the model start every time), as in real grading.
2. The sandbox's cost: a one-cell notebook executed several times with and without bubblewrap;
   the difference of the mean times is the price of the sandbox per submission (folder set-up,
   namespaces, dropping privileges), which a real submission pays once.

The load average is printed first: on a shared machine, other work slows both runs, and the ratio
is only meaningful when the cores are otherwise idle.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

import nbformat  # noqa: E402
from nbformat.v4 import new_code_cell, new_notebook  # noqa: E402

from course_lib.grading import mutations, sandbox  # noqa: E402
from course_lib.grading.execution import SandboxedExecute  # noqa: E402
from course_lib.grading.pipeline import COURSE_ROOT, Course  # noqa: E402


def answered_submission(assignment: str) -> str:
    release = nbformat.read(COURSE_ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    solution = nbformat.read(COURSE_ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    buffer = io.StringIO()
    nbformat.write(mutations.answered_release(release, solution), buffer)
    return buffer.getvalue()


def grade_batch(scratch: Path, name: str, assignment: str, students: int, jobs: int):
    """Collect and check (untimed), then time ``autograde`` of the whole batch; returns (seconds, scores)."""
    folder = scratch / f"{name}_handed_in"
    folder.mkdir()
    text = answered_submission(assignment)
    for index in range(students):
        (folder / f"student{index:03d}_{assignment}.ipynb").write_text(text)
    course = Course(scratch / name, jobs=jobs)
    course.collect(assignment, folder)
    course.check(assignment)
    start = time.perf_counter()
    results = course.autograde(assignment)
    seconds = time.perf_counter() - start
    failed = [r.student_id for r in results if not r.success]
    if failed:
        print(f"  {name}: FAILED {failed}", file=sys.stderr)
    return seconds, {s: row["cells"] for s, row in course.scores(assignment).items()}


def sandbox_cost(repeats: int = 5) -> tuple[float, float]:
    """Mean seconds to execute a one-cell notebook with and without the sandbox."""
    notebook = new_notebook(
        cells=[new_code_cell("print(6 * 7)")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    times = {True: [], False: []}
    for _ in range(repeats):
        for sandboxed in (True, False):
            start = time.perf_counter()
            SandboxedExecute(sandbox=sandboxed, timeout=120).preprocess(nbformat.from_dict(notebook), {})
            times[sandboxed].append(time.perf_counter() - start)
    return statistics.mean(times[True]), statistics.mean(times[False])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="ex5_integrated_gradients")
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"cpu cores: {os.cpu_count()}, load average (1, 5, 15 min): {os.getloadavg()}")
    print(f"sandbox: {'bubblewrap' if not sandbox.available() else 'NONE (' + sandbox.available() + ')'}")
    with tempfile.TemporaryDirectory() as scratch:
        serial, serial_scores = grade_batch(Path(scratch), "serial", args.assignment, args.students, 1)
        print(f"serial:   {args.students} submissions in {serial:7.1f} s ({serial / args.students:.1f} s each)")
        parallel, parallel_scores = grade_batch(Path(scratch), "parallel", args.assignment, args.students, args.jobs)
        print(
            f"--jobs {args.jobs}: {args.students} submissions in {parallel:7.1f} s ({parallel / args.students:.1f} s each)"
        )
    print(f"speed-up: {serial / parallel:.2f}x; identical scores: {serial_scores == parallel_scores}")
    with_sandbox, without = sandbox_cost()
    print(
        f"one-cell notebook: {with_sandbox:.2f} s sandboxed, {without:.2f} s unsandboxed: "
        f"the sandbox costs {with_sandbox - without:+.2f} s per submission"
    )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
