"""Feature visualisation — "How is the model working? How do DNNs see the world?"

In the lecture's order: first-layer filters and activations → transposed convolution and
DeconvNet → activation maximisation.
"""

from course_lib.features.activations import *  # noqa: F403
from course_lib.features.deconvnet import *  # noqa: F403
from course_lib.features.filters import *  # noqa: F403
from course_lib.features.maximization import *  # noqa: F403
