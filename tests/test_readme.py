"""The README is the front door: its course map must match the notebooks and course.py's address."""

import re
from pathlib import Path

from course_lib import course

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _notebooks():
    return sorted(ROOT.glob("lectures/*.ipynb")) + sorted(ROOT.glob("exercises/*/*.ipynb"))


def test_every_notebook_is_on_the_course_map_with_its_colab_link():
    for notebook in _notebooks():
        relative = notebook.relative_to(ROOT).as_posix()
        assert f"]({relative})" in README, f"{relative} is missing from the README's course map"
        assert course.colab_url(relative) in README, f"the README's Colab link for {relative} is wrong or missing"


def test_readme_links_point_to_existing_files_and_the_one_repository():
    for target in re.findall(r"\]\(((?:lectures|exercises|course_lib|docs|scripts)/[^)#]+)\)", README):
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
    for url in re.findall(r"https://colab\.research\.google\.com/github/([^/]+/[^/]+)/", README):
        assert url == course.REPOSITORY


def test_quick_start_commands_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("course", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), f"Makefile has no '{target}' target"
