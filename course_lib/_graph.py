"""Layer structure: finding layers, classifying them, and cutting models. Shared by every method.

Two needs come back in every method: the output of an inner layer (feature visualisation, CAM,
Grad-CAM) and the class score *before* the softmax (every attribution method, see
ARCHITECTURE.md). Keras raises "graph disconnected" when an inner layer of a *nested* model is
asked for against the outer inputs; :func:`flat_layers` unrolls nested sequential chains so that
their inner layers are reachable too.

The layer-by-layer methods (LRP, DeepLIFT, DeconvNet and guided backpropagation) read a network
the same way: :func:`chain_layers` lists its layers, :func:`layer_kind` says what each one does
(an affine map with an activation, an elementwise nonlinearity, a max or average pooling, …),
:func:`activation_name` names an activation, and :func:`pre_activation` recomputes a weighted
layer's output before its activation. :func:`conv_layers` is the one definition of "the
convolutions of a model" used by the explorers and the feature-visualisation defaults.
"""

from __future__ import annotations

import keras

WEIGHTED = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
"""An affine map (kernel, bias) followed by the layer's ``activation``."""
CONVOLUTIONS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)
"""2-D convolutions: their outputs are feature maps (B, h, w, F)."""
_KINDS = (
    ("normalization", (keras.layers.BatchNormalization,)),
    ("weighted", WEIGHTED),
    ("softmax", (keras.layers.Softmax,)),
    ("activation", (keras.layers.Activation,)),
    ("elementwise", (keras.layers.ReLU, keras.layers.LeakyReLU, keras.layers.ELU, keras.layers.PReLU)),
    ("max_pooling", (keras.layers.MaxPooling2D, keras.layers.GlobalMaxPooling2D)),
    (
        "average_pooling",
        (
            keras.layers.AveragePooling1D,
            keras.layers.AveragePooling2D,
            keras.layers.GlobalAveragePooling1D,
            keras.layers.GlobalAveragePooling2D,
        ),
    ),
    (
        "identity",  # at inference
        (
            keras.layers.Dropout,
            keras.layers.SpatialDropout1D,
            keras.layers.SpatialDropout2D,
            keras.layers.GaussianNoise,
            keras.layers.GaussianDropout,
            keras.layers.Identity,
        ),
    ),
    (
        "reshaping",
        (keras.layers.Flatten, keras.layers.Reshape, keras.layers.ZeroPadding2D, keras.layers.Cropping2D),
    ),
)


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
    return isinstance(layer, keras.layers.Activation) and activation_name(layer) == "softmax"


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
    if isinstance(last, keras.layers.Dense) and activation_name(last) == "softmax":
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


def layer_kind(layer) -> str:
    """What a layer does, as the layer-by-layer methods see it.

    ``"weighted"`` (Dense, Conv1D/2D/3D: affine map then activation), ``"normalization"``
    (BatchNormalization, affine at inference), ``"activation"`` (an ``Activation`` layer),
    ``"softmax"`` (a ``Softmax`` layer, or an ``Activation("softmax")``), ``"elementwise"`` (ReLU,
    LeakyReLU, ELU, PReLU layers), ``"max_pooling"`` (MaxPooling2D, GlobalMaxPooling2D),
    ``"average_pooling"``, ``"identity"`` (dropout and noise layers: identities at inference),
    ``"reshaping"`` (Flatten, Reshape, padding, cropping) or ``"other"``.
    """
    if is_softmax_layer(layer):
        return "softmax"
    for kind, types in _KINDS:
        if isinstance(layer, types):
            return kind
    return "other"


def activation_name(layer) -> str:
    """The name of a layer's ``activation`` (``"relu"``, ``"linear"``, ``"softmax"``, …); ``""`` if it has none."""
    function = getattr(layer, "activation", None)
    if function is None:
        return ""
    return getattr(function, "__name__", type(function).__name__)


def conv_layers(model: keras.Model) -> list:
    """The model's 2-D convolutions (:data:`CONVOLUTIONS`) in call order, nested chains unrolled."""
    return [layer for layer in flat_layers(model) if isinstance(layer, CONVOLUTIONS)]


def chain_layers(model: keras.Model, method: str) -> list:
    """The layers of a model that is one chain (each layer feeds the next), nested chains unrolled.

    The layer-by-layer methods (DeepLIFT, LRP) walk this list; a model with several inputs or
    outputs, or a layer that branches or merges, raises a ValueError naming ``method``.
    """

    def is_chain(m) -> bool:
        single = isinstance(m, keras.Sequential) or (len(m.inputs) == 1 and len(m.outputs) == 1)
        return single and _is_chain(m) and all(is_chain(inner) for inner in m.layers if isinstance(inner, keras.Model))

    if not is_chain(model):
        raise ValueError(
            f"{method} supports chains of layers (each layer feeds the next, as in keras.Sequential); model "
            f"{model.name!r} has several inputs or outputs, or a layer that branches or merges"
        )
    layers = flat_layers(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no layers")
    return layers


def pre_activation(layer, h, method: str):
    """z = h·W + b (Dense) or z = h ⊛ W + b (Conv1D/2D/3D): the layer's output before its activation."""
    if isinstance(layer, keras.layers.Dense):
        z = keras.ops.matmul(h, layer.kernel)
    else:
        if layer.data_format != "channels_last" or getattr(layer, "groups", 1) != 1:
            raise ValueError(f"{method} supports channels_last, ungrouped convolutions only (layer {layer.name!r})")
        z = layer.convolution_op(h, layer.kernel)
    return z + layer.bias if layer.use_bias else z


def is_plain_relu(layer: keras.layers.ReLU) -> bool:
    """True for a ``keras.layers.ReLU`` that computes max(0, z) (no max_value, slope or threshold)."""
    return (
        layer.max_value is None
        and float(keras.ops.convert_to_numpy(layer.negative_slope)) == 0.0
        and float(keras.ops.convert_to_numpy(layer.threshold)) == 0.0
    )
