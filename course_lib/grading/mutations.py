"""Make student submissions programmatically, to test an exercise's grading before students do.

Start from :func:`answered_release` (the released notebook with the model answers filled in, as a
diligent student would hand it in) and apply edits: a wrong line in an answer, a deleted or
edited test cell, lost metadata. The pipeline tests grade such submissions with nbgrader and
compare the scores with the expected ones.
"""

from __future__ import annotations

import copy
import re

import nbformat

__all__ = [
    "answer_source",
    "answered_release",
    "find_cell",
    "replace_in_cell",
    "set_source",
    "delete_cell",
    "duplicate_cell",
    "change_cell_type",
    "strip_nbgrader_metadata",
]

_SOLUTION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", flags=re.MULTILINE)


def answer_source(solution_source: str) -> str:
    """A solution cell's source with the ``### BEGIN/END SOLUTION`` marker lines removed."""
    return _SOLUTION.sub("", solution_source)


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def find_cell(nb, grade_id: str) -> int:
    """Index of the cell with ``grade_id``; KeyError (listing the ids) when there is none."""
    for index, cell in enumerate(nb.cells):
        if _grade_id(cell) == grade_id:
            return index
    raise KeyError(f"no cell {grade_id!r}; cells: {[g for g in map(_grade_id, nb.cells) if g]}")


def answered_release(release, solution):
    """The release with every answer cell (code or written) filled in from the solution notebook."""
    nb = copy.deepcopy(release)
    for cell in solution.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            nb.cells[find_cell(nb, meta["grade_id"])].source = answer_source(cell.source)
    return nb


def replace_in_cell(nb, grade_id: str, old: str, new: str):
    """Replace ``old`` (which must occur) by ``new`` in the cell ``grade_id``; returns ``nb``."""
    cell = nb.cells[find_cell(nb, grade_id)]
    if old not in cell.source:
        raise ValueError(f"{old!r} does not occur in cell {grade_id!r}")
    cell.source = cell.source.replace(old, new)
    return nb


def set_source(nb, grade_id: str, source: str):
    nb.cells[find_cell(nb, grade_id)].source = source
    return nb


def delete_cell(nb, grade_id: str):
    del nb.cells[find_cell(nb, grade_id)]
    return nb


def duplicate_cell(nb, grade_id: str):
    """Insert a copy (same metadata, new cell id) right after the cell ``grade_id``."""
    index = find_cell(nb, grade_id)
    twin = copy.deepcopy(nb.cells[index])
    twin["id"] = f"{twin.get('id', 'cell')}-copy"[:64]
    nb.cells.insert(index + 1, twin)
    return nb


def change_cell_type(nb, grade_id: str, cell_type: str):
    """Turn the cell into ``cell_type`` ("code"/"markdown"), as a mis-click in a notebook editor does."""
    index = find_cell(nb, grade_id)
    old = nb.cells[index]
    new = nbformat.v4.new_code_cell(old.source) if cell_type == "code" else nbformat.v4.new_markdown_cell(old.source)
    new.metadata = copy.deepcopy(old.metadata)
    new["id"] = old.get("id", new["id"])
    nb.cells[index] = new
    return nb


def strip_nbgrader_metadata(nb):
    """Remove every trace of nbgrader from the cells (what some editors and copy-paste do)."""
    for cell in nb.cells:
        for key in ("nbgrader", "deletable", "editable"):
            cell.get("metadata", {}).pop(key, None)
    return nb
