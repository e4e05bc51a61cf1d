"""Evaluating a model on labelled images, and predicting classes for image files."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from nophd import atomic, runs, scoring
from nophd.errors import CorruptModelError, NophdError, RunError


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) 0..255 or float [0, 1] -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = images.astype(np.float32, copy=False)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def evaluate_arrays(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> scoring.Evaluation:
    """Runs a digit model over MNIST-style `images` once and scores it against `labels`."""
    probabilities = np.asarray(model.predict(as_model_input(images), batch_size=batch_size, verbose=0))
    return scoring.score(probabilities, labels)


def load_run_model(run: str | os.PathLike):
    """The final model of run folder `run` (or a .keras file)."""
    import keras

    path = Path(run)
    model_path = path / runs.MODEL if path.is_dir() else path
    if not path.exists():
        raise RunError(f"{path}: no such run folder")
    if not model_path.exists():
        hint = " (the run has not finished; resume it with --resume)" if runs.has_checkpoint(path) else ""
        raise RunError(f"{path}: no {runs.MODEL} in this run folder{hint}")
    if model_path.is_dir():
        raise RunError(f"{model_path}: is a folder, not a Keras model file")
    damage = archive_damage(model_path)
    if damage is not None:
        raise CorruptModelError(f"{model_path}: {model_path.name} is corrupt or truncated ({damage}); "
                                "retrain or restore it")
    try:
        return keras.models.load_model(model_path)
    except OSError:
        raise  # Permission denied and the like: the CLI names the file.
    except Exception as error:  # Keras raises many types for a damaged archive.
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise CorruptModelError(f"{model_path}: {model_path.name} is corrupt or truncated ({reason}); "
                                "retrain or restore it") from None


def archive_damage(path: Path) -> str | None:
    """What is wrong with a .keras file as a zip archive, or None when it reads whole.

    A .keras file is a zip archive; a truncated or overwritten one makes
    Keras say "File not found", which misleads. Every member's checksum is
    checked (a few MB for the ladder's models).
    """
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as error:
        return str(error) or "not a zip archive"
    except (EOFError, zipfile.LargeZipFile, zlib.error) as error:
        return str(error) or type(error).__name__
    except OSError as error:
        if error.errno is None:
            return str(error)
        raise
    if bad is not None:
        return f"bad checksum in {bad}"
    return None


def evaluate_run(run: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> dict:
    """Evaluates a finished run's model again; writes evaluation.json into the run.

    A digit run is scored on the MNIST test set; a photo run on its own
    held-out validation split, read again from its dataset (same split, seed
    and image size as in training).

    Example:
        result = evaluate_run("runs/20261122-180000-conv-bn")
        print(result["test_accuracy"])
    """
    model = load_run_model(run)
    run_config = runs.read_json(Path(run) / runs.CONFIG) or {} if Path(run).is_dir() else {}
    if run_config.get("task") == "photos":
        from nophd.data import photos
        from nophd.training.photos import collect, evaluate_images

        data = photos.open_photos(
            run_config["dataset"], image_size=int(run_config["image_size"]),
            validation_split=float(run_config["validation_split"]), seed=int(run_config["seed"]), data_dir=data_dir,
        )
        data.require_classes(run_config.get("class_names"))
        images, labels = collect(data.validation_dataset(), len(data.validation), "validation", progress=False)
        evaluation = evaluate_images(model, images, labels)
        where = str(data.source)
        if Path(run).is_dir():
            from nophd.reports import artifacts

            artifacts.write_mistakes(Path(run), evaluation, images, data.class_names, "validation photos", where)
    else:
        from nophd.data import mnist

        data = mnist.load(data_dir)
        evaluation = evaluate_arrays(model, data.test_images, data.test_labels)
        where = str(data.directory)
    result = {
        "run": str(run),
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "test_examples": int(len(evaluation.labels)),
        "per_class_accuracy": evaluation.per_class_accuracy,
        "class_names": run_config.get("class_names") or [str(index) for index in range(len(evaluation.per_class_accuracy))],
        "confusion": evaluation.confusion.tolist(),
        "data": where,
        "evaluated_at": runs.now(),
    }
    if Path(run).is_dir():
        atomic.write_json(Path(run) / "evaluation.json", result)
    return result


@dataclasses.dataclass(frozen=True)
class FilePrediction:
    """Top classes for one image file, or the one-line reason it was skipped."""

    path: Path
    top: list[tuple[str, float]]
    error: str | None = None
    # Why the guess means little (Predictor.warning): a blank or noise picture.
    warning: str | None = None


def predict_files(run: str | os.PathLike, paths: list[str | os.PathLike], top: int = 3) -> list[FilePrediction]:
    """Predicts each image file with a run's model; unreadable files get an error entry.

    Any PNG or JPEG works, any size, colour or grey. A digit run turns it into
    an MNIST-style digit first (dark-on-light or light-on-dark); a photo run
    resizes it as its training did (see nophd.training.predictor).
    """
    from nophd.data import images as images_module
    from nophd.training.predictor import Predictor

    predictor = Predictor(run)
    results: list[FilePrediction | None] = []
    inputs, positions, warnings = [], [], []
    for path in paths:
        try:
            inputs.append(predictor.prepare(images_module.load_image(path)))
            warnings.append(predictor.warning(inputs[-1]))
            positions.append(len(results))
            results.append(None)
        except NophdError as error:
            reason = str(error)
            results.append(FilePrediction(Path(path), [], reason if reason.startswith(str(path)) else f"{path}: {reason}"))
    if inputs:
        probabilities = predictor.predict_inputs(np.stack(inputs))
        for position, row, warning in zip(positions, probabilities, warnings):
            results[position] = FilePrediction(Path(paths[position]), predictor.top(row, top), warning=warning)
    return results
