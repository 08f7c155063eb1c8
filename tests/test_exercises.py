"""The exercise notebooks: valid nbgrader sources, a release in sync with them, and clean runs.

Every assignment in ``solutions/`` is covered; a new exercise only needs its folders.
"""

from __future__ import annotations

import ast
import copy
import json
import re

import nbformat
import pytest
from grading_harness import MISTAKES, mistakes
from notebooks import ROOT, error_outputs, execute, stderr_outputs

from course_lib.course import colab_badge, setup_cell_source
from course_lib.grading import mutations as mut
from course_lib.grading.pipeline import Course, assignments

ASSIGNMENTS = assignments(ROOT)
RETURN_NOTHING = {"print", "expect_close", "expect_not_delegated", "expect_weights_unchanged"}  # calls returning None
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def solution_path(assignment):
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def release_path(assignment):
    return ROOT / "exercises" / assignment / f"{assignment}.ipynb"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_answer(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def validator(invert: bool):
    from nbgrader.validator import Validator

    config = Course().config()
    config.Execute.timeout = 300
    return Validator(config=config, invert=invert)


def marked_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines between ``### BEGIN X`` and ``### END X`` that are specific enough to search for."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside and len(line.strip()) > 15:
            lines.append(line.strip())
    return lines


def test_every_exercise_exists():
    assert {"ex1_activation_maximization", "ex2_class_activation_maps"} <= set(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebooks_are_committed_clean_and_start_as_every_course_notebook(assignment):
    for path in (solution_path(assignment), release_path(assignment)):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path} has outputs"
        assert colab_badge(f"exercises/{assignment}/{assignment}.ipynb") in nb.cells[0].source
        assert code[0].source.strip() == setup_cell_source().strip()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_never_end_with_a_bare_value(assignment):
    """A value left at the end of a test cell would be read by nbgrader as partial credit."""
    nb = nbformat.read(solution_path(assignment), as_version=4)
    for cell in filter(is_test, nb.cells):
        body = ast.parse(cell.source).body
        last = body[-1]
        call = last.value if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) else None
        name = getattr(call.func, "id", None) or getattr(call.func, "attr", None) if call else None
        assert not isinstance(last, ast.Expr) or name in RETURN_NOTHING, (
            f"{nbgrader_meta(cell)['grade_id']} ends with an expression"
        )
        assert nbgrader_meta(cell)["points"] > 0


TEST_TOOLS = {"cl", "checks", "keras", "np", "tf", "untouched"}  # rebound by every test cell to the real tools


def _global_statements(body):
    """The statements that run in a cell's global scope: into if/for/while/with/try, not into defs."""
    for node in body:
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        for field in ("body", "orelse", "finalbody"):
            yield from _global_statements(getattr(node, field, None) or [])
        for handler in getattr(node, "handlers", None) or []:
            yield from _global_statements(handler.body)


def global_names(source: str) -> set[str]:
    """The names a cell binds in the notebook's namespace."""
    names = set()
    for node in _global_statements(ast.parse(source).body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        targets = {
            ast.Assign: lambda n: n.targets,
            ast.AugAssign: lambda n: [n.target],
            ast.AnnAssign: lambda n: [n.target],
            ast.For: lambda n: [n.target],
            ast.With: lambda n: [item.optional_vars for item in n.items if item.optional_vars],
        }.get(type(node), lambda n: [])(node)
        names |= {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Try):
            names |= {handler.name for handler in node.handlers if handler.name}
    return names


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_test_cells_leave_the_students_names_alone(assignment):
    """A test cell that rebinds ``mlp`` or a student's helper ``_gap`` changes what the student's code
    computes (once, a trained network was replaced by a random one): tests name their values ``_test_…``."""
    nb = nbformat.read(solution_path(assignment), as_version=4)
    for cell in filter(is_test, nb.cells):
        own = {n for n in global_names(cell.source) if n.startswith("_test_") or n == "_"}  # "_": thrown away
        rebound = sorted(global_names(cell.source) - own - TEST_TOOLS)
        assert not rebound, f"{nbgrader_meta(cell)['grade_id']} rebinds the notebook's names {rebound}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_a_fresh_generate_assignment(assignment, tmp_path):
    course = Course(tmp_path / "grading")
    result = course.api(release_directory=tmp_path / "release").generate_assignment(assignment, force=True)
    assert result["success"], result.get("error")
    fresh = nbformat.read(tmp_path / "release" / assignment / f"{assignment}.ipynb", as_version=4)
    committed = nbformat.read(release_path(assignment), as_version=4)

    def essence(nb):
        return [(c.cell_type, c.source, json.dumps(c.metadata, sort_keys=True)) for c in nb.cells]

    assert essence(committed) == essence(fresh), (
        f"exercises/{assignment} is out of date: run `python -m course_lib.grading release {assignment}` and commit"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_holds_no_solution_and_no_hidden_test(assignment):
    text = release_path(assignment).read_text()
    for marker in MARKERS:
        assert marker not in text
    release = nbformat.read(release_path(assignment), as_version=4)
    release_lines = {line.strip() for c in release.cells for line in c.source.splitlines()}
    solution = nbformat.read(solution_path(assignment), as_version=4)
    secret, public = [], set()
    for cell in solution.cells:
        hidden = marked_lines(cell.source, "BEGIN SOLUTION", "END SOLUTION")
        hidden += marked_lines(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        secret += hidden
        public |= {line.strip() for line in cell.source.splitlines()} - set(hidden)
    assert secret, "the solution notebook should contain answers and hidden tests"
    # a line counts as leaked if it shows up in the release although it only exists inside the markers
    leaked = [line for line in secret if line in release_lines and line not in public]
    assert not leaked, f"solution or hidden-test lines in the release: {leaked[:5]}"
    for cell in solution.cells:
        if "BEGIN HIDDEN TESTS" in cell.source:
            assert is_test(cell), "hidden tests belong in test cells"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_runs_top_to_bottom_without_errors_or_stderr(assignment):
    nb = execute(solution_path(assignment), timeout=600)
    assert error_outputs(nb) == []
    assert stderr_outputs(nb) == []


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_validate_passes_on_the_solution(assignment):
    results = validator(invert=False).validate(str(solution_path(assignment)))
    assert not results, results


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_validate_invert_passes_on_the_release(assignment):
    """Every test cell of the untouched release fails (nothing can be passed by doing nothing)."""
    results = validator(invert=True).validate(str(release_path(assignment)))
    assert not results, results


def _assigned_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef):
            names.add(node.name)
    return names


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_runs_with_only_answer_cells_failing(assignment):
    """Allowed: NotImplementedError in answer cells and in test cells (they call the unimplemented
    functions), and NameError for a name that only an earlier failing cell would have defined.
    Anything else — a provided cell that fails, another exception type — is a bug of the exercise."""
    nb = execute(release_path(assignment), timeout=600, allow_errors=True)
    assert stderr_outputs(nb) == []
    undefined: set[str] = set()
    failing_cells = {index for index, _, _ in error_outputs(nb)}
    for index, cell in enumerate(nb.cells):
        if index not in failing_cells:
            continue
        for _, ename, evalue in [e for e in error_outputs(nb) if e[0] == index]:
            where = nbgrader_meta(cell).get("grade_id", f"cell {index}")
            assert is_answer(cell) or is_test(cell), f"{where} (not an answer or test cell) failed: {ename}: {evalue}"
            if ename == "NameError":
                name = re.search(r"name '(\w+)' is not defined", evalue)
                assert name and name.group(1) in undefined, f"{where}: {evalue}"
            else:
                assert ename == "NotImplementedError", f"{where}: {ename}: {evalue}"
        undefined |= _assigned_names(cell.source)
    assert any(is_test(nb.cells[i]) for i in failing_cells), "the tests must fail on the untouched release"


def test_every_exercise_has_a_catalogue_of_mistakes():
    assert sorted(path.stem for path in MISTAKES.glob("*.toml")) == sorted(ASSIGNMENTS)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_catalogued_mistake_changes_the_model_answer(assignment):
    """Each mistake of ``tests/mistakes/<assignment>.toml`` finds its line in the model answer and edits
    it: a typo there fails here at once, not after minutes of the slow grading-pipeline tests."""
    answered = mut.answered_release(
        nbformat.read(release_path(assignment), 4), nbformat.read(solution_path(assignment), 4)
    )
    catalogue = vars(mistakes(assignment))
    assert catalogue
    for name, replacements in catalogue.items():
        edited = copy.deepcopy(answered)
        for cell, right, wrong in replacements:
            assert right != wrong, f"{name}: the wrong line equals the right one"
            mut.replace_in_cell(edited, cell, right, wrong)  # raises if `right` is not in the cell
        assert edited != answered, name
