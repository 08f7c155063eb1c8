"""First-layer filters: the one place where a CNN's weights are directly images.

The first convolution acts on pixels, so each of its kernels can be drawn as a small picture of
the pattern it responds to (edges, blobs, dots; lecture: "Visualization of first layer filters").
Deeper kernels act on feature maps and need the methods of the next modules.
"""

from __future__ import annotations

import keras
import numpy as np

from course_lib._graph import conv_layers, flat_layers

__all__ = ["first_layer_filters"]


def first_layer_filters(model: keras.Model) -> np.ndarray:
    """The kernels of the model's first 2-D convolution, one picture per filter.

    A Keras ``Conv2D`` stores its kernel as ``W[a, b, c, f]`` (kernel row, kernel column, input
    channel, filter); the response of filter ``f`` at ``(i, j)`` is
    ``z[i, j, f] = sum_{a,b,c} x[i+a, j+b, c] W[a, b, c, f] + b[f]``, so ``W[..., f]`` is the
    input pattern the filter correlates with. The filter axis is moved to the front.

    Reference: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
    (first-layer filters as images); Krizhevsky et al., NeurIPS 2012, Fig. 3.

    Parameters
    ----------
    model : keras.Model
        Any model containing a ``Conv2D`` layer (nested models are searched too).

    Returns
    -------
    numpy.ndarray, float32, shape ``(F, kh, kw, C)``
        ``F`` filters of ``kh × kw`` pixels and ``C`` input channels (a copy of the weights, not
        rescaled: map each filter to [0, 1] or a symmetric colour scale only for display).
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    for layer in conv_layers(model):
        if isinstance(layer, keras.layers.Conv2D):  # a kernel (kh, kw, C, F); separable ones have two
            kernel = keras.ops.convert_to_numpy(layer.kernel)
            return np.ascontiguousarray(np.transpose(kernel, (3, 0, 1, 2)), dtype=np.float32)
    raise ValueError(
        f"model {model.name!r} has no Conv2D layer; layers: {[layer.name for layer in flat_layers(model)]}"
    )
