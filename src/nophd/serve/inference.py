"""Predictions for the server: models loaded once, inputs checked, calls serialized.

Every picture goes through `nophd.inference.predictor.Predictor`, the same
class `nophd predict` uses, so the dashboard's canvas, an uploaded photo and
the command line give the same answer for the same picture.

Keras does not promise that one model may be called from several threads
at once, and a web server calls from many. Each loaded model therefore has
a lock; preprocessing (decoding, MNIST-style centring) runs outside it, only
the model call inside. Concurrent requests for one model are gathered by
its `nophd.serve.batching.Batcher` and run as one compiled call (a
`tf.function` over the model, traced once for any batch size), never Keras'
per-call `model.predict`. A model is loaded once per version of its
model.keras: a run trained again is loaded again.

TensorFlow is imported once, by `import_tensorflow`, under one lock: a
second thread must never see a half-imported TensorFlow (that breaks it for
the life of the process). The server calls it before it accepts requests.

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
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nophd import runs, tasks, text
from nophd.errors import DataError, NophdError
from nophd.serve import batching, paths

# A picture larger than its task's max_upload_pixels is refused before it is
# decoded: a small, highly compressed PNG can otherwise expand to gigabytes
# in memory. JPEGs are first decoded at a reduced scale (Image.draft), so a
# phone photo's 48 megapixels count as what is really decoded.
# JPEGs are drafted down to no less than this on their shorter side.
DRAFT_SIDE = 1024
# A picture longer than this many times its width (or wider than its height) is no digit and no photo.
MAX_ASPECT_RATIO = 50
DIGIT_SIZE = 28
_BLANK = "no digit in the image: it is blank, or its ink is too faint"
# Test digits run through the model in chunks, taking the model's lock per
# chunk, so that a drawing on the canvas is answered between two chunks.
_CHUNK = 1000


class BadInput(NophdError):
    """The request's picture or array cannot be used (HTTP 400)."""


class TooLarge(NophdError):
    """The upload is over a size limit (HTTP 413)."""


class NoModel(NophdError):
    """The run has no usable model yet (HTTP 409)."""


_IMPORT_LOCK = threading.Lock()


def import_tensorflow() -> None:
    """Imports TensorFlow and Keras completely, once, whichever thread asks first.

    Every server path that may touch TensorFlow calls this first; the lock
    makes a second thread wait for the first import to finish instead of
    seeing a half-imported module.
    """
    with _IMPORT_LOCK:
        from nophd import quiet

        quiet.import_tensorflow()
        import keras  # noqa: F401


@dataclasses.dataclass
class LoadedModel:
    """A run's Predictor, the lock every call to its model takes, and its batcher.

    Attributes:
        predictor: nophd.inference.predictor.Predictor.
        stamp: (modification time, size) of the model.keras it was loaded from.
        lock: held while the model runs.
        batcher: gathers concurrent requests into one call (see `predict`).
    """

    predictor: Any
    stamp: tuple[int, int]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    batcher: batching.Batcher | None = None

    def __post_init__(self):
        self.call = compiled_call(self.predictor)
        if self.batcher is None:
            self.batcher = batching.Batcher(self.call, self.lock, max_batch=batch_limit(self.predictor),
                                            name=f"nophd-batcher-{self.predictor.path.name}")

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Model outputs (N, classes) for inputs already shaped as the model takes them (one call, this thread)."""
        with self.lock:
            return np.asarray(self.call(inputs))

    async def predict(self, inputs: np.ndarray) -> np.ndarray:
        """`probabilities` through the batcher, for asyncio callers."""
        return await self.batcher.predict(inputs)


def batch_limit(predictor) -> int:
    """The most inputs the batcher puts in one call: 64 digits, about 8 photos at 192 px.

    A photo model's call on 64 photos takes seconds on two cores; smaller
    batches keep each call short, so the pictures being prepared meanwhile
    (TensorFlow's resize shares its thread pool) are not starved.
    """
    side = predictor.image_size
    values = side * side * predictor.task.channels()
    return max(4, min(batching.DEFAULT_MAX_BATCH, 1_000_000 // values))


def compiled_call(predictor) -> Any:
    """The model's compiled call: float32 (N, ...) -> (N, classes) as a NumPy array.

    A Keras model becomes one `tf.function` with a batch axis of any size
    (traced once; Keras' `model.predict` costs a hundred milliseconds of
    set-up per call). An export keeps its own call (`Predictor.predict_inputs`).
    """
    if predictor.model is None:
        return predictor.predict_inputs
    import_tensorflow()
    import tensorflow as tf

    model = predictor.model
    signature = [tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)]
    function = tf.function(lambda inputs: model(inputs, training=False), input_signature=signature, autograph=False)

    def call(inputs: np.ndarray) -> np.ndarray:
        return function(np.asarray(inputs, dtype=np.float32)).numpy()

    return call


class ModelCache:
    """Run folder -> LoadedModel, each model loaded once (also under concurrent requests).

    Args:
        capacity: how many models to keep loaded; the least recently used
            one is dropped beyond that (a whole ladder is ten models).
        root: RUNS_DIR: a model.keras, config.json or metrics.json resolving
            outside it is not read (None: no such check).
    """

    def __init__(self, capacity: int = 12, root: str | os.PathLike | None = None):
        self.capacity = capacity
        self.root = Path(root) if root is not None else None
        self._models: collections.OrderedDict[str, LoadedModel] = collections.OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._failures: dict[str, tuple[tuple[int, int], str]] = {}
        self._guard = threading.Lock()

    def clear(self) -> None:
        """Unloads every model (each is loaded again on its next use)."""
        with self._guard:
            dropped = list(self._models.values())
            self._models.clear()
            self._failures.clear()
        for model in dropped:
            model.batcher.close()

    def problem(self, folder: Path) -> str | None:
        """Why the run's model cannot be used, in one line, or None when nothing is known against it.

        Cheap (no loading): a model.keras that is not a complete zip file (a
        truncated copy), one that failed to load before in this server, or a
        file leading outside RUNS_DIR.
        """
        import zipfile

        model_path = folder / runs.MODEL
        if self.root is not None and not paths.is_inside(self.root, model_path):
            return f"{runs.MODEL}: a link leading outside the runs folder, not read"
        stamp = _stamp(model_path)
        if stamp is None:
            return None
        with self._guard:
            failure = self._failures.get(str(folder))
        if failure is not None and failure[0] == stamp:
            return failure[1]
        try:
            with zipfile.ZipFile(model_path) as archive:
                archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            return f"{runs.MODEL} is damaged or truncated, the model cannot load ({text.one_line(error)}); train the run again"
        return None

    def get(self, folder: Path) -> LoadedModel:
        """The run's model, loading it when it is not loaded or its model.keras changed.

        Raises:
            NoModel: no model.keras yet (the run is still going, or failed), or
                one that does not load.
        """
        key = str(folder)
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
        # Where the files lead is checked whenever the model is (re)loaded: a
        # model.keras replaced by a link has a new stamp, so it comes here again.
        if self.root is not None:
            for name in (runs.MODEL, runs.CONFIG, runs.METRICS):
                if not paths.is_inside(self.root, folder / name):
                    raise NoModel(f"run {folder.name!r}: {name} is a link leading outside the runs folder, not read")
        # One thread loads; the others wait here and then find it loaded.
        with loading:
            with self._guard:
                loaded = self._models.get(key)
            if loaded is None or loaded.stamp != stamp:
                import_tensorflow()
                from nophd.inference.predictor import Predictor

                try:
                    loaded = LoadedModel(Predictor(folder), stamp)
                except NophdError as error:
                    message = text.one_line(error).replace(str(folder / runs.MODEL), runs.MODEL).replace(str(folder), folder.name)
                    with self._guard:
                        self._failures[key] = (stamp, message)
                    raise NoModel(message) from None
                with self._guard:
                    self._failures.pop(key, None)
                    previous = self._models.get(key)
                    self._models[key] = loaded
                    self._models.move_to_end(key)
                    dropped = [previous] if previous is not None else []
                    while len(self._models) > self.capacity:
                        dropped.append(self._models.popitem(last=False)[1])
                for model in dropped:
                    model.batcher.close()
        return loaded


def decode_image(data: bytes, name: str, task: tasks.Task | str = "photos") -> Image.Image:
    """Decodes an uploaded file the way `nophd predict` decodes a file on disk.

    The header is read first: a picture over the pixel budget of its kind
    (the task's max_upload_pixels: far fewer for a digit model), or
    more than MAX_ASPECT_RATIO times longer than wide, is refused before
    anything is decoded. A JPEG is decoded at a reduced scale (Pillow's
    draft mode) when it is much larger than the model needs. The decode is
    Pillow's whole decode with EXIF orientation and the first frame, as
    `nophd.data.images.load_image` does, so truncated and corrupt files give
    the same one-line reasons.

    Args:
        data: the file's bytes.
        name: how to call the file in messages (the uploaded file name).
        task: the model's task (nophd.tasks), or its name: sets the pixel budget.

    Raises:
        BadInput: empty, not an image, truncated, corrupt, or an extreme shape.
        TooLarge: more pixels than the budget.
    """
    from PIL import ImageOps

    if not data:
        raise BadInput(f"{name}: empty file (0 bytes), not an image")
    if isinstance(task, str):
        task = tasks.get(task)
    budget = task.max_upload_pixels
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except Image.UnidentifiedImageError:
        raise BadInput(f"{name}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise TooLarge(f"{name}: image too large to decode safely (limit {budget:,} pixels)") from None
    except Exception as error:  # noqa: BLE001 - Pillow raises many types for a broken header.
        raise BadInput(f"{name}: truncated or corrupt image ({text.one_line(error)})") from None
    if width < 1 or height < 1:
        raise BadInput(f"{name}: {width}x{height} pixels, an empty picture")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise BadInput(f"{name}: {width}x{height} pixels is too long and thin to be a picture of anything "
                       f"(at most {MAX_ASPECT_RATIO}:1)")
    if image.format == "JPEG" and min(width, height) > 2 * DRAFT_SIDE:
        # Decode at 1/2, 1/4 or 1/8 scale: the shorter side stays at least DRAFT_SIDE.
        image.draft(image.mode, (max(DRAFT_SIDE, width * DRAFT_SIDE // min(width, height)),
                                 max(DRAFT_SIDE, height * DRAFT_SIDE // min(width, height))))
        width, height = image.size
    if width * height > budget:
        raise TooLarge(f"{name}: {width}x{height} pixels is over the limit of {budget:,} pixels for a {task.noun} model; "
                       "send a smaller picture")
    try:
        image.load()
        if image.getexif().get(0x0112, 1) != 1:  # EXIF orientation: turn a phone photo upright.
            image = ImageOps.exif_transpose(image)
    except MemoryError:
        raise TooLarge(f"{name}: not enough memory to decode the image") from None
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many types on corrupt data.
        raise BadInput(f"{name}: truncated or corrupt image ({text.one_line(error)})") from None
    return image


def prepare_image(model: LoadedModel, image: Image.Image) -> np.ndarray:
    """One picture as the model's input, (1, ...), prepared as the run's model was trained.

    Raises:
        BadInput: a digit model and a picture with no digit in it (blank, or ink too faint).
    """
    try:
        prepared = model.predictor.prepare(image)
    except DataError as error:
        raise BadInput(str(error)) from None
    if model.predictor.task.is_blank(prepared):
        raise BadInput(_BLANK)
    return prepared[np.newaxis]


def prepare_pixels(model: LoadedModel, value: Any) -> np.ndarray:
    """A JSON 28x28 digit as the model's input (1, 28, 28, 1) (see `predict_pixels`).

    A digit with no ink is refused by the same rule as a blank picture: the
    array goes through MNIST's preparation (`to_mnist`), and one that comes
    out empty has no digit in it.

    Raises:
        BadInput: a photo model, no pixels, not 28x28 numbers in range, or blank.
    """
    from nophd.data import images as images_module

    task = model.predictor.task
    if not task.takes_pixel_arrays:
        raise BadInput(f"this run is a {task.noun} model: send an image file, not a pixel array")
    digits = parse_pixels(value)
    if not images_module.to_mnist(digits).any():
        raise BadInput(_BLANK)
    return images_module.digits_input(digits)


def predict_image(model: LoadedModel, image: Image.Image, top: int = 3, with_input: bool = False) -> dict[str, Any]:
    """Class probabilities for one picture, prepared as the run's model was trained.

    Raises:
        BadInput: a digit model and a picture with no digit in it (blank, or ink too faint).
    """
    inputs = prepare_image(model, image)
    return result(model, model.probabilities(inputs)[0], top, inputs[0] if with_input else None)


def predict_pixels(model: LoadedModel, value: Any, top: int = 3, with_input: bool = False) -> dict[str, Any]:
    """Class probabilities for a 28x28 MNIST-style digit given as nested lists.

    Args:
        value: {"pixels": [[...28 numbers...] x 28]} or the bare 28x28 list:
            light digit on black, as MNIST; numbers 0..1, or 0..255 when any
            value is over 1. The array is fed as it is (no centring).

    Raises:
        BadInput: a photo model, no pixels, not 28x28 numbers in range, or no ink.
    """
    inputs = prepare_pixels(model, value)
    return result(model, model.probabilities(inputs)[0], top, inputs[0] if with_input else None)


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
    except (ValueError, TypeError, RecursionError):
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


def result(model: LoadedModel, probabilities: np.ndarray, top: int, model_input: np.ndarray | None) -> dict[str, Any]:
    """The JSON answer for one picture: kind, class names, probabilities, the `top` likeliest
    and, for a digit when `model_input` is given, what the model saw (28x28 in [0, 1])."""
    predictor = model.predictor
    answer = {
        "kind": predictor.kind,
        "class_names": list(predictor.class_names),
        "probabilities": [float(value) for value in probabilities],
        "top": [{"label": label, "probability": probability}
                for label, probability in predictor.top(probabilities, max(1, min(top, len(probabilities))))],
    }
    if model_input is not None and predictor.task.shows_model_input:
        # What the model saw: the drawing centred and scaled as MNIST's digits are.
        answer["input"] = np.round(model_input[..., 0].astype(float), 3).tolist()
    return answer


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
        if model.predictor.task.mistakes_saved:
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
        from nophd import scoring
        from nophd.data import images as images_module

        started = time.monotonic()
        images, labels, directory = self.test_set.get()
        config = runs.read_json(folder / runs.CONFIG) or {}
        limit = config.get("test_limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            # The run was tested on the first test_limit digits: show mistakes among those.
            images, labels = images[:limit], labels[:limit]
        chunks = [model.probabilities(images_module.digits_input(images[start:start + _CHUNK]))
                  for start in range(0, len(labels), _CHUNK)]
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, 10), dtype=np.float32)
        evaluation = scoring.score(probabilities, labels)
        examples = scoring.worst_mistakes(evaluation, list(model.predictor.class_names), 500)
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
