"""A lecturer adopts the course in one command, and publishes a student edition without the answers.

Both commands run on a temporary copy of the repository, never on the checkout itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from notebooks import ROOT

from course_lib import course

NEW = ("my-university/deep-networks-2027", "winter")
IGNORED = shutil.ignore_patterns(".git", ".venv", "grading", "test-artifacts", "slides", "__pycache__", "*.egg-info")


@pytest.fixture(scope="module")
def adopted(tmp_path_factory):
    """A copy of the repository after ``python -m course_lib adopt my-university/deep-networks-2027 --branch winter``."""
    copy = tmp_path_factory.mktemp("adopted") / "course"
    shutil.copytree(ROOT, copy, ignore=IGNORED)
    env = {**os.environ, "PYTHONPATH": str(copy)}
    run = subprocess.run(
        [sys.executable, "-m", "course_lib", "adopt", NEW[0], "--branch", NEW[1]],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return copy


def _notebooks(root: Path) -> list[Path]:
    return [path for pattern in course.NOTEBOOK_GLOBS for path in sorted(root.glob(pattern))]


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def test_adopt_rewrites_course_py(adopted):
    text = (adopted / "course_lib" / "course.py").read_text()
    assert f'REPOSITORY = "{NEW[0]}"' in text and f'BRANCH = "{NEW[1]}"' in text


def test_adopt_rewrites_every_badge_and_setup_cell(adopted):
    notebooks = _notebooks(adopted)
    assert len(notebooks) == len(_notebooks(ROOT)) > 0
    for path in notebooks:
        relative = path.relative_to(adopted).as_posix()
        published = relative.replace("solutions/", "exercises/", 1)  # a solution carries its release's badge
        cells = _cells(path)
        assert course.colab_badge(published, repository=NEW[0], branch=NEW[1]) in "".join(cells[0]["source"]), relative
        setup = "".join(next(cell for cell in cells if cell["cell_type"] == "code")["source"])
        assert setup.strip() == course.setup_cell_source(repository=NEW[0], branch=NEW[1]).strip(), relative


def test_adopt_leaves_no_trace_of_the_old_address_and_changes_nothing_else(adopted):
    for path in [adopted / "README.md", *_notebooks(adopted)]:
        assert course.REPOSITORY not in path.read_text(), f"{path.relative_to(adopted)} still names {course.REPOSITORY}"
    for path in _notebooks(adopted):
        original = _cells(ROOT / path.relative_to(adopted))
        rewritten = _cells(path)
        assert [cell.get("id") for cell in rewritten] == [cell.get("id") for cell in original]
        touched = [index for index, (a, b) in enumerate(zip(original, rewritten, strict=True)) if a != b]
        first_code = next(index for index, cell in enumerate(original) if cell["cell_type"] == "code")
        assert set(touched) <= {0, first_code}, f"{path.name}: cells {touched} changed"


@pytest.mark.slow
def test_adopted_copy_passes_the_consistency_tests(adopted):
    """The copy's own badge, set-up cell and README tests pass against its new address."""
    env = {**os.environ, "PYTHONPATH": str(adopted)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "not slow"]
        + [
            "tests/test_readme.py",
            "tests/test_lectures.py",
            "tests/test_exercises.py",
            "-k",
            "badge or setup or readme or clean",
        ],
        cwd=adopted,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    assert " passed" in run.stdout


def test_adopt_refuses_a_malformed_address(tmp_path):
    with pytest.raises(ValueError, match="OWNER/NAME"):
        course.adopt("https://github.com/x/y", root=tmp_path)
    with pytest.raises(ValueError, match="branch"):
        course.adopt("x/y", "a branch", root=tmp_path)


def test_student_edition_has_everything_but_the_answer_key(tmp_path):
    target = tmp_path / "public"
    copied = course.write_student_edition(target, repository="my-university/idn-public")
    names = {path.as_posix() for path in copied}
    assert not any(name.startswith("solutions/") for name in names)
    assert not (target / "solutions").exists()
    for path in _notebooks(ROOT):
        relative = path.relative_to(ROOT).as_posix()
        if not relative.startswith("solutions/"):
            assert (target / relative).is_file(), f"{relative} is missing from the student edition"
    assert (target / "course_lib" / "weights").is_dir() and (target / "README.md").is_file()
    for text in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS"):
        assert not any(text in (target / name).read_text() for name in names if name.endswith(".ipynb"))
    badge = course.colab_badge("lectures/00_introduction.ipynb", repository="my-university/idn-public", branch="main")
    assert badge in (target / "lectures" / "00_introduction.ipynb").read_text().replace('\\"', '"')


def test_student_edition_refuses_a_non_empty_folder_and_the_course_itself(tmp_path):
    (tmp_path / "old.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        course.write_student_edition(tmp_path)
    with pytest.raises(ValueError, match="outside the course"):
        course.write_student_edition(ROOT / "student-edition")
    assert (tmp_path / "old.txt").read_text() == "keep me"
