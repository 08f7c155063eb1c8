"""course_lib — reference implementations for the course "Introspecting Deep Networks".

``import course_lib as cl`` gives the whole public API: data (``load_mnist``, ``load_ising``),
models (``models.mnist_cnn``, ``pretrained``), feature visualisation (``first_layer_filters``,
``activations``, ``conv_transpose``, ``deconvnet``, ``activation_maximization``), prediction
analysis (``cam``, ``grad_cam``, ``saliency``, ``lrp``, ``integrated_gradients``, …) and its
evaluation, also against networks whose true explanation is known (``course_lib.ground_truth``).
Plotting lives in ``course_lib.plotting`` and the live explorers in ``course_lib.widgets``.
"""

from course_lib import (
    _quiet,  # noqa: F401  (must run before TensorFlow is imported anywhere)
    evaluation,
    ground_truth,
    models,
    plotting,
    postprocess,
)
from course_lib.attribution import *  # noqa: F403
from course_lib.data import ISING_TC, load_ising, load_mnist
from course_lib.evaluation import *  # noqa: F403
from course_lib.features import *  # noqa: F403
from course_lib.models import pretrained

__version__ = "0.1.0"
