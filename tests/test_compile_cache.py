"""The compile cache: structure-only keys, no retrace when a number moves, custom rules of any
hashability, invalidation when a model's layers change, and no leak of deleted models."""

import gc
import weakref
from dataclasses import dataclass

import keras
import numpy as np
import pytest
from toy_models import no_pool_cnn

import course_lib as cl
from course_lib._cache import trace_counts
from course_lib.attribution.lrp_rules import Epsilon, redistribute


def twin(model: keras.Model) -> keras.Model:
    """A fresh model with the same layers and weights: nothing of ``model``'s cache applies to it."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(0.0, 1.0, (3, 8, 8, 1)).astype(np.float32)


def lrp_traces(model) -> list[int]:
    return [count for key, count in trace_counts(model).items() if isinstance(key, tuple) and key[0] == "lrp"]


def test_new_epsilon_values_reuse_one_graph_and_give_what_a_fresh_trace_gives(x):
    model = no_pool_cnn(seed=1)
    for epsilon in (1e-3, 0.1, 2.5, 40.0):
        relevance = cl.lrp(model, x, 1, rule="epsilon", epsilon=epsilon)
        np.testing.assert_allclose(relevance, cl.lrp(twin(model), x, 1, rule="epsilon", epsilon=epsilon), atol=1e-6)
    cl.lrp(model, x, 1, rule="z")  # LRP-0 is LRP-ε with ε = 0: the same graph
    assert lrp_traces(model) == [1]
    cl.lrp(model, x, 1, rule="zplus")  # another rule is another structure
    assert sorted(lrp_traces(model)) == [1, 1]


def test_moving_numbers_of_other_methods_do_not_retrace(x):
    model = no_pool_cnn(seed=2)
    for eps in (1e-6, 1e-3, 0.5):
        cl.deeplift(model, x, 0, eps=eps)
    for low, high in ((0.0, 1.0), (-1.0, 2.0)):
        cl.lrp(model, x, 0, rule="epsilon_plus", low=low, high=high)
    counts = trace_counts(model)
    assert counts[("deeplift", "rescale")] == 1
    assert lrp_traces(model) == [1]


@dataclass  # eq=True and not frozen: instances are unhashable
class PlainEpsilon:
    epsilon: float

    def __call__(self, layer, a, relevance):
        return redistribute(layer, [a], relevance, self.epsilon)


@dataclass(frozen=True)
class DecidesInPython:
    """A rule that branches in Python on its float field (it cannot take the field as a tensor)."""

    epsilon: float

    def __call__(self, layer, a, relevance):
        if self.epsilon > 0:
            return Epsilon(self.epsilon)(layer, a, relevance)
        return Epsilon(0.0)(layer, a, relevance)


class Unhashable:
    __hash__ = None

    def __call__(self, layer, a, relevance):
        return redistribute(layer, [a], relevance, 0.25)


@pytest.mark.parametrize("rule", [PlainEpsilon(0.25), DecidesInPython(0.25), Unhashable()])
def test_custom_rules_work_whatever_their_hashability(rule, x):
    model = no_pool_cnn(seed=3)
    expected = cl.lrp(twin(model), x, 2, rule="epsilon", epsilon=0.25)
    np.testing.assert_allclose(cl.lrp(model, x, 2, rule=rule), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(cl.lrp(model, x, 2, rule=rule), expected, rtol=1e-4, atol=1e-6)  # from the cache


def test_equal_unhashable_rules_share_one_graph(x):
    model = no_pool_cnn(seed=4)
    for epsilon in (0.1, 0.2, 0.3):
        cl.lrp(model, x, 0, rule=PlainEpsilon(epsilon))
    assert lrp_traces(model) == [1]


def test_popping_and_adding_layers_invalidates_the_model_entries(x):
    model = no_pool_cnn(seed=5)
    before = cl.saliency(model, x, 0)
    cl.lrp(model, x, 0)
    assert trace_counts(model)
    model.pop()  # the softmax
    model.pop()  # the logits layer
    model.add(keras.layers.Dense(2, name="new_logits"))
    assert trace_counts(model) == {}  # nothing compiled for the new structure yet
    after = cl.saliency(model, x, 0)
    np.testing.assert_allclose(after, cl.saliency(twin(model), x, 0), atol=1e-6)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(cl.lrp(model, x, 1), cl.lrp(twin(model), x, 1), atol=1e-6)


def test_a_deleted_model_is_freed_with_its_compiled_functions(x):
    model = no_pool_cnn(seed=6)
    for method in (cl.saliency, cl.lrp, cl.deeplift, cl.integrated_gradients, cl.guided_backprop):
        method(model, x, 0)
    assert trace_counts(model)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
