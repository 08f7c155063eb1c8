"""Activation maximisation: one batch for all filters versus one filter at a time (ARCHITECTURE.md §7).

Visualises all 32 filters of ``conv2d_4`` of the shipped MNIST network with 50 normalised
gradient-ascent steps, twice, in the same process:

* batched — ``course_lib.activation_maximization``: the 32 images form one batch and one compiled
  ``tf.function`` does each step (tracing included in the time);
* loop — the lecture's Task-1 code shape: for each filter, for each step, an eager
  ``tf.GradientTape`` on a sub-model, the same normalisation and clipping.

Both start from the same noise, so the images agree; the script checks that and prints the times
and their ratio (target ≥ 10× on 2 CPU cores).

    python benchmarks/feature_visualization.py [--steps 50] [--layer conv2d_4]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")

# course_lib first, as in every notebook: it sets TensorFlow's environment before TensorFlow loads
import course_lib as cl  # noqa: E402, I001
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def per_filter_loop(model, layer, filters, steps, step_size, seed):
    """One filter after the other, one eager gradient step after the other (the lecture's code)."""
    sub_model = keras.Model(model.inputs, model.get_layer(layer).output)
    shape = (1, *model.inputs[0].shape[1:])
    images = []
    for filter_index in filters:
        image = tf.Variable(np.random.default_rng([seed, filter_index]).uniform(0, 1, shape).astype(np.float32))
        for _ in range(steps):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(sub_model(image, training=False)[..., filter_index])
            grads = tape.gradient(loss, image)
            grads = grads / (tf.sqrt(tf.reduce_mean(tf.square(grads))) + 1e-5)
            image.assign(tf.clip_by_value(image + step_size * grads, 0.0, 1.0))
        images.append(image.numpy()[0])
    return np.stack(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer", default="conv2d_4")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--step-size", type=float, default=0.05)
    args = parser.parse_args()

    model = cl.pretrained("mnist_cnn")
    n_filters = model.get_layer(args.layer).filters
    filters = list(range(n_filters))
    cl.activations(model, np.zeros((1, 28, 28, 1), np.float32), args.layer)  # warm up TensorFlow itself

    start = time.perf_counter()
    batched = cl.activation_maximization(model, args.layer, steps=args.steps, step_size=args.step_size)
    t_batched = time.perf_counter() - start

    start = time.perf_counter()
    looped = per_filter_loop(model, args.layer, filters, args.steps, args.step_size, seed=0)
    t_loop = time.perf_counter() - start

    difference = float(np.abs(batched.images - looped).max())
    print(f"activation maximisation, {n_filters} filters of {args.layer}, {args.steps} steps, {os.cpu_count()} CPUs")
    print(f"  batched (one tf.function step for all filters, tracing included): {t_batched:8.2f} s")
    print(f"  per-filter eager loop (lecture's Task-1 code shape):              {t_loop:8.2f} s")
    print(f"  speed-up: {t_loop / t_batched:.1f}x   (max |image difference| = {difference:.1e})")


if __name__ == "__main__":
    main()
