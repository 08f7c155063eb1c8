"""Mouse and page helpers shared by the browser tests (imported by test modules; holds no tests)."""

import math


def dismiss_dialogs(page) -> None:
    """Accept any modal JupyterLab dialog (kernel selection, build notice) that the settings did not prevent."""
    for button in page.locator(".jp-Dialog .jp-mod-accept").all():
        if button.is_visible():
            button.click()


def draw(page, points) -> None:
    """Press the mouse at the first point, move through the others, release: one stroke."""
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=2)
    page.mouse.up()


def stroke_one(box):
    """A slightly slanted vertical stroke, top to bottom, with a small hook at the top: a hand-drawn "1"."""
    x = box["x"] + box["width"] * 0.52
    return [
        (x - 0.08 * box["width"] * (1 - t / 10) ** 4, box["y"] + box["height"] * (0.15 + 0.07 * t)) for t in range(11)
    ]


def stroke_zero(box):
    """A closed upright ellipse: a hand-drawn "0"."""
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    rx, ry = box["width"] * 0.22, box["height"] * 0.32
    return [(cx + rx * math.sin(2 * math.pi * k / 36), cy - ry * math.cos(2 * math.pi * k / 36)) for k in range(38)]


def classify(page, demo) -> str:
    """Click Classify in the draw-a-digit ``demo`` locator; wait for a new heatmap image; return the predicted digit."""
    heatmap = demo.locator("img.course-draw-heatmap")
    before = heatmap.get_attribute("src")
    demo.locator(".course-draw-classify").click()
    page.wait_for_selector(".course-draw-predicted", timeout=60_000)
    page.wait_for_function(
        "([el, old]) => el.offsetWidth > 100 && el.naturalWidth > 100 && el.src && el.src !== old",
        arg=[heatmap.element_handle(), before],
        timeout=60_000,
    )
    return demo.locator(".course-draw-predicted b").inner_text().strip()
