"""Cost of each attribution method relative to one plain gradient.

On a batch of 32 MNIST test digits and the shipped network, times one call of every method and
one plain gradient ∂S_c/∂x (a compiled ``tf.GradientTape`` on the pre-softmax model), all in the
same process, after one warm-up call each (so tracing of the ``tf.function``s is not counted).
Each figure is the median CPU time of ``--repeats`` calls; the methods take turns with the
gradient, so a change of machine load affects all of them alike. LRP is timed for each rule.
Targets: LRP-ε, LRP-0 (z) and z⁺ ≤ 1.3× a plain gradient (one forward and one modified backward
pass); integrated gradients with 50 steps ≤ 60×.

The methods are timed in two groups, each with its own gradient: those of about one backward pass
(LRP, saliency, CAM, ...) and those of many (SmoothGrad, integrated gradients, DeepLIFT, occlusion).
A call of a second or more leaves the machine busy for a moment after it returns (thread pools
winding down), and on 2 cores that time was billed to the short calls that followed it. For the
same reason numpy's BLAS runs on one thread here (``OPENBLAS_NUM_THREADS=1``): after the
``np.tensordot`` at the end of ``occlusion``, OpenBLAS's worker threads kept spinning for a fraction
of a second, and LRP-ε, timed a few calls later, cost 1.8–2.1× a gradient instead of 1.1–1.2×.
The methods' numpy work is small; TensorFlow's thread pools are not affected by this setting.

The z⁺ rule cannot go below one more forward pass: its denominators z⁺_j = Σ_i a_i w⁺_ij are a
second convolution of every layer's input (next to z_j, which the ReLUs and max pooling need), and
on this network the convolutions are most of the cost. So the benchmark also times that floor,
"gradient + forward" (a plain gradient plus a second forward pass of the network), and prints z⁺
against it.

    python benchmarks/attribution.py [--batch 32] [--repeats 15] [--only lrp]
"""

from __future__ import annotations

import os

os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see the module docstring

# course_lib first, as in every notebook: it sets TensorFlow's environment before TensorFlow loads
import course_lib as cl  # noqa: E402, I001
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _timing import batch_arguments, median_times  # noqa: E402

from course_lib._graph import logits_model  # noqa: E402

LRP_RULES = ("epsilon", "z", "zplus", "alpha_beta", "epsilon_plus", "epsilon_plus_flat")
FLOOR = "gradient + forward (z⁺'s floor)"
TARGETS = {"lrp epsilon": 1.3, "lrp z": 1.3, "lrp zplus": 1.3, "integrated_gradients (50 steps)": 60.0}


def gradient_fn(model, *, second_forward: bool = False):
    """The reference: one forward and one backward pass of the pre-softmax model.

    ``second_forward=True``: the floor of LRP-z⁺, the gradient plus one more forward pass (of other
    inputs, so that the compiler cannot merge the two).
    """
    scores_model = logits_model(model)

    @tf.function
    def gradient(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)
            scores = tf.gather(scores_model(x, training=False), targets, axis=1, batch_dims=1)
        extra = [scores_model(0.5 * x, training=False)] if second_forward else []
        return [tape.gradient(scores, x), *extra]

    return lambda x, targets: [t.numpy() for t in gradient(tf.constant(x), tf.constant(targets))]


def main() -> None:
    parser = batch_arguments(__doc__.splitlines()[0], batch=32, repeats=15)
    parser.add_argument("--only", default="", help="time only the methods whose name contains this (and the gradient)")
    args = parser.parse_args()

    model = cl.pretrained("mnist_cnn")
    (_, _), (x_test, _) = cl.load_mnist(source="bundled", verbose=False)
    x = x_test[: args.batch]
    targets = np.argmax(model.predict(x, verbose=0), axis=1).astype(np.int32)

    gradient = gradient_fn(model)
    floor = gradient_fn(model, second_forward=True)
    one_pass = {
        FLOOR: lambda: floor(x, targets),
        "saliency": lambda: cl.saliency(model, x, targets),
        "gradient_x_input": lambda: cl.gradient_x_input(model, x, targets),
        "grad_cam": lambda: cl.grad_cam(model, x, targets),
        "cam": lambda: cl.cam(model, x, targets),
        **{f"lrp {rule}": lambda rule=rule: cl.lrp(model, x, targets, rule=rule, epsilon=0.1) for rule in LRP_RULES},
    }
    many_passes = {
        "smoothgrad (25 samples)": lambda: cl.smoothgrad(model, x, targets, samples=25),
        "integrated_gradients (50 steps)": lambda: cl.integrated_gradients(model, x, targets, steps=50),
        "deeplift": lambda: cl.deeplift(model, x, targets),
        "occlusion (patch 4, stride 2)": lambda: cl.occlusion(model, x, targets, patch=4, stride=2),
    }
    print(
        f"{args.batch} MNIST digits, median CPU time of {args.repeats} interleaved calls after one warm-up, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
    )
    print(f"{'method':34s} {'CPU s':>9s} {'× gradient':>11s}  target")
    for group in (one_pass, many_passes):
        chosen = {name: call for name, call in group.items() if args.only in name or name == FLOOR}
        if chosen:
            times = median_times({"plain gradient": lambda: gradient(x, targets), **chosen}, args.repeats)
            print_ratios(times)
            if "lrp zplus" in times:
                print(f"lrp zplus / its floor: {times['lrp zplus'] / times[FLOOR]:.2f}")


def print_ratios(times: dict) -> None:
    base = times["plain gradient"]
    for name, seconds in times.items():
        ratio = seconds / base
        target = f"≤ {TARGETS[name]:g}×  {'ok' if ratio <= TARGETS[name] else 'MISSED'}" if name in TARGETS else ""
        print(f"{name:34s} {seconds:9.4f} {ratio:11.2f}  {target}")


if __name__ == "__main__":
    main()
