"""Drawing — the only part of course_lib that draws. Nothing here computes an attribution.

``grids`` (``image_grid`` and friends) for filters, activations and visualised patterns;
``heatmaps`` (``heatmap``, ``overlay``, ``compare_maps``) for attribution maps, with a diverging
colour map centred at zero so that positive (red) and negative (blue) evidence are told apart at
a glance; ``curves`` for evaluation and optimisation curves; ``panels`` for the regions the live
explorers draw; ``scores`` for the evaluation scoreboard.
"""

from course_lib.plotting.curves import *  # noqa: F403
from course_lib.plotting.grids import *  # noqa: F403
from course_lib.plotting.heatmaps import *  # noqa: F403
from course_lib.plotting.panels import *  # noqa: F403
from course_lib.plotting.scores import *  # noqa: F403
