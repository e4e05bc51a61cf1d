"""Predictions for the server: models loaded once, inputs checked, calls serialized.

Every picture goes through `nophd.training.predictor.Predictor`, the same
class `nophd predict` uses, so the dashboard's canvas, an uploaded photo and
the command line give the same answer for the same picture.

Keras does not promise that one model may be called from several threads
at once, and a web server calls from many. Each loaded model therefore has
a lock; preprocessing (decoding, MNIST-style centring) runs outside it, only
the model call inside. A model is loaded once per version of its
model.keras: a run trained again is loaded again.

Example:
    cache = ModelCache()
    model = cache.get(Path("runs/ladder/conv-bn"))
    result = predict_image(model, decode_image(open("seven.png", "rb").read(), "seven.png"), top=3)
    result["top"][0]  # {"label": "7", "probability": 0.99}
"""

from __future__ import annotations

import collections
import dataclasses
import io
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nophd import runs
from nophd.errors import DataError, NophdError, RunError

# A picture larger than this many pixels is refused before it is decoded: a
# small, highly compressed PNG can otherwise expand to gigabytes in memory.
MAX_PIXELS = 40_000_000
DIGIT_SIZE = 28
# Test digits run through the model in chunks, taking the model's lock per
# chunk, so that a drawing on the canvas is answered between two chunks.
_CHUNK = 1000


class BadInput(NophdError):
    """The request's picture or array cannot be used (HTTP 400)."""


class TooLarge(NophdError):
    """The upload is over a size limit (HTTP 413)."""


class NoModel(NophdError):
    """The run has no usable model yet (HTTP 409)."""


@dataclasses.dataclass
class LoadedModel:
    """A run's Predictor and the lock every call to its model takes.

    Attributes:
        predictor: nophd.training.predictor.Predictor.
        stamp: (modification time, size) of the model.keras it was loaded from.
        lock: held while the Keras model runs.
    """

    predictor: Any
    stamp: tuple[int, int]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Model outputs (N, classes) for inputs already shaped as the model takes them."""
        with self.lock:
            return self.predictor.predict_inputs(inputs)


class ModelCache:
    """Run folder -> LoadedModel, each model loaded once (also under concurrent requests).

    Args:
        capacity: how many models to keep loaded; the least recently used
            one is dropped beyond that (a whole ladder is ten models).
    """

    def __init__(self, capacity: int = 12):
        self.capacity = capacity
        self._models: collections.OrderedDict[str, LoadedModel] = collections.OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, folder: Path) -> LoadedModel:
        """The run's model, loading it when it is not loaded or its model.keras changed.

        Raises:
            NoModel: no model.keras yet (the run is still going, or failed), or
                one that does not load.
        """
        key = str(folder.resolve())
        stamp = _stamp(folder / runs.MODEL)
        if stamp is None:
            status = runs.status(folder) if (folder / runs.STATE).exists() else "incomplete"
            hint = {"running": "it is still training; the model appears when the run finishes",
                    "interrupted": "it was interrupted; finish it with nophd train ... --resume",
                    "failed": "the run failed"}.get(status, f"run status: {status}")
            raise NoModel(f"run {folder.name!r} has no {runs.MODEL} yet ({hint})")
        with self._guard:
            loaded = self._models.get(key)
            if loaded is not None and loaded.stamp == stamp:
                self._models.move_to_end(key)
                return loaded
            loading = self._loading.setdefault(key, threading.Lock())
        # One thread loads; the others wait here and then find it loaded.
        with loading:
            with self._guard:
                loaded = self._models.get(key)
            if loaded is None or loaded.stamp != stamp:
                from nophd.training.predictor import Predictor

                try:
                    loaded = LoadedModel(Predictor(folder), stamp)
                except RunError as error:
                    raise NoModel(str(error).replace(str(folder), folder.name)) from None
                with self._guard:
                    self._models[key] = loaded
                    self._models.move_to_end(key)
                    while len(self._models) > self.capacity:
                        self._models.popitem(last=False)
        return loaded


def decode_image(data: bytes, name: str) -> Image.Image:
    """Decodes an uploaded file the way `nophd predict` decodes a file on disk.

    The header is read first and a picture over MAX_PIXELS refused before
    anything is decoded; the rest is `nophd.data.images.load_image` (whole
    decode, EXIF orientation, first frame), so truncated and corrupt files
    give the same one-line reasons.

    Args:
        data: the file's bytes.
        name: how to call the file in messages (the uploaded file name).

    Raises:
        BadInput: empty, not an image, truncated or corrupt.
        TooLarge: more than MAX_PIXELS pixels.
    """
    from nophd.data import images

    if not data:
        raise BadInput(f"{name}: empty file (0 bytes), not an image")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
    except Image.UnidentifiedImageError:
        raise BadInput(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise TooLarge(f"{name}: image too large to decode safely (limit {MAX_PIXELS:,} pixels)") from None
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for a broken header.
        raise BadInput(f"{name}: truncated or corrupt image ({_one_line(error)})") from None
    if width * height > MAX_PIXELS:
        raise TooLarge(f"{name}: {width}x{height} pixels is over the limit of {MAX_PIXELS:,} pixels")
    # load_image reads a path; a private temporary folder keeps this upload's bytes apart from others'.
    with tempfile.TemporaryDirectory(prefix="nophd-upload-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            return images.load_image(path)
        except DataError as error:
            raise BadInput(str(error).replace(str(path), name)) from None


def predict_image(model: LoadedModel, image: Image.Image, top: int = 3, with_input: bool = False) -> dict[str, Any]:
    """Class probabilities for one picture, prepared as the run's model was trained.

    Raises:
        BadInput: a digit model and a picture with no digit in it (blank, or ink too faint).
    """
    predictor = model.predictor
    try:
        prepared = predictor.prepare(image)
    except DataError as error:
        raise BadInput(str(error)) from None
    if predictor.kind == "digits" and not prepared.any():
        raise BadInput("no digit in the image: it is blank, or its ink is too faint")
    probabilities = model.probabilities(prepared[np.newaxis])[0]
    return _result(predictor, probabilities, top, prepared if with_input else None)


def predict_pixels(model: LoadedModel, value: Any, top: int = 3, with_input: bool = False) -> dict[str, Any]:
    """Class probabilities for a 28x28 MNIST-style digit given as nested lists.

    Args:
        value: {"pixels": [[...28 numbers...] x 28]} or the bare 28x28 list:
            light digit on black, as MNIST; numbers 0..1, or 0..255 when any
            value is over 1. The array is fed as it is (no centring).

    Raises:
        BadInput: a photo model, no pixels, or not 28x28 numbers in range.
    """
    from nophd.training import predictor as predictor_module

    predictor = model.predictor
    if predictor.kind != "digits":
        raise BadInput("this run is a photo model: send an image file, not a pixel array")
    digits = parse_pixels(value)
    inputs = predictor_module.digits_input(digits)
    probabilities = model.probabilities(inputs)[0]
    return _result(predictor, probabilities, top, inputs[0] if with_input else None)


def parse_pixels(value: Any) -> np.ndarray:
    """JSON pixels -> float32 (28, 28) in [0, 1].

    Raises:
        BadInput: with the reason in one line.
    """
    if isinstance(value, dict):
        if "pixels" not in value:
            raise BadInput('expected a JSON object {"pixels": [[28 numbers], ... 28 rows]}')
        value = value["pixels"]
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        raise BadInput("pixels must be 28 rows of 28 numbers each (rows of different lengths)") from None
    if array.dtype.kind not in "iuf" or array.dtype == np.bool_:
        raise BadInput("pixels must be 28 rows of 28 numbers each")
    if array.shape != (DIGIT_SIZE, DIGIT_SIZE):
        raise BadInput(f"pixels must be a 28x28 array, got shape {'x'.join(str(side) for side in array.shape) or 'scalar'}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise BadInput("pixels must be finite numbers")
    low, high = float(array.min()), float(array.max())
    if low < 0 or high > 255:
        raise BadInput(f"pixel values must be in 0..1 or 0..255, found {low:g}..{high:g}")
    if high > 1:
        array = array / 255.0
    return array.astype(np.float32)


def _result(predictor, probabilities: np.ndarray, top: int, model_input: np.ndarray | None) -> dict[str, Any]:
    result = {
        "kind": predictor.kind,
        "class_names": list(predictor.class_names),
        "probabilities": [float(value) for value in probabilities],
        "top": [{"label": label, "probability": probability}
                for label, probability in predictor.top(probabilities, max(1, min(top, len(probabilities))))],
    }
    if model_input is not None and predictor.kind == "digits":
        # What the model saw: the drawing centred and scaled as MNIST's digits are.
        result["input"] = np.round(model_input[..., 0].astype(float), 3).tolist()
    return result


class MnistTestSet:
    """The MNIST test set, loaded once on first use, never downloaded by the server."""

    def __init__(self, data_dir: str | os.PathLike | None = None):
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._loaded: tuple[np.ndarray, np.ndarray, Path] | None = None

    def get(self) -> tuple[np.ndarray, np.ndarray, Path]:
        """(images uint8 (N, 28, 28), labels (N,), the folder they came from).

        Raises:
            DataError: MNIST is not found locally, or is corrupt.
        """
        with self._lock:
            if self._loaded is None:
                from nophd.data import mnist

                data = mnist.load(self.data_dir, download=False)
                self._loaded = (data.test_images, data.test_labels, data.directory)
            return self._loaded


class Misclassified:
    """The examples a run's model gets wrong: test digits, computed once per
    model version; a photo run's validation photos, from its mistakes.json."""

    def __init__(self, test_set: MnistTestSet):
        self.test_set = test_set
        self._cache: dict[tuple[str, tuple[int, int]], dict[str, Any]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, folder: Path, model: LoadedModel, limit: int) -> dict[str, Any]:
        """{"available", "reason" (when not), "what", "test_examples", "errors",
        "accuracy", "examples": the `limit` most confident mistakes, each
        {"index", "label", "predicted", "top", "image" (a data URL)}}."""
        if model.predictor.kind != "digits":
            saved = runs.read_json(folder / runs.MISTAKES)
            if not isinstance(saved, dict) or not isinstance(saved.get("examples"), list):
                return {"available": False, "reason": f"{runs.MISTAKES} is missing or unreadable: photo runs write it "
                        f"when they finish, and `nophd evaluate {folder}` writes it again"}
            return {"available": True, **saved, "examples": saved["examples"][:limit]}
        key = str(folder.resolve())
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            cached = self._cache.get((key, model.stamp))
            if cached is None:
                try:
                    cached = self._compute(folder, model)
                except DataError as error:
                    return {"available": False, "reason": f"the server cannot read the MNIST test set: {error}"}
                self._cache[(key, model.stamp)] = cached
        return {**cached, "examples": cached["examples"][:limit]}

    def _compute(self, folder: Path, model: LoadedModel) -> dict[str, Any]:
        from nophd.reports import artifacts
        from nophd.training import evaluate, predictor as predictor_module

        started = time.monotonic()
        images, labels, directory = self.test_set.get()
        config = runs.read_json(folder / runs.CONFIG) or {}
        limit = config.get("test_limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            # The run was tested on the first test_limit digits: show mistakes among those.
            images, labels = images[:limit], labels[:limit]
        chunks = [model.probabilities(predictor_module.digits_input(images[start:start + _CHUNK]))
                  for start in range(0, len(labels), _CHUNK)]
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, 10), dtype=np.float32)
        evaluation = evaluate.score(probabilities, labels)
        examples = evaluate.worst_mistakes(evaluation, list(model.predictor.class_names), 500)
        for example in examples:
            example["image"] = artifacts.image_data_url(images[example["index"]])
        count = int(len(labels))
        return {
            "available": True,
            "what": "test digits",
            "test_examples": count,
            "errors": int((evaluation.predictions != evaluation.labels).sum()),
            "accuracy": evaluation.accuracy if count else math.nan,
            "data": str(directory),
            "seconds": round(time.monotonic() - started, 2),
            "examples": examples,
        }


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
