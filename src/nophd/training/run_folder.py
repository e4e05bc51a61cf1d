"""`RunFolder`: a Keras callback that records a user's own `model.fit` as a nophd run folder.

Add it to the callbacks of any Keras model's `fit` and the folder fills as
`nophd train` fills its own (see nophd.runs for the layout): config.json
(what can be known: the model's name, optimizer, first learning rate, loss,
epochs, and what you pass), summary.txt, run.json (running, then finished,
interrupted or failed; epochs done; wall seconds), history.csv after every
epoch (every metric Keras logs, the learning rate, seconds), progress.json
while an epoch runs, TensorBoard event files, curves.png, lr.png and
report.html after every epoch; at the end model.keras and metrics.json
(the last epoch's figures, or with `evaluation_data` the per-class figures
and confusion.png). Every file is written atomically, and nothing but
nophd's own files is ever written or removed. `nophd serve` lists and
compares such runs, with live curves while they train.

The folder's run is of the task "custom" (nophd.tasks.custom): nophd cannot
prepare inputs for a model it did not build, so `nophd predict`,
`evaluate` and `export` refuse such a run with one line.

Keras calls no callback when `fit` stops on an exception (Ctrl-C, an
error), so use the callback as a context manager to have run.json say
"interrupted" (or "failed") at once; without it a script that dies of the
exception marks the run interrupted when Python exits, and a notebook
should call `close()`.

Example:
    import nophd

    with nophd.RunFolder("runs/my-cnn", dataset="my photos", class_names=names,
                         evaluation_data=(test_x, test_y)) as run_folder:
        model.fit(train_x, train_y, validation_split=0.1, epochs=5, callbacks=[run_folder])
    # then: nophd serve runs
"""

from __future__ import annotations

import atexit
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from nophd import atomic, config as config_module, runs, scoring
from nophd.errors import ConfigError, RunError
from nophd.reports import artifacts, model_card
from nophd.training import callbacks as callbacks_module, loop

# History columns nophd writes itself; a metric logged under one of these names is not copied again.
_OWN_COLUMNS = ("epoch", "learning_rate", "seconds", "elapsed")


class RunFolder(keras.callbacks.Callback):
    """Records your own model's `fit` into a nophd run folder (see the module docstring for the files).

    One RunFolder is one run: fitting again with the same object (a second
    phase, say) continues its history. A folder that already holds another
    run is refused.

    Args:
        directory: the run folder (created when missing). None: a new
            folder `runs_root/<YYYYmmdd-HHMMSS>-<model name>` when fit starts.
        name: the run's name, for you (config.json "name").
        dataset: what it trains on, as the dashboard shows it.
        config: your own settings to keep with the run (JSON values; others
            are kept as text), config.json "user_config".
        batch_size: examples per step, when you want it recorded (Keras does
            not tell callbacks).
        class_names: one name per class, for the confusion matrix and the
            per-class table.
        evaluation_data: (inputs, labels) to score the final model on:
            labels as class indices or one-hot rows, the model's outputs as
            one score per class (softmax probabilities; other scores go
            through a softmax first). The per-class figures and the
            confusion matrix come from it; without it metrics.json keeps the
            last epoch's validation figures.
        save_model: save model.keras when fit ends.
        runs_root: where `directory=None` makes the folder.
        progress_interval: seconds between progress.json writes.

    Raises:
        ConfigError: a bad argument (at construction), or values config.json
            cannot hold (when fit starts).
        RunError: the folder already holds another run, or another process
            is writing it (when fit starts).

    Example:
        run_folder = nophd.RunFolder("runs/dense", name="first try", config={"dropout": 0.2})
        model.fit(x, y, validation_split=0.2, epochs=3, callbacks=[run_folder])
        print(run_folder.directory)
    """

    def __init__(
        self,
        directory: str | os.PathLike | None = None,
        *,
        name: str = "",
        dataset: str = "",
        config: dict[str, Any] | None = None,
        batch_size: int | None = None,
        class_names: Sequence[str] | None = None,
        evaluation_data: tuple[Any, Any] | None = None,
        save_model: bool = True,
        runs_root: str | os.PathLike = runs.DEFAULT_ROOT,
        progress_interval: float = 1.0,
    ):
        super().__init__()
        if config is not None and not isinstance(config, dict):
            raise ConfigError(f"config: expected a dict of your settings, got {type(config).__name__}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
            raise ConfigError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
        if class_names is not None and (isinstance(class_names, str) or not all(isinstance(item, str) for item in class_names)):
            raise ConfigError("class_names: expected a list of strings, one per class")
        if evaluation_data is not None and (not isinstance(evaluation_data, (tuple, list)) or len(evaluation_data) != 2):
            raise ConfigError("evaluation_data: expected (inputs, labels)")
        self.directory = Path(directory) if directory is not None else None
        self.name = str(name)
        self.dataset = str(dataset)
        # Kept as JSON now, so a dict the user changes later does not change the record.
        self.user_config = None if config is None else json.loads(json.dumps(config, default=str))
        self.batch_size = batch_size
        self.class_names = list(class_names) if class_names is not None else None
        self.evaluation_data = evaluation_data
        self.save_model = save_model
        self.runs_root = Path(runs_root)
        self.progress_interval = progress_interval
        self.history_rows: list[dict[str, float]] = []
        self.metric_columns: list[str] = []
        self._lock: runs.RunLock | None = None
        self._wall_before = 0.0
        self._train_start = time.monotonic()
        self._epoch_start = self._train_start
        self._inner: keras.callbacks.CallbackList | None = None
        self._pictures: artifacts.EpochPictures | None = None
        self._last_logs: dict[str, float] = {}
        self._started_at: str | None = None

    # --- the run's life

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        self.close(error)

    @property
    def is_open(self) -> bool:
        """Whether a fit is being recorded (the folder's lock is held)."""
        return self._lock is not None

    def wall_seconds(self) -> float:
        """Training seconds so far, every fit with this callback together."""
        return self._wall_before + (time.monotonic() - self._train_start if self.is_open else 0.0)

    def on_train_begin(self, logs=None):
        if self.directory is None:
            self.directory = runs.new_run_directory(_safe_name(self.model.name), self.runs_root)
        epochs = int(self.params.get("epochs") or 0)
        steps = self.params.get("steps")
        record = self._config(epochs)  # Before the folder is touched: a ConfigError leaves nothing behind.
        if not self.is_open:
            self._open()
        self._train_start = time.monotonic()
        atomic.write_json(self.directory / runs.CONFIG, record.to_dict())
        if not (self.directory / runs.SUMMARY).exists() or not self.history_rows:
            atomic.write_text(self.directory / runs.SUMMARY, loop.model_summary(self.model))
        self._started_at = self._started_at or runs.now()
        runs.write_state(self.directory, status="running", task=record.task, model=record.model, dataset=record.dataset,
                         pid=os.getpid(), epochs_total=len(self.history_rows) + epochs, epochs_done=len(self.history_rows),
                         steps_per_epoch=steps, wall_seconds=round(self._wall_before, 3), started_at=self._started_at)
        # TensorBoard's own files, and the step progress the dashboard shows (when fit knows its steps).
        inner = [keras.callbacks.TensorBoard(log_dir=str(self.directory / runs.TENSORBOARD), write_graph=False,
                                             update_freq="epoch", profile_batch=0)]
        if steps:
            inner.append(callbacks_module.ProgressFile(self.directory, epochs, int(steps), self.progress_interval))
        self._inner = keras.callbacks.CallbackList(inner, model=self.model, **self.params)
        self._inner.on_train_begin(logs)
        self._pictures = artifacts.EpochPictures(self.directory, None, draw=artifacts.write_recorded_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()
        if self._inner is not None:
            self._inner.on_epoch_begin(epoch, logs)

    def on_train_batch_end(self, batch, logs=None):
        if self._inner is not None:
            self._inner.on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if not self.is_open:
            return
        numbers = _numbers(logs or {})
        self._last_logs = numbers
        row = dict(_with_accuracy(numbers))
        for key in row:
            if key not in runs.HISTORY_COLUMNS and key not in self.metric_columns:
                self.metric_columns.append(key)
        row["epoch"] = len(self.history_rows) + 1
        rate = _learning_rate(self.model)
        if rate is not None:
            row["learning_rate"] = rate
        row["seconds"] = time.monotonic() - self._epoch_start
        row["elapsed"] = self.wall_seconds()
        self.history_rows.append(row)
        runs.write_history(self.directory, self.history_rows, extra=tuple(self.metric_columns))
        runs.write_state(self.directory, epochs_done=len(self.history_rows), wall_seconds=round(self.wall_seconds(), 3))
        if self._inner is not None:
            self._inner.on_epoch_end(epoch, logs)
        self._pictures.submit(self.history_rows)

    def on_train_end(self, logs=None):
        if not self.is_open:
            return
        self._stop_inner(logs)
        wall_seconds = self.wall_seconds()
        if self.save_model:
            loop.save_final_model(self.directory, self.model)
        evaluation = self._evaluate()
        atomic.write_json(self.directory / runs.METRICS, self._metrics(evaluation, wall_seconds))
        artifacts.write_recorded_final(self.directory, self.history_rows, evaluation, self._class_names(evaluation))
        (self.directory / runs.PROGRESS).unlink(missing_ok=True)
        runs.write_state(self.directory, status="finished", epochs_done=len(self.history_rows),
                         wall_seconds=round(wall_seconds, 3))
        model_card.write_model_card(self.directory)  # As a run of `nophd train` ends, once run.json says finished.
        self._release(wall_seconds)

    def close(self, error: BaseException | None = None) -> None:
        """Ends a recording that fit left open: run.json says "interrupted" (Ctrl-C, or no `error`) or "failed".

        Nothing to do after a fit that ended normally. The pictures and the
        report are brought up to date, so the folder is complete as it is.
        """
        if not self.is_open:
            return
        wall_seconds = self.wall_seconds()
        try:
            self._stop_inner(None)
        finally:
            failed = error is not None and not isinstance(error, KeyboardInterrupt)
            (self.directory / runs.PROGRESS).unlink(missing_ok=True)
            runs.write_state(self.directory, status="failed" if failed else "interrupted",
                             wall_seconds=round(wall_seconds, 3))
            try:
                artifacts.write_recorded_final(self.directory, self.history_rows)
            finally:
                self._release(wall_seconds)

    # --- helpers

    def _open(self) -> None:
        directory = self.directory
        if directory.exists() and not directory.is_dir():
            raise RunError(f"{directory}: is a file, not a folder; choose another folder for RunFolder")
        held = runs.lock(directory)
        try:
            if not self.history_rows and (directory / runs.STATE).exists():
                # This process holds the lock now, so a run.json saying "running" is a dead process's run.
                state = (runs.read_state(directory) or {}).get("status")
                raise RunError(f"{directory}: already holds a run ({'interrupted' if state == 'running' else state}); "
                               "choose another folder for RunFolder")
            runs.sweep(directory)
        except BaseException:
            held.release()
            raise
        self._lock = held
        # A script that dies of the exception that stopped fit still says so in run.json.
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        # Python sets sys.last_type when it reports an uncaught exception, before atexit runs.
        last = getattr(sys, "last_type", None)
        self.close(None if last is None or issubclass(last, KeyboardInterrupt) else last())

    def _release(self, wall_seconds: float) -> None:
        self._wall_before = wall_seconds
        self._inner = None
        if self._pictures is not None:
            pictures, self._pictures = self._pictures, None
            try:
                pictures.close()
            except Exception:
                pass  # The closing pictures were just drawn again; a failed epoch picture changes nothing.
        atexit.unregister(self._at_exit)
        lock, self._lock = self._lock, None
        lock.release()

    def _stop_inner(self, logs) -> None:
        if self._pictures is not None:
            self._pictures.close()
            self._pictures = None
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.on_train_end(logs)  # TensorBoard closes (flushes) its event files.

    def _config(self, epochs: int) -> config_module.CustomConfig:
        optimizer = getattr(self.model, "optimizer", None)
        values = {
            "model": str(self.model.name), "dataset": self.dataset, "name": self.name,
            "optimizer": type(optimizer).__name__.lower() if optimizer is not None else "",
            "learning_rate": _learning_rate(self.model), "loss": _loss_name(getattr(self.model, "loss", None)),
            "epochs": max(len(self.history_rows) + epochs, 1), "batch_size": self.batch_size,
            "class_names": tuple(self.class_names or ()), "user_config": self.user_config,
        }
        record = config_module.CustomConfig(**values)
        config_module.validate(record)
        return record

    def _evaluate(self) -> scoring.Evaluation | None:
        if self.evaluation_data is None:
            return None
        inputs, labels = self.evaluation_data
        scores = np.asarray(self.model.predict(inputs, verbose=0), dtype=np.float64)
        if scores.ndim != 2:
            raise ConfigError(f"evaluation_data: the model gives outputs of shape {scores.shape}; "
                              "per-class figures need one score per class")
        if scores.shape[1] == 1:  # One sigmoid output: the second of two classes.
            scores = np.concatenate([1.0 - scores, scores], axis=1)
        if np.any(scores < 0) or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] > 1:
            labels = labels.argmax(axis=1)
        labels = labels.reshape(-1).astype(np.int64)
        if len(labels) != len(scores):
            raise ConfigError(f"evaluation_data: {len(scores)} inputs but {len(labels)} labels")
        return scoring.score(scores.astype(np.float32), labels)

    def _class_names(self, evaluation: scoring.Evaluation | None) -> list[str] | None:
        if evaluation is None:
            return self.class_names
        count = len(evaluation.per_class_accuracy)
        if self.class_names and len(self.class_names) == count:
            return self.class_names
        return [str(index) for index in range(count)]

    def _metrics(self, evaluation: scoring.Evaluation | None, wall_seconds: float) -> dict[str, Any]:
        last = _with_accuracy(self._last_logs)
        metrics: dict[str, Any] = {
            "model": str(self.model.name), "task": "custom", "name": self.name, "dataset": self.dataset,
            "status": "finished",
            "epochs": len(self.history_rows),
            "wall_seconds": round(wall_seconds, 3),
            "seconds_per_epoch": round(float(np.mean([row["seconds"] for row in self.history_rows])), 3)
            if self.history_rows else None,
            "parameters": int(self.model.count_params()),
            # Every figure Keras logged for the last epoch, as it named them.
            "final": self._last_logs,
        }
        if evaluation is not None:
            metrics.update({
                "test_accuracy": evaluation.accuracy, "test_loss": evaluation.loss,
                "test_examples": int(len(evaluation.labels)), "evaluated_on": "evaluation_data",
                **evaluation.class_figures(), "class_names": self._class_names(evaluation),
            })
        else:
            # The last epoch's validation figures, when fit validated.
            metrics.update({"test_accuracy": last.get("val_accuracy"), "test_loss": last.get("val_loss"),
                            "evaluated_on": "the last epoch's validation data" if "val_loss" in last else None})
            if self.class_names:
                metrics["class_names"] = self.class_names
        metrics.update({"versions": loop.versions(), "finished_at": runs.now()})
        return metrics


def _numbers(logs: dict) -> dict[str, float]:
    """The finite scalar figures of Keras' logs, as floats."""
    numbers = {}
    for key, value in logs.items():
        try:
            number = float(np.asarray(value))
        except (TypeError, ValueError):
            continue  # A non-scalar metric (a confusion matrix, say) is not a history column.
        if math.isfinite(number) and str(key) not in _OWN_COLUMNS:
            numbers[str(key)] = number
    return numbers


def _with_accuracy(numbers: dict[str, float]) -> dict[str, float]:
    """The figures, with "accuracy" and "val_accuracy" filled from an accuracy metric of another name.

    Keras logs metrics=["accuracy"] as "accuracy", but a metric object as
    its own name ("sparse_categorical_accuracy"); the curves and the
    dashboard read "accuracy", so the first such metric is also shown there.
    """
    result = dict(numbers)
    if "accuracy" not in result:
        source = next((key for key in numbers if key.endswith("accuracy") and not key.startswith("val_")), None)
        if source is not None:
            result["accuracy"] = numbers[source]
            if f"val_{source}" in numbers:
                result["val_accuracy"] = numbers[f"val_{source}"]
    return result


def _learning_rate(model) -> float | None:
    optimizer = getattr(model, "optimizer", None)
    try:
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
    # Six significant digits: a float32 0.01 is recorded as 0.01, not 0.009999999776.
    return float(f"{rate:.6g}") if math.isfinite(rate) and rate > 0 else None


def _loss_name(loss) -> str:
    if loss is None:
        return ""
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)


def _safe_name(name: str) -> str:
    """A model name fit for a folder name."""
    cleaned = "".join(character if character.isalnum() or character in "-_." else "-" for character in name).strip(".-")
    return cleaned or "model"
