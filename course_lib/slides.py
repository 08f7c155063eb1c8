"""Present a lecture as live reveal.js slides, export it as a static slideshow, or print PDF handouts.

    python -m course_lib.slides present lectures/06_layerwise_relevance_propagation.ipynb
    python -m course_lib.slides export lectures/*.ipynb            # → slides/<name>.slides.html
    python -m course_lib.slides handout lectures/*.ipynb           # → handouts/<name>.pdf

``present`` runs Voilà with the course's reveal.js template: the notebook is executed in a live
kernel as soon as the server starts (so the slides are ready when the lecturer opens them), then
shown as slides in the browser, and every ipywidget (sliders, dropdowns, the draw-a-digit canvas)
keeps talking to that kernel, so moving a slider recomputes on stage. Pressing S opens reveal.js's
speaker view (notes, timer, current and next slide); its previews are static copies of the
presented slides and start no kernel. ``export`` runs ``jupyter nbconvert --to slides`` and writes
a self-contained HTML file to share after class (the figures are embedded; widgets there are
frozen, since no kernel is running). ``handout`` serves each lecture the way ``present`` does and
prints it with Chromium in reveal.js's print mode: one page per slide, figures and widgets as they
were rendered, math typeset; no internet needed.

Slide boundaries come from each cell's ``metadata.slideshow.slide_type`` (slide, subslide,
fragment, skip, notes, -), which every lecture sets.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

__all__ = ["export_command", "handout", "voila_command", "voila_environment"]

# reveal.js 4.0.2 style sheets (MIT licence) shipped with the course, so that slides also work
# without internet: Voilà's reveal template otherwise fetches them from a CDN at every page load.
# The folder is added to JUPYTER_PATH; Voilà then serves it under /voila/static/.
STATIC = Path(__file__).resolve().parent / "slides_static"
REVEAL_VERSION = "4.0.2"
# Voilà's reveal template plus a speaker view whose previews are static (slides_static/voila/templates/)
TEMPLATE = "course-reveal"

# reveal.js options: a 16:10 stage that fits a projector, vertical scrolling for tall slides
REVEAL = {
    "reveal": {
        "transition": "none",
        "scroll": True,
        "width": 1280,
        "height": 800,
        "url_prefix": f"/voila/static/revealjs-{REVEAL_VERSION}",
    }
}


def voila_environment(base=None) -> dict:
    """``base`` (default: this process's environment) with the course's Voilà template and reveal.js assets
    on JUPYTER_PATH, and its kernel manager (``slides_static/lecture_kernels.py``) on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    for variable in ("JUPYTER_PATH", "PYTHONPATH"):
        env[variable] = os.pathsep.join(p for p in (str(STATIC), env.get(variable, "")) if p)
    return env


def voila_command(
    notebook, *, port: int | None = None, open_browser: bool = True, show_code: bool = True, theme: str = "light"
) -> list[str]:
    """The command line that serves ``notebook`` as live reveal.js slides with Voilà.

    Code cells are shown by default (``show_code=False`` hides them, leaving markdown, figures
    and widgets). ``port`` None lets Voilà pick its default (8866). Run it with the environment
    from ``voila_environment()`` so that reveal.js's style sheets come from the course, not a CDN.
    """
    notebook = Path(notebook)
    if notebook.suffix != ".ipynb":
        raise ValueError(f"expected a .ipynb notebook, got {notebook}")
    if theme not in ("light", "dark"):
        raise ValueError(f"theme must be 'light' or 'dark', got {theme!r}")
    resources = {"reveal": {**REVEAL["reveal"], "theme": "course-white" if theme == "light" else "course-black"}}
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        f"--template={TEMPLATE}",
        "--preheat_kernel=True",
        "--pool_size=1",
        "--VoilaConfiguration.multi_kernel_manager_class=lecture_kernels.LectureKernelManager",
        f"--theme={theme}",
        f"--VoilaConfiguration.resources={resources!r}",
        f"--VoilaConfiguration.strip_sources={not show_code}",
        "--VoilaConfiguration.show_tracebacks=True",
        "--Voila.ip=127.0.0.1",
    ]
    if port is not None:
        command += [f"--port={port}", "--Voila.port_retries=0"]
    if not open_browser:
        command.append("--no-browser")
    return command


def export_command(notebooks, output_dir="slides", *, show_code: bool = True) -> list[str]:
    """The ``jupyter nbconvert --to slides`` command that writes ``<output_dir>/<name>.slides.html`` for each notebook.

    Notebooks are committed without outputs, so they are executed first (``--execute``).
    """
    notebooks = [str(Path(n)) for n in notebooks]
    if not notebooks:
        raise ValueError("no notebook given")
    command = [
        sys.executable,
        "-m",
        "nbconvert",
        "--to",
        "slides",
        "--execute",
        "--ExecutePreprocessor.timeout=600",
        "--SlidesExporter.reveal_scroll=True",
        "--SlidesExporter.reveal_transition=none",
        "--embed-images",
        f"--output-dir={output_dir}",
    ]
    if not show_code:
        command.append("--no-input")
    return command + notebooks


# ------------------------------------------------------------------------------------------ handouts

# Debian's Chromium (scripts/install_debian_packages.sh), also used by the browser tests
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
# reveal.js's print mode: every slide on its own page, fragments shown at once, a tall slide not split
PRINT_QUERY = "?print-pdf&pdfSeparateFragments=false&pdfMaxPagesPerSlide=1"
STARTUP_TIMEOUT = 180  # s until Voilà answers
LECTURE_TIMEOUT = 900  # s until a lecture has executed and rendered (two busy cores)

# the state of the page: an error output's text, "ready" once Voilà has rendered every cell, else null
READY_OR_ERROR = """() => {
    const error = document.querySelector('[data-mime-type="application/vnd.jupyter.error"]');
    if (error) return 'error: ' + (error.innerText.slice(-2000) || 'error output');
    const cells = document.querySelector('#rendered_cells');
    const shown = cells && getComputedStyle(cells).display !== 'none';
    return shown && document.readyState === 'complete' && document.querySelector('.pdf-page') ? 'ready' : null;
}"""
# a fingerprint of the rendered slides, to wait until widgets stop drawing (same value twice in a row)
RENDERING = """() => [document.querySelectorAll('.reveal *').length,
    [...document.images].filter(image => !image.complete).length].join('/')"""
# shrink any slide taller than its page (a scrolling slide on stage) so that it fits on that page
FIT_SLIDES = """() => {
    for (const page of document.querySelectorAll('.pdf-page')) {
        const slide = page.querySelector('section');
        if (!slide) continue;
        slide.style.height = ''; slide.style.overflowY = 'visible'; slide.style.marginTop = '';
        const needed = slide.offsetTop + slide.scrollHeight;
        if (needed > page.clientHeight) {
            slide.style.top = '0px';
            slide.style.transformOrigin = 'top center';
            slide.style.transform = 'scale(' + (page.clientHeight / slide.scrollHeight) + ')';
        }
    }
    return document.querySelectorAll('.pdf-page').length;
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _served(notebook, *, show_code: bool, log):
    """Voilà serving ``notebook`` on a free localhost port (as ``present`` does); yields its base URL."""
    port = _free_port()
    command = voila_command(notebook, port=port, open_browser=False, show_code=show_code)
    server = subprocess.Popen(command, env=voila_environment(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"Voilà exited with code {server.returncode} while starting {notebook}")
            try:
                with urllib.request.urlopen(url + "/voila/static/voila.js", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Voilà did not answer within {STARTUP_TIMEOUT} s for {notebook}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _print_lecture(browser, url: str, pdf: Path, notebook) -> int:
    """Open the served lecture in print mode, wait until it is executed and drawn, write ``pdf``; return its page count."""
    page = browser.new_page()
    try:
        page.goto(url + "/" + PRINT_QUERY, wait_until="commit", timeout=LECTURE_TIMEOUT * 1000)
        state = page.wait_for_function(READY_OR_ERROR, timeout=LECTURE_TIMEOUT * 1000, polling=500).json_value()
        if state != "ready":
            raise RuntimeError(f"{notebook} failed while executing:\n{state}")
        previous, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:  # widgets render after the page has loaded
            page.wait_for_timeout(1000)
            current = page.evaluate(RENDERING)
            if current == previous and current.endswith("/0"):
                break
            previous = current
        pages = page.evaluate(FIT_SLIDES)
        page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        return pages
    finally:
        page.close()


def handout(notebooks, output_dir="handouts", *, show_code: bool = True, chromium=CHROMIUM) -> list[Path]:
    """Write ``<output_dir>/<name>.pdf`` for each notebook: executed, one slide (or subslide) per page.

    Each lecture is served by Voilà exactly as ``present`` does, opened by headless ``chromium`` in
    reveal.js's print mode (fragments shown, slides taller than a page scaled down to fit) and saved
    with Chromium's PDF printer. Needs Playwright (the Python package only; it drives the given
    Chromium, never downloads a browser). Returns the written paths.
    """
    notebooks = [Path(n) for n in notebooks]
    if not notebooks:
        raise ValueError("no notebook given")
    for notebook in notebooks:
        if notebook.suffix != ".ipynb" or not notebook.is_file():
            raise ValueError(f"expected an existing .ipynb notebook, got {notebook}")
    chromium = Path(chromium)
    if not chromium.is_file():
        raise FileNotFoundError(f"{chromium} not found: run scripts/install_debian_packages.sh (Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise ImportError("handouts need Playwright: pip install playwright (no browser download needed)") from error

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as logs:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            for notebook in notebooks:
                pdf = output_dir / f"{notebook.stem}.pdf"
                log_path = Path(logs) / f"{notebook.stem}.log"
                with log_path.open("w") as log:
                    try:
                        with _served(notebook, show_code=show_code, log=log) as url:
                            pages = _print_lecture(browser, url, pdf, notebook)
                    except RuntimeError as error:
                        raise RuntimeError(f"{error}\n--- Voilà log ---\n{log_path.read_text()[-3000:]}") from None
                print(f"{pdf}: {pages} pages", flush=True)
                written.append(pdf)
        finally:
            browser.close()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.slides", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    present = commands.add_parser("present", help="serve one notebook as live slides (Voilà, reveal.js)")
    present.add_argument("notebook")
    present.add_argument("--port", type=int, default=None, help="port (default: Voilà's 8866)")
    present.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    present.add_argument("--hide-code", action="store_true", help="show only markdown, figures and widgets")
    present.add_argument("--theme", default="light", choices=["light", "dark"])
    export = commands.add_parser("export", help="write static HTML slides (nbconvert --to slides)")
    export.add_argument("notebooks", nargs="+")
    export.add_argument("--output-dir", default="slides")
    export.add_argument("--hide-code", action="store_true")
    printed = commands.add_parser("handout", help="write PDF handouts, one slide per page (Voilà, Chromium)")
    printed.add_argument("notebooks", nargs="+")
    printed.add_argument("--output-dir", default="handouts")
    printed.add_argument("--hide-code", action="store_true")
    args = parser.parse_args(argv)

    if args.command == "handout":
        handout(args.notebooks, args.output_dir, show_code=not args.hide_code)
        return 0
    if args.command == "present":
        command = voila_command(
            args.notebook,
            port=args.port,
            open_browser=not args.no_browser,
            show_code=not args.hide_code,
            theme=args.theme,
        )
    else:
        command = export_command(args.notebooks, args.output_dir, show_code=not args.hide_code)
    try:
        return subprocess.call(command, env=voila_environment() if args.command == "present" else None)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
