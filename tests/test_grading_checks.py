"""The test-cell tools that keep grading honest: delegation found by what runs, tampering undone."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tensorflow as tf

import course_lib as cl
from course_lib.grading import checks
from course_lib.grading.checks import call_own_work, untouched

ATTRIBUTION = ("course_lib.attribution",)


def _own_gradient(model, x, target):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = tf.reduce_sum(model(x)[:, target])
    return tape.gradient(score, x)  # a tf.Tensor: converted by call_own_work


@pytest.fixture(scope="module")
def tiny():
    return checks.tiny_gap_model(seed=0, input_shape=(6, 6, 1), channels=(2,), classes=2)


def test_own_work_passes_and_comes_back_as_numpy(tiny):
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 1)).astype("float32")
    result = call_own_work(_own_gradient, tiny, x, 1, forbidden=ATTRIBUTION)
    assert isinstance(result, np.ndarray) and result.shape == x.shape


def test_delegation_is_found_through_an_alias_a_helper_and_a_thread(tiny):
    from concurrent.futures import ThreadPoolExecutor

    from course_lib import saliency as renamed

    def alias(model, x, target):
        return renamed(model, x, target)

    def helper(model, x, target):
        return alias(model, x, target)

    def threaded(model, x, target):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(cl.saliency, model, x, target).result()

    x = np.zeros((1, 6, 6, 1), "float32")
    for cheat in (alias, helper, threaded):
        with pytest.raises(AssertionError, match="reference implementation.*saliency"):
            call_own_work(cheat, tiny, x, 0, forbidden=ATTRIBUTION)
    with pytest.raises(AssertionError, match=r"checks\.reference_normalize"):
        call_own_work(lambda g: checks.reference_normalize(g), np.ones((1, 2, 2, 1)))


def test_switching_the_recording_off_fails(tiny):
    def silent(model, x, target):
        sys.setprofile(None)
        return cl.saliency(model, x, target)

    with pytest.raises(AssertionError, match="switched off"):
        call_own_work(silent, tiny, np.zeros((1, 6, 6, 1), "float32"), 0, forbidden=ATTRIBUTION)
    assert sys.getprofile() is None


def test_a_function_forbidden_by_name_and_the_library_outside_it_are_told_apart(tiny):
    x = np.zeros((1, 6, 6, 1), "float32")
    with pytest.raises(AssertionError, match="make_baseline"):
        call_own_work(lambda: cl.make_baseline(x, "blur"), forbidden=(cl.make_baseline,))
    assert call_own_work(lambda: cl.saliency(tiny, x, 0), forbidden=(cl.make_baseline,)).shape == x.shape


def test_results_inside_tuples_become_numpy_and_models_pass_through(tiny):
    pair = call_own_work(lambda: (tf.constant([1, 2]), [0.5, 1.5]))
    assert isinstance(pair[0], np.ndarray) and isinstance(pair[1], np.ndarray)
    assert call_own_work(lambda: tiny) is tiny


def test_untouched_puts_back_what_an_answer_cell_replaced():
    original_close, original_allclose, original_saliency = checks.expect_close, np.allclose, cl.saliency
    original_code = checks.expect_array.__code__
    try:
        checks.expect_close = lambda *a, **k: None
        np.allclose = lambda *a, **k: True
        cl.saliency = lambda *a, **k: 0
        checks.expect_array.__code__ = (lambda *a, **k: None).__code__
        _, fresh_checks, _, fresh_np, _ = untouched()
    finally:  # whatever happens, leave the modules as they were for the other tests
        checks.expect_close, np.allclose, cl.saliency = original_close, original_allclose, original_saliency
        checks.expect_array.__code__ = original_code
    assert fresh_checks.expect_close is original_close and fresh_np.allclose is original_allclose
    assert cl.saliency is original_saliency and checks.expect_array.__code__ is original_code
    with pytest.raises(AssertionError, match="differs"):
        fresh_checks.expect_close(np.zeros(3), np.ones(3))
    assert {"numpy.allclose", "course_lib.saliency", "course_lib.grading.checks.expect_close"} <= set(checks.restored)
