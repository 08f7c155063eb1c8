"""The grading pipeline on the attribution exercises (3 saliency maps, 4 LRP, 5 integrated gradients).

Same machinery as ``test_grading_pipeline.py`` (``grading_harness``: ``Case``/``edit`` helpers, the notebook
mutations of :mod:`course_lib.grading.mutations` and :class:`~course_lib.grading.pipeline.Course`):
every submission is the released notebook with the model answers filled in, then edited. All
submissions of one assignment are graded by nbgrader in ONE batch (collect → check/repair →
autograde → feedback → export).

Each wrong answer is a mistake students make with these methods (the gradient of the softmax
probability, ε added without its sign, the bias missing from the denominator, integrated gradients
without the factor (x − x′), the baseline ignored, a left Riemann sum, ...). A case lists exactly
the test cells it must lose — the mistake's own cells and the cells of functions that call the
wrong one; every other test cell must keep its full points. Mistakes whose losses do not overlap
share one submission, to keep the number of notebook runs (each starts TensorFlow) small.
"""

from __future__ import annotations

import pytest
from grading_harness import (
    TEST_CELL_TIMEOUT,
    Case,
    edit,
    hidden,
    pair,
    pipeline_tests,
    reference_cases,
    unanswered,
    wrong,
)

from course_lib.grading import mutations as mut

# One nbgrader batch per assignment is graded once per worker: keep this file on one xdist worker.
pytestmark = pytest.mark.xdist_group("grading_ex3_ex5")

EX3 = "ex3_saliency_maps"
EX4 = "ex4_layerwise_relevance_propagation"
EX5 = "ex5_integrated_gradients"


LOGITS, SALIENCY, GXI, SMOOTH = (
    pair(n) for n in ("logits_model", "saliency_map", "gradient_times_input", "smoothgrad_map")
)
EPS, NETWORK, GAP, KEPT = (
    pair(n) for n in ("lrp_epsilon_dense", "lrp_dense_network", "conservation_gap", "relevance_kept")
)
LAYERS = ("test_dense_layers",)
ALPHAS, IG, COMPLETE = (pair(n) for n in ("midpoint_alphas", "integrated_gradients_midpoint", "completeness_gap"))

EVERY_TEST = {
    EX3: LOGITS + SALIENCY + GXI + SMOOTH,
    EX4: EPS + LAYERS + NETWORK + GAP + KEPT,
    EX5: ALPHAS + IG + COMPLETE,
}

# ------------------------------------------------------------------------------------ mistakes
# (answer cell, line of the model answer, the wrong line)

SOFTMAX_GRADIENT = ("saliency_map", "scores_model = logits_model(model)", "scores_model = model")
ABS_ATTRIBUTION = (
    "gradient_times_input",
    'return np.asarray(x, dtype="float32") * saliency_map(model, x, target)',
    'return np.abs(np.asarray(x, dtype="float32") * saliency_map(model, x, target))',
)
SUM_NOT_MEAN = ("smoothgrad_map", ".mean(axis=0)", ".sum(axis=0)")

EPSILON_WITHOUT_SIGN = (
    "lrp_epsilon_dense",
    "denominator = z + epsilon * np.where(z >= 0, 1.0, -1.0)",
    "denominator = z + epsilon",
)
BIAS_NOT_IN_DENOMINATOR = ("lrp_epsilon_dense", "z = a @ W + b", "z = a @ W")
PROBABILITY_NOT_SCORE = (
    "relevance_kept",
    "scores = checks.pre_softmax_scores(model, x)[",
    "scores = np.asarray(model(x))[",
)

WITHOUT_DIFFERENCE = (
    "integrated_gradients_midpoint",
    'return ((x - baseline) * gradients.mean(axis=0)).astype("float32")',
    'return gradients.mean(axis=0).astype("float32")',
)
BASELINE_IGNORED = (
    "integrated_gradients_midpoint",
    'baseline = np.broadcast_to(np.asarray(baseline, dtype="float32"), x.shape)',
    "baseline = np.zeros_like(x)",
)
LEFT_RIEMANN = ("midpoint_alphas", "(np.arange(steps) + 0.5) / steps", "np.arange(steps) / steps")
NOISY_IG = (
    "integrated_gradients_midpoint",
    "    alphas = midpoint_alphas(steps)",
    "    import sys\n    import warnings\n"
    '    print("my path has", steps, "points", file=sys.stderr)\n'
    '    warnings.warn("a warning from the student\'s code")\n'
    "    alphas = midpoint_alphas(steps)",
)


CHANNEL_SUM = (  # one map per pixel, summed over the colour channels
    "saliency_map",
    "    return tape.gradient(chosen, x).numpy()",
    "    return tf.reduce_sum(tape.gradient(chosen, x), axis=-1, keepdims=True).numpy()",
)
TENSOR_SALIENCY = ("saliency_map", "    return tape.gradient(chosen, x).numpy()", "    return tape.gradient(chosen, x)")
NUMPY_IN_SMOOTHGRAD = (
    "smoothgrad_map",
    "    grads = saliency_map(model, noisy.reshape(-1, *x.shape[1:]), np.tile(targets, samples))",
    "    grads = np.asarray(saliency_map(model, noisy.reshape(-1, *x.shape[1:]), np.tile(targets, samples)))",
)
REBIND_MODEL = (  # the answer cell turns the notebook's `model` into its logits model
    "logits_model",
    "        return keras.Model(model.inputs[0], model.layers[-2].output)\n    return model",
    "        return keras.Model(model.inputs[0], model.layers[-2].output)\n    return model\n\n\nmodel = logits_model(model)",
)
# Every graded function of exercise 3 handing its work to course_lib: an alias of a module-level helper,
# an alias of the public method, a helper around it, and the method called directly.
DELEGATING_EX3 = (
    (
        "logits_model",
        "    last = model.layers[-1]",
        "    from course_lib._graph import logits_model as _scores\n\n    return _scores(model)\n    last = model.layers[-1]",
    ),
    (
        "saliency_map",
        '    x = tf.convert_to_tensor(np.asarray(x, dtype="float32"))',
        "    from course_lib import saliency as _gradient\n\n    return _gradient(model, x, target)\n"
        '    x = tf.convert_to_tensor(np.asarray(x, dtype="float32"))',
    ),
    (
        "gradient_times_input",
        'return np.asarray(x, dtype="float32") * saliency_map(model, x, target)',
        "return _product(model, x, target)\n\n\ndef _product(*arguments):\n    return cl.gradient_x_input(*arguments)",
    ),
    (
        "smoothgrad_map",
        '    x = np.asarray(x, dtype="float32")',
        "    return cl.smoothgrad(model, x, target, samples=samples, noise=noise, seed=seed)\n"
        '    x = np.asarray(x, dtype="float32")',
    ),
)

NO_ZERO_GUARD = (
    "lrp_epsilon_dense",
    "s = np.divide(R_out, denominator, out=np.zeros_like(denominator), where=denominator != 0)",
    "s = R_out / denominator",
)
ABS_GAP = (
    "conservation_gap",
    "return lrp_dense_network(layers, x, target, epsilon).sum(axis=1) - scores",
    "return np.abs(lrp_dense_network(layers, x, target, epsilon).sum(axis=1) - scores)",
)
DELEGATING_EX4 = (
    (
        "lrp_epsilon_dense",
        "    denominator = z + epsilon * np.where(z >= 0, 1.0, -1.0)",
        "    from course_lib.attribution.lrp_rules import stabilise as _away_from_zero\n\n"
        "    denominator = np.asarray(_away_from_zero(z, epsilon))",
    ),
    (
        "lrp_dense_network",
        "    a = np.asarray(x, dtype=np.float64)",
        "    return _course_lrp(layers, x, target, epsilon)\n    a = np.asarray(x, dtype=np.float64)",
    ),
    (
        "lrp_dense_network",
        "def lrp_dense_network(",
        "def _course_lrp(layers, x, target, epsilon):\n"
        "    net = keras.Sequential(\n"
        "        [keras.Input(shape=(layers[0][0].shape[0],))]\n"
        '        + [keras.layers.Dense(W.shape[1], activation="relu") for W, _ in layers[:-1]]\n'
        "        + [keras.layers.Dense(layers[-1][0].shape[1])]\n"
        "    )\n"
        "    net.set_weights([w for pair in layers for w in pair])\n"
        '    x = np.asarray(x, dtype="float32")\n'
        '    return cl.lrp(net, x, np.broadcast_to(target, (len(x),)), rule="epsilon", epsilon=epsilon)\n\n\n'
        "def lrp_dense_network(",
    ),
)

BLACK_SCORE = (  # S_c(x') taken at a black image whatever the baseline
    "completeness_gap",
    "np.asarray(scores_model(baseline))[rows, targets]",
    "np.asarray(scores_model(np.zeros_like(baseline)))[rows, targets]",
)
TENSOR_IG = (
    "integrated_gradients_midpoint",
    'return ((x - baseline) * gradients.mean(axis=0)).astype("float32")',
    'return tf.constant(((x - baseline) * gradients.mean(axis=0)).astype("float32"))',
)
NUMPY_IN_GAP = (
    "completeness_gap",
    "attributions = integrated_gradients_midpoint(model, x, baseline, target, steps)",
    "attributions = np.asarray(integrated_gradients_midpoint(model, x, baseline, target, steps))",
)
DELEGATING_EX5 = (
    (
        "midpoint_alphas",
        '    return ((np.arange(steps) + 0.5) / steps).astype("float32")',
        "    from course_lib.attribution.integrated_gradients import quadrature as _nodes\n\n"
        '    return _nodes(steps, "riemann_midpoint")[0]',
    ),
    (
        "integrated_gradients_midpoint",
        '    x = np.asarray(x, dtype="float32")',
        "    from course_lib import integrated_gradients as _path_integral\n\n"
        '    return _path_integral(model, x, target, baseline=baseline, steps=steps, method="riemann_midpoint")\n'
        '    x = np.asarray(x, dtype="float32")',
    ),
    (
        "completeness_gap",
        '    x = np.asarray(x, dtype="float32")',
        '    return _gap(model, x, baseline, target, steps)\n    x = np.asarray(x, dtype="float32")',
    ),
    (
        "completeness_gap",
        "def completeness_gap(",
        "def _gap(model, x, baseline, target, steps):\n"
        "    _, delta = cl.integrated_gradients(\n"
        '        model, x, target, baseline=baseline, steps=steps, method="riemann_midpoint", return_delta=True\n'
        "    )\n"
        "    return np.abs(delta)\n\n\n"
        "def completeness_gap(",
    ),
)


CASES: dict[str, list[Case]] = {
    EX3: [
        *reference_cases(EVERY_TEST[EX3]),
        # every later function calls saliency_map, so they all lose their points
        Case("softmax", wrong(SOFTMAX_GRADIENT), lost=SALIENCY + GXI + SMOOTH),
        Case(
            # two independent mistakes; the notebook was renamed and lost its nbgrader metadata on the way
            "abs-and-sum",
            edit(
                (mut.replace_in_cell, *ABS_ATTRIBUTION),
                (mut.replace_in_cell, *SUM_NOT_MEAN),
                (mut.strip_nbgrader_metadata,),
            ),
            lost=GXI + SMOOTH,
            member=f"abs-and-sum/Copy of {EX3}.ipynb",
            finding="restored lost nbgrader metadata",
        ),
        # the one-channel digits cannot see it: the colour images of the visible test and the 2-channel
        # networks of the hidden tests of saliency_map and of the functions built on it do
        Case("channel-sum", wrong(CHANNEL_SUM), lost=SALIENCY + hidden(GXI, SMOOTH)),
        # tensors returned instead of arrays, and an answer cell that rebinds the notebook's `model`: correct work
        Case("tensors-and-model", wrong(TENSOR_SALIENCY, NUMPY_IN_SMOOTHGRAD, REBIND_MODEL)),
        Case("delegates", wrong(*DELEGATING_EX3), lost=hidden(LOGITS, SALIENCY, GXI, SMOOTH)),
    ],
    EX4: [
        *reference_cases(EVERY_TEST[EX4]),
        # visible network test: true classes, positive scores, where the sign of ε cannot matter;
        # the hidden tests explain negative scores (least likely class, an untrained MLP class)
        Case("unsigned-epsilon", wrong(EPSILON_WITHOUT_SIGN), lost=EPS + ("test_lrp_dense_network_hidden",) + GAP[1:]),
        Case(
            # two independent mistakes; the visible LRP test was replaced by a print and is restored
            "bias-and-probability",
            edit(
                (mut.replace_in_cell, *BIAS_NOT_IN_DENOMINATOR),
                (mut.replace_in_cell, *PROBABILITY_NOT_SCORE),
                (mut.set_source, "test_lrp_dense_network", 'print("looks right")'),
            ),
            lost=EPS + NETWORK + GAP + KEPT,
            finding="restored the released test",
        ),
        # a division without the guard (NaN for a dead unit at epsilon = 0) and a gap without its sign
        Case("no-guard-and-abs-gap", wrong(NO_ZERO_GUARD, ABS_GAP), lost=EPS + GAP),
        # task 3 skipped: the functions that call it lose their points, relevance_kept (cl.lrp) keeps its own
        Case("skipped", unanswered("lrp_dense_network"), lost=NETWORK + GAP),
        Case("delegates", wrong(*DELEGATING_EX4), lost=hidden(EPS, NETWORK, GAP)),
    ],
    EX5: [
        *reference_cases(EVERY_TEST[EX5]),
        Case("no-difference", wrong(WITHOUT_DIFFERENCE), lost=IG + COMPLETE),
        Case(
            # the visible IG test catches it, and so does the visible gap from the toy's baseline (2, 0),
            # where the path from 0 gives sum R = 1 but S(x) - S(x') = 0.
            # The function also writes to stderr and warns: that must not cost the passing cells.
            "baseline-ignored",
            wrong(BASELINE_IGNORED, NOISY_IG),
            lost=IG + COMPLETE,
        ),
        Case("left-riemann", wrong(LEFT_RIEMANN), lost=ALPHAS + IG + COMPLETE),
        # S_c(x') at a black image (the toy's baseline (2, 0) scores 1) and IG returned as a tf.Tensor
        Case("black-score-and-tensor", wrong(BLACK_SCORE, TENSOR_IG, NUMPY_IN_GAP), lost=COMPLETE),
        Case("delegates", wrong(*DELEGATING_EX5), lost=hidden(ALPHAS, IG, COMPLETE)),
    ],
}


# the graded batches (one per assignment) and the tests every pipeline file runs on them
globals().update(pipeline_tests(CASES, EVERY_TEST, timeout=240, test_cell_timeout=TEST_CELL_TIMEOUT * 3))


@pytest.mark.slow
def test_stderr_of_student_code_is_kept_but_costs_nothing(graded):
    course, _ = graded(EX5)
    autograded = course.grading_root / "autograded" / "baseline-ignored" / EX5 / f"{EX5}.ipynb"
    assert "[stderr] my path has" in autograded.read_text()


@pytest.mark.slow
def test_regrading_gives_the_same_scores(graded):
    course, outcome = graded(EX4)
    course.autograde(EX4, ["unsigned-epsilon"])
    assert course.scores(EX4)["unsigned-epsilon"] == outcome["scores"]["unsigned-epsilon"]
