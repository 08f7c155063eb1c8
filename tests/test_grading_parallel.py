"""Parallel and distributed autograding give nbgrader's serial scores, and a dead kernel keeps what ran.

One small batch of ex5 submissions (model answers, the untouched release, a wrong answer, a kernel
that dies halfway) is graded three times with real nbgrader: serially, with ``jobs=2`` (a local Dask
cluster) and on a real ``dask scheduler`` with two ``dask worker`` processes on 127.0.0.1, one of
which is killed with SIGKILL while it executes a submission. Every run must give the same scores,
cell by cell, and each submission must lose exactly its expected cells.
"""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    assert_lost_exactly,
    edit,
    reference_cases,
    zip_of_submissions,
)

from course_lib.grading import mutations as mut
from course_lib.grading.execution import INCIDENT_COLUMN, failure_cause
from course_lib.grading.pipeline import Course

pytestmark = pytest.mark.xdist_group("grading_parallel")

EX5 = "ex5_integrated_gradients"
ALPHAS = ("test_midpoint_alphas", "test_midpoint_alphas_hidden")
IG = ("test_integrated_gradients_midpoint", "test_integrated_gradients_midpoint_hidden")
COMPLETE = ("test_completeness_gap", "test_completeness_gap_hidden")
EVERY_TEST = ALPHAS + IG + COMPLETE

CASES = [
    *reference_cases(EVERY_TEST),
    Case(
        "left-riemann",
        edit((mut.replace_in_cell, "midpoint_alphas", "(np.arange(steps) + 0.5) / steps", "np.arange(steps) / steps")),
        lost=EVERY_TEST,
    ),
    Case(
        # the kernel exits in the last answer cell: the tests before it keep their points
        "kernel-dies",
        edit(
            (
                mut.replace_in_cell,
                "completeness_gap",
                "def completeness_gap",
                "import os\nos._exit(3)\n\ndef completeness_gap",
            )
        ),
        lost=COMPLETE,
    ),
]


def _grade(root, archive, **options):
    course = Course(root, timeout=240, test_cell_timeout=TEST_CELL_TIMEOUT * 3, **options)
    return course, course.grade(EX5, archive)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return zip_of_submissions(EX5, CASES, tmp_path_factory.mktemp("parallel") / "submissions.zip", {})


@pytest.fixture(scope="module")
def serial(tmp_path_factory, archive):
    return _grade(tmp_path_factory.mktemp("serial") / "grading", archive)


@pytest.fixture(scope="module")
def parallel(tmp_path_factory, archive):
    return _grade(tmp_path_factory.mktemp("jobs2") / "grading", archive, jobs=2)


def _cells(outcome):
    return {student: row["cells"] for student, row in outcome["scores"].items()}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.student for c in CASES])
def test_serial_run_loses_exactly_the_expected_cells(serial, case):
    assert_lost_exactly(serial[1], case, EVERY_TEST)


@pytest.mark.slow
def test_two_jobs_give_the_serial_scores_with_feedback_and_csv(serial, parallel):
    course, outcome = parallel
    assert _cells(outcome) == _cells(serial[1])
    assert all(r.success for r in outcome["graded"]), [r.cause for r in outcome["graded"] if not r.success]
    for case in CASES:
        assert list((course.grading_root / "feedback" / case.student / EX5).glob("*.html")), case.student


@pytest.mark.slow
@pytest.mark.parametrize("run", ["serial", "parallel"])
def test_a_dead_kernel_is_reported_with_its_cell_and_keeps_feedback(request, run):
    course, outcome = request.getfixturevalue(run)
    graded = {r.student_id: r for r in outcome["graded"]}
    assert graded["kernel-dies"].success, graded["kernel-dies"].cause
    (note,) = graded["kernel-dies"].incidents
    assert "the kernel died" in note and "(completeness_gap)" in note, note
    assert outcome["scores"]["kernel-dies"]["incidents"] == [note]
    assert all(not outcome["scores"][c.student]["incidents"] for c in CASES if c.student != "kernel-dies")
    feedback = next((course.grading_root / "feedback" / "kernel-dies" / EX5).glob("*.html")).read_text()
    assert "the kernel died" in feedback and "not run" in feedback
    with open(outcome["csv"], newline="") as file:
        rows = {row["student_id"]: row for row in csv.DictReader(file)}
    assert "the kernel died" in rows["kernel-dies"][INCIDENT_COLUMN]
    assert rows["solution"][INCIDENT_COLUMN] == ""


# ------------------------------------------------------------------------------- a real Dask cluster


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(command, log):
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture()
def dask_cluster(tmp_path):
    """A ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (one thread each)."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "dask"]  # the `dask` command of this environment
    log = open(tmp_path / "dask.log", "wb")  # noqa: SIM115 - closed below
    scheduler = _start(
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"], log
    )
    worker_cmd = [*dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard"]
    workers = [_start([*worker_cmd, "--name", f"w{i}", "--memory-limit", "0"], log) for i in range(2)]
    from distributed import Client

    with Client(address, timeout="120s") as client:
        client.wait_for_workers(2, timeout=300)
    yield address, workers
    for process in [*workers, scheduler]:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    log.close()


@pytest.mark.slow
def test_a_worker_killed_mid_batch_loses_no_submission(tmp_path, archive, dask_cluster):
    address, workers = dask_cluster
    from distributed import Client

    killed = []

    def kill_a_busy_worker():
        with Client(address, timeout="60s") as watcher:
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline and not killed:
                names = {w: v["name"] for w, v in watcher.scheduler_info()["workers"].items()}
                busy = {names.get(w) for w, keys in watcher.processing().items() if keys}
                if busy == {"w0", "w1"}:  # both execute a submission: kill w0 well inside its notebook
                    time.sleep(5)
                    os.kill(workers[0].pid, signal.SIGKILL)
                    killed.append(workers[0].pid)
                time.sleep(0.5)

    watcher = threading.Thread(target=kill_a_busy_worker, daemon=True)
    watcher.start()
    course, outcome = _grade(tmp_path / "grading", archive, scheduler=address)
    watcher.join(timeout=60)
    assert killed and workers[0].wait(timeout=60) == -signal.SIGKILL, "the worker was not killed mid-batch"
    assert all(r.success for r in outcome["graded"]), [r.cause for r in outcome["graded"] if not r.success]
    for case in CASES:  # the scores of the serial run (test_serial_run_loses_exactly_the_expected_cells)
        assert_lost_exactly(outcome, case, EVERY_TEST)


# ------------------------------------------------------------------------------- fast unit tests


def test_failure_cause_is_the_exception_of_the_last_traceback():
    log = (
        "[AutogradeApp | ERROR] There was an error processing assignment: x\n"
        "[AutogradeApp | ERROR] Traceback (most recent call last):\n"
        '  File "a.py", line 1, in <module>\n'
        "    boom()\n"
        "RuntimeError: Kernel died before replying to kernel_info\n"
        "[AutogradeApp | ERROR] Please see the the above traceback for details\n"
    )
    assert failure_cause(log, "Please see the above traceback") == (
        "RuntimeError: Kernel died before replying to kernel_info"
    )
    assert failure_cause("", "first\nlast line") == "last line"
