"""Execute every lecture and solution notebook headless, one after the other, and print the times.

    COURSE_LIB_OFFLINE=1 python benchmarks/notebooks.py            # all of lectures/ and solutions/
    COURSE_LIB_OFFLINE=1 python benchmarks/notebooks.py lectures/02_deconvnet.ipynb

Each time includes the kernel start and the TensorFlow import; the budget is 60 s per notebook
and 8 minutes for the whole course on a 2-core CPU (ARCHITECTURE.md §7). Never part of the test suite.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

from tests.notebooks import error_outputs, execute, stderr_outputs  # noqa: E402

BUDGET_SECONDS = 60.0


def notebooks(arguments: list[str]) -> list[Path]:
    if arguments:
        return [Path(argument).resolve() for argument in arguments]
    return sorted((ROOT / "lectures").glob("*.ipynb")) + sorted((ROOT / "solutions").glob("*/*.ipynb"))


def main(arguments: list[str]) -> int:
    paths = notebooks(arguments)
    width = max((len(str(path.relative_to(ROOT))) for path in paths), default=10)
    total, failures = 0.0, 0
    for path in paths:
        start = time.perf_counter()
        try:
            nb = execute(path, timeout=600, allow_errors=True)
            problems = len(error_outputs(nb)) + len(stderr_outputs(nb))
        except Exception as error:  # a kernel crash or a timeout: report it and go on
            problems = 1
            print(f"  {type(error).__name__}: {error}", file=sys.stderr)
        seconds = time.perf_counter() - start
        total += seconds
        failures += bool(problems)
        flags = ("  over budget" if seconds > BUDGET_SECONDS else "") + (
            f"  {problems} error/stderr output(s)" if problems else ""
        )
        print(
            f"{str(path.relative_to(ROOT)):<{width}}  {seconds:6.1f} s  ({seconds / BUDGET_SECONDS:4.0%} of budget){flags}",
            flush=True,
        )
    print(f"{'total':<{width}}  {total:6.1f} s  ({len(paths)} notebooks; course budget 480 s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
