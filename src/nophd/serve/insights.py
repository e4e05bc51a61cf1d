"""What the dashboard tells a user about a run beyond its files: where the
epoch in progress is, the warnings a user needs, and the per-class table.

Pure functions over what a run folder holds (config.json, metrics.json,
history.csv's rows, progress.json), read by `nophd.serve.catalog`; nothing
here reads a file but `read_progress`, and nothing raises for a file's
contents.

Warnings (each {"kind", "message"}, the message one line a user can act on):

    one-class   the model predicts one class for (nearly) everything: over
                scoring.ONE_CLASS_SHARE of the evaluated examples go to one
                class (from the confusion matrix metrics.json keeps; without
                it, one class right and every other wrong). The rule is
                scoring.one_class_warning, which the CLI and report share.
    few-examples the accuracy was measured on fewer than
                scoring.FEW_EXAMPLES examples (a small photo folder's
                validation split): its 95% interval is wide
                (scoring.few_examples_warning, shared likewise).
    overfitting training accuracy above validation accuracy by more than
                GAP_POINTS percentage points at the last epoch.
    little-data fewer than MIN_STEPS_PER_EPOCH steps (batches) per epoch:
                too few updates for the learning rate schedules here, and a
                noisy epoch-level curve; lower the batch size or add data.

Example:
    insights.warnings(config, metrics, rows)
    [{"kind": "overfitting", "message": "Training accuracy 99.1% is 7.3 points above ..."}]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nophd import runs, scoring, values
from nophd.serve import paths

GAP_POINTS = 5.0
MIN_STEPS_PER_EPOCH = 10
# progress.json is a few hundred bytes; a bigger one is not ours.
_MAX_PROGRESS_BYTES = 16 * 1024


def read_progress(folder: Path, status: str, epochs_done: int | None) -> dict[str, Any] | None:
    """The epoch in progress from progress.json, while the run trains.

    None when the run is not running, the file is missing or unreadable, or
    it speaks of an epoch history.csv already holds (the file outlives the
    epoch it describes).
    """
    if status != "running":
        return None
    # Nothing outside the run folder is read, even through a symlink.
    path = paths.existing(folder, folder / runs.PROGRESS)
    if path is None:
        return None
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_PROGRESS_BYTES + 1)
        value = json.loads(raw.decode("utf-8")) if len(raw) <= _MAX_PROGRESS_BYTES else None
    except (OSError, RuntimeError, ValueError):
        return None
    if not isinstance(value, dict):
        return None
    epoch, step, steps = values.integer(value.get("epoch")), values.integer(value.get("step")), values.integer(value.get("steps_per_epoch"))
    if not epoch or step is None or not steps or epoch <= (epochs_done or 0):
        return None
    return {
        "epoch": epoch,
        "epochs": values.integer(value.get("epochs")),
        "step": min(step, steps),
        "steps_per_epoch": steps,
        "fraction": min(1.0, step / steps),
        "elapsed": values.number(value.get("elapsed")),
        "eta_seconds": values.number(value.get("eta_seconds")),
        "run_eta_seconds": values.number(value.get("run_eta_seconds")),
        "loss": values.number(value.get("loss")),
        "accuracy": values.number(value.get("accuracy")),
        "updated_at": values.number(value.get("updated_at")),
    }


def warnings(config: dict[str, Any], metrics: dict[str, Any], rows: list[dict[str, Any]],
             progress: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The warnings that apply to a run (see the module's docstring), most serious first."""
    found = []
    for rule in (_one_class, _few_examples, _overfitting, _little_data):
        warning = rule(config, metrics, rows, progress)
        if warning:
            found.append(warning)
    return found


def per_class(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The per-class table: {"class_names", "rows": [{"label", "accuracy",
    "examples", "predicted", "precision", "f1"}], "confusion": K×K counts or
    None, "macro_f1"}; None when metrics.json has no per-class accuracy.

    Precision and F1 come from the confusion matrix (scoring.class_figures),
    so runs from before metrics.json kept them get them too; None without one.
    """
    accuracies = metrics.get("per_class_accuracy")
    if not isinstance(accuracies, list) or not accuracies:
        return None
    count = len(accuracies)
    names = metrics.get("class_names")
    names = [str(name) for name in names] if isinstance(names, list) and len(names) == count else [str(i) for i in range(count)]
    confusion = _confusion(metrics, count)
    figures = scoring.class_figures(confusion) if confusion else None
    rows = []
    for index, name in enumerate(names):
        rows.append({
            "label": name,
            "accuracy": values.number(accuracies[index]),
            "examples": sum(confusion[index]) if confusion else None,
            "predicted": sum(row[index] for row in confusion) if confusion else None,
            "precision": figures["per_class_precision"][index] if figures else None,
            "f1": figures["per_class_f1"][index] if figures else None,
        })
    return {"class_names": names, "rows": rows, "confusion": confusion,
            "macro_f1": figures["macro_f1"] if figures else None}


def _confusion(metrics: dict[str, Any], count: int) -> list[list[int]] | None:
    """metrics.json's confusion matrix if it is a K×K matrix of counts, else None."""
    matrix = metrics.get("confusion")
    if not isinstance(matrix, list) or len(matrix) != count:
        return None
    clean = []
    for row in matrix:
        if not isinstance(row, list) or len(row) != count:
            return None
        counts = [values.integer(value) for value in row]
        if any(cell is None for cell in counts):
            return None
        clean.append(counts)
    return clean


def _one_class(config, metrics, rows, progress) -> dict[str, str] | None:
    # The rule is scoring's, shared with the CLI and the run report; per_class has checked metrics.json's figures.
    table = per_class(metrics)
    if not table:
        return None
    message = scoring.one_class_warning(table["class_names"], table["confusion"],
                                        [row["accuracy"] for row in table["rows"]])
    return {"kind": "one-class", "message": message} if message else None


def _few_examples(config, metrics, rows, progress) -> dict[str, str] | None:
    # Scoring's rule, shared with the CLI and the run report.
    message = scoring.few_examples_warning_of(metrics)
    return {"kind": "few-examples", "message": message} if message else None


def _overfitting(config, metrics, rows, progress) -> dict[str, str] | None:
    last = next((row for row in reversed(rows) if values.number(row.get("accuracy")) is not None
                 and values.number(row.get("val_accuracy")) is not None), None)
    if last is None:
        return None
    # Rounded: 0.40 - 0.35 is 0.05000000000000004 in floating point, and exactly five points is not over five.
    gap = round(100 * (last["accuracy"] - last["val_accuracy"]), 6)
    if gap <= GAP_POINTS:
        return None
    return {"kind": "overfitting", "message": f"Training accuracy {100 * last['accuracy']:.1f}% is {gap:.1f} points "
            f"above validation accuracy {100 * last['val_accuracy']:.1f}% at epoch {last.get('epoch')}: the model "
            "is memorising its training data. More data, augmentation, dropout or fewer epochs help."}


def _little_data(config, metrics, rows, progress) -> dict[str, str] | None:
    batch = values.integer(config.get("batch_size"))
    examples = values.integer(metrics.get("train_examples"))
    steps = examples // batch if examples is not None and batch else None
    if steps is None and progress:
        steps = progress.get("steps_per_epoch")
    if steps is None or steps >= MIN_STEPS_PER_EPOCH:
        return None
    what = f"{examples:,} training examples at batch size {batch}" if examples is not None and batch else f"batch size {batch}"
    return {"kind": "little-data", "message": f"Only {steps} step(s) per epoch ({what}): too few weight updates "
            f"per epoch (under {MIN_STEPS_PER_EPOCH}) for curves to mean much. Lower --batch-size or add training data."}


