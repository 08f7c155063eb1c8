"""A lecture presented as live slides (``python -m course_lib.slides present``): the slides render and a
widget's slider recomputes its output through the kernel."""

import json
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
from browser_helpers import classify, draw, stroke_one

from course_lib.slides import export_command, main, voila_command, voila_environment

REPO = Path(__file__).resolve().parents[2]
# lectures whose live widget has a slider, in order of preference (the first one present is used)
PREFERRED = ["06_layerwise_relevance_propagation", "01_filters_and_activations", "05_saliency_maps"]
LOAD_TIMEOUT = 360_000  # ms: Voilà executes the whole lecture before the widgets render (busy CI cores)

# what a widget's outputs show, excluding the slider itself: its figures (img src) if it has any,
# else its text — a widget that draws must redraw, not only update a label
OUTPUT_SIGNATURE = """(slider) => {
    const area = slider.closest('.jp-OutputArea') || slider.closest('.jp-Cell') || document.body;
    const images = [], texts = [];
    for (const el of area.querySelectorAll('img, .jp-RenderedText, .widget-html-content, .jp-RenderedHTMLCommon')) {
        if (el.closest('.widget-slider')) continue;
        if (el.tagName === 'IMG') images.push(el.src); else texts.push(el.innerText);
    }
    return images.length ? images.join('|') : texts.join('|');
}"""
READY_OR_ERROR = """() => {
    const error = document.querySelector('[data-mime-type="application/vnd.jupyter.error"]');
    if (error) return error.innerText.slice(-2000) || 'error output';
    const slider = document.querySelector('.widget-slider');
    return slider && document.readyState === 'complete' ? 'ready' : null;
}"""


def _uses_course_widget(path: Path) -> bool:
    cells = json.loads(path.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return "widgets." in source


def lecture_with_widget() -> Path | None:
    lectures = sorted((REPO / "lectures").glob("*.ipynb"))
    by_stem = {p.stem: p for p in lectures}
    candidates = [by_stem[s] for s in PREFERRED if s in by_stem] + lectures
    return next((p for p in candidates if _uses_course_widget(p)), None)


def goto_slide_with(page, selector: str, max_steps: int = 120):
    """Advance the slideshow (space = next slide, vertical ones included) until an element matching
    ``selector`` sits on the current slide (the innermost ``section.present``); return its locator."""
    on_current = """(selector) => {
        const all = [...document.querySelectorAll(selector)];
        return all.findIndex(el => { const s = el.closest('section'); return s && s.classList.contains('present'); });
    }"""
    for _ in range(max_steps):
        index = page.evaluate(on_current, selector)
        if index >= 0:
            page.wait_for_timeout(500)  # let the slide settle before the mouse is used
            return page.locator(selector).nth(index)
        page.keyboard.press("Space")
        page.wait_for_timeout(100)
    raise AssertionError(f"no slide shows {selector!r} after {max_steps} steps")


@pytest.mark.browser
def test_lecture_slides_with_a_live_slider(page, voila_slides, snapshot):
    lecture = lecture_with_widget()
    if lecture is None:
        pytest.skip("no lecture with a course_lib widget in lectures/ yet")
    started = time.monotonic()
    server = voila_slides(lecture)
    # Voilà streams the page while it executes the lecture: wait for a slider, or fail on an error output
    page.goto(server.url + "/", wait_until="commit", timeout=LOAD_TIMEOUT)
    state = page.wait_for_function(READY_OR_ERROR, timeout=LOAD_TIMEOUT, polling=500).json_value()
    if state != "ready":
        snapshot(page, f"slides_{lecture.stem}_error")
        pytest.fail(f"{lecture.name} failed while executing in Voilà:\n{state}")
    page.wait_for_selector(".reveal .slides section", state="attached", timeout=60_000)
    page.keyboard.press("Home")
    title = page.locator(".reveal .slides section.present").first
    assert title.is_visible() and title.inner_text().strip(), "the first slide is empty"
    heading = page.locator(".reveal .slides section h1, .reveal .slides section h2").first
    assert heading.evaluate("h => getComputedStyle(h).textTransform") == "none", "headings are upper-cased (ε → E)"
    snapshot(page, f"slides_{lecture.stem}_title")

    slider = goto_slide_with(page, ".widget-slider .noUi-handle")
    widget_slider = slider.locator("xpath=ancestor::div[contains(@class,'widget-slider')][1]")
    readout = widget_slider.locator(".widget-readout")
    before_value = readout.inner_text() if readout.count() else None
    before = widget_slider.evaluate(OUTPUT_SIGNATURE)
    assert before, "the widget shows no output next to its slider"
    snapshot(page, f"slides_{lecture.stem}_widget_before")

    # drag the handle a third of the track (to the right, or to the left when it sits near the end)
    handle, track = slider.bounding_box(), widget_slider.locator(".noUi-target").first.bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    shift = track["width"] / 3 if x < track["x"] + track["width"] / 2 else -track["width"] / 3
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + shift, y, steps=8)
    page.mouse.up()
    if readout.count():
        assert readout.inner_text() != before_value, "the slider did not move"
    page.wait_for_function(
        f"([el, old]) => ({OUTPUT_SIGNATURE})(el) !== old",
        arg=[widget_slider.element_handle(), before],
        timeout=120_000,
    )
    page.wait_for_timeout(500)
    snapshot(page, f"slides_{lecture.stem}_widget_after")

    # the lecture with the draw-a-digit demo: draw a "1" on its slide and classify it
    if page.locator("canvas.course-draw-canvas").count():
        canvas = goto_slide_with(page, "canvas.course-draw-canvas")
        demo = page.locator(".course-draw-digit").first
        draw(page, stroke_one(canvas.bounding_box()))
        assert classify(page, demo) == "1"
        snapshot(page, f"slides_{lecture.stem}_draw_digit")
    print(f"slides of {lecture.name}: {time.monotonic() - started:.0f} s")


# ----------------------------------------------------------------- the commands themselves (no browser)


def test_present_command_uses_voila_reveal_with_the_shipped_styles(tmp_path):
    command = voila_command("lectures/06_x.ipynb", port=9999, open_browser=False, show_code=False, theme="dark")
    assert command[1:4] == ["-m", "voila", "lectures/06_x.ipynb"]
    assert "--template=course-reveal" in command and "--port=9999" in command and "--no-browser" in command
    assert "--preheat_kernel=True" in command
    assert "--VoilaConfiguration.strip_sources=True" in command
    resources = next(a for a in command if a.startswith("--VoilaConfiguration.resources="))
    assert "'theme': 'course-black'" in resources and "/voila/static/revealjs-" in resources
    environment = voila_environment({})
    assert environment["PYTHONPATH"] == environment["JUPYTER_PATH"]  # the kernel manager module sits there
    assert (Path(environment["PYTHONPATH"]) / "lecture_kernels.py").is_file()
    template = Path(environment["JUPYTER_PATH"]) / "voila/templates/course-reveal"
    assert (template / "index.html.j2").is_file() and (template / "static/speaker-preview.html").is_file()
    static = Path(environment["JUPYTER_PATH"]) / "voila/templates/reveal/static"
    prefix = resources.split("'url_prefix': '/voila/static/")[1].split("'")[0]
    for sheet in ("reveal.css", "theme/course-white.css", "theme/course-black.css", "theme/course-headings.css"):
        assert (static / prefix / "dist" / sheet).is_file(), sheet
    with pytest.raises(ValueError, match="ipynb"):
        voila_command("lecture.py")
    with pytest.raises(ValueError, match="theme"):
        voila_command("x.ipynb", theme="blue")


def test_export_command_and_cli_errors():
    command = export_command(["a.ipynb", "b.ipynb"], "out", show_code=False)
    assert command[1:5] == ["-m", "nbconvert", "--to", "slides"]
    assert "--execute" in command and "--output-dir=out" in command and "--no-input" in command
    assert command[-2:] == ["a.ipynb", "b.ipynb"]
    with pytest.raises(ValueError, match="no notebook"):
        export_command([])
    with pytest.raises(SystemExit):
        main(["present"])  # a notebook is required


@pytest.mark.slow
def test_export_writes_static_slides(tmp_path):
    nb = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell("print(6 * 7)"),
        nbformat.v4.new_markdown_cell("## Next"),
        nbformat.v4.new_markdown_cell("SKIPPED-CELL-TEXT"),
    ]
    for cell, kind in zip(cells, ["slide", "-", "slide", "skip"], strict=True):
        cell.metadata["slideshow"] = {"slide_type": kind}
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    subprocess.run(export_command([tmp_path / "tiny.ipynb"], tmp_path / "out"), check=True, capture_output=True)
    html = (tmp_path / "out" / "tiny.slides.html").read_text()
    assert html.count("<section") >= 2 and "42" in html and "SKIPPED-CELL-TEXT" not in html


def test_lecture_kernel_pool_is_refilled_only_while_no_kernel_runs(monkeypatch):
    """Voilà reads the pool size each time it refills: one pre-executed kernel while none runs, none in reserve."""
    from course_lib.slides import STATIC

    monkeypatch.syspath_prepend(str(STATIC))
    import lecture_kernels

    class Manager:
        running: list[str] = []

        def list_kernel_ids(self):
            return self.running

    manager = Manager()
    sizes = lecture_kernels._PoolSizeWhenIdle(manager)
    assert sizes.get("default", {})["pool_size"] == 1
    manager.running = ["presenting"]
    assert sizes.get("lectures/00_introduction.ipynb", {})["pool_size"] == 0
