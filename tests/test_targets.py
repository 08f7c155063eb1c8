"""``target`` as None / int / one int per sample means the same thing for every attribution method.

One test runs every method of the method contract (ARCHITECTURE.md §2) through all three forms:
- ``None`` equals the array of predicted classes;
- an int equals that int repeated for every sample;
- an array of classes equals, row by row, the int calls for those classes;
and out-of-range or wrongly shaped targets raise ValueError.
"""

import numpy as np
import pytest

import course_lib as cl
from course_lib._batching import predict_logits

# method name → fast options (few steps/samples, coarse patches)
METHOD_OPTIONS = {
    "cam": {},
    "grad_cam": {},
    "saliency": {},
    "gradient_x_input": {},
    "smoothgrad": {"samples": 3, "noise": 0.2},
    "integrated_gradients": {"steps": 6},
    "deeplift": {},
    "occlusion": {"patch": 7, "stride": 7},
    "lrp": {},
    "guided_backprop": {},
}
OWN = {"cam", "grad_cam", "saliency", "gradient_x_input", "smoothgrad", "integrated_gradients", "deeplift", "occlusion"}
AVAILABLE = [name for name in METHOD_OPTIONS if hasattr(cl, name)]


def test_all_own_methods_are_exported():
    assert OWN <= set(AVAILABLE)


def _run(name, model, x, target):
    return getattr(cl, name)(model, x, target=target, **METHOD_OPTIONS[name])


@pytest.mark.parametrize("name", AVAILABLE)
def test_three_target_forms_agree(name, mnist_model, digits):
    x = digits[0][:4]
    predicted = predict_logits(mnist_model, x).argmax(axis=1)

    by_default = _run(name, mnist_model, x, None)
    np.testing.assert_allclose(by_default, _run(name, mnist_model, x, predicted), rtol=1e-5, atol=1e-6)

    as_int = _run(name, mnist_model, x, 3)
    np.testing.assert_allclose(as_int, _run(name, mnist_model, x, np.full(4, 3)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_int, _run(name, mnist_model, x, [3, 3, 3, 3]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(as_int, _run(name, mnist_model, x, np.int64(3)), rtol=1e-5, atol=1e-6)

    mixed = np.array([1, 7, 1, 3])
    per_sample = _run(name, mnist_model, x, mixed)
    assert per_sample.shape == as_int.shape and per_sample.dtype == np.float32
    np.testing.assert_allclose(per_sample[3], as_int[3], rtol=1e-5, atol=1e-6)
    for cls in (1, 7):
        rows = mixed == cls
        np.testing.assert_allclose(per_sample[rows], _run(name, mnist_model, x, cls)[rows], rtol=1e-5, atol=1e-6)
    assert not np.allclose(per_sample[1], as_int[1])  # the target really changes the explanation


@pytest.mark.parametrize("name", AVAILABLE)
def test_bad_targets_are_refused(name, mnist_model, digits):
    x = digits[0][:2]
    with pytest.raises(ValueError, match="out of range"):
        _run(name, mnist_model, x, 10)
    with pytest.raises(ValueError, match="one per sample"):
        _run(name, mnist_model, x, [1, 2, 3])
    with pytest.raises(TypeError):
        _run(name, mnist_model, x, 1.5)
