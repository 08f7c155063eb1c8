"""Collect downloaded notebooks, check them against the release and repair what can be repaired.

Students work on Colab or in a local JupyterLab and hand in the downloaded ``.ipynb``. On the way
cells get deleted, duplicated or retyped, file names become "Copy of …", and the nbgrader metadata
that identifies answer and test cells is sometimes lost. nbgrader silently scores such a notebook
zero, so every submission is compared with the released notebook first.

Naming rule for collected files (documented in README.md, "Grading the exercises"):

* a roster CSV (columns ``file`` and ``student_id``) maps file names to student ids; otherwise
* the student id is the part of the file name before the first underscore,
  ``<student_id>_<anything>.ipynb`` (e.g. ``ab12345_Copy of ex1_activation_maximization.ipynb``); otherwise
* the name of the folder that holds the file, ``<student_id>/<anything>.ipynb``.

Student ids consist of letters, digits, ``.`` and ``-`` (they become folder names).
"""

from __future__ import annotations

import copy
import csv
import difflib
import io
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

from course_lib.grading import integrity

__all__ = [
    "Finding",
    "CollectedFile",
    "SubmissionReport",
    "STUDENT_ID",
    "student_id_from_name",
    "collect",
    "check_notebook",
    "check_submissions",
]

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,63}$")
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024  # a notebook larger than this is refused, not unpacked
MISSING_ANSWER_CODE = "# This answer cell was missing from the submission; the grader put an empty one back.\n"
MISSING_ANSWER_MARKDOWN = "*This answer cell was missing from the submission; the grader put an empty one back.*"


# ------------------------------------------------------------------------------------ reports


@dataclass
class Finding:
    """One observation about a submission.

    ``kind`` is "repaired" (fixed automatically), "problem" (the student's work may be lost) or
    "review" (a line that changes the tools the tests use: the score is not touched, an
    instructor should look; see :mod:`course_lib.grading.integrity`).
    """

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind.upper():9} {self.message}"


@dataclass
class CollectedFile:
    """Where a handed-in file came from, which student it belongs to and where it was written."""

    source: str
    student_id: str | None
    path: Path | None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class SubmissionReport:
    """The result of checking one student's notebook against the release."""

    student_id: str
    notebook: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "problem"]

    @property
    def reviews(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "review"]

    @property
    def status(self) -> str:
        if self.problems:
            return "problems"
        if self.reviews:
            return "review"
        return "repaired" if self.findings else "ok"

    def __str__(self) -> str:
        lines = [f"{self.student_id}/{self.notebook}: {self.status}"]
        lines += [f"    {finding}" for finding in self.findings]
        return "\n".join(lines)


# ------------------------------------------------------------------------------------ collecting


def _safe_member(name: str) -> PurePosixPath | None:
    """The member's path if it stays inside the archive: no absolute path, no drive, no '..'."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or any(part == ".." for part in path.parts):
        return None
    return path


def student_id_from_name(relative: PurePosixPath, roster: dict[str, str] | None = None) -> str | None:
    """The student id of a handed-in file, by the roster or the naming rule (see the module docstring)."""
    if roster:
        found = roster.get(relative.name) or roster.get(str(relative))
        if found:
            return found if STUDENT_ID.match(found) else None
    head = relative.name.split("_", 1)[0]
    if "_" in relative.name and STUDENT_ID.match(head):
        return head
    if len(relative.parts) >= 2 and STUDENT_ID.match(relative.parts[-2]):
        return relative.parts[-2]
    return None


def read_roster(path: Path) -> dict[str, str]:
    """``file,student_id`` rows → ``{file name: student id}``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not {"file", "student_id"} <= set(rows[0]):
        raise ValueError(f"roster {path} needs the columns 'file' and 'student_id'; found {sorted(rows[0])}")
    return {row["file"].strip(): row["student_id"].strip() for row in rows}


def _entries(source: Path):
    """(relative path or None if unsafe, original name, size, modification key, reader) for each file."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            relative = PurePosixPath(path.relative_to(source).as_posix())
            stamp = path.stat().st_mtime
            yield relative, str(relative), path.stat().st_size, stamp, path.read_bytes
        return
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            mode = info.external_attr >> 16
            relative = None if stat.S_ISLNK(mode) else _safe_member(info.filename)
            yield relative, info.filename, info.file_size, info.date_time, (lambda i=info: archive.read(i))


def _ignored(relative: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts) or relative.suffix != ".ipynb"


def _refused(source: str, message: str, student: str | None = None) -> CollectedFile:
    """A handed-in file that was not written into ``submitted/``, and why."""
    return CollectedFile(source, student, None, [Finding("problem", message)])


def _follows_convention(original: str, student: str, target_name: str) -> bool:
    """``<student>_<notebook>.ipynb`` or ``<student>/<notebook>.ipynb``: the name needs no report."""
    path = PurePosixPath(original.replace("\\", "/"))
    return path.name in (target_name, f"{student}_{target_name}")


def collect(source, assignment: str, grading_root, *, notebook: str | None = None, roster=None) -> list[CollectedFile]:
    """Copy handed-in notebooks from a zip file or a folder into ``submitted/<student>/<assignment>/``.

    Every file is written under ``grading_root`` with the release's notebook name (``notebook``,
    default ``assignment``), whatever the student called it; a name other than the convention's is
    reported. Zip members with absolute paths, '..' or symbolic links are refused; files without a
    recognisable student id are reported and skipped. When a student handed in several notebooks,
    the most recently modified one is kept.
    """
    source, grading_root = Path(source), Path(grading_root).resolve()
    notebook = notebook or assignment
    roster_map = read_roster(Path(roster)) if roster else None
    chosen: dict[str, tuple] = {}
    results: list[CollectedFile] = []
    for relative, original, size, stamp, read in _entries(source):
        if relative is None:
            results.append(_refused(original, "refused: the path leaves the archive (absolute, '..' or a link)"))
            continue
        if _ignored(relative):
            continue
        if size > MAX_NOTEBOOK_BYTES:
            results.append(_refused(original, f"refused: {size} bytes is larger than {MAX_NOTEBOOK_BYTES}"))
            continue
        student = student_id_from_name(relative, roster_map)
        if student is None:
            message = "skipped: no student id (name it <student_id>_<anything>.ipynb or list it in the roster)"
            results.append(_refused(original, message))
            continue
        if student in chosen:
            previous = chosen[student]
            keep_new = stamp > previous[1] or (stamp == previous[1] and original > previous[0])
            dropped = previous[0] if keep_new else original
            results.append(_refused(dropped, f"{student} handed in several notebooks; ignored {dropped}", student))
            if not keep_new:
                continue
        named_by_roster = bool(roster_map) and (relative.name in roster_map or str(relative) in roster_map)
        chosen[student] = (original, stamp, read(), named_by_roster)  # read now: the archive closes after the loop
    for student, (original, _, data, named_by_roster) in sorted(chosen.items()):
        target = (grading_root / "submitted" / student / assignment / f"{notebook}.ipynb").resolve()
        if grading_root not in target.parents:  # cannot happen with a valid id; a second line of defence
            results.append(_refused(original, "refused: target outside the grading directory", student))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        findings = []
        if not (named_by_roster or _follows_convention(original, student, target.name)):
            findings.append(Finding("repaired", f"file name {PurePosixPath(original).name!r} → {target.name!r}"))
        results.append(CollectedFile(original, student, target, findings))
    return results


# ------------------------------------------------------------------------------------ checking


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) and meta.get("grade_id") else {}


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _defined_names(source: str) -> set[str]:
    return set(re.findall(r"^\s*def\s+(\w+)\s*\(", source, flags=re.MULTILINE))


def _key(cell) -> tuple[str, str]:
    return cell.get("cell_type", ""), _source(cell).strip()


def _new_cell(cell_type: str, source: str, cell_id: str):
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    cell["id"] = cell_id
    return cell


def _set_type(cell, cell_type: str) -> None:
    if cell.get("cell_type") == cell_type:
        return
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    cell.pop("attachments", None)


def _describe(meta: dict) -> str:
    if meta.get("grade") and not meta.get("solution"):
        return f"test cell {meta['grade_id']!r}"
    if meta.get("solution"):
        return f"answer cell {meta['grade_id']!r}"
    return f"cell {meta['grade_id']!r}"


@dataclass
class _Alignment:
    """A submission being matched with its release: where each graded cell of the release is now.

    ``wanted``: grade id → (index in the release, release cell); ``position``: grade id → index
    of the submitted cell that is graded as that cell.
    """

    nb: object
    release: object
    wanted: dict
    position: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def repaired(self, message: str) -> None:
        self.findings.append(Finding("repaired", message))

    def before(self, release_index: int) -> list[int]:
        """Positions of the graded cells that come before ``release_index`` in the release."""
        return [p for g, p in self.position.items() if self.wanted[g][0] < release_index]

    def after(self, release_index: int) -> list[int]:
        return [p for g, p in self.position.items() if self.wanted[g][0] > release_index]

    def unplaced(self):
        """(release index, release cell, its nbgrader metadata) of graded cells not found yet."""
        for release_index, cell in enumerate(self.release.cells):
            meta = _nbgrader(cell)
            if meta and meta["grade_id"] not in self.position:
                yield release_index, cell, meta


def check_notebook(submission, release) -> tuple[object, list[Finding]]:
    """Compare a submitted notebook with the released one; return the repaired notebook and findings.

    Every nbgrader cell of the release must appear exactly once with its type and metadata. Cells
    whose metadata was lost are found again by content (identical source, or an answer cell that
    defines the same functions) between their matched neighbours; duplicates keep one graded copy
    (the last answered one for answer cells); edited test cells get the release's source back;
    deleted test cells are re-inserted from the release; a deleted answer cell is re-inserted empty
    and reported, because the student's work may be lost. Lines outside the test cells that change
    the modules the tests use are reported for review (:mod:`course_lib.grading.integrity`).
    """
    wanted = {_nbgrader(c)["grade_id"]: (i, c) for i, c in enumerate(release.cells) if _nbgrader(c)}
    state = _Alignment(copy.deepcopy(submission), release, wanted)
    _keep_one_cell_per_grade_id(state)
    _restore_lost_metadata(state)
    _reinsert_missing_cells(state)
    _restore_released_cells(state)
    if state.nb.metadata.get("kernelspec") != release.metadata.get("kernelspec"):
        state.nb.metadata["kernelspec"] = copy.deepcopy(release.metadata.get("kernelspec", {}))
    state.findings += _review_findings(state.nb)
    return state.nb, state.findings


def _keep_one_cell_per_grade_id(state: _Alignment) -> None:
    """Step 1: drop metadata the release does not know; of duplicated grade ids keep one cell."""
    by_id: dict[str, list[int]] = {}
    for index, cell in enumerate(state.nb.cells):
        meta = _nbgrader(cell)
        if not meta:
            cell.get("metadata", {}).pop("nbgrader", None)
            continue
        if meta["grade_id"] not in state.wanted:
            del cell.metadata["nbgrader"]
            state.repaired(f"removed unknown nbgrader cell id {meta['grade_id']!r}")
            continue
        by_id.setdefault(meta["grade_id"], []).append(index)
    for grade_id, indices in by_id.items():
        keep = indices[0]
        if len(indices) > 1:
            release_cell = state.wanted[grade_id][1]
            stub = _source(release_cell).strip()
            answered = [i for i in indices if _source(state.nb.cells[i]).strip() != stub]
            keep = answered[-1] if (_nbgrader(release_cell).get("solution") and answered) else indices[0]
            for index in indices:
                if index != keep:
                    del state.nb.cells[index].metadata["nbgrader"]
            state.repaired(
                f"{_describe(_nbgrader(release_cell))} appeared {len(indices)} times; graded the copy at cell {keep}"
            )
        state.position[grade_id] = keep


def _restore_lost_metadata(state: _Alignment) -> None:
    """Step 2: find cells whose metadata was lost; identical cells anchor the search between neighbours."""
    nb, release_cells = state.nb, state.release.cells
    matcher = difflib.SequenceMatcher(
        None, [_key(c) for c in release_cells], [_key(c) for c in nb.cells], autojunk=False
    )
    anchors = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            anchors[block.a + k] = block.b + k
    claimed = set(state.position.values())
    restored: list[str] = []
    for release_index, cell, meta in list(state.unplaced()):
        grade_id = meta["grade_id"]
        lower = max([anchors.get(i, -1) for i in range(release_index)] + state.before(release_index) + [-1])
        upper_candidates = [anchors[i] for i in range(release_index + 1, len(release_cells)) if i in anchors]
        upper = min(upper_candidates + state.after(release_index) + [len(nb.cells)])
        others = {_source(c).strip() for g, (_, c) in state.wanted.items() if g != grade_id}
        candidates = [
            j
            for j in range(lower + 1, upper)
            if j not in claimed
            and not _nbgrader(nb.cells[j])
            and nb.cells[j].get("cell_type") == cell.cell_type
            and _source(nb.cells[j]).strip() not in others  # a copy of another graded cell
        ]
        choice = _best_candidate(cell, meta, nb, candidates, anchors.get(release_index), claimed)
        if choice is None:
            continue
        nb.cells[choice].setdefault("metadata", {})["nbgrader"] = copy.deepcopy(cell.metadata["nbgrader"])
        state.position[grade_id] = choice
        claimed.add(choice)
        restored.append(grade_id)
    if restored:
        state.repaired(f"restored lost nbgrader metadata of {len(restored)} cell(s): {', '.join(restored)}")


def _best_candidate(cell, meta, nb, candidates, exact, claimed) -> int | None:
    """The identical cell if there is one; else the answer cell defining the same functions; else the most similar."""
    if exact is not None and exact not in claimed and not _nbgrader(nb.cells[exact]):
        return exact
    if meta.get("solution") and cell.cell_type == "code":
        names = _defined_names(_source(cell))
        defining = [j for j in candidates if names and names <= _defined_names(_source(nb.cells[j]))]
        return defining[-1] if defining else (candidates[0] if len(candidates) == 1 else None)
    if candidates:
        ratio = [difflib.SequenceMatcher(None, _source(cell), _source(nb.cells[j])).ratio() for j in candidates]
        return candidates[int(max(range(len(candidates)), key=ratio.__getitem__))]
    return None


def _reinsert_missing_cells(state: _Alignment) -> None:
    """Step 3: put graded cells that are still missing back after their predecessor."""
    for release_index, cell, meta in list(state.unplaced()):
        before = state.before(release_index)
        insert_at = (max(before) + 1) if before else 0
        if meta.get("solution"):
            filler = MISSING_ANSWER_CODE if cell.cell_type == "code" else MISSING_ANSWER_MARKDOWN
            new = _new_cell(cell.cell_type, filler, f"restored-{meta['grade_id']}")
            state.findings.append(
                Finding("problem", f"{_describe(meta)} is missing; inserted an empty one (the answer may be lost)")
            )
        else:
            new = _new_cell(cell.cell_type, _source(cell), f"restored-{meta['grade_id']}")
            state.repaired(f"{_describe(meta)} was deleted; put it back from the release")
        new.metadata = copy.deepcopy(cell.metadata)
        state.nb.cells.insert(insert_at, new)
        state.position = {g: (p + 1 if p >= insert_at else p) for g, p in state.position.items()}
        state.position[meta["grade_id"]] = insert_at


def _restore_released_cells(state: _Alignment) -> None:
    """Step 4: every graded cell gets the release's type and metadata, test cells their released source."""
    for grade_id, index in state.position.items():
        cell, release_cell = state.nb.cells[index], state.wanted[grade_id][1]
        if cell.cell_type != release_cell.cell_type:
            state.repaired(f"{_describe(_nbgrader(release_cell))} had become a {cell.cell_type} cell")
            _set_type(cell, release_cell.cell_type)
        released_meta = release_cell.metadata["nbgrader"]
        if any(cell.metadata["nbgrader"].get(k) != v for k, v in released_meta.items() if k != "checksum"):
            state.repaired(f"nbgrader metadata of {_describe(released_meta)} was edited")
        cell.metadata["nbgrader"] = copy.deepcopy(released_meta)
        if released_meta.get("locked") and _source(cell).strip() != _source(release_cell).strip():
            state.repaired(f"{_describe(released_meta)} was edited; restored the released test")
            cell["source"] = _source(release_cell)


def _review_findings(nb) -> list[Finding]:
    """Lines outside the test cells that change modules the tests use: for the instructor's review."""
    code = [c for c in nb.cells if c.get("cell_type") == "code"]
    watched = integrity.imported_names(_source(c) for c in code)
    findings = []
    for index, cell in enumerate(nb.cells):
        meta = _nbgrader(cell)
        if cell.get("cell_type") != "code" or (meta.get("grade") and not meta.get("solution")):
            continue
        where = _describe(meta) if meta else f"cell {index}"
        for line, what in integrity.tampering(_source(cell), watched):
            findings.append(Finding("review", f"{where}, line {line}: {what} (the tests used the originals)"))
    return findings


def check_submissions(grading_root, assignment: str, release_dir, *, repair: bool = True) -> list[SubmissionReport]:
    """Check (and by default repair in place) every collected notebook of ``assignment``.

    The original of every changed file is kept in ``<grading_root>/originals/``. A file that is not
    a readable notebook is replaced by the untouched release (it scores zero) and reported.
    """
    grading_root, release_dir = Path(grading_root), Path(release_dir)
    release_notebooks = sorted(release_dir.glob("*.ipynb"))
    reports = []
    for student_dir in sorted((grading_root / "submitted").glob("*")):
        folder = student_dir / assignment
        if not folder.is_dir():
            continue
        for release_path in release_notebooks:
            path = folder / release_path.name
            report = SubmissionReport(student_dir.name, release_path.name)
            reports.append(report)
            release = nbformat.read(release_path, as_version=4)
            if not path.exists():
                report.findings.append(Finding("problem", "no notebook handed in; graded as the empty release"))
                repaired = release
                original = None
            else:
                original = path.read_bytes()
                try:
                    submission = nbformat.reads(original.decode("utf-8"), as_version=4)
                except Exception as error:  # noqa: BLE001  (any unreadable file)
                    report.findings.append(
                        Finding(
                            "problem", f"not a readable notebook ({type(error).__name__}); graded as the empty release"
                        )
                    )
                    repaired = release
                else:
                    repaired, findings = check_notebook(submission, release)
                    report.findings += findings
            if repair and report.findings:
                if original is not None:
                    keep = grading_root / "originals" / student_dir.name / assignment / release_path.name
                    keep.parent.mkdir(parents=True, exist_ok=True)
                    keep.write_bytes(original)
                buffer = io.StringIO()
                nbformat.write(repaired, buffer)
                path.write_text(buffer.getvalue(), encoding="utf-8")
    return reports
