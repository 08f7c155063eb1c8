"""Keep TensorFlow and Keras quiet on stderr.

nbgrader scores a test cell zero when it writes anything to stderr, even if every assert passes
(ARCHITECTURE.md §7). TensorFlow's C++ runtime logs to stderr while it is imported, so the log level has
to be set in the environment *before* the first ``import tensorflow``. This module is imported
first by ``course_lib/__init__.py``.
"""

import logging
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # C++ log lines: errors only
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # no "oneDNN custom operations" banner
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

import sys  # noqa: E402
import tempfile  # noqa: E402


def _import_tensorflow_silently():
    """Import TensorFlow with the process's stderr (file descriptor 2) sent to a scratch file.

    Since TF 2.16 the CUDA stub prints "Could not find cuda drivers" through absl *before* any log
    level applies, straight to fd 2. If the import fails, what it printed is replayed.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import tensorflow
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow


tf = _import_tensorflow_silently()

import absl.logging  # noqa: E402  (installed with TensorFlow)

absl.logging.set_verbosity(absl.logging.ERROR)
logging.getLogger("tensorflow").setLevel(logging.ERROR)

# Deprecation chatter from third-party packages says nothing a student can act on.
for _category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
    warnings.filterwarnings(
        "ignore", category=_category, module=r"(tensorflow|keras|google|absl|h5py|jax|mlxtend|sklearn)"
    )
warnings.filterwarnings("ignore", message=r".*np\.object.*")
# Keras 3 warns when a one-input model built as keras.Model(model.inputs, ...) — the lecture's own
# idiom — is called with a tensor instead of a one-element list. The call is correct; stay quiet.
warnings.filterwarnings(
    "ignore", message=r"The structure of `inputs` doesn't match the expected structure", category=UserWarning
)

tf.get_logger().setLevel(logging.ERROR)
tf.autograph.set_verbosity(0)
