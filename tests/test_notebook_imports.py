"""Every notebook imports course_lib before Keras or TensorFlow.

course_lib silences TensorFlow's start-up lines ("Could not find cuda drivers", oneDNN notices)
only if it is imported first; otherwise they land on stderr, clutter a lecture and zero an
nbgrader test cell. (A kernel started by pytest does not always show them, so this is checked in
the source.)
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = (
    sorted(ROOT.glob("lectures/*.ipynb"))
    + sorted(ROOT.glob("solutions/*/*.ipynb"))
    + sorted(ROOT.glob("exercises/*/*.ipynb"))
)
IMPORT = re.compile(r"^\s*(?:import|from)\s+([\w.]+)", re.MULTILINE)


def first_import_of(source_lines, names):
    for index, module in enumerate(source_lines):
        if module.split(".")[0] in names:
            return index
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_course_lib_is_imported_before_tensorflow(path):
    nb = nbformat.read(path, as_version=4)
    modules = [m for cell in nb.cells if cell.cell_type == "code" for m in IMPORT.findall(cell.source)]
    framework = first_import_of(modules, {"keras", "tensorflow"})
    if framework is None:
        return
    ours = first_import_of(modules, {"course_lib"})
    assert ours is not None and ours < framework, (
        f"{path.name} imports {modules[framework]} before course_lib: import course_lib first so that "
        "TensorFlow's start-up messages stay off stderr"
    )
