"""How long after ``python -m course_lib.slides present`` each lecture is ready, and how fast it opens then.

For each lecture, starts the Voilà server exactly as ``present`` does (the lecture's kernel is
executed at start-up), and measures

- **ready**: seconds from starting the server until the complete slide page has been served, i.e.
  until the lecture has executed — a lecturer who opens the slides later than this does not wait;
- **open when ready**: seconds to fetch the whole page from a second server started ``ready`` + 10 s
  earlier, whose kernel has therefore finished executing.

The page is fetched over HTTP (no browser): widgets then take a moment more to draw. Timings depend
on the machine and its load, so the one-minute load average and the core count are printed with them.

    python benchmarks/slides_readiness.py [lectures/*.ipynb]
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

from course_lib.slides import voila_command, voila_environment  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[float, str]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=1800) as response:
        page = response.read().decode()
    return time.monotonic() - started, page


@contextlib.contextmanager
def served(notebook: Path, log):
    """A Voilà server for ``notebook`` started as ``present`` starts it; yields (base URL, start time)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    command = voila_command(notebook, port=port, open_browser=False)
    server = subprocess.Popen(command, env=voila_environment(), stdout=log, stderr=log)
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/voila/static/voila.js", timeout=5).close()
                break
            except OSError:
                time.sleep(0.2)
        yield url, started
    finally:
        server.terminate()
        server.wait(timeout=60)


def measure(notebook: Path, log) -> tuple[float, float]:
    with served(notebook, log) as (url, started):
        _, page = fetch(url + "/")
        ready = time.monotonic() - started
    if "application/vnd.jupyter.error" in page:
        raise RuntimeError(f"{notebook.name} raised an error while executing")
    with served(notebook, log) as (url, started):
        time.sleep(max(0.0, started + ready + 10 - time.monotonic()))
        warm, _ = fetch(url + "/")
    return ready, warm


def main(argv) -> int:
    lectures = [Path(a) for a in argv] or sorted((REPO / "lectures").glob("*.ipynb"))
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    print("| lecture | ready after start | open when ready |\n|---|---|---|")
    with tempfile.TemporaryFile("w+") as log:
        for lecture in lectures:
            ready, warm = measure(lecture, log)
            print(f"| {lecture.stem} | {ready:.0f} s | {warm:.1f} s |", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
