"""PDF handouts (``python -m course_lib.slides handout``): one executed lecture, printed by Chromium in
reveal.js's print mode, has exactly one page per slide and subslide, and carries its figures."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.slides import handout, main

REPO = Path(__file__).resolve().parents[2]
LECTURE = REPO / "lectures" / "00_introduction.ipynb"


def slide_count(notebook: Path) -> int:
    cells = json.loads(notebook.read_text())["cells"]
    return sum(c["metadata"].get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in cells)


def figure_cells(notebook: Path) -> int:
    """Code cells that draw a figure (a plotting helper or a live explorer)."""
    cells = json.loads(notebook.read_text())["cells"]
    return sum(
        c["cell_type"] == "code" and re.search(r"\b(plotting|widgets)\.", "".join(c["source"])) is not None
        for c in cells
    )


def pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


@pytest.mark.browser
def test_handout_has_one_page_per_slide_with_the_figures(tmp_path):
    # the command line, in its own process (Playwright's sync API allows one instance per thread,
    # and the browser fixture of the other tests may hold it)
    command = [sys.executable, "-m", "course_lib.slides", "handout", str(LECTURE), "--output-dir", str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    pdf = tmp_path / "00_introduction.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    assert pdf_pages(data) == slide_count(LECTURE), "not one page per slide and subslide"
    images = len(re.findall(rb"/Subtype\s*/Image", data))
    assert images >= figure_cells(LECTURE) > 0, f"{images} images for {figure_cells(LECTURE)} figure cells"


def test_handout_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="no notebook"):
        handout([], tmp_path)
    with pytest.raises(ValueError, match="ipynb"):
        handout([tmp_path / "lecture.py"], tmp_path)
    with pytest.raises(FileNotFoundError, match="install_debian_packages"):
        handout([LECTURE], tmp_path, chromium=tmp_path / "no-chromium")
    with pytest.raises(SystemExit):
        main(["handout"])  # at least one notebook is required
