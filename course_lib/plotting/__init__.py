"""Drawing — the only part of course_lib that draws. Nothing here computes an attribution.

``image_grid`` for filters, activations and visualised patterns; ``heatmap`` and ``overlay`` for
attribution maps, with a diverging colour map centred at zero so that positive (red) and negative
(blue) evidence are told apart at a glance.
"""

from course_lib.plotting.curves import *  # noqa: F403
from course_lib.plotting.heatmaps import *  # noqa: F403
from course_lib.plotting.images import *  # noqa: F403
from course_lib.plotting.scores import *  # noqa: F403
