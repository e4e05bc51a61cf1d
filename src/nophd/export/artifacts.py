"""Reading exports back: a SavedModel folder, a .tflite or .onnx file, or an export folder.

Each loaded artifact takes raw uint8 images (digits (N, 28, 28), photos
(N, S, S, 3)) and returns float32 probabilities (N, classes), whatever its
format: an int8 TFLite model's input is quantized and its output
dequantized here, with the tensors' own quantization parameters; an ONNX
model runs in ONNX Runtime (the optional `onnx` extra).

What the artifact is (kind, class names, image size) comes from the
export.json that `nophd export` writes beside it; without one it is read
from the input's shape ((N, 28, 28): digits; (N, S, S, 3): photos) and the
classes are numbered.

Example:
    artifact = load("runs/x/export/tflite-int8")
    artifact.predict(test_images)          # (N, 10) float32
    artifact.single(test_images[:1])()     # one image, for timing
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from nophd import tasks
from nophd.errors import NophdError
from nophd.export import ARTIFACT_FILES, ExportError, formats

EXPORT_JSON = "export.json"
TFLITE_NAME = ARTIFACT_FILES["tflite"]
ONNX_NAME = ARTIFACT_FILES["onnx"]
# The single-file formats, by suffix.
FILE_SUFFIXES = (".tflite", ".onnx")
SAVED_MODEL_FILE = "saved_model.pb"
# Images per batch when predicting many: 256 digits, but for photos only as
# many as make about 4 million input values (37 at 192x192): exporting a
# MobileNetV2 flowers run held 6.9 GB of memory with batches of 256 (500
# for the Keras side), 2.1 GB at its peak with these.
MAX_BATCH = 256
BATCH_VALUES = 4 * 2**20


def is_export(path: str | os.PathLike) -> bool:
    """True for a .tflite or .onnx file, a SavedModel folder, or a folder with an export.json.

    Cheap (no TensorFlow): the predictor uses it to choose how to load `path`.
    """
    path = Path(path)
    if path.is_file():
        return path.suffix in FILE_SUFFIXES
    return path.is_dir() and ((path / SAVED_MODEL_FILE).exists() or (path / EXPORT_JSON).exists())


def read_metadata(path: str | os.PathLike) -> dict:
    """The export.json for an artifact path (inside its folder, or beside a .tflite or .onnx), or {}."""
    path = Path(path)
    candidate = path / EXPORT_JSON if path.is_dir() else path.parent / EXPORT_JSON
    try:
        value = json.loads(candidate.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def load(path: str | os.PathLike) -> "SavedModelArtifact | TFLiteArtifact | OnnxArtifact":
    """Opens an export for prediction.

    Args:
        path: a .tflite or .onnx file, a SavedModel folder, or an export
            folder holding model.tflite or model.onnx and export.json.

    Raises:
        ExportError: nothing exported there, or it will not load, or it does
            not take uint8 images, or it is ONNX and onnxruntime is missing.
    """
    path = Path(path)
    if not path.exists():
        raise ExportError(f"{path}: no such file or folder")
    metadata = read_metadata(path)
    if path.is_dir() and (path / SAVED_MODEL_FILE).exists():
        return SavedModelArtifact(path, metadata)
    if path.is_dir():
        file = path / str(metadata.get("artifact", TFLITE_NAME))
        if not file.is_file() or file.suffix not in FILE_SUFFIXES:
            raise ExportError(f"{path}: neither a SavedModel (saved_model.pb) nor an export folder with a .tflite "
                              "or .onnx file")
        path = file
    if path.suffix == ".onnx":
        return OnnxArtifact(path, metadata)
    if path.suffix != ".tflite":
        raise ExportError(f"{path}: not a .tflite or .onnx file or an export folder")
    return TFLiteArtifact(path, metadata)


class _Artifact:
    """What both formats share: metadata, and checking the images fed in."""

    format = ""

    def __init__(self, path: Path, metadata: dict, shape: tuple, dtype, classes: int):
        self.path = path
        self.metadata = metadata
        if np.dtype(dtype) != np.uint8:
            raise ExportError(f"{path}: the model takes {np.dtype(dtype).name} input; nophd exports take uint8 images")
        shape = tuple(shape)
        inferred = tasks.of_raw_shape(shape)
        if inferred is None:
            raise ExportError(f"{path}: input shape {shape} is neither (N, S, S) digits nor (N, S, S, 3) photos")
        try:
            self.task = tasks.get(metadata["kind"]) if "kind" in metadata else inferred
        except NophdError:
            raise ExportError(f"{path}: export.json's kind {metadata['kind']!r} is not one nophd knows") from None
        self.kind = self.task.name
        self.image_size = int(metadata.get("image_size", shape[1]))
        names = metadata.get("class_names") or [str(index) for index in range(classes)]
        if len(names) != classes:
            raise ExportError(f"{path}: export.json names {len(names)} classes, the model has {classes} outputs")
        self.class_names = [str(name) for name in names]
        self.input_shape = self.task.raw_shape(self.image_size)

    def _check(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if images.shape[1:] != self.input_shape or images.dtype != np.uint8:
            raise ExportError(f"{self.path}: expected uint8 images of shape (N, {', '.join(map(str, self.input_shape))}), "
                              f"got {images.dtype} {images.shape}")
        return images

    def predict(self, images: np.ndarray) -> np.ndarray:
        """float32 probabilities (N, classes) for uint8 images (N, *input_shape)."""
        images = self._check(images)
        if not len(images):
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        batch = batch_size(self.input_shape)
        return np.concatenate([self._predict_batch(images[start:start + batch])
                               for start in range(0, len(images), batch)])

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def single(self, image: np.ndarray) -> Callable[[], np.ndarray]:
        """A function predicting `image` (1, *input_shape) uint8, prepared once, for timing."""
        raise NotImplementedError


class SavedModelArtifact(_Artifact):
    """A SavedModel's serving_default signature (raw uint8 images -> probabilities)."""

    format = "savedmodel"

    def __init__(self, folder: Path, metadata: dict):
        from nophd import quiet

        tf = quiet.import_tensorflow()
        try:
            with formats.quiet_stderr():
                self._loaded = tf.saved_model.load(str(folder))
        except Exception as error:  # A damaged SavedModel raises many types.
            raise ExportError(f"{folder}: cannot load the SavedModel ({formats.first_line(error)})") from None
        signature = self._loaded.signatures.get("serving_default")
        if signature is None:
            raise ExportError(f"{folder}: the SavedModel has no serving_default signature")
        (self._input_name, spec), = signature.structured_input_signature[1].items()
        (self._output_name, output_spec), = signature.structured_outputs.items()
        self._signature = signature
        self._tf = tf
        super().__init__(folder, metadata, tuple(spec.shape), spec.dtype.as_numpy_dtype, int(output_spec.shape[-1]))

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        outputs = self._signature(**{self._input_name: self._tf.constant(images)})
        return outputs[self._output_name].numpy()

    def single(self, image: np.ndarray) -> Callable[[], np.ndarray]:
        tensor = self._tf.constant(self._check(image))
        signature, name, output = self._signature, self._input_name, self._output_name
        return lambda: signature(**{name: tensor})[output].numpy()


class TFLiteArtifact(_Artifact):
    """A .tflite model in the LiteRT interpreter; quantized inputs and outputs are converted."""

    def __init__(self, file: Path, metadata: dict):
        self._file = file
        self._interpreter = self._new_interpreter()
        detail = self._interpreter.get_input_details()[0]
        output = self._interpreter.get_output_details()[0]
        self._input_quantization = detail["quantization"]
        self._output_quantization = output["quantization"]
        self._output_dtype = output["dtype"]
        self.format = "tflite-int8" if self._output_quantization[0] else "tflite"
        shape = tuple(None if size < 0 else int(size) for size in detail["shape_signature"])
        # The web export's model takes one image at a time (LiteRT.js runs fixed shapes only),
        # and XNNPACK cannot resize it: it is fed image by image.
        self._one_at_a_time = shape[0] == 1
        self._batch = 1
        super().__init__(file, metadata, shape, detail["dtype"], int(output["shape"][-1]))

    def _new_interpreter(self):
        # LiteRT's interpreter: TensorFlow 2.21 warns that tf.lite.Interpreter
        # is deprecated and points to this package.
        from ai_edge_litert.interpreter import Interpreter

        try:
            with formats.quiet_stderr():
                interpreter = Interpreter(model_path=str(self._file), num_threads=threads())
                interpreter.allocate_tensors()
        except Exception as error:  # A damaged flatbuffer raises ValueError or RuntimeError.
            raise ExportError(f"{self._file}: cannot load the TFLite model ({formats.first_line(error)})") from None
        return interpreter

    @property
    def input_quantization(self) -> tuple[float, int]:
        """(scale, zero point) of the input tensor; (0.0, 0) when it is not quantized."""
        return float(self._input_quantization[0]), int(self._input_quantization[1])

    @property
    def output_quantization(self) -> tuple[float, int]:
        """(scale, zero point) of the output tensor; (0.0, 0) when it is not quantized."""
        return float(self._output_quantization[0]), int(self._output_quantization[1])

    def _quantize(self, images: np.ndarray) -> np.ndarray:
        scale, zero_point = self._input_quantization
        if not scale or (scale == 1.0 and zero_point == 0):
            return images
        return np.clip(np.round(images / scale + zero_point), 0, 255).astype(np.uint8)

    def _dequantize(self, outputs: np.ndarray) -> np.ndarray:
        scale, zero_point = self._output_quantization
        if not scale:
            return outputs.astype(np.float32, copy=False)
        return ((outputs.astype(np.float32) - zero_point) * scale).astype(np.float32)

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        index = interpreter.get_input_details()[0]["index"]
        if self._one_at_a_time and len(images) != 1:
            return np.concatenate([self._predict_batch(images[i : i + 1]) for i in range(len(images))])
        if len(images) != self._batch:
            with formats.quiet_stderr():
                interpreter.resize_tensor_input(index, [len(images), *self.input_shape])
                interpreter.allocate_tensors()
            self._batch = len(images)
        interpreter.set_tensor(index, self._quantize(images))
        interpreter.invoke()
        return self._dequantize(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))

    def single(self, image: np.ndarray) -> Callable[[], np.ndarray]:
        # An interpreter of its own, allocated for one image, so timing
        # measures invoke and the copies, not re-allocation.
        interpreter = self._new_interpreter()
        input_index = interpreter.get_input_details()[0]["index"]
        output_index = interpreter.get_output_details()[0]["index"]
        quantized = self._quantize(self._check(image))

        def run() -> np.ndarray:
            interpreter.set_tensor(input_index, quantized)
            interpreter.invoke()
            return self._dequantize(interpreter.get_tensor(output_index))

        return run


_ONNX_TYPES = {"tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(float)": np.float32,
               "tensor(double)": np.float64, "tensor(float16)": np.float16}


class OnnxArtifact(_Artifact):
    """An .onnx model in ONNX Runtime's CPU session: uint8 images in, float32 probabilities out."""

    format = "onnx"

    def __init__(self, file: Path, metadata: dict):
        missing = formats.onnx_missing(("onnxruntime",))
        if missing:
            raise ExportError(f"{file}: reading an ONNX model needs onnxruntime, not installed here: "
                              f"{formats.ONNX_EXTRA}")
        self._file = file
        self._session = self._new_session()
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ExportError(f"{file}: the model has {len(inputs)} inputs and {len(outputs)} outputs; "
                              "nophd exports have one of each")
        self._input_name, self._output_name = inputs[0].name, outputs[0].name
        # ONNX Runtime names types "tensor(uint8)" and leaves symbolic sizes as strings.
        dtype = _ONNX_TYPES.get(inputs[0].type)
        if dtype is None:
            raise ExportError(f"{file}: the model takes {inputs[0].type} input; nophd exports take uint8 images")
        shape = tuple(size if isinstance(size, int) else None for size in inputs[0].shape)
        classes = outputs[0].shape[-1]
        if not isinstance(classes, int):
            raise ExportError(f"{file}: the output's class axis has no fixed size ({classes!r})")
        super().__init__(file, metadata, shape, dtype, classes)

    def _new_session(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # As many threads as the TFLite interpreter and TensorFlow use, so latencies compare.
        options.intra_op_num_threads = threads()
        options.log_severity_level = 3  # Errors only: its warnings are about graph optimisations.
        try:
            return onnxruntime.InferenceSession(str(self._file), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # A damaged file raises onnxruntime's own error types.
            raise ExportError(f"{self._file}: cannot load the ONNX model ({formats.first_line(error)})") from None

    def _predict_batch(self, images: np.ndarray) -> np.ndarray:
        return self._session.run([self._output_name], {self._input_name: images})[0].astype(np.float32, copy=False)

    def single(self, image: np.ndarray) -> Callable[[], np.ndarray]:
        session, name, output = self._session, self._input_name, self._output_name
        image = np.ascontiguousarray(self._check(image))
        return lambda: session.run([output], {name: image})[0]


def batch_size(input_shape: tuple[int, ...]) -> int:
    """How many images of `input_shape` to predict at once (see BATCH_VALUES)."""
    return max(1, min(MAX_BATCH, BATCH_VALUES // int(np.prod(input_shape))))


def threads() -> int:
    """Threads the TFLite interpreter uses: the CPUs this process may run on."""
    # As many threads as TensorFlow's own kernels use, so latencies compare.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
