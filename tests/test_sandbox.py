"""Student kernels run in a bubblewrap sandbox: what they can see, write, reach and use.

The pipeline tests grade, with real nbgrader and ``jobs=2``, a batch of ex5 submissions that each
try one thing the sandbox forbids — read the answer key, write the gradebook, connect to a server
on 127.0.0.1 that the test runs, allocate 4 GiB against a 2 GiB limit, fork 300 processes against
a limit of 64 — at the top of the answer cell of ``completeness_gap``. When the attempt fails
(the sandbox works) the cell stops before it defines the function, so exactly that function's two
tests lose their points; had the attempt succeeded, they would have scored full. Every other
submission of the batch, and every other cell, keeps its points.

The fast tests run a small Python program directly under the sandbox's command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from grading_harness import TEST_CELL_TIMEOUT, Case, answered, assert_lost_exactly, edit, zip_of_submissions

from course_lib.grading import execution, sandbox
from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import COURSE_ROOT, Course

pytestmark = pytest.mark.xdist_group("grading_sandbox")
needs_bubblewrap = pytest.mark.skipif(bool(sandbox.available()), reason=f"no bubblewrap: {sandbox.available()}")

EX5 = "ex5_integrated_gradients"
EVERY_TEST = (
    "test_midpoint_alphas",
    "test_midpoint_alphas_hidden",
    "test_integrated_gradients_midpoint",
    "test_integrated_gradients_midpoint_hidden",
    "test_completeness_gap",
    "test_completeness_gap_hidden",
)
COMPLETE = ("test_completeness_gap", "test_completeness_gap_hidden")
ANSWER_KEY = COURSE_ROOT / "solutions" / EX5 / f"{EX5}.ipynb"
MEMORY_MB, PROCESSES = 2048, 64

FORK_LOOP = """import os, signal, time
_children = []
try:
    for _ in range(300):  # bounded: a broken sandbox cannot take the machine down
        _pid = os.fork()
        if _pid == 0:
            time.sleep(60)
            os._exit(0)
        _children.append(_pid)
finally:
    for _pid in _children:
        os.kill(_pid, signal.SIGKILL)
        os.waitpid(_pid, 0)
"""


def attempt(code: str):
    """Run ``code`` at the top of the ``completeness_gap`` answer cell."""
    return edit((mut.replace_in_cell, "completeness_gap", "def completeness_gap", code + "\n\ndef completeness_gap"))


class Listener:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, peer = self.server.accept()
            except OSError:
                return
            self.accepted.append(peer)
            connection.close()


def _cases(gradebook: Path, port: int) -> list[Case]:
    return [
        Case("solution", answered),
        Case("answer-key", attempt(f"_key = open({str(ANSWER_KEY)!r}).read()"), lost=COMPLETE),
        Case(
            "gradebook",
            attempt(
                f"import sqlite3\n_db = sqlite3.connect({str(gradebook)!r})\n"
                '_db.execute("UPDATE grade SET auto_score = 100")\n_db.commit()'
            ),
            lost=COMPLETE,
        ),
        Case(
            "network",
            attempt(f'import socket\nsocket.create_connection(("127.0.0.1", {port}), timeout=10).sendall(b"hi")'),
            lost=COMPLETE,
        ),
        Case(
            "memory",
            attempt("import numpy as np\n_hog = np.ones((4, 1024, 1024, 1024), dtype=np.uint8)"),
            lost=COMPLETE,
        ),
        Case("processes", attempt(FORK_LOOP), lost=COMPLETE),
    ]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("sandbox") / "grading"
    listener = Listener()
    cases = _cases(root / "gradebook.db", listener.port)
    archive = zip_of_submissions(EX5, cases, root.parent / "submissions.zip", {})
    course = Course(
        root, timeout=240, test_cell_timeout=TEST_CELL_TIMEOUT * 3, jobs=2, memory_mb=MEMORY_MB, processes=PROCESSES
    )
    outcome = course.grade(EX5, archive)
    listener.server.close()
    return course, outcome, cases, listener


def _error_of_answer_cell(course, student: str):
    nb = nbformat.read(course.grading_root / "autograded" / student / EX5 / f"{EX5}.ipynb", as_version=4)
    cell = nb.cells[mut.find_cell(nb, "completeness_gap")]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    return errors[0].ename if errors else None


@pytest.mark.slow
@needs_bubblewrap
@pytest.mark.parametrize("student", ["solution", "answer-key", "gradebook", "network", "memory", "processes"])
def test_each_forbidden_attempt_fails_in_its_own_cell_and_costs_only_that_cell(graded, student):
    course, outcome, cases, _ = graded
    case = next(c for c in cases if c.student == student)
    assert_lost_exactly(outcome, case, EVERY_TEST)
    assert not outcome["scores"][student]["incidents"], "no kernel may die"


@pytest.mark.slow
@needs_bubblewrap
def test_the_attempts_fail_for_the_right_reason(graded):
    course, _, _, listener = graded
    names = {s: _error_of_answer_cell(course, s) for s in ("answer-key", "gradebook", "network", "memory", "processes")}
    assert names["answer-key"] == "FileNotFoundError", names
    assert names["gradebook"] == "OperationalError", names
    assert names["network"] in ("ConnectionRefusedError", "OSError", "TimeoutError"), names
    assert "MemoryError" in names["memory"], names
    assert names["processes"] == "BlockingIOError", names
    assert listener.accepted == [], "a kernel reached the test's server"
    assert _error_of_answer_cell(course, "solution") is None


# ------------------------------------------------------------------------------- fast tests

PROBE = r"""
import json, os, socket, sys
seen = {"cwd": os.getcwd(), "uid_root": os.getuid() == 0}
seen["answer_key"] = os.path.exists(sys.argv[1])
seen["grading_dir"] = os.path.exists(sys.argv[2])
def writable(path):
    try:
        with open(os.path.join(path, "probe.txt"), "w") as f:
            f.write("x")
        return True
    except OSError:
        return False
seen["write_folder"] = writable(os.getcwd())
seen["write_tmp"] = writable("/tmp")
seen["write_course"] = writable(sys.argv[3])
seen["write_etc"] = writable("/etc")
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=5)
    seen["network"] = True
except OSError:
    seen["network"] = False
seen["secret"] = os.environ.get("COURSE_TEST_SECRET_TOKEN")
seen["course_lib"] = __import__("importlib.util").util.find_spec("course_lib") is not None
print(json.dumps(seen))
"""


@needs_bubblewrap
def test_the_sandbox_shows_only_its_folder_and_the_system_read_only(tmp_path, monkeypatch):
    folder = tmp_path / "kernel"
    folder.mkdir()
    settings = sandbox.SandboxSettings(memory_mb=1024, processes=64)
    sandbox.prepare_folder(folder, settings)
    grading_dir = tmp_path / "grading"
    grading_dir.mkdir()
    listener = Listener()
    env = {**os.environ, "COURSE_TEST_SECRET_TOKEN": "s3cret"}
    argv = [sys.executable, "-c", PROBE, str(ANSWER_KEY), str(grading_dir), str(execution.COURSE_PACKAGE)]
    command = sandbox.kernel_command(
        [*argv, str(listener.port)], folder, env, settings, course_package=execution.COURSE_PACKAGE
    )
    finished = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    listener.server.close()
    assert finished.returncode == 0, finished.stderr
    seen = json.loads(finished.stdout)
    assert seen["cwd"] == str(folder)
    assert not seen["uid_root"]
    assert not seen["answer_key"] and not seen["grading_dir"]
    assert seen["write_folder"] and seen["write_tmp"]
    assert not seen["write_course"] and not seen["write_etc"]
    assert not seen["network"] and listener.accepted == []
    assert seen["secret"] is None
    assert seen["course_lib"]


def test_without_bubblewrap_grading_warns_once_and_runs_unsandboxed(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "available", lambda: "the command `bwrap` was not found")
    monkeypatch.setattr(sandbox, "_warned", False)
    executor = execution.SandboxedExecute(timeout=60)
    assert executor.settings() is None
    nb, _ = executor.preprocess(_graded_notebook(f"import os\nprint(os.path.exists({str(ANSWER_KEY)!r}))"), {})
    assert nb.cells[0].outputs[0].text == "True\n", "unsandboxed, the kernel sees everything"
    err = capsys.readouterr().err
    assert err.count("UNSANDBOXED") == 1 and "bwrap" in err


def _graded_notebook(*sources):
    """A notebook of graded test cells (1 point each), ids t0, t1, ..."""
    cells = [
        nbformat.v4.new_code_cell(
            source,
            metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": f"t{i}", "points": 1, "locked": True}},
        )
        for i, source in enumerate(sources)
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernelspec})


def _grades(nb):
    from nbgrader.utils import determine_grade

    return [determine_grade(cell)[0] for cell in nb.cells]


def test_a_dead_kernel_keeps_the_cells_that_ran_and_zeroes_the_rest():
    nb = _graded_notebook("assert 1 + 1 == 2", "import os\nos._exit(7)", "assert True", "assert True")
    nb, resources = execution.SandboxedExecute(timeout=60).preprocess(nb, {})
    assert _grades(nb) == [1, 0, 0, 0]
    incident = resources["course_lib"]["incident"]
    assert incident.startswith("the kernel died (out of memory?) in cell 1 (t1)"), incident
    assert nb.cells[2].outputs[0].ename == execution.NOT_RUN and "cell 1 (t1)" in nb.cells[2].outputs[0].evalue


def test_a_notebook_past_its_time_limit_is_killed_and_scored_so_far():
    nb = _graded_notebook("assert True", "import time\ntime.sleep(600)", "assert True")
    nb, resources = execution.SandboxedExecute(timeout=300, notebook_timeout=15).preprocess(nb, {})
    assert _grades(nb) == [1, 0, 0]
    assert "time limit of 15 s" in resources["course_lib"]["incident"]
