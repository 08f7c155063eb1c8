"""The compile cache: one compiled function per model and graph *structure*, never per number.

Widgets call a method on every slider move, so each method compiles its work once
(``tf.function``) and keeps it here, per model::

    run = compiled(model, ("deeplift", maxpool), lambda: build_the_tf_function(model, maxpool))

Three promises make the cache safe to forget about:

- **Keys name structure only.** A key says which graph is built (the method, a layer name, a
  rule's *type*, an on/off switch); the numbers a slider moves (ε, α/β, the bounds of the z^B rule,
  a blur width) are passed to the compiled function as tensors, so a new value reuses the graph
  instead of tracing a new one (:func:`trace_counts` lets a test count traces).
- **A changed model starts afresh.** The entries of a model are dropped when its layer structure
  changes (``Sequential.pop``/``add`` and the like): the cache compares :func:`structure` on every
  look-up.
- **A deleted model is freed.** Models are weak keys; the compiled functions hold the model's
  layers, never the model itself.

:func:`structural_key` turns any object (an LRP rule, a rule container) into a hashable key,
whatever its hashability: dataclasses by type and field values, other hashable objects by value,
the rest by identity (kept alive by the entry so the identity is never reused).
"""

from __future__ import annotations

import copy
import dataclasses
import weakref

import keras

from course_lib._graph import flat_layers

__all__ = ["compiled", "trace_counts", "structure", "structural_key", "numbers", "with_numbers", "keep_alive"]

_ENTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> _Entry


class _Entry:
    """The compiled functions of one model, valid for one layer structure."""

    def __init__(self, signature: tuple):
        self.signature = signature
        self.functions: dict = {}
        self.keep_alive: list = []  # objects whose identity is part of a key


def structure(model: keras.Model) -> tuple:
    """The model's layer structure: (name, type) of every reachable layer, in call order."""
    return tuple((layer.name, type(layer).__name__, id(layer)) for layer in flat_layers(model))


def _entry(model: keras.Model) -> _Entry:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    signature = structure(model)
    entry = _ENTRIES.get(model)
    if entry is None or entry.signature != signature:
        entry = _ENTRIES[model] = _Entry(signature)
    return entry


def compiled(model: keras.Model, key, build):
    """``build()`` once per model, key and layer structure; later calls return the same object.

    ``key`` must be hashable and name the graph's structure only (see the module docstring); numbers
    that change between calls belong in the compiled function's tensor arguments.
    """
    entry = _entry(model)
    if key not in entry.functions:
        entry.functions[key] = build()
    return entry.functions[key]


def trace_counts(model: keras.Model) -> dict:
    """``{key: number of traces}`` of every compiled function valid for ``model`` as it is now."""
    entry = _ENTRIES.get(model)
    if entry is None or entry.signature != structure(model):
        return {}
    return {
        key: function.experimental_get_tracing_count()
        for key, function in entry.functions.items()
        if hasattr(function, "experimental_get_tracing_count")
    }


def _numeric_fields(obj) -> tuple[str, ...]:
    """Names of the float fields of a dataclass instance ``obj`` (ints and bools stay structural)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return ()
    return tuple(field.name for field in dataclasses.fields(obj) if isinstance(getattr(obj, field.name), float))


def numbers(obj) -> list[float]:
    """The float fields of ``obj`` and of the dataclasses inside it, in a fixed order.

    These are the values a compiled function receives as tensors instead of having them in its key.
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return []
    numeric = _numeric_fields(obj)
    values = []
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        values.extend([float(value)] if field.name in numeric else numbers(value))
    return values


def with_numbers(obj, values):
    """A shallow copy of ``obj`` whose float fields take the next items of the iterator ``values``.

    The inverse of :func:`numbers`, used inside a traced function to put tensors in place of the
    numbers (the copy skips the dataclass's checks, which were run on the numbers themselves).
    """
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    numeric = _numeric_fields(obj)
    clone = copy.copy(obj)
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        object.__setattr__(clone, field.name, next(values) if field.name in numeric else with_numbers(value, values))
    return clone


def structural_key(obj, keep_alive: list | None = None):
    """A hashable key for ``obj`` that leaves its numeric dataclass fields out.

    Dataclasses: their type, the names of the numeric fields and the other fields' keys (so two
    equal rules share one graph, hashable or not). Other hashable objects: themselves. Anything
    else: its identity, with ``obj`` appended to ``keep_alive`` so that the identity stays unique.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        numeric = _numeric_fields(obj)
        others = tuple(
            (field.name, structural_key(getattr(obj, field.name), keep_alive))
            for field in dataclasses.fields(obj)
            if field.name not in numeric
        )
        return (type(obj), numeric, others)
    try:
        hash(obj)
        return obj
    except TypeError:
        if keep_alive is not None:
            keep_alive.append(obj)
        return ("instance", type(obj), id(obj))


def keep_alive(model: keras.Model, objects: list) -> None:
    """Keep ``objects`` (whose identities appear in a key) as long as the model's entries live."""
    _entry(model).keep_alive.extend(objects)
