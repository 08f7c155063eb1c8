"""Executing notebooks in tests: one helper shared by the lecture, exercise and grading tests."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


# Set by course_lib in this test process; a student's kernel starts without them, and so must ours,
# or a notebook that imports TensorFlow before course_lib would look quiet here and not in class.
_QUIETING_VARIABLES = ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "GRPC_VERBOSITY")


@contextmanager
def _student_environment():
    saved = {name: os.environ.pop(name) for name in _QUIETING_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def execute(path: Path, *, timeout: int = 300, cwd: Path | None = None, allow_errors: bool = False):
    """Run ``path`` top to bottom in a fresh kernel and return the executed notebook.

    Runs offline (``COURSE_LIB_OFFLINE=1``) with the notebook's own folder as working directory.
    """
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    with _student_environment():
        client.execute()
    return nb


def stderr_outputs(nb) -> list[str]:
    """Every text a notebook's code cells wrote to stderr (should be none)."""
    return [
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "stream" and output.get("name") == "stderr"
    ]


def error_outputs(nb) -> list[tuple[int, str, str]]:
    """(cell index, exception name, message) for every cell that raised."""
    return [
        (index, output.get("ename", ""), output.get("evalue", ""))
        for index, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
