"""Present a lecture as live reveal.js slides, or export it as a static slideshow.

    python -m course_lib.slides present lectures/06_layerwise_relevance_propagation.ipynb
    python -m course_lib.slides export lectures/*.ipynb            # → slides/<name>.slides.html

``present`` runs Voilà with its reveal.js template: the notebook is executed in a live kernel, then
shown as slides in the browser, and every ipywidget (sliders, dropdowns, the draw-a-digit canvas)
keeps talking to that kernel, so moving a slider recomputes on stage. ``export`` runs
``jupyter nbconvert --to slides`` and writes a self-contained HTML file to share after class (the
figures are embedded; widgets there are frozen, since no kernel is running).

Slide boundaries come from each cell's ``metadata.slideshow.slide_type`` (slide, subslide,
fragment, skip, notes, -), which every lecture sets.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["export_command", "voila_command", "voila_environment"]

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
    args = parser.parse_args(argv)

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
