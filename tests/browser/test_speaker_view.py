"""The speaker view of a lecture presented live (``python -m course_lib.slides present``): pressing S shows
the current and the next slide, the speaker notes and the timer, while exactly one kernel runs the lecture.

reveal.js's notes plugin would load the presentation's URL into both preview frames, and Voilà executes
the notebook in a new kernel for every page load; the course's template gives the frames a static copy
instead. Kernels are counted as the Voilà server's child processes running ``ipykernel``.
"""

import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
LECTURE = REPO / "lectures" / "00_introduction.ipynb"
LOAD_TIMEOUT = 360_000  # ms: the pre-heated kernel executes the whole lecture (busy CI cores)

READY_OR_ERROR = """() => {
    const error = document.querySelector('[data-mime-type="application/vnd.jupyter.error"]');
    if (error) return error.innerText.slice(-2000) || 'error output';
    const shown = document.querySelector('#rendered_cells');
    const ready = shown && getComputedStyle(shown).display !== 'none' && document.readyState === 'complete'
        && document.querySelector('.reveal .slides section.present');
    return ready ? 'ready' : null;
}"""
# the heading of the innermost current slide, and that slide's speaker notes
CURRENT = """() => {
    const all = [...document.querySelectorAll('.reveal .slides section.present')];
    const slide = all.find(s => !s.querySelector('section.present'));
    if (!slide) return null;
    const heading = slide.querySelector('h1, h2, h3');
    const notes = [...slide.querySelectorAll('aside.notes')].filter(n => !n.closest('.fragment'));
    return {heading: heading ? heading.innerText.trim() : '', notes: notes.map(n => n.innerText.trim()).join('\\n')};
}"""


def kernels(server) -> list[psutil.Process]:
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [child for child in children if "ipykernel" in " ".join(child.cmdline())]


def wait_for_kernels(server, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while len(kernels(server)) != count and time.monotonic() < deadline:
        time.sleep(0.5)


def preview_frames(speaker):
    frames = {}
    for frame in speaker.frames:
        if "receiver" in frame.url:
            frames["upcoming" if "controls=false" in frame.url else "current"] = frame
    return frames


def test_speaker_view_shows_slides_notes_and_timer_with_one_kernel(page, browser, voila_slides, snapshot):
    server = voila_slides(LECTURE)
    wait_for_kernels(server, 1)
    assert len(kernels(server)) == 1, "the lecture's kernel is not started before the slides are opened"

    page.goto(server.url + "/", wait_until="commit", timeout=LOAD_TIMEOUT)
    state = page.wait_for_function(READY_OR_ERROR, timeout=LOAD_TIMEOUT, polling=500).json_value()
    assert state == "ready", f"{LECTURE.name} failed in Voilà:\n{state}"
    page.keyboard.press("Home")
    page.keyboard.press("Space")  # a content slide: "Why look inside?" (Space: next slide, vertical ones included)
    page.wait_for_timeout(500)
    current = page.evaluate(CURRENT)
    assert current["heading"] and current["notes"], f"no heading or speaker notes on the current slide: {current}"

    with page.expect_popup(timeout=30_000) as popup:
        page.keyboard.press("s")
    speaker = popup.value
    speaker.wait_for_selector("#current-slide iframe", state="attached", timeout=30_000)
    speaker.wait_for_selector("#upcoming-slide iframe", state="attached", timeout=30_000)
    speaker.wait_for_function(
        "() => document.querySelector('.speaker-controls-notes .value').innerText.trim().length > 0", timeout=30_000
    )
    frames = preview_frames(speaker)
    assert set(frames) == {"current", "upcoming"}, [frame.url for frame in speaker.frames]
    for frame in frames.values():
        frame.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
    speaker.wait_for_timeout(1500)  # let the previews apply the presentation's state

    # notes of the current slide, the current slide and the next one in the previews, a running timer
    notes = speaker.locator(".speaker-controls-notes .value").inner_text().strip()
    assert notes == current["notes"], f"speaker notes differ from the slide's notes:\n{notes}\n---\n{current['notes']}"
    assert frames["current"].evaluate(CURRENT)["heading"] == current["heading"]
    page.keyboard.press("Space")
    page.wait_for_timeout(500)
    following = page.evaluate(CURRENT)
    page.keyboard.press("Shift+Space")
    assert following["heading"] != current["heading"]
    speaker.wait_for_timeout(1500)
    assert frames["upcoming"].evaluate(CURRENT)["heading"] == following["heading"], "upcoming preview is wrong"
    timer = speaker.locator(".speaker-controls-time .timer").first
    first = timer.inner_text()
    speaker.wait_for_timeout(1500)
    assert timer.inner_text() != first, f"the timer does not run: {first}"
    snapshot(speaker, "speaker_view_00_introduction")

    # moving on in the presentation moves the speaker view: new notes, same single kernel
    page.keyboard.press("Space")
    speaker.wait_for_function(
        "(old) => document.querySelector('.speaker-controls-notes .value').innerText.trim() !== old",
        arg=notes,
        timeout=30_000,
    )
    assert speaker.locator(".speaker-controls-notes .value").inner_text().strip() == following["notes"]
    assert all(preview.url.startswith(server.url + "/voila/static/") for preview in frames.values())
    assert len(kernels(server)) == 1, "the speaker view started kernels"
    speaker.close()

    # the lecturer closes the slides (as after a check before class): the server replaces the used
    # kernel by a freshly executed one, and opening the slides again gets that one, not a new kernel
    used = kernels(server)[0].pid
    page.close()
    deadline = time.monotonic() + 180
    while [k.pid for k in kernels(server)] in ([used], []) and time.monotonic() < deadline:
        time.sleep(1)
    fresh = [k.pid for k in kernels(server)]
    assert len(fresh) == 1 and fresh != [used], f"after closing the slides: kernels {fresh}, used {used}"
    again = browser.new_page()
    try:
        again.goto(server.url + "/", wait_until="commit", timeout=LOAD_TIMEOUT)
        assert again.wait_for_function(READY_OR_ERROR, timeout=LOAD_TIMEOUT, polling=500).json_value() == "ready"
        assert [k.pid for k in kernels(server)] == fresh, "reopening the slides started another kernel"
        assert server.log.read_text().count("Using pre-heated kernel") == 2
    finally:
        again.close()
