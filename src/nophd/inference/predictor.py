"""Predictor: a run's model loaded once, with the preprocessing it was trained with.

Two kinds of run exist:

- "digits" (the MNIST ladder): the model takes float32 (N, 28, 28, 1) in
  [0, 1]. Any picture is first made into an MNIST-style digit
  (`nophd.data.images.to_mnist`: inverted if dark-on-light, cropped,
  scaled to 20x20 and centred by its centre of mass in 28x28).
- "photos" (transfer learning, config.json "task": "photos"): the model
  takes float32 (N, S, S, 3) with raw pixel values 0..255, S = config.json
  "image_size"; pictures are turned upright, made RGB (`folders.to_rgb`)
  and resized exactly as the training pipeline does (`folders.resize`).

The command line (`nophd predict`), the Python API and the web server all
predict through this class, so a picture gets the same answer everywhere.

An export written by `nophd export` works too: a SavedModel folder, a
.tflite file, or an export folder (model.tflite + export.json). Its
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

from nophd import runs
from nophd.errors import DataError, RunError

DIGITS = "digits"
PHOTOS = "photos"
DIGIT_SIZE = 28
# A picture whose MNIST-style digit has fewer ink pixels (above 0.2) than
# this holds no digit: blank, too faint, or noise with no stroke standing out
# from it (to_mnist removes the border's level plus five deviations). The
# fewest in the real MNIST test set is 34.
MIN_INK_PIXELS = 10
INK_LEVEL = 0.2
# A photo whose grey levels spread less than this (standard deviation, of
# 255) is one flat colour.
MIN_PHOTO_SPREAD = 2.0


def run_kind(run_config: dict) -> str:
    """"digits" or "photos" for a run's config.json contents."""
    return run_config.get("task", DIGITS)


class Predictor:
    """A run folder's final model (or a .keras file, or an export) and how to feed it.

    Args:
        run: a run folder holding model.keras, or a .keras file (treated as
            a digit model unless a config.json sits beside it), or an export
            of `nophd export`: a SavedModel folder, a .tflite file, or an
            export folder holding model.tflite and export.json.

    Attributes:
        kind: "digits" or "photos".
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
            self.kind = self.exported.kind
            self.class_names = list(self.exported.class_names)
            self.image_size = self.exported.image_size
            return
        self.model = loading.load_run_model(path)
        folder = path if path.is_dir() else path.parent
        run_config = runs.read_json(folder / runs.CONFIG) or {}
        self.kind = run_kind(run_config)
        if self.kind == DIGITS and tuple(self.model.input_shape[1:3]) != (DIGIT_SIZE, DIGIT_SIZE):
            # A photo run's config.json says how its pictures are prepared.
            raise RunError(f"{folder / runs.CONFIG}: missing or unreadable, and the model is not a digit model "
                           f"(it takes {tuple(self.model.input_shape[1:])}); restore config.json from a backup, "
                           "or retrain")
        outputs = int(self.model.output_shape[-1])
        names = run_config.get("class_names") or (runs.read_json(folder / runs.METRICS) or {}).get("class_names")
        if not names or len(names) != outputs:
            names = [str(index) for index in range(outputs)]
        self.class_names = [str(name) for name in names]
        if self.kind == PHOTOS:
            self.image_size = int(self.model.input_shape[1])
        else:
            self.image_size = DIGIT_SIZE

    def prepare(self, image: Image.Image) -> np.ndarray:
        """One Pillow image as one model input (without the batch axis).

        Raises:
            DataError: the image cannot be used (e.g. a blank digit canvas).
        """
        if self.kind == PHOTOS:
            from nophd.data import folders

            pixels = np.asarray(folders.to_rgb(image), dtype=np.uint8)
            resized = folders.resize(pixels, self.image_size)
            return np.asarray(resized, dtype=np.float32)
        from nophd.data import images as images_module

        return digits_input(images_module.to_mnist(image))[0]

    def warning(self, prepared: np.ndarray) -> str | None:
        """Why a prediction for this prepared input means little, or None.

        Args:
            prepared: what `prepare` returned for one picture.

        Digits: fewer than MIN_INK_PIXELS ink pixels after MNIST-style
        preprocessing (a blank or pure-noise picture: nothing in it stands
        out as a stroke). Photos: a picture of one flat colour. Sparse noise
        that leaves strokes, or a picture of something else, is not caught.
        """
        array = np.asarray(prepared, dtype=np.float32)
        if self.kind == DIGITS:
            if int((array > INK_LEVEL).sum()) < MIN_INK_PIXELS:
                return "no digit found (blank or noise after MNIST-style preprocessing); this guess means nothing"
            return None
        if float(array.mean(axis=-1).std()) < MIN_PHOTO_SPREAD:
            return "the picture is one flat colour; this guess means nothing"
        return None

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
        if self.kind != DIGITS:
            raise DataError(f"{self.path}: a photo model takes images, not 28x28 digit arrays")
        return self.predict_inputs(digits_input(digits))

    def predict_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Probabilities for inputs already shaped as the model takes them.

        Inputs are what `prepare` returns: digits float32 (N, 28, 28, 1) in
        [0, 1], photos float32 (N, S, S, 3) 0..255. An export takes the same
        pictures as raw uint8 pixels, so they are rounded to those here.
        """
        if self.exported is not None:
            return self.exported.predict(raw_pixels(inputs, self.kind))
        return np.asarray(self.model.predict(inputs, batch_size=256, verbose=0))

    def top(self, probabilities: np.ndarray, count: int = 3) -> list[tuple[str, float]]:
        """The `count` likeliest (class name, probability) pairs of one row."""
        order = np.argsort(probabilities)[::-1][:count]
        return [(self.class_names[index], float(probabilities[index])) for index in order]


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) 0..255 or float [0, 1] -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = images.astype(np.float32, copy=False)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def digits_input(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) or (28, 28), uint8 0..255 or float 0..1 -> float32 (N, 28, 28, 1).

    Raises:
        DataError: another shape, or float values outside [0, 1].
    """
    array = np.asarray(digits)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or array.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
        raise DataError(f"expected digits of shape (N, 28, 28) or (28, 28), got {tuple(np.shape(digits))}")
    if array.dtype == np.uint8:
        return (array.astype(np.float32) / 255.0)[..., np.newaxis]
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise DataError(f"expected numbers, got an array of {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min(initial=0) < 0 or array.max(initial=0) > 1:
        raise DataError("expected float pixel values in [0, 1] (or uint8 0..255)")
    return array[..., np.newaxis]


def raw_pixels(inputs: np.ndarray, kind: str) -> np.ndarray:
    """Prepared model inputs as the raw uint8 pixels an export takes.

    Digits: float (N, 28, 28, 1) in [0, 1] -> uint8 (N, 28, 28) 0..255.
    Photos: float (N, S, S, 3) 0..255 -> uint8 (N, S, S, 3). uint8 passes through.
    """
    array = np.asarray(inputs)
    if array.dtype != np.uint8:
        scale = 255.0 if kind == DIGITS else 1.0
        array = np.clip(np.round(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)
    if kind == DIGITS and array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    return array
