"""Every lecture notebook: its structure (badge, set-up cell, slides, widget, milestones) and a clean run.

Generic over ``lectures/*.ipynb``: a new lecture is covered as soon as it exists.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from notebooks import ROOT, error_outputs, execute, stderr_outputs

from course_lib.course import colab_badge, setup_cell_source

LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}
WIDGET_IMPORT = re.compile(r"^from course_lib import .*\bwidgets\b", re.MULTILINE)
WIDGET_CALL = re.compile(r"\bwidgets\.[a-z_]+\(")
# Lines of code that may appear in several lectures: imports, the set-up and the data/model loading.
SHARED_LINE = re.compile(r"^(import |from |%|#|\(\(|model = cl\.pretrained|.*= cl\.load_mnist\(\))")

pytestmark = pytest.mark.skipif(not LECTURES, reason="no lecture notebooks yet")


def _ids(paths):
    return [path.stem for path in paths]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_lecture_names_are_numbered_topics():
    names = [path.name for path in LECTURES]
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", name) for name in names), names
    numbers = [name[:2] for name in names]
    assert len(set(numbers)) == len(numbers), f"two lectures share a number: {names}"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_title_cell_has_the_colab_badge(path):
    first = _read(path).cells[0]
    assert first.cell_type == "markdown", "the first cell must be the markdown title cell"
    assert first.source.lstrip().startswith("# "), "the title cell starts with a level-1 heading"
    expected = colab_badge(path.relative_to(ROOT).as_posix())
    assert expected in first.source, f"title cell lacks the badge {expected}"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_first_code_cell_is_the_setup_cell(path):
    first_code = _code_cells(_read(path))[0]
    assert first_code.source == setup_cell_source()


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_every_cell_has_slide_metadata(path):
    missing = [
        index
        for index, cell in enumerate(_read(path).cells)
        if cell.metadata.get("slideshow", {}).get("slide_type") not in SLIDE_TYPES
    ]
    assert not missing, f"cells without a valid slideshow.slide_type: {missing}"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_uses_a_course_widget(path):
    sources = [cell.source for cell in _code_cells(_read(path))]
    assert any(WIDGET_IMPORT.search(source) for source in sources), (
        "import the course widgets: from course_lib import widgets"
    )
    assert any(WIDGET_CALL.search(source) for source in sources), "call at least one widgets.<explorer>(…)"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_ends_with_milestones(path):
    shown = [c for c in _read(path).cells if c.metadata.get("slideshow", {}).get("slide_type") != "notes"]
    last = shown[-1]  # the speaker notes of the last slide may follow it
    assert last.cell_type == "markdown" and "Milestones" in last.source, "the last cell summarises the milestones"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_committed_without_outputs(path):
    dirty = [
        index for index, cell in enumerate(_read(path).cells) if cell.get("outputs") or cell.get("execution_count")
    ]
    assert not dirty, f"cells with outputs or execution counts (strip them before committing): {dirty}"


@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_code_cells_are_short_and_explained(path):
    nb = _read(path)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index == 0:
            continue
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert len(lines) <= 15, f"cell {index} has {len(lines)} lines; keep code cells short"
        previous = nb.cells[index - 1]
        assert previous.cell_type == "markdown" or cell.source == setup_cell_source() or len(lines) <= 3, (
            f"cell {index} is not introduced by a markdown cell"
        )


def test_no_code_block_repeated_across_lectures():
    """Shared code belongs in course_lib: no run of 4+ identical code lines in two lectures."""
    seen: dict[tuple[str, ...], str] = {}
    for path in LECTURES:
        for cell in _code_cells(_read(path))[1:]:
            lines = [line.strip() for line in cell.source.splitlines() if line.strip()]
            lines = [line for line in lines if not SHARED_LINE.match(line)]
            for start in range(len(lines) - 3):
                block = tuple(lines[start : start + 4])
                other = seen.setdefault(block, path.stem)
                assert other == path.stem, f"{path.stem} repeats code from {other}: {block}"


@pytest.mark.slow
@pytest.mark.parametrize("path", LECTURES, ids=_ids(LECTURES))
def test_lecture_runs_cleanly(path):
    nb = execute(path, timeout=240)
    assert not error_outputs(nb), error_outputs(nb)
    assert not stderr_outputs(nb), stderr_outputs(nb)
    warnings = [
        text
        for cell in _code_cells(nb)
        for output in cell.get("outputs", [])
        for text in [output.get("text", "")]
        if "Warning" in text
    ]
    assert not warnings, f"stray warnings in the outputs: {warnings}"
