"""Prediction analysis — "Why is my model predicting a certain class?"

In the lecture's order: class activation maps → saliency maps → layer-wise relevance propagation
→ integrated gradients, plus DeepLIFT and occlusion. Every method shares one signature,
``method(model, x, target=None, **options)``, and returns an unreduced float32 numpy array.
"""

from course_lib.attribution.baselines import *  # noqa: F403
from course_lib.attribution.cam import *  # noqa: F403
from course_lib.attribution.deeplift import *  # noqa: F403
from course_lib.attribution.integrated_gradients import *  # noqa: F403
from course_lib.attribution.lrp import *  # noqa: F403
from course_lib.attribution.occlusion import *  # noqa: F403
from course_lib.attribution.saliency import *  # noqa: F403
