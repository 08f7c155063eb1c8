"""The draw-a-digit demo in a real JupyterLab: draw with the mouse, classify, see the prediction and heatmap."""

import time

import nbformat
import pytest
from browser_helpers import classify, dismiss_dialogs, draw, stroke_one, stroke_zero

pytestmark = pytest.mark.browser

NOTEBOOK = "draw_digit.ipynb"
CELLS = [
    "from course_lib.widgets.draw import draw_digit_demo\n\ndemo = draw_digit_demo()\ndemo",
]
KERNEL_TIMEOUT = 180_000  # ms: kernel start + TensorFlow import + model load on two busy cores


@pytest.fixture(scope="module")
def notebook(lab_root):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, lab_root / NOTEBOOK)
    return NOTEBOOK


def open_and_run(page, server, notebook) -> None:
    page.goto(f"{server.url}/lab/tree/{notebook}", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=120_000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
    dismiss_dialogs(page)
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget;"
        " return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel"
        " && w.sessionContext.session.kernel.status === 'idle'; }",
        timeout=KERNEL_TIMEOUT,
    )
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector("canvas.course-draw-canvas", state="visible", timeout=KERNEL_TIMEOUT)


def test_draw_classify_and_explain_in_jupyterlab(page, lab_server, notebook, snapshot):
    started = time.monotonic()
    open_and_run(page, lab_server, notebook)
    demo = page.locator(".course-draw-digit")
    canvas = page.locator("canvas.course-draw-canvas")
    canvas.scroll_into_view_if_needed()
    assert page.locator(".jp-Dialog").count() == 0, "a dialog is still open"
    box = canvas.bounding_box()
    assert box["width"] > 200 and box["height"] > 200, f"canvas not rendered at full size: {box}"

    # an empty canvas: a message, no prediction
    demo.locator(".course-draw-classify").click()
    page.wait_for_selector(".course-draw-message b", timeout=60_000)
    assert "empty" in demo.locator(".course-draw-message").inner_text()

    draw(page, stroke_one(box))
    assert classify(page, demo) == "1"
    snapshot(page, "draw_digit_lab_one")

    # the heatmap follows the class picker: explain class 7 instead of the prediction
    src = demo.locator("img.course-draw-heatmap").get_attribute("src")
    demo.locator(".course-draw-target select").select_option(label="7")
    page.wait_for_function(
        "([el, old]) => el.src !== old", arg=[demo.locator("img.course-draw-heatmap").element_handle(), src]
    )

    demo.locator(".course-draw-clear").click()
    page.wait_for_function("() => !document.querySelector('.course-draw-predicted')", timeout=30_000)
    draw(page, stroke_zero(box))
    assert classify(page, demo) == "0"
    table = demo.locator(".course-scores tr").all_inner_texts()
    assert table[1].split()[0] == "0", f"scores not sorted with the prediction first: {table}"
    snapshot(page, "draw_digit_lab_zero")
    print(f"draw-a-digit in JupyterLab: {time.monotonic() - started:.0f} s")
