"""Finding layers and cutting models: shared by every method of course_lib.

Two needs come back in every method: the output of an inner layer (feature visualisation, CAM,
Grad-CAM) and the class score *before* the softmax (every attribution method, DESIGN.md §3).
Keras raises "graph disconnected" when an inner layer of a *nested* model is asked for against
the outer inputs; :func:`flat_layers` unrolls nested sequential chains so that their inner layers
are reachable too.
"""

from __future__ import annotations

import keras


def flat_layers(model: keras.Model) -> list:
    """The model's layers in call order, input layers left out.

    Nested models that are straight chains of layers are unrolled into their layers; a nested
    model with branches (skip connections, several inputs) stays one opaque layer.
    """
    layers = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model) and _is_chain(layer):
            layers.extend(flat_layers(layer))
        else:
            layers.append(layer)
    return layers


def layer_names(model: keras.Model) -> list[str]:
    """Names of every reachable layer (nested models unrolled)."""
    return [layer.name for layer in flat_layers(model)]


def get_layer(model: keras.Model, layer) -> keras.layers.Layer:
    """A layer by name or by index into :func:`flat_layers`, with an error listing valid names."""
    layers = flat_layers(model)
    if isinstance(layer, keras.layers.Layer):
        if any(candidate is layer for candidate in layers):
            return layer
        raise ValueError(f"layer {layer.name!r} is not part of model {model.name!r}")
    if isinstance(layer, bool):
        raise TypeError("layer must be a layer name or an index, not a bool")
    if isinstance(layer, int):
        if not -len(layers) <= layer < len(layers):
            raise ValueError(f"layer index {layer} is out of range: the model has {len(layers)} layers")
        return layers[layer]
    if isinstance(layer, str):
        for candidate in layers:
            if candidate.name == layer:
                return candidate
        raise ValueError(f"unknown layer {layer!r}; valid layer names: {[lay.name for lay in layers]}")
    raise TypeError(f"layer must be a name (str) or an index (int), got {type(layer).__name__}")


def _is_nested(model: keras.Model) -> bool:
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def _is_chain(model: keras.Model) -> bool:
    """True when every layer feeds the next one only (a Sequential, or a functional straight line)."""
    if isinstance(model, keras.Sequential):
        return True
    try:
        current = model.inputs[0] if len(model.inputs) == 1 else None
        for layer in model.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if current is None or layer.input is not current:
                return False
            current = layer.output
        return True
    except (AttributeError, ValueError):  # layers called more than once, several inputs, ...
        return False


class _Graph:
    """A model's input tensor and, for each layer, its symbolic input and output in that graph.

    For a flat model these are the layers' own ``input``/``output``; a nested chain of layers is
    first re-applied to a fresh ``Input`` (sharing weights), because the inner layers' own tensors
    belong to the inner model's graph and Keras would call them "disconnected".
    """

    def __init__(self, model: keras.Model):
        self.model = model
        self.layers = flat_layers(model)
        if _is_nested(model) and _is_chain(model):
            self.inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="input")
            self._tensors = {}
            h = self.inputs
            for layer in self.layers:
                out = layer(h)
                self._tensors[id(layer)] = (h, out)
                h = out
        else:
            self.inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
            self._tensors = None

    def input_of(self, layer):
        return self._tensors[id(layer)][0] if self._tensors is not None else layer.input

    def output_of(self, layer):
        return self._tensors[id(layer)][1] if self._tensors is not None else layer.output


def is_softmax_layer(layer) -> bool:
    """True for an ``Activation("softmax")`` or ``Softmax`` layer."""
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return isinstance(layer, keras.layers.Activation) and getattr(activation, "__name__", "") == "softmax"


def _has_softmax_activation(layer) -> bool:
    return getattr(getattr(layer, "activation", None), "__name__", "") == "softmax"


def outputs_model(model: keras.Model, layers, *, with_logits: bool = False) -> keras.Model:
    """A model returning the outputs of ``layers`` (names, indices or layer objects).

    With ``with_logits=True`` the pre-softmax class scores are appended as the last output.
    Inner layers of nested sequential models are reachable.
    """
    graph = _Graph(model)
    outputs = [graph.output_of(get_layer(model, layer)) for layer in layers]
    if with_logits:
        outputs.append(_logits_tensor(graph))
    return keras.Model(graph.inputs, outputs)


def _logits_tensor(graph: _Graph):
    last = graph.layers[-1]
    if is_softmax_layer(last):
        return graph.input_of(last)
    if isinstance(last, keras.layers.Dense) and _has_softmax_activation(last):
        scores = keras.ops.matmul(graph.input_of(last), last.kernel)
        return scores + last.bias if last.use_bias else scores
    return graph.output_of(last)


def logits_model(model: keras.Model) -> keras.Model:
    """A model with the same inputs that returns the class scores *before* the softmax.

    A final ``Activation("softmax")``/``Softmax`` layer is cut off; a final ``Dense`` with a softmax
    activation is re-applied without it (same weights). Any other model's outputs are taken to be
    scores already.
    """
    graph = _Graph(model)
    return keras.Model(graph.inputs, _logits_tensor(graph), name=f"{model.name}_logits")
