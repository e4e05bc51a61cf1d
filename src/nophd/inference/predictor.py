"""Predictor: a run's model loaded once, with the preprocessing it was trained with.

The run's task (`nophd.tasks`, from config.json's "task") says how a picture
becomes a model input: a digit run makes it an MNIST-style digit
(`nophd.data.images.to_mnist`), a photo run turns it upright, makes it RGB
and resizes it exactly as its training pipeline does.

The command line (`nophd predict`), the Python API and the web server all
predict through this class, so a picture gets the same answer everywhere.

An export written by `nophd export` works too: a SavedModel folder, a
.tflite or .onnx file (ONNX needs onnxruntime), or an export folder
(model.tflite or model.onnx + export.json). Its
export.json tells the kind, class names and image size; the pictures are
prepared exactly as for the run, then given to the export as the raw uint8
pixels it takes (digits (N, 28, 28), photos (N, S, S, 3)).

Example:
    predictor = Predictor("runs/20261122-180000-conv-bn")
    probabilities = predictor.predict_images([PIL.Image.open("seven.png")])
    predictor.top(probabilities[0], 3)  # [('7', 0.98), ('1', 0.01), ...]
    Predictor("runs/20261122-180000-conv-bn/export/tflite-int8/model.tflite")  # the same, from an export
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from nophd import runs, tasks
from nophd.data import images as images_module
from nophd.errors import DataError

class Predictor:
    """A run folder's final model (or a .keras file, or an export) and how to feed it.

    Args:
        run: a run folder holding model.keras, or a .keras file (treated as
            a digit model unless a config.json sits beside it), or an export
            of `nophd export`: a SavedModel folder, a .tflite or .onnx file,
            or an export folder holding model.tflite or model.onnx and export.json.

    Attributes:
        task: the run's kind (nophd.tasks): how pictures are prepared.
        kind: its name, as config.json and export.json record it.
        class_names: the model's classes, in output order.
        image_size: the side of the model's square input.
        model: the Keras model (None for an export).
        exported: the loaded export (nophd.export.artifacts), or None for a run.

    Raises:
        RunError: no such run, no model yet, or a model that will not load.
        ExportError: an export that will not load.
    """

    def __init__(self, run: str | os.PathLike):
        from nophd.export import artifacts
        from nophd.inference import loading

        path = Path(run)
        self.path = path
        self.exported = None
        if artifacts.is_export(path) and not (path / runs.MODEL).exists():
            self.model = None
            self.exported = artifacts.load(path)
            self.task = tasks.get(self.exported.kind)
            self.kind = self.task.name
            self.class_names = list(self.exported.class_names)
            self.image_size = self.exported.image_size
            return
        folder = path if path.is_dir() else path.parent
        run_config = runs.read_json(folder / runs.CONFIG) or {}
        self.task = tasks.of_run(run_config)
        self.kind = self.task.name
        self.task.check_takes_inputs(f"{path}: predict")
        self.model = loading.load_run_model(path)
        self.task.check_model(self.model, str(folder / runs.CONFIG))
        outputs = int(self.model.output_shape[-1])
        names = run_config.get("class_names") or (runs.read_json(folder / runs.METRICS) or {}).get("class_names")
        if not names or len(names) != outputs:
            names = [str(index) for index in range(outputs)]
        self.class_names = [str(name) for name in names]
        self.image_size = self.task.image_size_of(self.model)

    def prepare(self, image: Image.Image) -> np.ndarray:
        """One Pillow image as one model input (without the batch axis), as the run's task prepares it.

        Raises:
            DataError: the image cannot be used.
        """
        return self.task.prepare(image, self.image_size)

    def warning(self, prepared: np.ndarray) -> str | None:
        """Why a prediction for this prepared input means little, or None.

        Args:
            prepared: what `prepare` returned for one picture.

        Digits: fewer than a few ink pixels after MNIST-style preprocessing
        (a blank or pure-noise picture: nothing in it stands out as a
        stroke). Photos: a picture of one flat colour. Sparse noise that
        leaves strokes, or a picture of something else, is not caught.
        """
        return self.task.warning(prepared)

    def predict_images(self, images: list[Image.Image]) -> np.ndarray:
        """Probabilities (N, classes) for Pillow images of any size and mode."""
        if not images:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        return self.predict_inputs(np.stack([self.prepare(image) for image in images]))

    def predict_digits(self, digits: np.ndarray) -> np.ndarray:
        """Probabilities for MNIST-style digits: (N, 28, 28) uint8 0..255 or float 0..1.

        Raises:
            DataError: not a digit model, or the array has the wrong shape.
        """
        if not self.task.takes_pixel_arrays:
            raise DataError(f"{self.path}: a {self.task.noun} model takes images, not 28x28 digit arrays")
        return self.predict_inputs(images_module.digits_input(digits))

    def predict_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Probabilities for inputs already shaped as the model takes them.

        Inputs are what `prepare` returns: digits float32 (N, 28, 28, 1) in
        [0, 1], photos float32 (N, S, S, 3) 0..255. An export takes the same
        pictures as raw uint8 pixels, so they are rounded to those here.
        """
        if self.exported is not None:
            return self.exported.predict(self.task.raw_pixels(inputs))
        return np.asarray(self.model.predict(inputs, batch_size=256, verbose=0))

    def top(self, probabilities: np.ndarray, count: int = 3) -> list[tuple[str, float]]:
        """The `count` likeliest (class name, probability) pairs of one row."""
        order = np.argsort(probabilities)[::-1][:count]
        return [(self.class_names[index], float(probabilities[index])) for index in order]
