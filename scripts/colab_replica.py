"""A Colab replica: Colab's versions of the notebook stack in a virtualenv on this machine's Python.

    python3 scripts/colab_replica.py build    # build once (cached), then install the course as Colab's set-up cell does
    python3 scripts/colab_replica.py guard    # what would the set-up cell change on Colab? (exit 1 if anything)
    python3 scripts/colab_replica.py path     # where the replica lives

The replica holds the packages of ``colab/pip-freeze.txt`` (Google's published list of the Colab
runtime) that a course notebook meets: TensorFlow, Keras, numpy, SciPy, matplotlib, IPython, the
kernel, ipywidgets 7 and anywidget, at exactly Colab's versions (everything they pull in is
pinned to Colab's version too). It is cached by the list's hash in
``~/.cache/introspecting-deep-networks/colab-replica-<hash>``, so only a new list rebuilds it.

What it cannot replicate: Colab's Python (3.13; the replica uses the Python that runs this script),
Colab's own front end and widget manager (``google.colab`` is absent, so notebooks take their
"not on Colab" branch), and Colab's GPU.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLAB_LIST = ROOT / "colab" / "pip-freeze.txt"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "introspecting-deep-networks"

# What a course notebook meets on Colab, by Colab's package names. Their dependencies are resolved
# against the same list, so the whole closure sits at Colab's versions.
STACK = (
    "pip",
    "setuptools",
    "wheel",
    "tensorflow",
    "keras",
    "numpy",
    "scipy",
    "matplotlib",
    "h5py",
    "ipython",
    "ipykernel",
    "jupyter_client",
    "jupyter_core",
    "traitlets",
    "tornado",
    "pyzmq",
    "notebook",
    "ipywidgets",
    "widgetsnbextension",
    "jupyterlab_widgets",
    "anywidget",
    "mlxtend",
    "tqdm",
    "pytest",  # Colab ships it; the widget and model tests run inside the replica
    "SQLAlchemy",  # named in pyproject's pytest warning filters
)
KERNEL_NAME = "colab-replica"
# Never on a student's path: instructor tools.
INSTRUCTOR_ONLY = ("jupyterlab", "nbgrader", "voila")


def canonical(name: str) -> str:
    """PEP 503 normalised package name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def colab_versions(path: Path = COLAB_LIST) -> dict[str, str]:
    """``{canonical name: version}`` for every ``name==version`` line of Colab's pip freeze."""
    versions = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line.strip())
        if match:
            versions[canonical(match[1])] = match[2]
    if not versions:
        raise ValueError(f"{path} holds no 'name==version' lines; expected the output of `pip freeze`")
    return versions


def replica_path() -> Path:
    """The cache folder of the replica for the current list, stack and Python version."""
    digest = hashlib.sha256()
    digest.update(COLAB_LIST.read_bytes())
    digest.update(repr((STACK, sys.version_info[:2])).encode())
    return CACHE / f"colab-replica-{digest.hexdigest()[:12]}"


def python(replica: Path) -> Path:
    return replica / "bin" / "python"


def is_built(replica: Path) -> bool:
    return (replica / ".built").is_file()


def kernel_dirs(replica: Path) -> list[str]:
    """Kernel spec folder holding only the replica's kernel (named ``colab-replica``)."""
    return [str(replica / "kernelspecs")]


def _run(*command, **options):
    print("+", " ".join(map(str, command)), flush=True)
    return subprocess.run([str(part) for part in command], check=True, **options)


def _constraints(replica: Path) -> Path:
    path = replica / "colab-constraints.txt"
    path.write_text("".join(f"{name}=={version}\n" for name, version in sorted(colab_versions().items())))
    return path


def build(replica: Path | None = None) -> Path:
    """Create the replica unless it exists; returns its folder."""
    replica = replica or replica_path()
    if is_built(replica):
        return replica
    shutil.rmtree(replica, ignore_errors=True)
    start = time.monotonic()
    _run(sys.executable, "-m", "venv", replica)
    constraints = _constraints(replica)
    pins = colab_versions()
    missing = [name for name in STACK if canonical(name) not in pins]
    if missing:
        raise SystemExit(f"Colab's list no longer holds {missing}; update STACK in {__file__}")
    stack = [f"{name}=={pins[canonical(name)]}" for name in STACK]
    _run(python(replica), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", stack[0])
    _run(python(replica), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", constraints, *stack)
    spec = replica / "kernelspecs" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [str(python(replica)), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Colab replica", "language": "python"}))
    seconds = time.monotonic() - start
    (replica / ".built").write_text(f"built in {seconds:.0f} s\n")
    print(f"Colab replica built in {seconds:.0f} s: {replica}", flush=True)
    return replica


def installed(replica: Path) -> dict[str, str]:
    """``{canonical name: version}`` of everything installed in the replica."""
    out = subprocess.run(
        [str(python(replica)), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {canonical(item["name"]): item["version"] for item in json.loads(out)}


def dry_run(replica: Path, project: Path = ROOT) -> dict[str, str]:
    """What ``pip install PROJECT`` (the set-up cell) would install in the replica: ``{name: version}``."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            [
                str(python(replica)),
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--quiet",
                "--disable-pip-version-check",
                "--report",
                str(report),
                str(project),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        items = json.loads(report.read_text())["install"]
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in items}


def changes(would_install: dict[str, str], colab: dict[str, str]) -> list[tuple[str, str, str]]:
    """``(package, Colab's version, the version pip would install)`` for every Colab package that would change."""
    return sorted(
        (name, colab[name], version)
        for name, version in would_install.items()
        if name in colab and colab[name] != version
    )


def describe(found: list[tuple[str, str, str]]) -> str:
    lines = [f"  {name}: Colab has {old}, the set-up cell would install {new}" for name, old, new in found]
    return "The set-up cell would change packages that Colab ships:\n" + "\n".join(lines)


def guard(replica: Path, project: Path = ROOT) -> list[str]:
    """Problems with installing ``project`` on Colab (empty when it changes nothing Colab ships)."""
    would_install = dry_run(replica, project)
    problems = []
    found = changes(would_install, colab_versions())
    if found:
        problems.append(describe(found))
    instructor = sorted(set(would_install) & set(INSTRUCTOR_ONLY))
    if instructor:
        problems.append(f"The set-up cell would install instructor tools: {', '.join(instructor)}")
    return problems


def install_course(replica: Path, project: Path = ROOT) -> None:
    """Install the course as the set-up cell does on a fresh Colab runtime (after checking the guard)."""
    problems = guard(replica, project)
    if problems:
        raise SystemExit("\n".join(problems))
    subprocess.run(
        [str(python(replica)), "-m", "pip", "uninstall", "--yes", "--quiet", "course_lib"],
        check=False,
        capture_output=True,
    )
    _run(python(replica), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", project)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "guard", "path"))
    parser.add_argument("--project", type=Path, default=ROOT, help="the course checkout to install (default: this one)")
    args = parser.parse_args(argv)
    replica = replica_path()
    if args.command == "path":
        print(replica)
        return 0
    if args.command == "build":
        build(replica)
        install_course(replica, args.project)
        return 0
    if not is_built(replica):
        print(f"no replica at {replica}: run `python3 {__file__} build` first", file=sys.stderr)
        return 2
    problems = guard(replica, args.project)
    print("\n".join(problems) or "The set-up cell changes no package that Colab ships.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
