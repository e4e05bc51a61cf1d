"""Keras callbacks: progress with ETA, and the per-epoch run-folder writer."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Callable, TextIO

import keras

from nophd import atomic, runs, text


def metric_text(logs: dict, prefix: str = "") -> str:
    """"loss 0.1234  acc 98.76%" from a Keras logs dict (prefix "val_": the validation figures)."""
    parts = []
    if f"{prefix}loss" in logs:
        parts.append(f"{prefix}loss {logs[prefix + 'loss']:.4f}")
    if f"{prefix}accuracy" in logs:
        parts.append(f"{prefix}acc {100 * logs[prefix + 'accuracy']:.2f}%")
    return "  ".join(parts)


class Progress(keras.callbacks.Callback):
    """Prints epochs and steps with the time left for the epoch and the run.

    On a terminal, one line is redrawn in place about twice a second; in a
    log (CI, a file) it prints a line at each quarter of an epoch, so logs
    stay short. Every finished epoch gets a line of its own.
    """

    def __init__(
        self, epochs: int, steps_per_epoch: int, stream: TextIO | None = None, interval: float = 0.5, prefix: str = ""
    ):
        super().__init__()
        self.prefix = f"{prefix}: " if prefix else ""
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.stream = stream or sys.stderr
        self.interval = interval
        self.interactive = self.stream.isatty()
        self.epoch_seconds: list[float] = []

    def _write(self, text: str, final: bool) -> None:
        if self.interactive:
            self.stream.write("\r\x1b[2K" + self.prefix + text + ("\n" if final else ""))
        else:
            self.stream.write(self.prefix + text + "\n")
        self.stream.flush()

    def _seconds_per_epoch(self, step_rate: float | None) -> float:
        if self.epoch_seconds:
            return sum(self.epoch_seconds) / len(self.epoch_seconds)
        return self.steps_per_epoch * step_rate if step_rate else 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_start = time.monotonic()
        self.last_print = self.epoch_start
        self.next_quarter = 1

    def on_train_batch_end(self, batch, logs=None):
        current = time.monotonic()
        step = batch + 1
        quarter_due = not self.interactive and step >= self.next_quarter * self.steps_per_epoch / 4
        if step == self.steps_per_epoch or not (
            (self.interactive and current - self.last_print >= self.interval) or quarter_due
        ):
            return
        if quarter_due:
            self.next_quarter += 1
        self.last_print = current
        step_rate = (current - self.epoch_start) / step
        epoch_left = step_rate * (self.steps_per_epoch - step)
        run_left = epoch_left + self._seconds_per_epoch(step_rate) * (self.epochs - self.epoch - 1)
        self._write(
            f"epoch {self.epoch + 1}/{self.epochs}  step {step}/{self.steps_per_epoch}  "
            f"{metric_text(logs or {})}  epoch ETA {text.format_duration(epoch_left)}  run ETA {text.format_duration(run_left)}",
            final=False,
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        elapsed = time.monotonic() - self.epoch_start
        self.epoch_seconds.append(elapsed)
        run_left = self._seconds_per_epoch(None) * (self.epochs - epoch - 1)
        learning_rate = logs.get("learning_rate")
        self._write(
            f"epoch {epoch + 1}/{self.epochs}  {metric_text(logs)}  {metric_text(logs, 'val_')}"
            + (f"  lr {float(learning_rate):.3g}" if learning_rate is not None else "")
            + f"  {elapsed:.1f} s  ETA {text.format_duration(run_left)}",
            final=True,
        )


class ProgressFile(keras.callbacks.Callback):
    """Writes the run folder's progress.json while an epoch runs, for the dashboard.

    At most once every `interval` seconds (and at the start of each epoch),
    atomically: {"epoch" (1-based, the one in progress), "epochs", "step",
    "steps_per_epoch", "elapsed" (seconds into the epoch), "eta_seconds" (left
    in the epoch), "run_eta_seconds", "loss", "accuracy" (the running values
    of the epoch so far), "updated_at" (Unix time)}. history.csv stays the
    record of finished epochs; this file only says where the current one is.

    Example:
        model.fit(..., callbacks=[ProgressFile(run_directory, epochs=10, steps_per_epoch=468)])
    """

    def __init__(self, run_directory: Path, epochs: int, steps_per_epoch: int, interval: float = 1.0):
        super().__init__()
        self.path = Path(run_directory) / runs.PROGRESS
        self.epochs = epochs
        self.steps_per_epoch = steps_per_epoch
        self.interval = interval
        self.epoch_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_start = self.last_write = time.monotonic()
        self._write(0, {})

    def on_train_batch_end(self, batch, logs=None):
        current = time.monotonic()
        if current - self.last_write < self.interval:
            return
        self.last_write = current
        self._write(batch + 1, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.monotonic() - self.epoch_start)

    def _write(self, step: int, logs: dict) -> None:
        elapsed = time.monotonic() - self.epoch_start
        if self.epoch_seconds:
            per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds)
        else:
            per_epoch = elapsed / step * self.steps_per_epoch if step else None
        epoch_left = elapsed / step * (self.steps_per_epoch - step) if step else per_epoch
        record = {
            "epoch": self.epoch + 1, "epochs": self.epochs, "step": step, "steps_per_epoch": self.steps_per_epoch,
            "elapsed": round(elapsed, 3),
            "eta_seconds": None if epoch_left is None else round(epoch_left, 1),
            "run_eta_seconds": None if epoch_left is None or per_epoch is None
            else round(epoch_left + per_epoch * (self.epochs - self.epoch - 1), 1),
            "loss": _float(logs.get("loss")), "accuracy": _float(logs.get("accuracy")), "updated_at": time.time(),
        }
        try:
            atomic.write_json(self.path, record)
        except OSError:
            pass  # Progress is a nicety: a full disk must not stop the training (the epoch's own writes will say so).


def _float(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


class PredictProgress(keras.callbacks.Callback):
    """Progress lines with ETA for a long `model.predict` (e.g. backbone features).

    Example:
        model.predict(images, callbacks=[PredictProgress(steps, "features")])
    """

    def __init__(self, steps: int, what: str, stream: TextIO | None = None, interval: float = 2.0):
        super().__init__()
        self.steps = steps
        self.what = what
        self.stream = stream or sys.stderr
        self.interval = interval

    def on_predict_begin(self, logs=None):
        self.start = self.last = time.monotonic()

    def on_predict_batch_end(self, batch, logs=None):
        current = time.monotonic()
        step = batch + 1
        if step != self.steps and current - self.last < self.interval:
            return
        self.last = current
        left = (current - self.start) / step * (self.steps - step)
        self.stream.write(f"nophd: {self.what}: step {step}/{self.steps}  {current - self.start:.0f} s"
                          + (f"  ETA {text.format_duration(left)}" if step < self.steps else "") + "\n")
        self.stream.flush()


def random_states(model: keras.Model) -> dict[str, list[int]]:
    """The states of the model's random-seed generators (one per Dropout layer).

    A .keras file does not keep them: a loaded model starts its dropout
    masks from a new seed. Saving them beside the checkpoint lets a resumed
    run draw exactly the masks the uninterrupted run would have drawn.
    """
    return {
        variable.path: keras.ops.convert_to_numpy(variable).tolist()
        for variable in model.variables
        if "seed_generator_state" in variable.path
    }


def restore_random_states(model: keras.Model, states: dict[str, list[int]]) -> None:
    """Assigns states saved by random_states() back to the model's generators.

    Matched by position (the order of `model.variables`), not by name: Keras
    numbers seed generators per process ("seed_generator_3"), so a model
    loaded in another process, or rebuilt next to other models, names them
    differently. A model with another number of generators is left alone.
    """
    generators = [variable for variable in model.variables if "seed_generator_state" in variable.path]
    if len(generators) != len(states):
        return
    for variable, value in zip(generators, states.values()):
        variable.assign(keras.ops.convert_to_tensor(value, dtype=variable.dtype))


class RunRecorder(keras.callbacks.Callback):
    """Writes the run folder after every finished epoch.

    Order matters for resuming: history.csv first, then the random-generator
    states of every epoch so far, then the checkpoint, then run.json. A kill
    between two writes leaves at worst a history row that the resumed run
    drops and recomputes, because the checkpoint (which holds the optimizer's
    step count) is what says how many epochs are done. With `keep_previous`
    (multi-worker runs) the replaced checkpoint becomes checkpoint-previous.
    """

    def __init__(
        self,
        run_directory: Path,
        history_rows: list[dict],
        wall_seconds_before: float,
        on_epoch_written: Callable[[list[dict]], None] | None = None,
        checkpoint: str = runs.CHECKPOINT,
        keep_previous: bool = False,
    ):
        super().__init__()
        self.checkpoint = checkpoint
        self.keep_previous = keep_previous
        self.run_directory = Path(run_directory)
        self.history_rows = history_rows
        self.wall_seconds_before = wall_seconds_before
        self.on_epoch_written = on_epoch_written
        # Set again when training begins; set here too so wall_seconds() works
        # for a run interrupted before its first step.
        self.train_start = time.monotonic()

    def on_train_begin(self, logs=None):
        self.train_start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def wall_seconds(self) -> float:
        return self.wall_seconds_before + time.monotonic() - self.train_start

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        row = {key: float(value) for key, value in logs.items() if key in runs.HISTORY_COLUMNS}
        row["epoch"] = epoch + 1
        row["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["seconds"] = time.monotonic() - self.epoch_start
        # Wall seconds since the run began, writes of earlier epochs included:
        # what a time-to-accuracy measurement must count.
        row["elapsed"] = self.wall_seconds()
        self.history_rows.append(row)
        runs.write_history(self.run_directory, self.history_rows)
        saved_states = runs.read_json(self.run_directory / runs.RANDOM_STATES) or {}
        saved_states[str(epoch + 1)] = random_states(self.model)
        atomic.write_json(self.run_directory / runs.RANDOM_STATES, saved_states)
        with atomic.atomic_path(self.run_directory / self.checkpoint) as temporary:
            self.model.save(temporary)
            if self.keep_previous and (self.run_directory / self.checkpoint).exists():
                # Each step is a rename: a kill between the two leaves the
                # epoch before as checkpoint-previous, still resumable.
                os.replace(self.run_directory / self.checkpoint, self.run_directory / runs.PREVIOUS_CHECKPOINT)
        runs.write_state(self.run_directory, epochs_done=epoch + 1, wall_seconds=round(self.wall_seconds(), 3))
        if self.on_epoch_written is not None:
            self.on_epoch_written(self.history_rows)
