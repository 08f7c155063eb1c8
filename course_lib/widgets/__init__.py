"""Live explorers (ipywidgets 7.7 on Colab, 8 elsewhere) used by the lectures; each builds on course_lib and its plotting.

One factory per lecture knob, e.g. ``widgets.activation_explorer(model, x_test, y_test)``; every
factory returns a container whose controls are reachable for tests and scripts.
"""

from course_lib.widgets._base import Explorer
from course_lib.widgets.attribution import *  # noqa: F403
from course_lib.widgets.draw import *  # noqa: F403
from course_lib.widgets.evaluation import *  # noqa: F403
from course_lib.widgets.features import *  # noqa: F403
from course_lib.widgets.localization import *  # noqa: F403
from course_lib.widgets.trust import *  # noqa: F403
