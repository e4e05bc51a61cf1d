"""MODEL_CARD.md: what a run's model is, how it was made and measured, and what it is not for.

Written from the run folder's own files, like report.html (nophd.reports.report):
config.json (data, split and recipe), metrics.json (figures, per-class table,
versions), robustness.json (`nophd evaluate RUN --robustness`),
evaluation-tta.json (`nophd evaluate RUN --tta`) and the
export.json of every export under RUN/export/ (`nophd export`) or listed in
RUN/exports.json (exported with `--out` elsewhere). A file that
is missing gives its section "not measured" (or "not written yet"), a
corrupt one "unreadable", and the card is still written.

It is written when a run finishes, again when `nophd evaluate --robustness`
or `nophd export` adds figures to the run, and by `nophd card RUN` for any
run folder (older runs too).

Whose file it is: a card nophd writes starts with CARD_MARK (an HTML comment,
invisible where Markdown is rendered). nophd replaces only such a card; a
MODEL_CARD.md whose first line is anything else is the user's own, and
nophd leaves it as it is (`write_model_card` returns None). Delete the
mark's line to keep an edited card.

Python gathers what the card says; its Markdown is templates/model_card.md,
where every value printed from a file is escaped for Markdown by default
(nophd.reports.rendering): a class name with "|", "<" or "*" shows as written
and neither breaks a table nor becomes HTML.

Example:
    path = write_model_card("runs/conv-bn")  # runs/conv-bn/MODEL_CARD.md, or None when the card is the user's
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
from typing import Any, Mapping

import markupsafe

from nophd import atomic, runs, scoring, tasks
from nophd.errors import NophdError, RunError
from nophd.reports import rendering, report

CARD = runs.MODEL_CARD
# The first line of every card nophd writes; a MODEL_CARD.md without it is the user's and is never replaced.
CARD_MARK = runs.MODEL_CARD_MARK
# Where `nophd export` puts its exports by default (nophd.export.export.EXPORT_FOLDER; that module sits above this one).
EXPORT_FOLDER = "export"
EXPORT_JSON = "export.json"
ROBUSTNESS_JSON = "robustness.json"
TTA_JSON = runs.EVALUATION_TTA  # `nophd evaluate RUN --tta`

# Recipe rows: (config.json field, label), shown when present.
_RECIPE_FIELDS = (
    ("model", "model"),
    ("base", "backbone"),
    ("weights", "backbone weights"),
    ("head", "head"),
    ("dropout", "dropout before the last layer"),
    ("image_size", "image size (pixels)"),
    ("optimizer", "optimizer"),
    ("loss", "loss"),
    ("learning_rate", "learning rate"),
    ("lr_schedule", "learning-rate schedule"),
    ("lr_decay", "learning-rate decay per epoch"),
    ("warmup_epochs", "warm-up epochs"),
    ("epochs", "epochs"),
    ("fine_tune_epochs", "fine-tuning epochs"),
    ("fine_tune_layers", "layers unfrozen for fine-tuning"),
    ("fine_tune_learning_rate", "fine-tuning learning rate"),
    ("batch_size", "batch size"),
    ("label_smoothing", "label smoothing"),
    ("weight_average", "weight average (EMA decay per step)"),
    ("clipnorm", "gradient clipping (norm)"),
    ("clipvalue", "gradient clipping (value)"),
    ("class_weight", "class weights"),
    ("strategy", "distribution strategy"),
    ("replicas", "replicas"),
    ("mixed_precision", "mixed precision"),
)


def write_model_card(run_directory: str | os.PathLike) -> pathlib.Path | None:
    """Writes run_directory/MODEL_CARD.md (atomically) from what the run folder holds now.

    Args:
        run_directory: the run folder.

    Returns:
        The card's path; None when the folder holds a MODEL_CARD.md of the
        user's (its first line is not CARD_MARK), which is left untouched.

    Raises:
        RunError: run_directory does not exist, is not a folder, or holds
            none of a run's files (config.json, run.json, metrics.json).
        OSError: the card cannot be written (read-only folder, full disk).

    Example:
        write_model_card("runs/conv-bn")
    """
    directory = pathlib.Path(run_directory)
    if not directory.exists():
        raise RunError(f"{directory}: no such run folder")
    if not directory.is_dir():
        raise RunError(f"{directory}: not a run folder (give the folder a training run wrote)")
    if not any(os.path.lexists(directory / name) for name in (runs.CONFIG, runs.STATE, runs.METRICS)):
        raise RunError(f"{directory}: not a run folder (no {runs.CONFIG}, {runs.STATE} or {runs.METRICS})")
    path = directory / CARD
    if not is_nophd_card(path):
        return None
    atomic.write_text(path, card_markdown(directory))
    return path


def is_nophd_card(path: str | os.PathLike) -> bool:
    """Whether nophd may write the card at `path`: there is none, or the one there starts with CARD_MARK.

    A folder, a link or an unreadable file in its place counts as the user's.
    """
    path = pathlib.Path(path)
    if not os.path.lexists(path):
        return True
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("r", encoding="utf-8") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError):
        return False
    return first.startswith(CARD_MARK)


def card_markdown(run_directory: str | os.PathLike) -> str:
    """The card's Markdown for a run folder (what write_model_card writes), from templates/model_card.md."""
    directory = pathlib.Path(run_directory)
    config = report.read_json_object(directory / runs.CONFIG)
    metrics = report.read_json_object(directory / runs.METRICS)
    config_values, metric_values = config.value or {}, metrics.value or {}
    task = _task(config_values, metric_values)
    model = rendering.plain_text(metric_values.get("model")) or rendering.plain_text(config_values.get("model"))
    dataset = rendering.plain_text(metric_values.get("dataset")) or rendering.plain_text(config_values.get("dataset"))
    status = runs.status(directory)
    if status == "unknown":
        status = rendering.plain_text(metric_values.get("status")) or "unknown"
    robustness = report.read_json_object(directory / ROBUSTNESS_JSON)
    over = (robustness.value or {}).get("mean_over")
    exports, export_problems = _exports(directory)
    versions = metric_values.get("versions")
    return rendering.render(
        "model_card.md",
        # Markup on purpose: the mark opens an HTML comment, which must stay one (CARD_MARK is nophd's own text).
        mark=markupsafe.Markup(CARD_MARK),
        title=(model or directory.name) + (f" on {dataset}" if dataset else ""),
        folder=directory.name,
        status=status,
        written=runs.now(),
        config=config,
        metrics=metrics,
        data=None if config.problem and metrics.problem else _data_rows(config_values, metric_values),
        recipe=_recipe_rows(config_values),
        headline=report.result(metric_values),
        tta=_tta(report.read_json_object(directory / TTA_JSON)),
        per_class=_per_class(metric_values),
        robustness=robustness,
        robustness_over=len(over) if isinstance(over, list) else 0,
        robustness_sets=[[rendering.plain_text(row.get("name")), rendering.plain_text(row.get("kind")),
                          rendering.format_integer(row.get("examples")), rendering.format_percent(row.get("accuracy")),
                          row["misread_text"] or "—"]
                         for row in report.robustness_sets(robustness.value or {})],
        exports=exports,
        export_problems=export_problems,
        intended_use=_intended_use(task, config_values, metric_values),
        versions=[(name, _value_text(value)) for name, value in versions.items()] if isinstance(versions, dict) else [],
        **_command(task, config),
    )


# What the sections show (templates/model_card.md lays them out).


def _data_rows(config_values: Mapping[str, Any], values: Mapping[str, Any]) -> list[tuple[str, str]]:
    dataset = rendering.plain_text(values.get("dataset")) or rendering.plain_text(config_values.get("dataset"))
    rows = [("dataset", dataset or "—")]
    if "data" in values:
        source = rendering.plain_text(values.get("data"))
        kind = rendering.plain_text(values.get("data_format"))
        rows.append(("read from", source + (f" ({kind})" if kind else "")))
    if isinstance(values.get("official_data"), bool):
        rows.append(("the official MNIST files", "yes" if values["official_data"] else "no (generated or partial data)"))
    rows.append(("training examples", rendering.format_integer(values.get("train_examples"))))
    split = report.evaluated_split(values or config_values)
    rows.append((f"evaluated ({split}) examples", rendering.format_integer(values.get("test_examples"))))
    if "evaluated_on" in values:
        rows.append(("evaluated on", rendering.plain_text(values.get("evaluated_on")) or "—"))
    if "validation_split" in config_values:
        share = rendering.finite_number(config_values.get("validation_split"))
        rows.append(("validation split", "none: the test set validates (nothing is selected on it)" if share == 0
                     else _fraction(config_values.get("validation_split"))))
    if "tuning_split" in config_values:
        share = rendering.finite_number(config_values.get("tuning_split"))
        rows.append(("tuning split", "none" if not share else f"{_fraction(share)} of each class's training photos"))
    for name in ("train_limit", "test_limit"):
        if config_values.get(name) is not None:
            rows.append((name.replace("_", " "), rendering.format_integer(config_values.get(name))))
    rows.append(("split seed", rendering.plain_text(config_values.get("seed", values.get("seed"))) or "—"))
    skipped = values.get("skipped_files")
    if isinstance(skipped, list) and skipped:
        rows.append(("files skipped (unreadable)", f"{len(skipped):,} (listed in metrics.json)"))
    return rows


def _recipe_rows(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [(label, _value_text(values[name])) for name, label in _RECIPE_FIELDS if name in values]
    augmentation = _augmentation_text(values)
    if augmentation:
        rows.append(("augmentation", augmentation))
    return rows


def _augmentation_text(values: Mapping[str, Any]) -> str:
    """A photo run's phases and transforms, or a digit run's shifts and augmentation strengths, or "none"."""
    if "augment" in values:
        return report.photo_augmentation(values)
    from nophd.data import augment

    strengths = [f"{name.replace('_', ' ')} {_value_text(values[name])}" for name in augment.FIELDS
                 if rendering.finite_number(values.get(name))]
    shift = rendering.finite_number(values.get("shift_pixels"))
    if shift:
        strengths.insert(0, f"random shifts of up to {shift:g} pixels")
    return ", ".join(strengths) or "none"


# How the card names each test-time augmentation view (nophd.inference.tta.VIEWS).
_VIEW_TEXT = {"crop": "its central crop", "flip": "the mirror images"}


def _tta(loaded: report.Loaded) -> dict[str, Any] | None:
    """The test-time-augmentation figure of evaluation-tta.json: None when not measured, else accuracy or problem."""
    if loaded.problem == "missing":
        return None
    values = loaded.value or {}
    views = values.get("tta")
    # Files written before views could be chosen hold true: the central crop and the mirror images.
    views = ["crop", "flip"] if views is True else [view for view in views if view in _VIEW_TEXT] if isinstance(views, list) else []
    return {"accuracy": values.get("test_accuracy"), "examples": values.get("test_examples"),
            "views": " and ".join(_VIEW_TEXT[view] for view in views) or "nothing else",
            "at": rendering.plain_text(values.get("evaluated_at")),
            "unreadable": loaded if loaded.problem else None}


def _per_class(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The run report's per-class figures (report.per_class) as the card's table cells."""
    figures = report.per_class(values)
    if figures is None:
        return None
    percent = rendering.format_percent
    figures["cells"] = [
        [row["name"], percent(row["precision"]), percent(row["recall"]), percent(row["f1"]),
         rendering.format_integer(row["examples"])] if figures["figures"] else [row["name"], percent(row["accuracy"])]
        for row in figures["rows"]]
    return figures


def _exports(directory: pathlib.Path) -> tuple[list[list], list[tuple[str, str]]]:
    """The table rows of the exports under RUN/export/ and of those listed in RUN/exports.json (exported elsewhere),
    and (folder, problem) for each unreadable export.json or listed export no longer there."""
    folder = directory / EXPORT_FOLDER
    try:
        candidates = [(path, f"{EXPORT_FOLDER}/{path.name}") for path in sorted(folder.iterdir())
                      if path.is_dir() and not path.name.startswith(".")]
    except OSError:
        candidates = []
    listed = (runs.read_json(directory / runs.EXPORTS) or {}).get("exports")
    elsewhere = [str(entry["path"]) for entry in listed if isinstance(entry, dict) and entry.get("path")] \
        if isinstance(listed, list) else []
    candidates += [(directory / path, path) for path in elsewhere]  # A relative path is inside the run folder.
    rows, problems = [], []
    for candidate, where in candidates:
        loaded = report.read_json_object(candidate / EXPORT_JSON)
        if loaded.problem == "missing":
            if where in elsewhere:
                problems.append((where, "no export there any more (moved or deleted)"))
            continue
        if loaded.problem:
            problems.append((where, f"export.json unreadable ({loaded.problem})"))
            continue
        values = loaded.value
        exported = values.get("exported") if isinstance(values.get("exported"), dict) else {}
        original = values.get("original") if isinstance(values.get("original"), dict) else {}
        change = rendering.finite_number(values.get("accuracy_change_points"))
        rows.append([
            rendering.code_span(where), rendering.plain_text(values.get("format")) or "—",
            _size(exported.get("file_bytes")), rendering.format_percent(exported.get("accuracy")),
            rendering.format_percent(original.get("accuracy")), f"{change:+.2f}" if change is not None else "—",
            _milliseconds(exported.get("latency_ms")),
        ])
    return rows, problems


def _intended_use(task: tasks.Task | None, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[str]:
    sentences = task.intended_use(dict(config), dict(metrics)) if task is not None else [
        "Unknown: config.json does not say what kind of run this is."]
    examples = rendering.finite_number(metrics.get("test_examples"))
    if examples is not None and examples >= scoring.FEW_EXAMPLES:
        accuracy = rendering.finite_number(metrics.get("test_accuracy"))
        if accuracy is not None and 0 <= accuracy <= 1:
            low, high = scoring.accuracy_interval(accuracy, int(examples))
            sentences.append(f"Its accuracy was measured on {int(examples):,} examples: the 95% interval is "
                             f"{100 * low:.2f}% to {100 * high:.2f}%.")
    sentences.append("Every figure here comes from one run with one seed on one split: another seed moves it.")
    sentences.append("For learning and experiments; nothing here was checked for fairness or fitness for decisions "
                     "about people.")
    return sentences


def _command(task: tasks.Task | None, config: report.Loaded) -> dict[str, Any]:
    """How the run was produced: a task's own sentence, or the `nophd train` command and what no flag sets."""
    shown = {"task_known": task is not None, "produced": None, "command": None, "unflagged": [], "replicas": None}
    if config.problem or task is None:
        return shown
    shown["produced"] = task.produced_by(config.value)
    if shown["produced"] is not None:
        # Markup on purpose: a task's sentence is Markdown nophd wrote, with its own `code spans`.
        shown["produced"] = markupsafe.Markup(shown["produced"])
        return shown
    command, unflagged = train_command(task, config.value)
    # Markup on purpose: inside a fence, text shows as written; the fence outgrows any backticks in it.
    shown["command"] = markupsafe.Markup("\n".join(_fenced(shlex.join(["nophd", *command]))))
    shown["unflagged"] = [(name, _value_text(value)) for name, value in unflagged]
    replicas = rendering.finite_number(config.value.get("replicas"))
    shown["replicas"] = int(replicas) if replicas and replicas > 1 else None
    return shown


def train_command(task: tasks.Task, values: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, Any]]]:
    """The `nophd train` arguments that train a run with config.json `values`, and the fields no flag sets.

    Flags are given where the run differs from what `nophd train` picks by
    itself (the task's `default_config`); without one, every flag field the
    config holds is given.

    Returns:
        (["train", "mnist", "--model", "conv-bn", "--epochs", "2", ...],
        [(field, value) differing from the default with no flag]).
    """
    values = dict(values)
    try:
        defaults = task.default_config(values) or {}
    except NophdError:
        defaults = {}
    arguments = ["train", *task.train_words(values)]
    unflagged = []
    ignored = {"task", "model", "dataset", "class_names", "data_identity", "replicas"}
    photo_augment_done = False
    for name, value in values.items():
        default = defaults.get(name, dataclasses.MISSING)
        if isinstance(default, tuple):
            default = list(default)
        if name in ignored or (default is not dataclasses.MISSING and value == default):
            continue
        if name not in task.train_flag_fields:
            unflagged.append((name, value))
            continue
        if name in ("augment", "augmentations"):
            if not photo_augment_done:
                photo_augment_done = True
                phase = values.get("augment", "fine-tune")
                names = values.get("augmentations")
                words = [str(phase)] + ([str(item) for item in names] if isinstance(names, list) and names
                                        and phase != "off" else [])
                arguments += ["--augment", ",".join(words)]
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            if value:
                arguments.append(flag)
            continue
        if value is None:
            continue  # An unset option (no weight average, no limit) is what the flag's absence means.
        arguments += [flag, _argument_text(value)]
    return arguments, unflagged


def _task(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> tasks.Task | None:
    try:
        return tasks.of_run(dict(config) if config else dict(metrics))
    except NophdError:
        return None


# Markdown.

# The card's escaping, shared with its template (rendering escapes every {{ value }} of a .md template with it).
escape = rendering.escape_markdown


def _fenced(code: str) -> list[str]:
    """A fenced code block longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}sh", code, fence]


def _value_text(value: Any) -> str:
    """A config value as a person reads it: numbers as written (0.001, 5e-05), lists joined, None as "none"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_value_text(item)}" for key, item in value.items())
    return str(value)


def _argument_text(value: Any) -> str:
    """A flag's value as the command line takes it: floats in full (repr: 0.001, 5e-05), lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return repr(value) if isinstance(value, float) else str(value)


def _fraction(value: Any) -> str:
    number = rendering.finite_number(value)
    return "—" if number is None else f"{number:g}"


def _size(value: Any) -> str:
    number = rendering.finite_number(value)
    if number is None:
        return "—"
    for unit, factor in (("MB", 1e6), ("KB", 1e3)):
        if number >= factor:
            return f"{number / factor:.1f} {unit}"
    return f"{int(number)} B"


def _milliseconds(value: Any) -> str:
    number = rendering.finite_number(value)
    return "—" if number is None else f"{number:.3f} ms"
