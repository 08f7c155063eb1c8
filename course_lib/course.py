"""Where the course lives: the one place that knows the repository's address.

Lecture title cells (the "Open in Colab" badge) and set-up cells are derived from these values,
and a test keeps every notebook consistent with them. To move the course to another repository,
run ``python -m course_lib adopt OWNER/REPO [--branch BRANCH]``: it rewrites these two values and
every place derived from them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

REPOSITORY = "introspecting-deep-networks/course"
BRANCH = "main"
GITHUB_URL = f"https://github.com/{REPOSITORY}"
PIP_SPEC = f"course_lib @ git+{GITHUB_URL}.git@{BRANCH}"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
ROOT = Path(__file__).resolve().parents[1]
# The folders whose notebooks carry a badge and a set-up cell.
NOTEBOOK_GLOBS = ("lectures/*.ipynb", "solutions/*/*.ipynb", "exercises/*/*.ipynb")
SETUP_MARKER = 'if "google.colab" in sys.modules:'


def colab_url(notebook_path: str, *, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The Colab address that opens ``notebook_path`` (relative to the repository root)."""
    return f"https://colab.research.google.com/github/{repository}/blob/{branch}/{notebook_path}"


def colab_badge(notebook_path: str, *, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """Markdown for the "Open in Colab" badge of ``notebook_path``."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook_path, repository=repository, branch=branch)})"


def setup_cell_source(*, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The first code cell of every notebook: installs the course on Colab, does nothing elsewhere.

    It installs ``course_lib`` with its own requirements only; Colab's runtime already meets them all,
    so pip adds the course and changes none of Colab's packages (``tests/test_colab.py``).
    """
    return (
        "# Set-up: on Google Colab this installs the course, which changes none of Colab's own packages;\n"
        "# elsewhere it does nothing.\n"
        "import sys\n"
        "\n"
        f"{SETUP_MARKER}\n"
        f'    %pip install --quiet "course_lib @ git+https://github.com/{repository}.git@{branch}"\n'
    )


# ----------------------------------------------------------------------------------------------------
# Moving the course: adopt a new address, write the student edition


def _check_address(repository: str, branch: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
        raise ValueError(
            f"expected the repository as OWNER/NAME (e.g. my-university/deep-networks), got {repository!r}"
        )
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", branch) or ".." in branch:
        raise ValueError(f"expected a git branch name such as 'main', got {branch!r}")


def _current_address(root: Path) -> tuple[str, str]:
    """REPOSITORY and BRANCH as written in ``root``'s course.py (not this process's imported values)."""
    path = root / "course_lib" / "course.py"
    if not path.is_file():
        raise ValueError(f"{root} is not the course repository (no course_lib/course.py); run this in its folder")
    text = path.read_text()
    repository = re.search(r'^REPOSITORY = "([^"]+)"$', text, re.MULTILINE)
    branch = re.search(r'^BRANCH = "([^"]+)"$', text, re.MULTILINE)
    if not (repository and branch):
        raise ValueError(f'{root}/course_lib/course.py lacks the lines REPOSITORY = "…" and BRANCH = "…"')
    return repository[1], branch[1]


def _rewrite_addresses(text: str, old: tuple[str, str], new: tuple[str, str]) -> str:
    (old_repository, old_branch), (repository, branch) = old, new
    text = text.replace(
        f"colab.research.google.com/github/{old_repository}/blob/{old_branch}/",
        f"colab.research.google.com/github/{repository}/blob/{branch}/",
    )
    text = text.replace(
        f"git+https://github.com/{old_repository}.git@{old_branch}", f"git+https://github.com/{repository}.git@{branch}"
    )
    return re.sub(
        rf"https://github\.com/{re.escape(old_repository)}(?=[/\s)\"'.]|$)", f"https://github.com/{repository}", text
    )


def _adopt_notebook(path: Path, root: Path, old: tuple[str, str], new: tuple[str, str]) -> None:
    """Rewrite the badge and the set-up cell of one notebook, leaving every other cell as it is."""
    notebook = json.loads(path.read_text())
    repository, branch = new
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    if not code or SETUP_MARKER not in "".join(code[0]["source"]):
        raise ValueError(f"{path.relative_to(root)}: the first code cell is not the course set-up cell")
    setup = setup_cell_source(repository=repository, branch=branch)
    if not "".join(code[0]["source"]).endswith("\n"):  # nbgrader's release drops the final newline
        setup = setup.rstrip("\n")
    code[0]["source"] = setup.splitlines(keepends=True)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            source = _rewrite_addresses("".join(cell["source"]), old, new)
            cell["source"] = source.splitlines(keepends=True)
    path.write_text(json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def adopt(repository: str, branch: str = "main", *, root: Path = ROOT) -> list[Path]:
    """Point the course in ``root`` at ``github.com/REPOSITORY`` (branch ``branch``).

    Rewrites ``course_lib/course.py``, the badge and set-up cell of every notebook and the README's
    links, and returns the files it changed.
    """
    _check_address(repository, branch)
    root = Path(root)
    old, new = _current_address(root), (repository, branch)
    changed = []
    course = root / "course_lib" / "course.py"
    text = course.read_text()
    text = re.sub(r'^REPOSITORY = "[^"]+"$', f'REPOSITORY = "{repository}"', text, count=1, flags=re.MULTILINE)
    text = re.sub(r'^BRANCH = "[^"]+"$', f'BRANCH = "{branch}"', text, count=1, flags=re.MULTILINE)
    files = [course] + [path for pattern in NOTEBOOK_GLOBS for path in sorted(root.glob(pattern))]
    readme = root / "README.md"
    for path in files + ([readme] if readme.exists() else []):
        before = path.read_text()
        if path == course:
            path.write_text(text)
        elif path == readme:
            path.write_text(_rewrite_addresses(before, old, new))
        else:
            _adopt_notebook(path, root, old, new)
        if path.read_text() != before:
            changed.append(path)
    return changed


# What never goes into the student edition: the answer key, and local working files.
PRIVATE = ("solutions",)
LOCAL = (".git", ".venv", "grading", "test-artifacts", "slides", "__pycache__", ".pytest_cache", ".ruff_cache")


def _published_files(root: Path) -> list[Path]:
    """The files of the course: git's tracked files when ``root`` is a checkout, else every file."""
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z"], check=True, capture_output=True, text=True
        ).stdout
        files = [root / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [path for path in root.rglob("*") if path.is_file()]
    return [path for path in files if path.is_file() and not set(path.relative_to(root).parts) & set(LOCAL)]


def write_student_edition(
    target: Path, *, root: Path = ROOT, repository: str | None = None, branch: str = "main"
) -> list[Path]:
    """Copy the course to ``target`` without ``solutions/`` (the answer key), ready to publish.

    With ``repository``, the copy is also adopted to that (public) address, so its badges and set-up
    cells install from there. Returns the copied files (relative paths).
    """
    root, target = Path(root), Path(target)
    _current_address(root)  # the course, not some other folder
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty; give a new or empty folder for the student edition")
    if target.resolve().is_relative_to(root.resolve()):
        raise ValueError(f"write the student edition outside the course ({root}), not into {target}")
    copied = []
    for path in _published_files(root):
        relative = path.relative_to(root)
        if relative.parts[0] in PRIVATE:
            continue
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
        copied.append(relative)
    if repository:
        adopt(repository, branch, root=target)
    return copied
