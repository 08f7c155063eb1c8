"""The draw-a-digit demo without a browser: MNIST-style preprocessing and the widget's callbacks."""

import re

import numpy as np
import pytest

import course_lib as cl
from course_lib.drawings import (
    BOX,
    FIELD,
    bounding_box,
    center_of_mass,
    fit_to_box,
    mnist_preprocess,
    place_by_center_of_mass,
    resize_area,
)
from course_lib.widgets import draw
from course_lib.widgets.draw import CANVAS_RESOLUTION, draw_digit_demo, pixels_to_image

SIDE = CANVAS_RESOLUTION


def blob(center, radius, side=SIDE):
    rows, cols = np.indices((side, side))
    return ((rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2).astype(np.float32)


def stroke_one(side=SIDE):
    image = np.zeros((side, side), np.float32)
    image[15:95, 52:60] = 1.0
    return image


def stroke_zero(side=SIDE):
    rows, cols = np.indices((side, side))
    r = np.hypot((rows - 56) / 1.35, cols - 56)
    return ((r > 21) & (r < 30)).astype(np.float32)


# ----------------------------------------------------------------- preprocessing (pure functions)


def test_bounding_box_is_half_open_and_none_when_empty():
    image = np.zeros((10, 12))
    image[2:5, 3:9] = 1
    assert bounding_box(image) == (2, 5, 3, 9)
    assert bounding_box(np.zeros((10, 12))) is None


def test_resize_area_preserves_mean_and_averages_blocks():
    rng = np.random.default_rng(0)
    image = rng.random((84, 56)).astype(np.float32)
    small = resize_area(image, (28, 28))
    assert small.shape == (28, 28)
    np.testing.assert_allclose(small.mean(), image.mean(), rtol=1e-5)
    # integer factor 3 × 2: each output pixel is the mean of its block (independent re-derivation)
    blocks = image.reshape(28, 3, 28, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(small, blocks, rtol=1e-5, atol=1e-6)


def test_resize_area_non_integer_factor_keeps_total_ink():
    image = np.zeros((50, 50), np.float32)
    image[10:40, 20:30] = 1.0
    out = resize_area(image, (20, 20))
    # the sum scales with the area ratio (20/50)^2 when every pixel is an area mean
    np.testing.assert_allclose(out.sum(), image.sum() * (20 / 50) ** 2, rtol=1e-5)
    assert 0 < out.min() + 1e-9 and out.max() <= 1.0 + 1e-6  # grey edges, no overshoot


def test_big_stroke_is_scaled_to_fit_20_by_20_keeping_aspect():
    image = np.zeros((SIDE, SIDE), np.float32)
    image[4:104, 30:80] = 1.0  # 100 tall, 50 wide
    fitted = fit_to_box(image)
    assert fitted.shape == (BOX, BOX // 2)
    digit = mnist_preprocess(image)[..., 0]
    r0, r1, c0, c1 = bounding_box(digit)
    assert r1 - r0 == BOX and c1 - c0 == BOX // 2


def test_small_drawing_is_enlarged_to_fit_the_box():
    image = np.zeros((SIDE, SIDE), np.float32)
    image[5:15, 90:95] = 1.0  # a tiny stroke in a corner
    r0, r1, c0, c1 = bounding_box(mnist_preprocess(image)[..., 0])
    assert max(r1 - r0, c1 - c0) == BOX


@pytest.mark.parametrize("center", [(20, 25), (90, 15), (56, 100), (30, 80)])
def test_off_centre_blob_ends_with_its_centre_of_mass_at_the_centre(center):
    digit = mnist_preprocess(blob(center, radius=9))
    assert digit.shape == (FIELD, FIELD, 1) and digit.dtype == np.float32
    row, col = center_of_mass(digit)
    assert abs(row - FIELD / 2) <= 0.5 + 1e-5 and abs(col - FIELD / 2) <= 0.5 + 1e-5


def test_asymmetric_shape_is_placed_by_centre_of_mass_not_by_box():
    # an "L": its centre of mass is off the centre of its bounding box
    image = np.zeros((SIDE, SIDE), np.float32)
    image[10:100, 10:25] = 1.0
    image[85:100, 10:70] = 1.0
    digit = mnist_preprocess(image)[..., 0]
    row, col = center_of_mass(digit)
    assert abs(row - 14) <= 0.5 + 1e-5 and abs(col - 14) <= 0.5 + 1e-5
    r0, r1, c0, c1 = bounding_box(digit)
    assert (c0 + c1) / 2 > 14.5  # the box centre is not where the mass is


def test_place_by_center_of_mass_against_a_hand_computed_case():
    digit = np.zeros((4, 4), np.float32)
    digit[0, 0] = 1.0  # centre of mass (0, 0) → lands at (14, 14)
    out = place_by_center_of_mass(digit)
    assert out[14, 14] == 1.0 and out.sum() == 1.0


def test_output_range_and_empty_canvas():
    assert mnist_preprocess(np.zeros((SIDE, SIDE))) is None
    assert mnist_preprocess(np.full((SIDE, SIDE), 0.01)) is None  # faint noise is not a digit
    digit = mnist_preprocess(0.5 * stroke_zero())
    assert digit.min() >= 0 and digit.max() == pytest.approx(1.0)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="2-D"):
        mnist_preprocess(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="NaN"):
        mnist_preprocess(np.full((28, 28), np.nan))
    with pytest.raises(ValueError, match="canvas bytes"):
        pixels_to_image(b"\x00" * 10)
    with pytest.raises(ValueError, match="empty"):
        center_of_mass(np.zeros((5, 5)))


def test_pixels_round_trip():
    assert pixels_to_image(b"").shape == (SIDE, SIDE)
    image = np.arange(SIDE * SIDE, dtype=np.uint8).reshape(SIDE, SIDE)
    np.testing.assert_allclose(pixels_to_image(image.tobytes()), image / 255.0)


def test_preprocessing_restores_accuracy_on_small_off_centre_digits(mnist, mnist_model):
    """MNIST test digits drawn small in a corner of the canvas: classified as well as the originals."""
    (_, _), (x_test, y_test) = mnist
    x, y = x_test[:64, ..., 0], y_test[:64]
    canvas = np.zeros((len(x), SIDE, SIDE), np.float32)
    canvas[:, 4:60, 50:106] = np.kron(x, np.ones((1, 2, 2), np.float32))
    prepared = np.stack([mnist_preprocess(c) for c in canvas])
    naive = np.stack([resize_area(c, (FIELD, FIELD)) for c in canvas])[..., None]
    accuracy = (mnist_model.predict(prepared, verbose=0).argmax(1) == y).mean()
    naive_accuracy = (mnist_model.predict(naive, verbose=0).argmax(1) == y).mean()
    original = (mnist_model.predict(x_test[:64], verbose=0).argmax(1) == y).mean()
    assert accuracy >= original - 0.05
    assert accuracy > naive_accuracy + 0.2


# ----------------------------------------------------------------- the widget's callbacks


class RecordingExplainer:
    """Test double for ``cl.lrp``: records its calls and returns gradient-free, call-dependent maps."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, x, target, *, rule, epsilon=None):
        self.calls.append({"target": target, "rule": rule, "epsilon": epsilon, "shape": x.shape})
        return (x * (1 + target) * (2.0 if rule == "zplus" else 1.0)).astype(np.float32)


@pytest.fixture()
def demo(mnist_model):
    explainer = RecordingExplainer()
    widget = draw_digit_demo(mnist_model, explain=explainer)
    widget.explainer = explainer
    return widget


def test_demo_exposes_its_controls(demo):
    assert set(demo.controls) == {"classify", "clear", "target", "rule", "epsilon", "cmap"}
    assert demo.controls["rule"].value == "epsilon"
    assert isinstance(demo.canvas, draw.DigitCanvas)


def test_empty_canvas_gives_a_message_not_a_prediction(demo):
    assert demo.classify() is None
    assert "empty" in demo.message.value and demo.prediction.value == ""
    assert demo.heatmap.layout.display == "none" and demo.explainer.calls == []


@pytest.mark.parametrize(("stroke", "label"), [(stroke_one, 1), (stroke_zero, 0)])
def test_classify_shows_prediction_sorted_scores_and_heatmap(demo, stroke, label):
    demo.canvas.image = stroke()
    assert demo.classify() == label
    assert f"<b style='font-size:2em'>{label}</b>" in demo.prediction.value
    shown = [int(c) for c in re.findall(r"<td style='padding:0 1em'>(\d)</td>", demo.scores.value)]
    assert shown == list(np.argsort(-demo.logits)) and shown[0] == label
    # pre-softmax scores: softmax of the shown scores is the model's output
    probabilities = demo.model.predict(demo.digit[None], verbose=0)[0]
    softmax = np.exp(demo.logits - demo.logits.max())
    np.testing.assert_allclose(softmax / softmax.sum(), probabilities, atol=1e-5)
    assert not np.isclose(demo.logits.sum(), 1.0)
    assert demo.heatmap.value[:8] == b"\x89PNG\r\n\x1a\n" and demo.heatmap.layout.display is None
    assert demo.explainer.calls[-1] == {"target": label, "rule": "epsilon", "epsilon": 0.1, "shape": (1, 28, 28, 1)}


def test_knobs_recompute_the_heatmap(demo):
    demo.canvas.image = stroke_one()
    demo.classify()
    before = demo.heatmap.value
    demo.controls["target"].value = 7
    assert demo.explainer.calls[-1]["target"] == 7 and demo.heatmap.value != before
    demo.controls["rule"].value = "zplus"
    assert demo.explainer.calls[-1]["rule"] == "zplus" and demo.explainer.calls[-1]["epsilon"] is None
    assert demo.controls["epsilon"].disabled
    demo.controls["rule"].value = "epsilon_plus"
    demo.controls["epsilon"].value = 1.0
    assert demo.explainer.calls[-1] == {"target": 7, "rule": "epsilon_plus", "epsilon": 1.0, "shape": (1, 28, 28, 1)}
    before = demo.heatmap.value
    demo.controls["cmap"].value = "PiYG"
    assert demo.heatmap.value != before
    np.testing.assert_allclose(demo.relevance, demo.digit[..., 0] * 8)


def test_clear_resets_canvas_and_outputs(demo):
    demo.canvas.image = stroke_zero()
    demo.classify()
    demo.clear()
    assert demo.canvas.pixels == b"" and demo.predicted is None
    assert demo.prediction.value == "" and demo.heatmap.layout.display == "none"
    calls = len(demo.explainer.calls)
    demo.controls["target"].value = 3  # nothing to explain: no call
    assert len(demo.explainer.calls) == calls


@pytest.mark.skipif(not hasattr(cl, "lrp"), reason="course_lib.lrp has not landed yet")
def test_default_explainer_is_lrp_and_conserves_roughly(mnist_model):
    widget = draw_digit_demo(mnist_model)
    widget.canvas.image = stroke_one()
    assert widget.classify() == 1
    assert widget.relevance.shape == (FIELD, FIELD)
    np.testing.assert_allclose(
        widget.relevance, cl.lrp(mnist_model, widget.digit[None], 1, rule="epsilon", epsilon=0.1)[0, ..., 0], rtol=1e-4
    )


def test_canvas_accepts_the_binary_buffer_the_browser_sends():
    canvas = draw.DigitCanvas()
    image = np.zeros((SIDE, SIDE), np.uint8)
    image[10:20, 30:40] = 255
    # what ipywidgets hands over for a DataView coming from the browser: a memoryview
    canvas.set_state({"pixels": memoryview(image.tobytes()), "strokes": 1})
    assert bounding_box(canvas.image) == (10, 20, 30, 40)
