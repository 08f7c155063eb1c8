"""Discriminative localisation: class activation maps (CAM) and Grad-CAM.

CAM (Zhou et al. 2016) applies to networks whose last convolutional feature maps F (h × w × Z)
are globally averaged and fed to one dense layer with weights W (Z × n_classes) and bias b:

    S_c = Σ_z W[z, c] · mean_{x,y} F[x, y, z] + b[c].

Moving the (linear) average outside gives one map per class,

    M[i, x, y, c] = Σ_z F[i, x, y, z] W[z, c] + b[c],        S_c = mean_{x,y} M[x, y, c],

so the spatial mean of the CAM *is* the logit ("GAP property"). The map is h × w (e.g. 14 × 14 for
the course's MNIST network); ``upsample=True`` resizes it bilinearly to the input.

Grad-CAM (Selvaraju et al. 2017) drops the architecture requirement: for any convolutional
layer A (h × w × K) it weights each map with its average gradient,

    α_k = 1/(h·w) Σ_{x,y} ∂S_c/∂A[x, y, k],      L = ReLU(Σ_k α_k A[:, :, k]).

For a Conv → GAP → Dense network ∂S_c/∂A[x, y, k] = W[k, c]/(h·w), so Grad-CAM without the ReLU
equals (CAM − b_c)/(h·w): the two methods agree up to an offset and a scale.

References: B. Zhou, A. Khosla, A. Lapedriza, A. Oliva, A. Torralba, "Learning Deep Features for
Discriminative Localization", CVPR 2016, arXiv:1512.04150. R. R. Selvaraju, M. Cogswell, A. Das,
R. Vedantam, D. Parikh, D. Batra, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017, arXiv:1610.02391.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from course_lib._batching import DEFAULT_BATCH_SIZE, map_chunks, prepare, select
from course_lib._cache import compiled
from course_lib._graph import activation_name, conv_layers, flat_layers, get_layer, layer_kind, outputs_model
from course_lib.postprocess import upsample_bilinear

__all__ = ["class_activation_maps", "cam", "grad_cam"]


def class_activation_maps(features, weights, bias) -> np.ndarray:
    """All class activation maps at once: M[i, x, y, c] = Σ_z F[i, x, y, z] W[z, c] + b[c].

    Parameters
    ----------
    features : array (B, h, w, Z) — the feature maps that enter global average pooling
    weights : array (Z, n_classes) — the kernel of the dense layer after the pooling
    bias : array (n_classes,) — its bias

    Returns
    -------
    float32 array (B, h, w, n_classes), with the bias (so that mean_{x,y} M[..., c] is the logit
    S_c); no ReLU, no upsampling, no normalisation.

    Reference: B. Zhou, A. Khosla, A. Lapedriza, A. Oliva, A. Torralba, "Learning Deep Features for
    Discriminative Localization", CVPR 2016.
    """
    features = np.asarray(features, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float32)
    bias = np.asarray(bias, dtype=np.float32)
    if features.ndim != 4:
        raise ValueError(
            f"features must have shape (B, h, w, Z) — a batch of feature maps; got shape {features.shape}. "
            + ("Add a batch axis with features[None]." if features.ndim == 3 else "")
        )
    if weights.ndim != 2:
        raise ValueError(f"weights must have shape (Z, n_classes), the dense layer's kernel; got shape {weights.shape}")
    if weights.shape[0] != features.shape[-1]:
        raise ValueError(
            f"features have Z = {features.shape[-1]} maps but weights have {weights.shape[0]} rows: "
            f"the sum runs over the feature axis z, so weights must be ({features.shape[-1]}, n_classes)"
            + (" — did you pass weights.T?" if weights.shape[1] == features.shape[-1] else "")
        )
    if bias.shape != (weights.shape[1],):
        raise ValueError(f"bias must have shape ({weights.shape[1]},), one value per class; got shape {bias.shape}")
    return (np.einsum("ixyz,zc->ixyc", features, weights) + bias).astype(np.float32)


def _cam_parts(model: keras.Model):
    """(layer whose output feeds the GAP, the dense logits layer) of a Conv → GAP → Dense network."""
    layers = flat_layers(model)
    names = [layer.name for layer in layers]
    gaps = [i for i, layer in enumerate(layers) if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
    if not gaps:
        raise ValueError(
            f"cam() needs a GlobalAveragePooling2D layer followed by one Dense layer (Zhou et al. 2016); "
            f"model {model.name!r} has no GlobalAveragePooling2D (layers: {names}). Use grad_cam() instead."
        )
    g = gaps[-1]
    if getattr(layers[g], "keepdims", False):
        raise ValueError(f"cam() expects the GlobalAveragePooling2D layer {layers[g].name!r} with keepdims=False")
    feature = g - 1
    while feature >= 0 and layer_kind(layers[feature]) == "identity":
        feature -= 1
    if feature < 0:
        raise ValueError(f"cam(): nothing feeds the GlobalAveragePooling2D layer of model {model.name!r}")
    head = [layer for layer in layers[g + 1 :] if layer_kind(layer) != "identity"]
    if head and layer_kind(head[-1]) == "softmax":
        head = head[:-1]
    if len(head) != 1 or not isinstance(head[0], keras.layers.Dense):
        found = [f"{layer.name} ({type(layer).__name__})" for layer in head] or ["nothing"]
        raise ValueError(
            f"cam() needs exactly one Dense layer after the global average pooling (then optionally a softmax); "
            f"model {model.name!r} has {found} there. CAM breaks for such architectures: use grad_cam()."
        )
    dense = head[0]
    activation = activation_name(dense)
    if activation not in ("linear", "softmax"):
        raise ValueError(
            f"cam(): the Dense layer {dense.name!r} after the pooling must be linear or softmax, not {activation!r}"
        )
    if activation == "softmax" and dense is not layers[-1]:
        raise ValueError(f"cam(): the softmax Dense layer {dense.name!r} must be the last layer")
    return layers[feature], dense


def _features_fn(model, feature_layer):
    """Compiled: the output of ``feature_layer`` for a batch."""
    features = outputs_model(model, [feature_layer])
    return tf.function(lambda t: features(t, training=False), reduce_retracing=True)


def cam(model, x, target=None, upsample: bool = False, *, batch_size: int | None = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Class activation map of the target class for a Conv → GAP → Dense network (Zhou et al. 2016).

    M_c[i, x, y] = Σ_z F[i, x, y, z] W[z, c] + b[c], where F is the output of the layer feeding the
    GlobalAveragePooling2D (Dropout layers in between are identities at inference) and W, b belong
    to the single Dense layer after it. Its spatial mean equals the logit S_c.

    Parameters
    ----------
    model : keras.Model with ... → features → GlobalAveragePooling2D → [Dropout] → Dense → [softmax]
    x : array (B, H, W, C)
    target : None, int or B ints (None = predicted class)
    upsample : bool
        False: the maps at feature resolution (B, h, w); True: bilinearly resized to (B, H, W).

    Returns
    -------
    float32 array (B, h, w) or (B, H, W), signed (no ReLU) and not normalised; raises ValueError
    naming what is missing for other architectures.

    Reference: Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016.
    """
    feature_layer, dense = _cam_parts(model)
    x, targets = prepare(model, x, target)
    run = compiled(model, ("cam_features", feature_layer.name), lambda: _features_fn(model, feature_layer))
    features = map_chunks(run, [x], batch_size)
    kernel = keras.ops.convert_to_numpy(dense.kernel)
    bias = keras.ops.convert_to_numpy(dense.bias) if dense.use_bias else np.zeros(kernel.shape[1], np.float32)
    maps = np.einsum("ixyz,zi->ixy", features, kernel[:, targets]) + bias[targets][:, None, None]
    maps = maps.astype(np.float32)
    return upsample_bilinear(maps, x.shape[1:3]) if upsample else maps


def _last_conv(model: keras.Model):
    convs = conv_layers(model)
    if not convs:
        raise ValueError(
            f"grad_cam(): model {model.name!r} has no Conv2D layer; pass layer=<name of a 4-D feature layer>"
        )
    return convs[-1]


def _grad_cam_fn(model, layer):
    fm = outputs_model(model, [layer], with_logits=True)

    @tf.function(reduce_retracing=True)
    def run(x, targets):
        with tf.GradientTape() as tape:
            features, logits = fm(x, training=False)
            scores = select(logits, targets)
        grads = tape.gradient(scores, features)
        alphas = tf.reduce_mean(grads, axis=[1, 2])  # (b, K)
        return tf.einsum("bxyk,bk->bxy", features, alphas)

    return run


def grad_cam(
    model,
    x,
    target=None,
    layer=None,
    *,
    relu: bool = True,
    upsample: bool = False,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Grad-CAM: L = ReLU(Σ_k α_k A_k) with α_k = mean_{x,y} ∂S_c/∂A[x, y, k] (Selvaraju et al. 2017).

    Parameters
    ----------
    model : keras.Model
    x : array (B, H, W, C)
    target : None, int or B ints (None = predicted class)
    layer : name, index or layer; default the last convolutional layer
        Any layer with a 4-D output (B, h, w, K).
    relu : bool
        True (default, as in the paper) keeps only the positive evidence; False returns the signed
        map Σ_k α_k A_k, which for a Conv → GAP → Dense network equals (CAM − b_c)/(h·w).
    upsample : bool
        Resize the (B, h, w) maps bilinearly to the input size (B, H, W).

    Returns
    -------
    float32 array (B, h, w) or (B, H, W); not normalised (the paper's figures scale to [0, 1]:
    :func:`course_lib.normalize_map`).

    Reference: R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra, "Grad-CAM:
    Visual Explanations from Deep Networks via Gradient-based Localization", ICCV 2017.
    """
    chosen = _last_conv(model) if layer is None else get_layer(model, layer)
    if len(chosen.output.shape) != 4:
        raise ValueError(
            f"grad_cam() needs a layer with 4-D output (B, h, w, K); {chosen.name!r} has shape {tuple(chosen.output.shape)}"
        )
    x, targets = prepare(model, x, target)
    run = compiled(model, ("grad_cam", chosen.name), lambda: _grad_cam_fn(model, chosen))
    maps = map_chunks(run, [x, targets], batch_size)
    if relu:
        maps = np.maximum(maps, 0.0)
    maps = maps.astype(np.float32)
    return upsample_bilinear(maps, x.shape[1:3]) if upsample else maps
