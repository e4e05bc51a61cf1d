"""Importing TensorFlow without its C++ start-up chatter on stderr."""

from __future__ import annotations

import os
import sys
import tempfile

from nophd.errors import NophdError

# Printed before TensorFlow's logging is set up, so TF_CPP_MIN_LOG_LEVEL does
# not hide them.
_STARTUP_NOISE = ("oneDNN custom operations are on", "All log messages before absl::InitializeLog()")

MISSING_TENSORFLOW = "nophd needs TensorFlow: pip install 'nophd[cpu]' (or 'nophd[gpu]' on a CUDA machine)"


class MissingTensorFlowError(NophdError):
    """No TensorFlow distribution is installed: nophd's dependencies leave the choice to an extra."""


def import_tensorflow():
    """Imports and returns the tensorflow module, filtering its start-up lines.

    TF_CPP_MIN_LOG_LEVEL=3 (unless already set) hides C++ log lines; Python
    errors still raise. Anything else printed during the import is passed on
    to stderr.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        except ModuleNotFoundError as error:
            # Only the top-level package missing is the user's to fix with an
            # extra; a missing dependency inside TensorFlow is another error.
            if error.name != "tensorflow":
                raise
            raise MissingTensorFlowError(MISSING_TENSORFLOW) from None
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode("utf-8", "replace").splitlines():
                if not any(noise in line for noise in _STARTUP_NOISE):
                    print(line, file=sys.stderr)
    return tensorflow
