"""Exporting a finished run's model for serving, phones and microcontrollers.

`nophd export RUN --format savedmodel|tflite|tflite-int8|onnx|web [--out DIR]` writes
one export folder (default RUN/export/<format>/) holding the artifact and an
export.json that compares it with the run's Keras model on the test set
(accuracy, file size, single-image latency).

Every format takes raw images, as they are stored, and returns probabilities:

- digits (the MNIST ladder): uint8 (N, 28, 28), 0..255, white digit on black
  as in the MNIST files (no channel axis: the model adds it).
- photos: uint8 (N, S, S, 3), 0..255 RGB, S the run's image size.

Modules:
    formats      the serving model (raw uint8 in, probabilities out) and the
                 SavedModel / TFLite / ONNX writers
    artifacts    loading an export folder, a SavedModel, a .tflite or an .onnx
                 file to predict with (used by nophd.inference.predictor)
    measure      accuracy on labelled images and single-image latency
    webapp       the web app's page and vendored runtime (LiteRT.js), copied next to its model.tflite
    export       export_run: the library function `nophd export` (nophd.cli.export) calls
"""

from nophd.errors import NophdError

FORMATS = ("savedmodel", "tflite", "tflite-int8", "onnx", "web")
# The formats whose converter is an optional extra, with the packages (import names) each needs.
OPTIONAL_FORMATS = {"onnx": ("tf2onnx", "onnx", "onnxruntime")}
# The one file each single-file format writes into its export folder (a SavedModel is the folder itself).
ARTIFACT_FILES = {"tflite": "model.tflite", "tflite-int8": "model.tflite", "onnx": "model.onnx"}
# The formats whose export is a whole folder to copy as one (a download sends it zipped).
FOLDER_FORMATS = ("savedmodel", "web")


class ExportError(NophdError):
    """An export could not be written or read back (a one-line reason)."""
