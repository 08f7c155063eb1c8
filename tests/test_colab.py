"""The course on Google Colab as Colab is: the set-up cell changes none of Colab's packages, and every
notebook, widget and shipped model works with Colab's versions.

Colab's runtime is described by ``colab/pip-freeze.txt`` (Google's published list, dated in its
header). The tests marked ``colab_replica`` run in the Colab replica, a second virtualenv with
Colab's versions of the notebook stack that ``make test`` builds (``scripts/colab_replica.py``);
without it they are skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from notebooks import ROOT, error_outputs, stderr_outputs
from packaging.requirements import Requirement

from course_lib.grading.submissions import student_id_from_name

sys.path.insert(0, str(ROOT / "scripts"))
import colab_replica  # noqa: E402

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")

COLAB = colab_replica.colab_versions()
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPLICA = colab_replica.replica_path()
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*/*.ipynb"))
# Set by course_lib in this process; a student's kernel starts without them. PYTHONPATH would let the
# kernel import a working tree instead of the course as the set-up cell installed it.
NOT_INHERITED = ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "GRPC_VERBOSITY")

needs_replica = pytest.mark.skipif(
    not colab_replica.is_built(REPLICA),
    reason=f"no Colab replica at {REPLICA}; `make test` builds it (or: python3 scripts/colab_replica.py build)",
)


def _student_requirements() -> list[Requirement]:
    return [Requirement(line) for line in PROJECT["dependencies"]]


def _ids(paths):
    return [path.relative_to(ROOT).as_posix() for path in paths]


# ----------------------------------------------------------------------------------------------------
# Without the replica: the list itself and the declared requirements


def test_the_colab_list_names_its_source_and_date():
    header = [line for line in (ROOT / "colab" / "pip-freeze.txt").read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert "googlecolab/backend-info" in text, "say where the list comes from"
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", text), "date the list (YYYY-MM-DD)"
    assert {"tensorflow", "keras", "ipython", "ipywidgets"} <= set(COLAB)


def test_colab_satisfies_every_student_requirement():
    unmet = [
        f"{requirement} (Colab has {COLAB.get(colab_replica.canonical(requirement.name), 'nothing')})"
        for requirement in _student_requirements()
        if not requirement.specifier.contains(COLAB.get(colab_replica.canonical(requirement.name), "0"))
    ]
    assert not unmet, f"requirements Colab's runtime does not meet, so the set-up cell would upgrade: {unmet}"


def test_instructor_tools_are_an_extra_not_a_student_requirement():
    student = {colab_replica.canonical(requirement.name) for requirement in _student_requirements()}
    assert not student & set(colab_replica.INSTRUCTOR_ONLY), "JupyterLab, nbgrader and Voilà are instructor tools"
    instructor = {
        colab_replica.canonical(Requirement(line).name) for line in PROJECT["optional-dependencies"]["instructor"]
    }
    assert set(colab_replica.INSTRUCTOR_ONLY) <= instructor


def test_makefile_installs_the_extras_where_they_belong():
    makefile = (ROOT / "Makefile").read_text()
    assert 'pip install --quiet -e ".[instructor]"' in makefile  # make course
    assert 'pip install --quiet -e ".[instructor,test]"' in makefile  # make test
    assert re.search(r"^test:.*\bcolab-replica\b", makefile, re.MULTILINE), "make test builds the Colab replica"


def test_changes_lists_each_colab_package_with_both_versions():
    colab = {"ipython": "7.34.0", "numpy": "2.1.3", "tqdm": "4.67.3"}
    would_install = {"ipython": "9.18.1", "numpy": "2.1.3", "nbgrader": "0.9.6", "course-lib": "0.1.0"}
    assert colab_replica.changes(would_install, colab) == [("ipython", "7.34.0", "9.18.1")]
    assert "ipython: Colab has 7.34.0, the set-up cell would install 9.18.1" in colab_replica.describe(
        colab_replica.changes(would_install, colab)
    )


def _markdown_before_setup(path: Path) -> list[str]:
    cells = nbformat.read(path, as_version=4).cells
    first_code = next(index for index, cell in enumerate(cells) if cell.cell_type == "code")
    return [cell.source for cell in cells[: first_code + 2] if cell.cell_type == "markdown"]


@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_every_exercise_starts_with_what_a_colab_student_must_do(path):
    cells = nbformat.read(path, as_version=4).cells
    first_code = next(index for index, cell in enumerate(cells) if cell.cell_type == "code")
    text = "\n".join(cell.source for cell in cells[:first_code] if cell.cell_type == "markdown")
    steps = ["Save a copy in Drive", "set-up cell", "Restart session and run all", "Download .ipynb"]
    missing = [step for step in steps if step not in text]
    assert not missing, f"the opening cells (before the set-up cell) do not say: {missing}"
    assert (
        text.index("Save a copy in Drive") < text.index("Restart session and run all") < text.index("Download .ipynb")
    )
    # the name `python -m course_lib.grading collect` reads the student id from
    assert f"`<student id>_{path.stem}.ipynb`" in text
    example = re.search(rf"`([^`<>]+)_{path.stem}\.ipynb`", text)
    assert example, "give an example file name"
    assert student_id_from_name(PurePosixPath(example[0].strip("`"))) == example[1], "collect reads another id"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_every_lecture_says_how_to_pick_a_gpu_and_that_only_speed_changes(path):
    text = "\n".join(_markdown_before_setup(path))
    assert "Change runtime type" in text and "GPU" in text
    assert "Nothing but speed changes" in text


# ----------------------------------------------------------------------------------------------------
# In the replica: pip's own resolver, then every notebook, widget and model


@needs_replica
def test_setup_cell_changes_no_colab_package_and_installs_no_instructor_tool():
    problems = colab_replica.guard(REPLICA)
    assert not problems, "\n".join(problems)


@needs_replica
def test_guard_catches_a_requirement_colab_does_not_meet(tmp_path):
    """The guard is only worth something if it fails: a course asking for ipywidgets 8 must be caught."""
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "needs-new-widgets"\nversion = "0"\ndependencies = ["ipywidgets>=8.1"]\n'
        "[tool.setuptools]\npy-modules = []\n"
    )
    problems = colab_replica.guard(REPLICA, tmp_path)
    assert problems and "ipywidgets: Colab has 7.7.1, the set-up cell would install 8." in problems[0]


@needs_replica
def test_the_replica_holds_colab_versions_after_the_course_is_installed():
    installed = colab_replica.installed(REPLICA)
    assert "course-lib" in installed, "the course is installed the way the set-up cell installs it"
    differ = colab_replica.changes(installed, COLAB)
    assert not differ, colab_replica.describe(differ)
    for name in colab_replica.STACK:
        assert installed[colab_replica.canonical(name)] == COLAB[colab_replica.canonical(name)]


def _student_kernel_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in NOT_INHERITED}
    env["COURSE_LIB_OFFLINE"] = "1"
    return env


def execute_in_replica(path: Path, *, timeout: int = 600, allow_errors: bool = False):
    """Run ``path`` top to bottom in a kernel of the replica (the course as the set-up cell installed it)."""
    nb = nbformat.read(path, as_version=4)
    specs = KernelSpecManager(kernel_dirs=colab_replica.kernel_dirs(REPLICA))
    manager = KernelManager(kernel_name=colab_replica.KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(
        nb,
        km=manager,
        timeout=timeout,
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute(env=_student_kernel_environment())
    return nb


@needs_replica
@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES + SOLUTIONS, ids=_ids(LECTURES + SOLUTIONS))
def test_notebook_runs_cleanly_in_the_replica(path):
    nb = execute_in_replica(path)
    assert not error_outputs(nb), error_outputs(nb)
    assert not stderr_outputs(nb), stderr_outputs(nb)


def _graded(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade"))


@needs_replica
@pytest.mark.slow
@pytest.mark.parametrize("path", EXERCISES, ids=_ids(EXERCISES))
def test_released_exercise_fails_only_in_its_answer_and_test_cells_in_the_replica(path):
    nb = execute_in_replica(path, allow_errors=True)
    failing = [index for index, *_ in error_outputs(nb)]
    assert failing, "an untouched exercise should fail where the student has to answer"
    others = [(index, nb.cells[index].source[:80]) for index in failing if not _graded(nb.cells[index])]
    assert not others, f"cells that are neither answers nor tests fail in the untouched release: {others}"
    assert not stderr_outputs(nb), stderr_outputs(nb)


@needs_replica
@pytest.mark.slow
def test_widgets_canvas_and_shipped_weights_work_in_the_replica():
    """The widget, draw-a-digit and model tests, run by the replica's Python against the installed course:
    every explorer and the canvas react to a changed value under Colab's ipywidgets and anywidget, and
    the shipped weights load under Colab's Keras."""
    files = ["test_widgets_features.py", "test_widgets_attribution.py", "test_draw_digit_logic.py", "test_models.py"]
    check = "import course_lib, ipywidgets, anywidget, keras; print(course_lib.__file__, ipywidgets.__version__, anywidget.__version__, keras.__version__)"
    versions = subprocess.run(
        [str(colab_replica.python(REPLICA)), "-P", "-c", check],
        cwd=ROOT,
        env=_student_kernel_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions[0].startswith(str(REPLICA)), f"the replica imports the course from {versions[0]}"
    assert versions[1:] == [COLAB["ipywidgets"], COLAB["anywidget"], COLAB["keras"]]
    run = subprocess.run(
        [str(colab_replica.python(REPLICA)), "-P", "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x"]
        + [str(ROOT / "tests" / name) for name in files],
        cwd=ROOT,
        env=_student_kernel_environment(),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
