"""The explorers of lectures 00–04, driven without a browser: set a control, check the figure follows."""

from __future__ import annotations

import base64

import numpy as np
import pytest

import course_lib as cl
from course_lib import widgets
from course_lib.widgets import features, localization


@pytest.fixture(scope="module")
def test_digits(mnist):
    (_, _), (x_test, y_test) = mnist
    return x_test[:6], y_test[:6]


def _png(explorer) -> bytes:
    (output,) = explorer.output.outputs
    data = base64.b64decode(output["data"]["image/png"])
    assert data.startswith(b"\x89PNG"), "the output holds a PNG image"
    return data


def _titles(explorer) -> list[str]:
    return [ax.get_title() for ax in explorer.figure.axes]


def _caption(explorer) -> str:
    return explorer.caption.value


def _assert_redrawn(explorer, before_png: bytes, before_renders: int, *expected_text):
    assert explorer.renders == before_renders + 1, "one change, one redraw"
    assert _png(explorer) != before_png, "the figure did not change"
    for text in expected_text:
        assert text in _caption(explorer), f"caption {_caption(explorer)!r} does not mention {text!r}"


def test_explorer_shows_errors_in_the_caption_instead_of_raising():
    import ipywidgets as w

    def draw(fig, *, value):
        if value > 1:
            raise ValueError("too large")
        fig.add_subplot().plot([0, value])
        return f"value {value}"

    explorer = widgets.Explorer({"value": w.IntSlider(value=0, max=3)}, draw)
    assert "value 0" in _caption(explorer) and explorer.renders == 1
    explorer.controls["value"].value = 2
    assert "too large" in _caption(explorer) and explorer.renders == 2
    assert isinstance(explorer, w.VBox) and explorer.output in explorer.children


def test_prediction_explorer_follows_digit_and_noise(mnist_model, test_digits):
    x, y = test_digits
    explorer = features.prediction_explorer(mnist_model, x, y)
    expected = int(np.argmax(mnist_model.predict(x[:1], verbose=0)))
    assert f"predicted {expected}" in _caption(explorer)
    png, renders = _png(explorer), explorer.renders
    explorer.controls["digit"].value = 3
    _assert_redrawn(explorer, png, renders, f"label {y[3]}")
    png, renders = _png(explorer), explorer.renders
    explorer.controls["noise"].value = 0.5
    _assert_redrawn(explorer, png, renders, "noise σ = 0.50")
    bars = [patch.get_height() for patch in explorer.figure.axes[1].patches]
    assert len(bars) == 10 and np.isclose(sum(bars), 1.0, atol=1e-4), "the bars are the ten class probabilities"


def test_activation_explorer_shows_the_chosen_layer_and_map(mnist_model, test_digits):
    x, y = test_digits
    explorer = features.activation_explorer(mnist_model, x, y)
    assert explorer.controls["layer"].options == ("conv2d_1", "conv2d_2", "conv2d_3", "conv2d_4")
    assert explorer.controls["feature map"].max == 15
    png, renders = _png(explorer), explorer.renders
    explorer.controls["layer"].value = "conv2d_3"
    assert explorer.controls["feature map"].max == 31, "the map slider follows the layer's channel count"
    assert "conv2d_3" in _caption(explorer) and "14×14" in _caption(explorer)
    assert _png(explorer) != png and explorer.renders > renders
    png, renders = _png(explorer), explorer.renders
    explorer.controls["feature map"].value = 7
    _assert_redrawn(explorer, png, renders, "map 7")
    assert "conv2d_3[7]" in " ".join(_titles(explorer))
    # the large panel shows exactly the activation course_lib computes
    expected = cl.activations(mnist_model, x[:1], ["conv2d_3"])["conv2d_3"][0, ..., 7]
    shown = explorer.figure.axes[1].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown), expected, rtol=1e-5, atol=1e-6)


def test_deconvnet_explorer_follows_most_active_map_and_keep(mnist_model, test_digits):
    x, y = test_digits
    explorer = features.deconvnet_explorer(mnist_model, x, y, layer="conv2d_2")
    maps = cl.activations(mnist_model, x[:1], ["conv2d_2"])["conv2d_2"][0]
    strongest = int(np.argmax(maps.max(axis=(0, 1))))
    assert explorer.controls["feature map"].value == strongest, "'most active' selects the strongest map"
    assert explorer.controls["feature map"].disabled
    expected = cl.deconvnet(mnist_model, x[:1], "conv2d_2", filter_index=strongest, keep="max")[0, ..., 0]
    shown = np.asarray(explorer.figure.axes[2].images[0].get_array())
    np.testing.assert_allclose(shown, expected, rtol=1e-4, atol=1e-6)
    png, renders = _png(explorer), explorer.renders
    explorer.controls["keep"].value = "map"
    _assert_redrawn(explorer, png, renders, "the whole map")
    explorer.controls["most active"].value = False
    assert not explorer.controls["feature map"].disabled
    other = (strongest + 1) % 16
    png, renders = _png(explorer), explorer.renders
    explorer.controls["feature map"].value = other
    _assert_redrawn(explorer, png, renders, f"map {other}")


def test_deconvnet_patch_grows_with_depth(mnist_model, test_digits):
    """The receptive field answer of lecture 02: deeper units project onto larger input patches."""
    x, _ = test_digits
    explorer = features.deconvnet_explorer(mnist_model, x)
    sizes = []
    for layer in ("conv2d_1", "conv2d_2", "conv2d_4"):
        explorer.controls["layer"].value = layer
        patch = explorer.caption.value.split("patch ")[1].split(" pixels")[0]
        sizes.append(max(int(side) for side in patch.split("×")))
    assert sizes[0] <= 3 and sizes[1] <= 5, f"receptive fields of 3 and 5 pixels, got {sizes}"
    assert sizes[0] < sizes[1] < sizes[2], f"patches must grow with depth: {sizes}"


def test_maximization_explorer_follows_objective_filter_and_regulariser(mnist_model, test_digits):
    x, y = test_digits
    explorer = features.maximization_explorer(mnist_model, x, y, layers=["conv2d_1", "conv2d_2"], steps=8)
    assert "conv2d_1 · channel objective · 8 steps" in _caption(explorer)
    png, renders = _png(explorer), explorer.renders
    explorer.controls["filter"].value = 5
    _assert_redrawn(explorer, png, renders, "filter 5")
    assert "conv2d_1[5]" in " ".join(_titles(explorer))
    png, renders = _png(explorer), explorer.renders
    explorer.controls["objective"].value = "layer"
    _assert_redrawn(explorer, png, renders, "layer objective", "deep dream")
    explorer.controls["objective"].value = "channel"
    assert explorer.controls["strength"].disabled
    explorer.controls["regulariser"].value = "blur"
    assert not explorer.controls["strength"].disabled
    assert explorer.controls["strength"].max == features.REGULARISER_RANGES["blur"][1]
    assert "regulariser blur = 0.7" in _caption(explorer)
    png, renders = _png(explorer), explorer.renders
    explorer.controls["steps"].value = 16
    _assert_redrawn(explorer, png, renders, "16 steps")
    # the panel shows what course_lib computes for the same setting
    reference = cl.activation_maximization(mnist_model, "conv2d_1", steps=16, step_size=0.1, blur=0.7)
    shown = np.asarray(explorer.figure.axes[5].images[0].get_array())
    np.testing.assert_allclose(shown, reference.images[5, ..., 0], rtol=1e-4, atol=1e-5)


needs_cam = pytest.mark.skipif(not hasattr(cl, "cam"), reason="course_lib.cam not available yet")


@needs_cam
def test_cam_explorer_switches_class_method_and_opacity(mnist_model, test_digits):
    x, y = test_digits
    explorer = localization.cam_explorer(mnist_model, x, y)
    assert "CAM" in _caption(explorer)
    png, renders = _png(explorer), explorer.renders
    explorer.controls["class"].value = 3
    _assert_redrawn(explorer, png, renders, "class 3")
    png, renders = _png(explorer), explorer.renders
    explorer.controls["method"].value = "Grad-CAM"
    _assert_redrawn(explorer, png, renders, "Grad-CAM")
    png, renders = _png(explorer), explorer.renders
    explorer.controls["opacity"].value = 0.9
    _assert_redrawn(explorer, png, renders, "opacity 0.9")
    overlay_alpha = [image.get_alpha() for image in explorer.figure.axes[1].images]
    assert 0.9 in overlay_alpha


@needs_cam
def test_cam_explorer_map_matches_course_lib(mnist_model, test_digits):
    x, y = test_digits
    explorer = localization.cam_explorer(mnist_model, x, y)
    explorer.controls["digit"].value = 2
    explorer.controls["class"].value = int(y[2])
    expected = cl.cam(mnist_model, x[2:3], int(y[2]), upsample=True)[0]
    shown = np.asarray(explorer.figure.axes[1].images[1].get_array())
    np.testing.assert_allclose(shown, expected, rtol=1e-4, atol=1e-5)


def test_explorers_reject_bad_input(mnist_model):
    with pytest.raises(ValueError, match="shape"):
        features.activation_explorer(mnist_model, np.zeros((28, 28, 1)))
    with pytest.raises(ValueError, match="unknown layer"):
        features.activation_explorer(mnist_model, np.zeros((2, 28, 28, 1)), layers=["nope"])
