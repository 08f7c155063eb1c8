"""Intermediate activations: what each layer makes of one input.

Propagating an input through the network and drawing every feature map shows the first layers
as filtered copies of the image and the later ones as increasingly abstract, coarse maps that are
hard to read (lecture: "Visualization of activations").
"""

from __future__ import annotations

import keras
import numpy as np

from course_lib._batching import checked_batch
from course_lib._graph import conv_layers, get_layer, outputs_model

__all__ = ["activations"]


def activations(model: keras.Model, x, layers=None, *, batch_size: int = 256) -> dict[str, np.ndarray]:
    """The outputs of the chosen layers for a batch of inputs.

    For layers ``l`` of a feed-forward network ``a^(l) = f_l(a^(l-1))`` with ``a^(0) = x``; this
    returns ``{name_l: a^(l)}`` evaluated in inference mode (dropout off). A conv layer gives
    feature maps of shape ``(B, h, w, F)``, a dense layer ``(B, F)``.

    Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014;
    Yosinski et al., "Understanding Neural Networks Through Deep Visualization", ICML DL workshop 2015.

    Parameters
    ----------
    model : keras.Model
    x : array-like, shape ``(B, H, W, C)``
    layers : str, int, or a sequence of them, optional
        Layer names or indices into the flattened layer list (inner layers of nested models are
        reachable). ``None`` = every 2-D convolution (``Conv2D``, separable, depthwise).
    batch_size : int
        Inputs are pushed through in chunks of this size (memory only; the result is the same).

    Returns
    -------
    dict mapping layer name → numpy.ndarray float32, in the order the layers were asked for (raw
    outputs: after the layer's activation, nothing rescaled).
    """
    x = checked_batch(model, x)
    if len(x) == 0:
        raise ValueError("x is an empty batch; expected at least one sample")
    if layers is None:
        layers = [layer.name for layer in conv_layers(model)]
        if not layers:
            raise ValueError(f"model {model.name!r} has no 2-D convolution layer; pass layers=[...] explicitly")
    elif isinstance(layers, str | int | keras.layers.Layer):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; pass at least one layer name or index")
    names = [get_layer(model, layer).name for layer in layers]
    extractor = outputs_model(model, layers)
    chunks = []
    for start in range(0, len(x), batch_size):
        outputs = extractor(x[start : start + batch_size], training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]  # one layer → one tensor
        chunks.append([keras.ops.convert_to_numpy(out) for out in outputs])
    return {name: np.concatenate([chunk[i] for chunk in chunks]).astype(np.float32) for i, name in enumerate(names)}
