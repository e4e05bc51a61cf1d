"""The serving model and the writers of each export format.

A run's Keras model takes what training fed it: float32 (N, 28, 28, 1) in
[0, 1] for digits, float32 (N, S, S, 3) with raw values 0..255 for photos
(their Rescaling is inside the model). An export takes raw images instead,
so the preprocessing goes into the exported graph (house style: saved and
exported models take raw pixels):

    digits: images (N, 28, 28) -> Rescaling(1/255) -> Reshape(28, 28, 1) -> model
    photos: images (N, S, S, 3) -> cast to float32 -> model

The SavedModel and float TFLite take uint8 images. The int8 TFLite is
converted from the same graph with float32 0..255 input; full-integer
quantization then makes its input uint8 with scale 1 and zero point 0
(calibrated on training images, which span 0..255), so it too takes the
raw pixels, and its every tensor is 8-bit or 32-bit integer. Its output is
uint8 probabilities with scale 1/256: readers dequantize with the output's
quantization parameters (see nophd.export.artifacts).

The ONNX model is converted from the same uint8 serving graph by Keras'
own `model.export(format="onnx")`, which runs tf2onnx on the traced
function: its input "images" is uint8 (N, *raw shape), the Cast and the
1/255 scaling are nodes of the graph, and its output "probabilities" is
float32 (N, classes). tf2onnx and onnxruntime are an optional extra
(`pip install 'nophd[onnx]'`); `onnx_missing` names what is not installed.

Example:
    serving = serving_model(model, tasks.get("digits"), 28)
    write_savedmodel(serving, "out/savedmodel")
    tflite = tflite_bytes("out/savedmodel")
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from nophd.export import ExportError

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
# What --format onnx needs: the converter (which brings onnx) and the runtime
# that evaluates the export; import name -> distribution name.
ONNX_PACKAGES = {"tf2onnx": "tf2onnx", "onnx": "onnx", "onnxruntime": "onnxruntime"}
ONNX_EXTRA = "pip install 'nophd[onnx]'"


def serving_model(model, task, image_size: int, input_dtype: str = "uint8", batch_size: int | None = None):
    """`model` behind its preprocessing: raw images in, probabilities out.

    Args:
        model: the run's Keras model (float input, softmax output).
        task: the run's task (nophd.tasks): its raw input shape and the
            layers that turn raw pixels into the model's input.
        image_size: 28 for digits, the run's side S for photos.
        input_dtype: "uint8" for the SavedModel and float TFLite; "float32"
            (values 0..255) as the starting point of int8 quantization.
        batch_size: None for any batch size; 1 for the web app's TFLite
            model, as LiteRT.js runs only fixed input shapes (it refuses a
            UInt8[1, 28, 28] tensor for a UInt8[-1, 28, 28] input).

    Returns:
        A Functional Keras model taking `input_dtype` (N, *task.raw_shape)
        and returning {"probabilities": float32 (N, classes)}.
    """
    import keras

    inputs = keras.Input(task.raw_shape(image_size), batch_size=batch_size, dtype=input_dtype, name=INPUT_NAME)
    outputs = model(task.serving_features(inputs, image_size), training=False)
    return keras.Model(inputs, {OUTPUT_NAME: outputs}, name=f"{model.name}_serving")


def write_savedmodel(serving, folder: str | os.PathLike) -> None:
    """Writes `serving` as a SavedModel whose serving_default takes raw images, any batch size (or its fixed one)."""
    options = {}
    if serving.inputs[0].shape[0] is not None:
        # Keras' export makes the batch axis of an inferred signature None; a
        # fixed batch size (the web app's 1) has to be given explicitly.
        from nophd import quiet

        tf = quiet.import_tensorflow()
        options["input_signature"] = [tf.TensorSpec(tuple(serving.inputs[0].shape), tf.as_dtype(serving.inputs[0].dtype),
                                                    name=INPUT_NAME)]
    try:
        with quiet_stderr():
            serving.export(str(folder), format="tf_saved_model", verbose=False, **options)
    except Exception as error:  # TensorFlow raises many types while tracing.
        if "No space left on device" in str(error):
            # TensorFlow's file errors carry no errno: make it the OSError it is,
            # for the caller to name the folder the user chose.
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder)) from None
        raise ExportError(f"{folder}: cannot write the SavedModel ({first_line(error)})") from None


def tflite_bytes(saved_model: str | os.PathLike, representative: np.ndarray | None = None) -> bytes:
    """A .tflite flatbuffer converted from a SavedModel.

    Args:
        saved_model: a SavedModel folder written by `write_savedmodel`.
        representative: None for a float model; for full-integer int8, raw
            training images (N, *input_shape) 0..255 to calibrate the
            activation ranges on (the SavedModel must take float32 then).

    Raises:
        ExportError: the converter failed (its first line).
    """
    from nophd import quiet

    tf = quiet.import_tensorflow()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if representative is not None:
        images = np.asarray(representative, dtype=np.float32)

        def samples() -> Iterator[list[np.ndarray]]:
            for image in images:
                yield [image[np.newaxis]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        # Integer kernels only: conversion fails rather than leaving a float op.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    try:
        with quiet_stderr():
            return converter.convert()
    except Exception as error:  # The converter raises ConverterError and others.
        raise ExportError(f"{saved_model}: TFLite conversion failed ({first_line(error)})") from None


def onnx_missing(packages: tuple[str, ...] = tuple(ONNX_PACKAGES)) -> list[str]:
    """The distributions among `packages` (import names) that are not installed here.

    Cheap: looks the modules up without importing them (tf2onnx imports
    TensorFlow, onnxruntime loads its native library).
    """
    import importlib.util

    return [ONNX_PACKAGES[name] for name in packages if importlib.util.find_spec(name) is None]


def write_onnx(serving, file: str | os.PathLike) -> None:
    """Writes `serving` (uint8 input) as an ONNX model taking raw images, any batch size.

    Args:
        serving: the model `serving_model` returns with input_dtype "uint8".
        file: the .onnx file to write.

    Raises:
        ExportError: tf2onnx is not installed, or the conversion failed.
    """
    import warnings

    from nophd import quiet

    missing = onnx_missing(("tf2onnx", "onnx"))
    if missing:
        raise ExportError(f"--format onnx needs {' and '.join(missing)}, not installed here: {ONNX_EXTRA}")
    tf = quiet.import_tensorflow()
    # Given explicitly: Keras refuses to infer the signature of a Functional
    # model that was built but never called ("The model provided has never
    # called"), and the name makes the ONNX input "images".
    signature = [tf.TensorSpec((None, *serving.input_shape[1:]), tf.as_dtype(serving.inputs[0].dtype), name=INPUT_NAME)]
    try:
        with quiet_stderr(), warnings.catch_warnings():
            # Keras patches tf2onnx for NumPy 2 and trips NumPy's np.object FutureWarning doing so.
            warnings.simplefilter("ignore")
            serving.export(str(file), format="onnx", verbose=False, input_signature=signature)
    except Exception as error:  # tf2onnx raises many types while converting.
        if "No space left on device" in str(error):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file)) from None
        raise ExportError(f"{file}: ONNX conversion failed ({first_line(error)})") from None
    if not Path(file).is_file():
        raise ExportError(f"{file}: ONNX conversion wrote no file")


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Hides what TensorFlow's and LiteRT's C++ code prints on file descriptor 2.

    The converter and the interpreter log several lines per call (MLIR
    passes, "Created TensorFlow Lite XNNPACK delegate"); they are not
    errors. Python exceptions still propagate; NOPHD_DEBUG=1 shows the lines.
    """
    if os.environ.get("NOPHD_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def first_line(error: BaseException) -> str:
    """`Type: first line of the message` of an exception, for one-line errors."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0].strip()}" if lines else type(error).__name__


def folder_bytes(path: str | os.PathLike, leave_out: tuple[str, ...] = ()) -> int:
    """Total size of the files in a folder (or of one file), leaving out names in `leave_out`."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file() and item.name not in leave_out)
