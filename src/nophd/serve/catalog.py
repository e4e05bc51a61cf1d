"""The runs under RUNS_DIR, read defensively for the dashboard and the REST API.

A run folder is a folder holding any of run.json, config.json, history.csv,
metrics.json or model.keras (see `nophd.runs`). Runs are found in RUNS_DIR
itself and one level down, where `nophd ladder` keeps its rungs
(RUNS_DIR/ladder/conv-bn/) beside ladder.json. A run's id is its path
relative to RUNS_DIR with "/" between the parts ("20261122-180000-dense",
"ladder/conv-bn").

Everything here only reads. Files may be missing (a run that has just
started), half-written by something that does not write atomically, or plain
garbage: each reader returns what it could read and a list of one-line
problems, and never raises for the contents of a file. Only an id that does
not name a run raises (`UnknownRun`), and ids are checked part by part, so
no id can reach outside RUNS_DIR. Every file and folder is resolved (symlinks
included) and read only when it lies inside the resolved RUNS_DIR
(`nophd.serve.paths.inside`): a symlink leading out is not a run, and a file
that leads out is treated as missing, with a problem line saying so.

Example:
    summaries, ladders = scan("runs")
    detail = run_detail("runs", "ladder/conv-bn")
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import math
import os
import shlex
from pathlib import Path
from typing import Any

from nophd import runs, tasks, text, values
from nophd.errors import NophdError, RunError
from nophd.serve import card, insights, paths

# Files whose presence makes a folder a run folder.
RUN_MARKERS = (runs.STATE, runs.CONFIG, runs.HISTORY, runs.METRICS, runs.MODEL)
LADDER_JSON = "ladder.json"
LADDER_IMAGE = "ladder.png"
TENSORBOARD_FOLDER = runs.TENSORBOARD
# The files of a run folder that the dashboard serves as they are.
# robustness*.png: what `nophd evaluate RUN --robustness` adds, shown by report.html.
RUN_FILES = ("curves.png", "lr.png", "predictions.png", "confusion.png", "report.html", runs.SUMMARY,
             "robustness.png", "robustness_samples.png", runs.MODEL_CARD)
STATUSES = ("running", "finished", "failed", "interrupted")
# summary.txt of even the largest model is a few kilobytes; never send more than this.
_MAX_TEXT_BYTES = 256 * 1024
_OUTSIDE = "{}: a link leading outside the runs folder, not read"


class UnknownRun(NophdError):
    """The id names no run folder under RUNS_DIR."""


def is_run_folder(path: Path) -> bool:
    """True for a folder holding at least one of the files a run writes."""
    try:
        return path.is_dir() and any((path / marker).is_file() for marker in RUN_MARKERS)
    except OSError:
        return False


def _visible(path: Path) -> bool:
    # Hidden folders (.git, .ipynb_checkpoints) and temporary ones are never runs.
    return not path.name.startswith(".")


def _subfolders(path: Path, root: Path) -> list[Path]:
    """The visible folders in `path` that resolve inside `root` (a symlinked folder leading out is skipped)."""
    try:
        return sorted(entry for entry in path.iterdir()
                      if _visible(entry) and entry.is_dir() and paths.is_inside(root, entry))
    except OSError:
        return []


def find_run(runs_dir: str | os.PathLike, run_id: str) -> Path:
    """The folder of run `run_id` under `runs_dir`.

    Args:
        runs_dir: the folder the dashboard serves.
        run_id: "name" or "group/name", as `scan` lists them.

    Raises:
        UnknownRun: the id is malformed (empty parts, "..", hidden names,
            more than two parts) or names no run folder.
    """
    parts = run_id.split("/")
    malformed = not 1 <= len(parts) <= 2 or any(
        not part or part.startswith(".") or "\\" in part or "\x00" in part for part in parts
    )
    if malformed:
        raise UnknownRun(f"no run {run_id!r}")
    path = Path(runs_dir).joinpath(*parts)
    if not is_run_folder(path) or not paths.is_inside(runs_dir, path):
        raise UnknownRun(f"no run {run_id!r}")
    if len(parts) == 2 and is_run_folder(path.parent):
        raise UnknownRun(f"no run {run_id!r}")  # A folder inside a run is part of that run.
    return path


def scan(runs_dir: str | os.PathLike) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every run under `runs_dir` (summaries, see `summarize`) and every ladder.

    Returns:
        (runs, ladders), runs sorted newest first by their start time.
    """
    root = Path(runs_dir)
    summaries, ladders = [], []
    for entry in _subfolders(root, root):
        if is_run_folder(entry):
            summaries.append(summarize(entry, entry.name, root=root))
            continue
        children = [child for child in _subfolders(entry, root) if is_run_folder(child)]
        for child in children:
            summaries.append(summarize(child, f"{entry.name}/{child.name}", group=entry.name, root=root))
        if (entry / LADDER_JSON).is_file():
            ladders.append(read_ladder(entry, entry.name, {child.name for child in children}, root=root))
    summaries.sort(key=lambda summary: (summary["started_at"] or "", summary["id"]), reverse=True)
    return summaries, ladders


@dataclasses.dataclass
class _RunFiles:
    """What a run folder's run.json, config.json, metrics.json and history.csv
    say, read once; `problems` lists what was unreadable, one line each."""

    problems: list[str]
    state: dict[str, Any] | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    rows: list[dict[str, float]]
    status: str


def _read_run(folder: Path, root: Path) -> _RunFiles:
    problems: list[str] = []
    state = _read_object(folder / runs.STATE, problems, root)
    config = _read_object(folder / runs.CONFIG, problems, root) or {}
    metrics = _read_object(folder / runs.METRICS, problems, root) or {}
    rows = read_history_rows(folder, problems, root)
    return _RunFiles(problems, state, config, metrics, rows, _status(folder, state, metrics, problems))


def _has_file(folder: Path, name: str, root: Path) -> bool:
    """True for a file of the run that resolves inside `root`."""
    path = paths.inside(root, folder / name)
    return path is not None and path.is_file()


def summarize(folder: Path, run_id: str, group: str | None = None, files: _RunFiles | None = None,
              root: str | os.PathLike | None = None) -> dict[str, Any]:
    """One run as the runs page shows it (`files`: the folder already read).

    Returns:
        {"id", "name", "group", "model", "dataset", "kind" (the run's task:
        "digits", "photos" or "custom"), "status" (running, finished, failed, interrupted; corrupt
        when run.json is unreadable; incomplete when there is none),
        "epochs_done", "epochs_total", "best_val_accuracy",
        "final_val_accuracy", "test_accuracy", "wall_seconds", "parameters",
        "started_at", "updated_at", "has_model", "has_tensorboard",
        "problems" (one line each), "progress" (see insights.read_progress)}. `root`: RUNS_DIR (default: the folder's
        parent); nothing resolving outside it is read.
    """
    root = Path(root) if root is not None else folder.parent
    files = files or _read_run(folder, root)
    problems, config, metrics, rows, status = files.problems, files.config, files.metrics, files.rows, files.status
    state = files.state or {}
    task = task_of(config)
    validation = [row["val_accuracy"] for row in rows if _finite(row.get("val_accuracy"))]
    epochs_done = len(rows) or values.integer(state.get("epochs_done"))
    return {
        "id": run_id,
        "name": folder.name,
        "group": group,
        "model": _text(config.get("model")) or _text(state.get("model")) or _text(metrics.get("model")),
        "dataset": _text(config.get("dataset")) or _text(state.get("dataset")) or _text(metrics.get("dataset")),
        "kind": task.name,
        "status": status,
        "epochs_done": epochs_done,
        "epochs_total": values.integer(state.get("epochs_total")) or task.planned_epochs(config) or values.integer(metrics.get("epochs")),
        "best_val_accuracy": max(validation) if validation else None,
        "final_val_accuracy": validation[-1] if validation else None,
        "test_accuracy": values.number(metrics.get("test_accuracy")),
        "wall_seconds": values.number(state.get("wall_seconds")) or values.number(metrics.get("wall_seconds"))
        or (values.number(rows[-1].get("elapsed")) if rows else None),
        "parameters": values.integer(metrics.get("parameters")),
        "started_at": _text(state.get("started_at")) or _modified_at(folder),
        "updated_at": _text(state.get("updated_at")) or _modified_at(folder),
        "has_model": _has_file(folder, runs.MODEL, root),
        "has_tensorboard": (folder / TENSORBOARD_FOLDER).is_dir() and paths.is_inside(root, folder / TENSORBOARD_FOLDER),
        "problems": problems,
        # The epoch in progress (step, steps per epoch, ETA) while the run trains, else None.
        "progress": insights.read_progress(folder, status, epochs_done),
    }


def run_detail(runs_dir: str | os.PathLike, run_id: str) -> dict[str, Any]:
    """A run's summary plus its config, metrics, model summary and files, the
    epoch in progress ("progress"), the "warnings" a user needs, the
    "per_class" table (see `nophd.serve.insights`), "takes_inputs"
    (whether nophd can feed the run's model, see nophd.tasks.base.Task) and
    "model_card": MODEL_CARD.md rendered to safe HTML ({"html", "by_nophd":
    whether nophd wrote it}; see `nophd.serve.card`), or None.

    Raises:
        UnknownRun: see `find_run`.
    """
    folder = find_run(runs_dir, run_id)
    root = Path(runs_dir)
    files = _read_run(folder, root)
    detail = summarize(folder, run_id, group=run_id.split("/")[0] if "/" in run_id else None, files=files, root=root)
    problems = detail["problems"]
    detail["config"] = files.config or None
    detail["metrics"] = files.metrics or None
    detail["model_summary"] = _read_text(folder / runs.SUMMARY, problems, root)
    detail["files"] = [name for name in RUN_FILES if _has_file(folder, name, root)]
    detail["planned_learning_rates"] = planned_learning_rates(detail["config"] or {}, detail["epochs_total"])
    detail["tensorboard_command"] = tensorboard_command(folder / TENSORBOARD_FOLDER)
    detail["progress"] = insights.read_progress(folder, files.status, detail["epochs_done"])
    detail["warnings"] = insights.warnings(files.config, files.metrics, files.rows, detail["progress"])
    detail["per_class"] = insights.per_class(files.metrics)
    card_text = _read_text(folder / runs.MODEL_CARD, problems, root)
    detail["model_card"] = None if card_text is None else {
        "html": card.render(card_text), "by_nophd": card_text.startswith(runs.MODEL_CARD_MARK)}
    # False for a user's own Keras model (nophd.RunFolder): nophd cannot prepare its inputs, so nothing is tried.
    detail["takes_inputs"] = task_of(files.config).takes_inputs
    return detail


def run_history(runs_dir: str | os.PathLike, run_id: str) -> dict[str, Any]:
    """The rows of history.csv with the status, for live curves, and the
    epoch in progress ("progress": step, steps per epoch, ETA; or None).

    `version` changes whenever history.csv or run.json changes, so a page
    that polls can skip redrawing when nothing moved.

    Raises:
        UnknownRun: see `find_run`.
    """
    folder = find_run(runs_dir, run_id)
    files = _read_run(folder, Path(runs_dir))
    state = files.state or {}
    epochs_total = values.integer(state.get("epochs_total")) or task_of(files.config).planned_epochs(files.config)
    return {
        "id": run_id,
        "status": files.status,
        "epochs_done": len(files.rows) or values.integer(state.get("epochs_done")),
        "epochs_total": epochs_total,
        "rows": files.rows,
        "planned_learning_rates": planned_learning_rates(files.config, epochs_total),
        "problems": files.problems,
        "progress": insights.read_progress(folder, files.status, len(files.rows) or values.integer(state.get("epochs_done"))),
        "version": file_version(folder, (runs.HISTORY, runs.STATE, runs.METRICS, runs.PROGRESS)) + f"-{files.status}",
    }


def run_file(runs_dir: str | os.PathLike, run_id: str, name: str) -> Path:
    """The path of one of RUN_FILES (or ladder.png of a group) to send as it is.

    Raises:
        UnknownRun: no such run, or a name that is not one of the files served.
    """
    folder = find_run(runs_dir, run_id)
    path = paths.inside(runs_dir, folder / name) if name in RUN_FILES else None
    if path is None or not path.is_file():
        raise UnknownRun(f"run {run_id!r} has no file {name!r}")
    return path


def ladder_image(runs_dir: str | os.PathLike, group: str) -> Path:
    """RUNS_DIR/<group>/ladder.png.

    Raises:
        UnknownRun: no such ladder.
    """
    if not group or group.startswith(".") or "/" in group or "\\" in group:
        raise UnknownRun(f"no ladder {group!r}")
    path = paths.inside(runs_dir, Path(runs_dir) / group / LADDER_IMAGE)
    if path is None or not path.is_file():
        raise UnknownRun(f"no ladder {group!r}")
    return path


def read_ladder(folder: Path, group: str, rung_folders: set[str], root: str | os.PathLike | None = None) -> dict[str, Any]:
    """ladder.json of a ladder folder: the rows of `nophd ladder`'s comparison.

    Each row gets "run_id" when its run folder is there. `root`: RUNS_DIR
    (default: the folder's parent).
    """
    root = Path(root) if root is not None else folder.parent
    problems: list[str] = []
    value = _read_json(folder / LADDER_JSON, problems, root)
    rows = []
    if value is not None and not isinstance(value, list):
        problems.append(f"{LADDER_JSON}: expected a list of rows, found {type(value).__name__}")
    for row in value if isinstance(value, list) else []:
        if not isinstance(row, dict):
            continue
        run = _text(row.get("run"))
        rows.append({
            "model": _text(row.get("model")),
            "description": _text(row.get("description")),
            "parameters": values.integer(row.get("parameters")),
            "epochs": values.integer(row.get("epochs")),
            "wall_seconds": values.number(row.get("wall_seconds")),
            "test_accuracy": values.number(row.get("test_accuracy")),
            "codelab_accuracy": values.number(row.get("codelab_accuracy")),
            "codelab_text": _text(row.get("codelab_text")),
            "run_id": f"{group}/{run}" if run in rung_folders else None,
        })
    return {"id": group, "rows": rows, "has_image": _has_file(folder, LADDER_IMAGE, root), "problems": problems}


def planned_learning_rates(config: dict[str, Any], epochs: int | None) -> list[float]:
    """The schedule in config.json, one learning rate per epoch; [] if unknown.

    Digit runs: `learning_rate * lr_decay**epoch` (constant without lr_decay).
    Photo runs: PhotoConfig's own schedule: `learning_rate` for the
    frozen-backbone epochs, then `fine_tune_learning_rate`, times lr_decay
    after each fine-tuning epoch when lr_decay is set (see the run's task).
    """
    return task_of(config).schedule(config, epochs)


def task_of(config: dict[str, Any]) -> tasks.Task:
    """The run's task from its config.json contents; the default one when it names none nophd knows."""
    try:
        return tasks.of_run(config)
    except NophdError:
        return tasks.DEFAULT


def tensorboard_command(logdir: str | os.PathLike) -> str:
    """The shell command that opens TensorBoard on `logdir`."""
    return f"tensorboard --logdir {shlex.quote(str(logdir))}"


def read_history_rows(folder: Path, problems: list[str], root: str | os.PathLike | None = None) -> list[dict[str, float]]:
    """history.csv's rows (see runs.read_history), or [] and a problem when it is unreadable
    or resolves outside `root` (RUNS_DIR; default: the folder's parent)."""
    if paths.inside(root if root is not None else folder.parent, folder / runs.HISTORY) is None:
        problems.append(_OUTSIDE.format(runs.HISTORY))
        return []
    try:
        rows = runs.read_history(folder)
    except RunError as error:
        problems.append(f"{runs.HISTORY}: {str(error).rpartition(': ')[2]}")
        return []
    except (ValueError, OSError) as error:  # Not UTF-8, a NUL byte, a broken CSV quote.
        problems.append(f"{runs.HISTORY}: unreadable ({text.one_line(error)})")
        return []
    good = [row for row in rows if isinstance(row.get("epoch"), int)]
    if len(good) < len(rows):
        problems.append(f"{runs.HISTORY}: {len(rows) - len(good)} row(s) without an epoch skipped")
    return good


def file_version(folder: Path, names: tuple[str, ...]) -> str:
    """A short fingerprint of the files' sizes and modification times."""
    digest = hashlib.sha1()
    for name in names:
        try:
            stat = (folder / name).stat()
            digest.update(f"{name}:{stat.st_mtime_ns}:{stat.st_size};".encode())
        except OSError:
            digest.update(f"{name}:-;".encode())
    return digest.hexdigest()[:16]


def _status(folder: Path, state: dict | None, metrics: dict, problems: list[str]) -> str:
    if state is None:
        if (folder / runs.STATE).exists() or (folder / runs.STATE).is_symlink():
            return "corrupt"
        if metrics.get("status") == "finished":
            return "finished"
        problems.append(f"{runs.STATE}: missing")
        return "incomplete"
    value = state.get("status")
    if value not in STATUSES:
        problems.append(f"{runs.STATE}: unknown status {value!r}")
        return "corrupt"
    if value == "running":
        try:
            return runs.status(folder)  # A dead process's run is interrupted.
        except (TypeError, ValueError, OverflowError):
            problems.append(f"{runs.STATE}: bad pid {state.get('pid')!r}")
            return "corrupt"
    return value


def _read_json(path: Path, problems: list[str], root: Path) -> Any:
    contents = _read_text(path, problems, root)
    if contents is None:
        return None
    try:
        return json.loads(contents)
    except ValueError as error:
        problems.append(f"{path.name}: not valid JSON ({text.one_line(error)})")
        return None


def _read_object(path: Path, problems: list[str], root: Path) -> dict[str, Any] | None:
    value = _read_json(path, problems, root)
    if value is not None and not isinstance(value, dict):
        problems.append(f"{path.name}: expected a JSON object, found {type(value).__name__}")
        return None
    return value


def _read_text(path: Path, problems: list[str], root: Path) -> str | None:
    """The file's text (at most _MAX_TEXT_BYTES), or None when missing, unreadable or outside `root`."""
    resolved = paths.inside(root, path)
    if resolved is None:
        problems.append(_OUTSIDE.format(path.name))
        return None
    try:
        with resolved.open("rb") as handle:
            raw = handle.read(_MAX_TEXT_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as error:
        problems.append(f"{path.name}: cannot read ({error.strerror or error})")
        return None
    try:
        text = raw[:_MAX_TEXT_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        problems.append(f"{path.name}: not UTF-8 text")
        return None
    return text


def _modified_at(folder: Path) -> str | None:
    try:
        stamp = folder.stat().st_mtime
    except OSError:
        return None
    return datetime.datetime.fromtimestamp(stamp).astimezone().isoformat(timespec="seconds")


def _finite(value: Any) -> bool:
    return values.number(value) is not None


def _text(value: Any) -> str | None:
    """Strings and numbers as text; None for anything else (lists, objects, empty)."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        return None
    text = str(value)
    return text or None


def plain(value: Any) -> Any:
    """`value` made safe for strict JSON: non-finite floats become None, tuples lists, keys text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "item"):  # NumPy scalars.
        return plain(value.item())
    return str(value)
