"""nbgrader configuration: this repository is an nbgrader course.

``solutions/<assignment>/`` holds the source notebooks (answers and hidden tests) and
``exercises/<assignment>/`` the released student versions that ``nbgrader generate_assignment``
writes. The instructor's commands (``python -m course_lib.grading ...``, see
README.md, "Grading the exercises") load this file and point nbgrader's working folders (submitted/,
autograded/, feedback/, gradebook.db) at a separate grading directory. Plain ``nbgrader``
commands run from the repository root read it as well.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "introspecting-deep-networks"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]

# The kernels that nbgrader starts inherit this process's environment: TensorFlow's C++ runtime
# must stay silent before it is imported, or its log lines land on stderr inside test cells.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::FutureWarning")

# Student code runs in a sandbox (bubblewrap; README.md, "The sandbox"): nbgrader's Execute with
# each kernel confined to a folder of its own, without network, with these limits per kernel. A
# kernel that dies keeps the scores of the cells that ran; the rest score zero, with the cause.
c.SandboxedExecute.sandbox = True  # False: run kernels unsandboxed (no warning)
c.SandboxedExecute.memory_mb = 4096  # private memory (MiB); a larger allocation fails in its cell
c.SandboxedExecute.processes = 256  # processes + threads (TensorFlow and the kernel use ~40)
c.SandboxedExecute.notebook_timeout = 3600  # seconds per notebook before its kernel is killed
c.SandboxedExecute.read_only = []  # further folders the kernels may read (shared data sets)

# A CPU grading machine: TensorFlow alone takes several seconds to start, and a busy machine is
# slower. A cell that runs longer than this (an infinite loop) is interrupted and scores zero;
# the rest of the notebook still runs.
c.Execute.timeout = 150
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120  # the sandboxed execution inherits every Execute setting

# Test cells that were deleted in the submission are put back from the gradebook.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores a test cell zero as soon as it printed anything to stderr (nbgrader.utils.
# determine_grade), even when every assert passed: a stray warning would cost a student the
# points. After execution, stderr text is relabelled as ordinary output (kept for the feedback),
# and very long outputs are cut. Errors (failed asserts, exceptions, timeouts) still score zero.
c.Autograde.autograde_preprocessors = [
    "course_lib.grading.execution.SandboxedExecute",
    "course_lib.grading.preprocessors.RelabelStderr",
    "course_lib.grading.preprocessors.LimitOutputSize",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.LimitOutput.max_lines = 200
c.LimitOutput.max_traceback = 60
