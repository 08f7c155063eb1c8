"""Every slide of every lecture carries speaker notes, where reveal.js's speaker view will show them.

A slide (or vertical subslide) is the run of cells from one cell of slide_type "slide"/"subslide" to
the next. reveal.js shows a slide's notes (cells of slide_type "notes", rendered as
``<aside class="notes">``) while that slide is on screen; a notes cell placed after a fragment belongs
to that fragment and appears only once the fragment is revealed, so every slide needs a notes cell
in its always-visible part, before its first fragment.
"""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LECTURES = sorted((REPO / "lectures").glob("*.ipynb"))
MIN_WORDS = 15  # a note says what to do or say on the slide, not just "see above"


def slide_type(cell) -> str:
    return cell["metadata"].get("slideshow", {}).get("slide_type", "-")


def slides(cells):
    """(first cell, cells of the slide) for each slide and subslide."""
    starts = [i for i, cell in enumerate(cells) if slide_type(cell) in ("slide", "subslide")]
    return [(cells[s], cells[s:e]) for s, e in zip(starts, starts[1:] + [len(cells)], strict=True)]


def visible_notes(cells) -> list[str]:
    """Text of the notes cells that come before the slide's first fragment."""
    notes = []
    for cell in cells[1:]:
        if slide_type(cell) == "fragment":
            break
        if slide_type(cell) == "notes":
            notes.append("".join(cell["source"]))
    return notes


def test_lectures_exist():
    assert len(LECTURES) >= 9, [p.name for p in LECTURES]


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_every_slide_has_speaker_notes(lecture):
    cells = json.loads(lecture.read_text())["cells"]
    found = slides(cells)
    assert found, f"{lecture.name} has no slides"
    missing, thin = [], []
    for first, cells_of_slide in found:
        title = "".join(first["source"]).strip().splitlines()[0][:70] if first["source"] else first.get("id")
        notes = visible_notes(cells_of_slide)
        if not notes:
            missing.append(title)
        elif len(" ".join(notes).split()) < MIN_WORDS:
            thin.append(title)
    assert not missing, f"{lecture.name}: slides without speaker notes (before their first fragment): {missing}"
    assert not thin, f"{lecture.name}: speaker notes shorter than {MIN_WORDS} words: {thin}"


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda p: p.stem)
def test_speaker_notes_write_math_as_text(lecture):
    """The speaker window shows notes as plain HTML, without MathJax: ``$T_c$`` would appear as it is typed."""
    cells = json.loads(lecture.read_text())["cells"]
    with_tex = [
        "".join(cell["source"])[:60] for cell in cells if slide_type(cell) == "notes" and "$" in "".join(cell["source"])
    ]
    assert not with_tex, f"{lecture.name}: notes with TeX math (write it as text, e.g. T_c, |m|): {with_tex}"
