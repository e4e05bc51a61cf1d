"""Evaluating a model on labelled images, and predicting classes for image files."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nophd import atomic, errors, runs, tasks, text
from nophd.errors import NophdError
from nophd.inference import loading, predictor


def evaluate_run(run: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                 tta: bool | str | Sequence[str] = False) -> dict:
    """Evaluates a finished run's model again; writes evaluation.json into the run.

    A digit run is scored on the MNIST test set; a photo run on its own
    held-out validation split, read again from its dataset (same split, seed
    and image size as in training). With `tta` (photo runs), test-time
    augmentation: probabilities averaged over the photo and its views (True:
    the default views; or names such as "flip" or "crop,flip", see
    nophd.inference.tta), written to evaluation-tta.json with the views used.

    Example:
        result = evaluate_run("runs/20261122-180000-conv-bn")
        print(result["test_accuracy"])
    """
    run_config = runs.read_json(Path(run) / runs.CONFIG) or {} if Path(run).is_dir() else {}
    task = tasks.of_run(run_config)
    task.check_takes_inputs(f"{run}: evaluate")
    views = task.tta_views(run, run_config, tta) if tta is not False and tta is not None else ()
    model = loading.load_run_model(run)
    evaluation, where = task.evaluate_run(run, model, run_config, data_dir, tta=views)
    # Photo runs keep their classes in config.json, digit runs in metrics.json ("even", "odd" for even-odd runs).
    names = run_config.get("class_names") or (
        (runs.read_json(Path(run) / runs.METRICS) or {}).get("class_names") if Path(run).is_dir() else None)
    if not isinstance(names, list) or len(names) != len(evaluation.per_class_accuracy):
        names = [str(index) for index in range(len(evaluation.per_class_accuracy))]
    result = {
        "run": str(run),
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "test_examples": int(len(evaluation.labels)),
        **evaluation.class_figures(),
        "class_names": [str(name) for name in names],
        "data": where,
        # False, or the views averaged besides the photo itself (older files hold true: crop and flip).
        "tta": list(views) if tta else False,
        "evaluated_at": runs.now(),
    }
    if Path(run).is_dir():
        atomic.write_json(Path(run) / (runs.EVALUATION_TTA if tta else runs.EVALUATION), result)
        if tta and (Path(run) / runs.CONFIG).is_file():
            from nophd.reports import model_card

            # The card shows the TTA figure beside the run's own. The evaluation is done: a card that cannot be
            # written is reported, not raised (as after an export).
            try:
                model_card.write_model_card(run)
            except OSError as error:
                result["model_card_not_written"] = errors.os_error_line(error) or text.one_line(error)
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
    resizes it as its training did (see nophd.inference.predictor).
    """
    from nophd.data import images as images_module

    run_predictor = predictor.Predictor(run)
    results: list[FilePrediction | None] = []
    inputs, positions, warnings = [], [], []
    for path in paths:
        try:
            inputs.append(run_predictor.prepare(images_module.load_image(path)))
            warnings.append(run_predictor.warning(inputs[-1]))
            positions.append(len(results))
            results.append(None)
        except NophdError as error:
            reason = str(error)
            results.append(FilePrediction(Path(path), [], reason if reason.startswith(str(path)) else f"{path}: {reason}"))
    if inputs:
        probabilities = run_predictor.predict_inputs(np.stack(inputs))
        for position, row, warning in zip(positions, probabilities, warnings):
            results[position] = FilePrediction(Path(paths[position]), run_predictor.top(row, top), warning=warning)
    return results
