"""Run folders: where a training run writes everything, and how it is resumed.

Layout of a run folder (every file written atomically):

    config.json      the resolved TrainConfig
    run.json         status (running/finished/failed/interrupted), epochs
                     done, process id, accumulated wall time
    history.csv      one row per finished epoch, rewritten after each epoch
    checkpoint.keras model + optimizer state after the last finished epoch
    random-states.json  dropout seed-generator states after each epoch
    model.keras      the final model
    metrics.json     test accuracy and loss, epochs, wall seconds, ...
    summary.txt, curves.png, lr.png, predictions.png, confusion.png,
    report.html
    evaluation.json  written by `nophd evaluate RUN`
    robustness.json, robustness.png, robustness_samples.png
                     written by `nophd evaluate RUN --robustness`
    MODEL_CARD.md    the model card (nophd.reports.model_card), written when
                     the run finishes and when robustness or export figures
                     are added; a user's own MODEL_CARD.md is never replaced
    tensorboard/     TensorBoard event files (train/ and validation/)
    .nophd.lock      held (flock) by the process training the run

One process at a time trains a run folder: it takes the exclusive lock on
.nophd.lock (`lock`) before it writes anything else there, and the kernel
drops the lock when that process ends, however it ends. A run whose
run.json says "running" but whose lock nobody holds was killed.
"""

from __future__ import annotations

import csv
import datetime
import fcntl
import io
import json
import os
import time
from pathlib import Path
from typing import Any

from nophd import atomic
from nophd.errors import RunError

CONFIG = "config.json"
STATE = "run.json"
HISTORY = "history.csv"
CHECKPOINT = "checkpoint.keras"
# Multi-worker runs keep the epoch before too: a worker killed while the
# others saved their checkpoints may be one epoch behind them.
PREVIOUS_CHECKPOINT = "checkpoint-previous.keras"
RANDOM_STATES = "random-states.json"
MODEL = "model.keras"
METRICS = "metrics.json"
# A photo run's wrong validation predictions, with thumbnails (for the dashboard).
MISTAKES = "mistakes.json"
SUMMARY = "summary.txt"
# Where the epoch in progress is (step, ETA, latest batch loss), rewritten about once a second while a run trains.
PROGRESS = "progress.json"
TENSORBOARD = "tensorboard"
MODEL_CARD = "MODEL_CARD.md"
# `nophd evaluate RUN` and `nophd evaluate RUN --tta`.
EVALUATION = "evaluation.json"
EVALUATION_TTA = "evaluation-tta.json"
# Exports written outside RUN/export/ (`nophd export --out ELSEWHERE`), so the model card can list them too.
EXPORTS = "exports.json"
# The first line of every model card nophd writes: a MODEL_CARD.md without it is the user's own.
MODEL_CARD_MARK = "<!-- nophd model card:"
LOCK = ".nophd.lock"
# Every file nophd writes atomically into a run folder: their temporary
# files, left by a process killed while writing one, are swept on (re)start.
RUN_FILES = (CONFIG, STATE, HISTORY, CHECKPOINT, PREVIOUS_CHECKPOINT, "checkpoint-fine-tune.keras", RANDOM_STATES,
             MODEL, METRICS, MISTAKES, SUMMARY, "curves.png", "lr.png", "predictions.png", "confusion.png",
             "report.html", EVALUATION, EVALUATION_TTA, "progress.json", "robustness.json", "robustness.png",
             "robustness_samples.png", MODEL_CARD, EXPORTS)
# What a run writes before its model is built: a retry may start over a
# folder that holds only these (from a start-up that failed).
STARTUP_FILES = frozenset({LOCK, CONFIG, SUMMARY})
# config.json's record of the data a run trained on (see data_identity).
DATA_IDENTITY = "data_identity"
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds", "elapsed")

DEFAULT_ROOT = Path("runs")
# A dashboard probing a lock holds it for microseconds; a trainer trying to
# take it waits this long before it concludes another process holds it.
_LOCK_PATIENCE_SECONDS = 0.5


def now() -> str:
    """The current local time as an ISO string (seconds)."""
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def new_run_directory(model: str, root: str | os.PathLike = DEFAULT_ROOT) -> Path:
    """A fresh folder name `root/<YYYYmmdd-HHMMSS>-<model>` (not created)."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(root) / f"{stamp}-{model}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = Path(root) / f"{stamp}-{model}-{suffix}"
    return candidate


def read_json(path: str | os.PathLike) -> dict[str, Any] | None:
    """A JSON object from `path`, or None when it is missing or unreadable."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_state(run_directory: str | os.PathLike) -> dict[str, Any] | None:
    return read_json(Path(run_directory) / STATE)


def write_state(run_directory: str | os.PathLike, **fields: Any) -> dict[str, Any]:
    """Merges `fields` into run.json (atomically) and returns the new state."""
    state = read_state(run_directory) or {}
    state.update(fields, updated_at=now())
    atomic.write_json(Path(run_directory) / STATE, state)
    return state


class RunLock:
    """The exclusive lock on one run folder, held until `release` (or the process ends).

    Example:
        with runs.lock("runs/conv-bn") as held:
            ...  # write the run
    """

    def __init__(self, directory: Path, descriptor: int, created: bool):
        self.directory = directory
        self._descriptor: int | None = descriptor
        self._created = created

    def release(self) -> None:
        """Drops the lock. A folder left holding only the lock file loses it, and the
        folder too when this lock created it: a run that failed before writing
        anything leaves nothing behind."""
        if self._descriptor is None:
            return
        try:
            if os.listdir(self.directory) == [LOCK]:
                # Still holding the lock: a process waiting for it sees the
                # unlinked file and retries on the folder's new state.
                (self.directory / LOCK).unlink(missing_ok=True)
                if self._created:
                    self.directory.rmdir()
        except OSError:
            pass
        finally:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exception) -> None:
        self.release()


def busy_error(run_directory: str | os.PathLike) -> RunError:
    return RunError(f"{run_directory}: another nophd process is using this run folder; "
                    "wait for it to end, or choose another --out")


def lock(run_directory: str | os.PathLike) -> RunLock:
    """Takes the run folder's exclusive lock, creating the folder if needed.

    Raises:
        RunError: another process holds it.
        OSError: the folder cannot be created or written (read-only, no
            permission, a file in the way).
    """
    directory = Path(run_directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + _LOCK_PATIENCE_SECONDS
    while True:
        descriptor = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            if time.monotonic() > deadline:
                raise busy_error(directory) from None
            time.sleep(0.02)
            continue
        # The holder before may have removed the file (RunLock.release) while
        # this process waited on it: only the file at the path counts.
        try:
            same = os.fstat(descriptor).st_ino == os.stat(directory / LOCK).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return RunLock(directory, descriptor, created)
        os.close(descriptor)
        directory.mkdir(parents=True, exist_ok=True)


def is_locked(run_directory: str | os.PathLike) -> bool | None:
    """Whether a process holds the run folder's lock; None when the folder has no lock file."""
    try:
        descriptor = os.open(Path(run_directory) / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(descriptor)
    return False


def only_startup_files(run_directory: str | os.PathLike) -> bool:
    """Whether a folder holds nothing but what a failed start-up leaves (or is empty).

    nophd's own temporary files count as start-up leftovers too.
    """
    try:
        names = os.listdir(run_directory)
    except FileNotFoundError:
        return True
    patterns = [atomic.temporary_name_pattern(name) for name in STARTUP_FILES if name != LOCK]
    return all(name in STARTUP_FILES or any(pattern.fullmatch(name) for pattern in patterns) for name in names)


def sweep(run_directory: str | os.PathLike) -> list[Path]:
    """Removes the temporary files a killed nophd left in a run folder; call it holding the lock."""
    return atomic.sweep_temporary_files(run_directory, RUN_FILES)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(run_directory: str | os.PathLike) -> str:
    """finished, failed, interrupted, running, or unknown (no readable run.json).

    A run whose run.json still says "running" but whose lock no process
    holds was killed (kill -9, a crash, a reboot): it is reported as
    interrupted. (A folder written before runs had a lock file is judged by
    its process id instead.)
    """
    state = read_state(run_directory)
    if state is None:
        return "unknown"
    value = state.get("status", "unknown")
    if value == "running":
        held = is_locked(run_directory)
        if held is None:
            held = _process_alive(int(state.get("pid", 0) or 0))
        if not held:
            return "interrupted"
    return value


def read_history(run_directory: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of history.csv as dicts of floats (epoch as int); [] if absent."""
    path = Path(run_directory) / HISTORY
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            parsed = {key: float(value) for key, value in row.items() if value not in (None, "")}
        except ValueError:
            raise RunError(f"{path}: not a number in row {len(rows) + 1}") from None
        if "epoch" in parsed:
            parsed["epoch"] = int(parsed["epoch"])
        rows.append(parsed)
    return rows


def write_history(run_directory: str | os.PathLike, rows: list[dict[str, float]], extra: tuple[str, ...] = ()) -> None:
    """Rewrites history.csv with `rows` (atomically, so a watcher never sees half a row).

    Args:
        run_directory: the run folder.
        rows: one dict per finished epoch; keys outside HISTORY_COLUMNS and
            `extra` are left out.
        extra: more columns after HISTORY_COLUMNS, e.g. the metrics a user's
            own Keras model logs ("auc", "val_auc"; see nophd.training.run_folder).

    Example:
        write_history("runs/mine", [{"epoch": 1, "loss": 0.5, "auc": 0.8}], extra=("auc",))
    """
    columns = HISTORY_COLUMNS + tuple(name for name in extra if name not in HISTORY_COLUMNS)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _format(row.get(key)) for key in columns})
    atomic.write_text(Path(run_directory) / HISTORY, buffer.getvalue())


def history_columns(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    """Rows -> columns, e.g. {"epoch": [1, 2], "loss": [0.3, 0.2], ...}."""
    return {key: [row[key] for row in rows if key in row] for key in HISTORY_COLUMNS}


def _format(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def has_checkpoint(directory: str | os.PathLike) -> bool:
    """Whether a run folder holds a checkpoint to resume from."""
    return any((Path(directory) / name).exists() for name in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def find_resumable(model: str, root: str | os.PathLike = DEFAULT_ROOT) -> Path | None:
    """The newest run of `model` under `root` that has a checkpoint and is not finished."""
    root = Path(root)
    if not root.is_dir():
        return None
    candidates = []
    for directory in root.iterdir():
        state = read_state(directory) if directory.is_dir() else None
        if state and state.get("model") == model and has_checkpoint(directory):
            if status(directory) in ("interrupted", "failed"):
                candidates.append(directory)
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)
