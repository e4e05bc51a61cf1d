"""MODEL_CARD.md: what a run's model is, how it was made and measured, and what it is not for.

Written from the run folder's own files, like report.html (nophd.reports.report):
config.json (data, split and recipe), metrics.json (figures, per-class table,
versions), robustness.json (`nophd evaluate RUN --robustness`) and the
export.json of every export under RUN/export/ (`nophd export`). A file that
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

Everything printed from a file is escaped for Markdown: a class name with
"|", "<" or "*" shows as written and neither breaks a table nor becomes HTML.

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

from nophd import atomic, runs, scoring, tasks, version
from nophd.errors import NophdError, RunError
from nophd.reports import rendering, report

CARD = runs.MODEL_CARD
# The first line of every card nophd writes; a MODEL_CARD.md without it is the user's and is never replaced.
CARD_MARK = runs.MODEL_CARD_MARK
# Where `nophd export` puts its exports by default (nophd.export.export.EXPORT_FOLDER; that module sits above this one).
EXPORT_FOLDER = "export"
EXPORT_JSON = "export.json"
ROBUSTNESS_JSON = "robustness.json"
NOT_MEASURED = "Not measured."

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
    """The card's Markdown for a run folder (what write_model_card writes)."""
    directory = pathlib.Path(run_directory)
    config = report.read_json_object(directory / runs.CONFIG)
    metrics = report.read_json_object(directory / runs.METRICS)
    config_values, metric_values = config.value or {}, metrics.value or {}
    task = _task(config_values, metric_values)
    model = rendering.plain_text(metric_values.get("model")) or rendering.plain_text(config_values.get("model"))
    dataset = rendering.plain_text(metric_values.get("dataset")) or rendering.plain_text(config_values.get("dataset"))
    title = (model or directory.name) + (f" on {dataset}" if dataset else "")
    status = runs.status(directory)
    if status == "unknown":
        status = rendering.plain_text(metric_values.get("status")) or "unknown"

    parts = [
        f"{CARD_MARK} written by nophd from this run folder's files; nophd rewrites it when the run gains figures. "
        "Delete this line to keep your own edits: nophd then leaves the file alone. -->",
        f"# Model card: {escape(title)}",
        f"Run folder `{_code(directory.name)}`, status **{escape(status)}**; written by nophd "
        f"{escape(version.__version__)} at {escape(rendering.format_time(runs.now()))}.",
        _data_section(config, metrics),
        _recipe_section(config),
        _metrics_section(metrics),
        _robustness_section(directory),
        _exports_section(directory),
        _intended_use_section(task, config_values, metric_values),
        _versions_section(metrics),
        _command_section(task, config),
    ]
    return "\n\n".join(part.rstrip() for part in parts if part) + "\n"


# Sections.


def _data_section(config: report.Loaded, metrics: report.Loaded) -> str:
    lines = ["## Data and split", ""]
    if config.problem and metrics.problem:
        return "\n".join(lines + [_note(config), "", _note(metrics)])
    config_values, values = config.value or {}, metrics.value or {}
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
    table = _key_value_table(rows)
    notes = [_note(loaded) for loaded in (config, metrics) if loaded.problem]
    return "\n".join(lines + [table, *([""] + notes if notes else [])])


def _recipe_section(config: report.Loaded) -> str:
    lines = ["## Recipe", ""]
    if config.problem:
        return "\n".join(lines + [_note(config)])
    values = config.value
    rows = [(label, _value_text(values[name])) for name, label in _RECIPE_FIELDS if name in values]
    augmentation = _augmentation_text(values)
    if augmentation:
        rows.append(("augmentation", augmentation))
    return "\n".join(lines + [_key_value_table(rows)])


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


def _metrics_section(metrics: report.Loaded) -> str:
    lines = ["## Metrics", ""]
    if metrics.problem:
        return "\n".join(lines + [_note(metrics)])
    values = metrics.value
    split = report.evaluated_split(values)
    accuracy = rendering.format_percent(values.get("test_accuracy"))
    examples = rendering.format_integer(values.get("test_examples"))
    headline = f"**{escape(accuracy)}** {escape(split)} accuracy on {escape(examples)} examples"
    loss = rendering.finite_number(values.get("test_loss"))
    headline += f", {escape(split)} loss {loss:.4f}" if loss is not None else ""
    codelab = rendering.finite_number(values.get("codelab_accuracy"))
    measured = rendering.finite_number(values.get("test_accuracy"))
    if codelab is not None:
        headline += f" (the codelab reports {escape(rendering.format_percent(codelab))}"
        headline += f", {(measured - codelab) * 100:+.2f} points)" if measured is not None else ")"
    lines.append(headline + ".")
    for warning in (scoring.one_class_warning_of(values), scoring.few_examples_warning_of(values)):
        if warning:
            lines += ["", f"> **Warning:** {escape(warning)}"]
    lines += ["", *_class_table(values)]
    return "\n".join(lines)


def _class_table(values: Mapping[str, Any]) -> list[str]:
    accuracies = values.get("per_class_accuracy")
    if not isinstance(accuracies, list) or not accuracies:
        return ["Per-class figures: not in metrics.json."]
    names = values.get("class_names")
    if not isinstance(names, list) or len(names) != len(accuracies):
        names = [str(index) for index in range(len(accuracies))]
    figures = report.class_figures(values, len(accuracies))
    confusion = values.get("confusion") if figures else None
    if not figures:
        rows = [[escape(name), escape(rendering.format_percent(value))] for name, value in zip(names, accuracies)]
        return ["Per-class accuracy (no confusion matrix recorded, so no precision or F1):", "",
                *_table(["class", "accuracy"], rows, numeric=(1,))]
    rows = []
    for index, name in enumerate(names):
        rows.append([escape(name), *(escape(rendering.format_percent(figures[key][index]))
                                     for key in ("per_class_precision", "per_class_recall", "per_class_f1")),
                     escape(rendering.format_integer(sum(confusion[index])))])
    table = _table(["class", "precision", "recall", "F1", "examples"], rows, numeric=(1, 2, 3, 4))
    return [*table, "", f"Macro F1 {escape(rendering.format_percent(figures['macro_f1']))} (every class weighing the "
            "same). Precision: the share of a class's predictions that are right; recall: the share of its "
            "examples found."]


def _robustness_section(directory: pathlib.Path) -> str:
    lines = ["## Robustness", ""]
    loaded = report.read_json_object(directory / ROBUSTNESS_JSON)
    if loaded.problem == "missing":
        return "\n".join(lines + [f"{NOT_MEASURED} (`nophd evaluate RUN --robustness` measures digit runs.)"])
    if loaded.problem:
        return "\n".join(lines + [_note(loaded)])
    values = loaded.value
    over = values.get("mean_over") if isinstance(values.get("mean_over"), list) else []
    lines.append(f"Mean accuracy **{escape(rendering.format_percent(values.get('mean_accuracy')))}** over "
                 f"{len(over)} sets (every set but *clean* counts once); seed "
                 f"{escape(rendering.plain_text(values.get('seed')) or '—')}, "
                 f"evaluated {escape(rendering.format_time(values.get('evaluated_at')))}.")
    rows = [[escape(rendering.plain_text(row.get("name"))), escape(rendering.plain_text(row.get("kind"))),
             escape(rendering.format_integer(row.get("examples"))), escape(rendering.format_percent(row.get("accuracy")))]
            for row in (values.get("sets") if isinstance(values.get("sets"), list) else []) if isinstance(row, dict)]
    if rows:
        lines += ["", *_table(["set", "kind", "examples", "accuracy"], rows, numeric=(2, 3))]
    return "\n".join(lines)


def _exports_section(directory: pathlib.Path) -> str:
    lines = ["## Exports", ""]
    folder = directory / EXPORT_FOLDER
    try:
        candidates = sorted(path for path in folder.iterdir() if path.is_dir() and not path.name.startswith("."))
    except OSError:
        candidates = []
    rows, notes = [], []
    for candidate in candidates:
        loaded = report.read_json_object(candidate / EXPORT_JSON)
        if loaded.problem == "missing":
            continue
        where = f"{EXPORT_FOLDER}/{candidate.name}"
        if loaded.problem:
            notes.append(f"- `{_code(where)}`: {EXPORT_JSON} unreadable ({escape(loaded.problem)}).")
            continue
        values = loaded.value
        exported = values.get("exported") if isinstance(values.get("exported"), dict) else {}
        original = values.get("original") if isinstance(values.get("original"), dict) else {}
        change = rendering.finite_number(values.get("accuracy_change_points"))
        rows.append([
            f"`{_code(where)}`", escape(rendering.plain_text(values.get("format")) or "—"),
            escape(_size(exported.get("file_bytes"))), escape(rendering.format_percent(exported.get("accuracy"))),
            escape(rendering.format_percent(original.get("accuracy"))),
            escape(f"{change:+.2f}" if change is not None else "—"),
            escape(_milliseconds(exported.get("latency_ms"))),
        ])
    if not rows and not notes:
        return "\n".join(lines + [f"{NOT_MEASURED} (`nophd export RUN --format tflite-int8` writes one under "
                                  f"`{EXPORT_FOLDER}/`; exports written elsewhere with --out are not listed.)"])
    if rows:
        lines += _table(["folder", "format", "size", "accuracy", "Keras model", "points", "latency (1 image)"], rows,
                        numeric=(2, 3, 4, 5, 6))
        lines += ["", "Each export is evaluated on the same images as the Keras model beside it; latency is the "
                  "median single-image prediction time on the machine that exported it."]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _intended_use_section(task: tasks.Task | None, config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    lines = ["## Intended use and known limits", ""]
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
    return "\n".join(lines + [f"- {escape(sentence)}" for sentence in sentences])


def _versions_section(metrics: report.Loaded) -> str:
    lines = ["## Versions", ""]
    versions = (metrics.value or {}).get("versions")
    if metrics.problem:
        return "\n".join(lines + [_note(metrics)])
    if not isinstance(versions, dict) or not versions:
        return "\n".join(lines + ["Not recorded in metrics.json."])
    return "\n".join(lines + [_key_value_table([(name, _value_text(value)) for name, value in versions.items()])])


def _command_section(task: tasks.Task | None, config: report.Loaded) -> str:
    lines = ["## How it was produced", ""]
    if config.problem or task is None:
        return "\n".join(lines + [_note(config) if config.problem else "Unknown: config.json names no known task."])
    produced = task.produced_by(config.value)
    if produced is not None:
        return "\n".join(lines + [produced])
    command, unflagged = train_command(task, config.value)
    lines += ["The command that trains a run like this one (add `--data-dir` or `--out` as needed), derived from "
              "config.json:", "", *_fenced(shlex.join(["nophd", *command]))]
    if unflagged:
        lines += ["", "config.json also sets what no flag of `nophd train` sets (use the Python API, "
                  "`nophd.config.override`): " + ", ".join(f"`{_code(name)}` = `{_code(_value_text(value))}`"
                                                      for name, value in unflagged) + "."]
    replicas = rendering.finite_number(config.value.get("replicas"))
    if replicas and replicas > 1:
        lines += ["", f"This run trained on {int(replicas)} replicas: config.json's batch size and learning rate are "
                  "the scaled, global ones, and the command gives them as they are; with the same replicas, give "
                  "the per-replica values instead (see the README's Scaling out)."]
    return "\n".join(lines)


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

# Characters that start or end something anywhere in a line of Markdown (GFM): code, emphasis, links, tables,
# strikethrough, escapes. "_" only counts at a word's edge (snake_case stays readable).
_INLINE_SPECIAL = re.compile(r"([\\`*\[\]|~])|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block at the beginning of a line: a heading, a list item, a quote, a numbered item.
_LINE_START = re.compile(r"^(#|[-+]|\d+[.)])(?=\s|$)")


def escape(value: Any) -> str:
    """Text as Markdown that shows exactly that text: one line, Markdown's special characters backslash-escaped
    and &, < and > as HTML entities, so nothing in it becomes a table cell, a link, emphasis or HTML.

    Example:
        escape("a|b <i>")  # "a\\|b &lt;i&gt;"
    """
    line = " ".join(str(value).split())
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _INLINE_SPECIAL.sub(lambda match: "\\" + match.group(0), line)
    return _LINE_START.sub(lambda match: "\\" + match.group(0) if match.group(0)[0] in "#-+" else
                           match.group(0)[:-1] + "\\" + match.group(0)[-1], line)


def _code(value: Any) -> str:
    """Text for inside a `code span` in a table: one line, no backtick to end it early, "|" escaped for GFM tables."""
    return " ".join(str(value).split()).replace("`", "'").replace("|", "\\|")


def _fenced(code: str) -> list[str]:
    """A fenced code block longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}sh", code, fence]


def _table(header: list[str], rows: list[list[str]], numeric: tuple[int, ...] = ()) -> list[str]:
    """A GFM table; cells are Markdown already (escaped)."""
    rule = ["---:" if index in numeric else "---" for index in range(len(header))]
    return ["| " + " | ".join(line) + " |" for line in (header, rule, *rows)]


def _key_value_table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(_table(["item", "value"], [[escape(key), escape(value)] for key, value in rows]))


def _note(loaded: report.Loaded) -> str:
    if loaded.problem == "missing":
        return f"`{_code(loaded.name)}`: not written yet. {NOT_MEASURED}"
    return f"`{_code(loaded.name)}`: unreadable ({escape(loaded.problem)})."


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
