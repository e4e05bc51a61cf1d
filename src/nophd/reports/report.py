"""Static HTML reports: one page per run folder, and the ladder page over all runs.

A run report is rebuilt from whatever the run folder holds at the moment, so
it can be written after every epoch: a file that is not there yet is shown as
"not written yet", a file that cannot be parsed as "unreadable", and the page
is still written. Pages are self-contained (inline CSS, no JavaScript,
nothing fetched from the network) and refer to their pictures by relative
paths, so a run folder can be moved or zipped and still shows
(run_report_html(..., fragment=True) embeds them instead, for a notebook).

Python gathers and formats what a page shows; the markup is in Jinja2
templates (nophd/reports/templates, nophd.reports.rendering), which escape
every value printed from a file unless it is deliberately marked safe.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime
import io
import json
import os
import pathlib
import urllib.parse
from typing import Any, Mapping, Sequence

from nophd import atomic, config as config_module, runs, scoring, text
from nophd.errors import NophdError, RunError
from nophd.reports import plots, rendering

# The pictures a trainer writes into a run folder, in the order the report shows them.
RUN_IMAGES = (
    ("curves.png", "Training curves", "Loss and accuracy per epoch, training and validation."),
    ("lr.png", "Learning-rate schedule", "Solid: epochs done; dashed: planned."),
    ("predictions.png", "Predictions", "Digits rendered from fonts, then validation digits; wrong predictions in red."),
    ("confusion.png", "Confusion matrix", "Rows are true labels, columns predicted labels."),
)

# Columns of history.csv and how to show them; other columns are shown as written.
_HISTORY_FORMATS = {
    "epoch": "integer",
    "loss": "loss",
    "val_loss": "loss",
    "accuracy": "percent",
    "val_accuracy": "percent",
    "learning_rate": "rate",
    "seconds": "seconds",
}

_STATUS_CLASSES = {"finished": "good", "running": "busy"}

# While a run is going, the browser reloads the page on its own; no JavaScript needed.
_REFRESH_SECONDS = 30


def write_run_report(run_directory: str | os.PathLike) -> pathlib.Path:
    """Writes run_directory/report.html from what the run folder holds now.

    Reads config.json, metrics.json, history.csv and summary.txt and shows
    curves.png, lr.png, predictions.png and confusion.png; every one of them
    is optional. Missing files are shown as "not written yet", corrupt ones as
    unreadable, so a half-finished run gets a report too.

    Args:
        run_directory: the run folder.

    Returns:
        The path of report.html.

    Raises:
        RunError: run_directory does not exist or is not a folder.

    Example:
        path = write_run_report("runs/conv-bn")  # runs/conv-bn/report.html
    """
    page = run_report_html(run_directory)
    path = pathlib.Path(run_directory) / "report.html"
    atomic.write_text(path, page)
    return path


def run_report_html(run_directory: str | os.PathLike, *, fragment: bool = False) -> str:
    """The run report of a run folder as HTML: the page report.html holds, or a fragment for a notebook.

    Args:
        run_directory: the run folder.
        fragment: False: the whole page write_run_report writes (pictures by
            relative path, reloading itself while the run is going). True:
            one `<div class="nophd-report">` to embed in a Jupyter notebook's
            output: its style scoped to that div, no <html>, <head> or
            refresh, and the run's pictures inside it as data: URIs (the
            notebook's working folder is not the run folder).

    Returns:
        The HTML, every value read from the run folder escaped.

    Raises:
        RunError: run_directory does not exist or is not a folder.

    Example:
        IPython.display.HTML(run_report_html("runs/conv-bn", fragment=True))
    """
    directory = pathlib.Path(run_directory)
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run folder")

    config = read_json_object(directory / "config.json")
    metrics = read_json_object(directory / "metrics.json")
    history = _read_history(directory / "history.csv")
    values = metrics.value or {}

    model = rendering.plain_text(values.get("model")) or rendering.plain_text((config.value or {}).get("model"))
    dataset = rendering.plain_text(values.get("dataset")) or rendering.plain_text((config.value or {}).get("dataset"))
    title = f"{model or directory.name}" + (f" on {dataset}" if dataset else "")
    # run.json knows whether the run is still going (and notices a killed
    # one); metrics.json only exists once it has finished.
    status = runs.status(directory)
    if status == "unknown" or (status == "running" and values.get("status") == "finished"):
        # A run's last report is written by the running process after
        # metrics.json and just before run.json says finished: metrics.json
        # saying so is the run's word. (Killed at that point, it is interrupted.)
        status = rendering.plain_text(values.get("status"))

    captions = {"predictions.png": "Validation images with their predicted labels; wrong predictions in red."
                if values.get("dataset") not in (None, "mnist") else None}
    pictures = {name.removesuffix(".png"): _picture(directory, name, title_, captions.get(name) or caption, fragment)
                for name, title_, caption in RUN_IMAGES}
    robustness = read_json_object(directory / ROBUSTNESS_FILE)
    robustness_values = robustness.value or {}
    versions = values.get("versions")
    return rendering.render(
        "run.html",
        layout="fragment.html" if fragment else "page.html",
        title=title,
        folder=directory.name,
        status=status,
        status_class=_STATUS_CLASSES.get(status, "other"),
        # The fragment stands in a notebook, where neither the ladder nor a reload makes sense.
        ladder_link=not fragment and (directory.parent / "ladder.html").exists(),
        refresh=_REFRESH_SECONDS if status == "running" and not fragment else None,
        written=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        metrics=metrics,
        headline=None if metrics.problem else _headline(values),
        pictures=pictures,
        per_class=None if metrics.problem else per_class(values),
        robustness=robustness,
        robustness_sets=robustness_sets(robustness_values),
        robustness_over=len(_list(robustness_values.get("mean_over"))),
        robustness_pictures=[picture for picture in (_picture(directory, *image, fragment) for image in ROBUSTNESS_IMAGES)
                             if picture["source"]],
        transfer=None if metrics.problem else _transfer(values),
        history=history,
        history_formats=_HISTORY_FORMATS,
        history_cells=[] if history.problem else [
            [(name in _HISTORY_FORMATS, _format_history_cell(_HISTORY_FORMATS.get(name), cell))
             for name, cell in zip(history.value[0], row)] for row in history.value[1]],
        config=config,
        summary=read_text(directory / "summary.txt"),
        versions=versions if not metrics.problem and isinstance(versions, dict) else None,
    )


def _picture(directory: pathlib.Path, name: str, title: str, caption: str, embed: bool) -> dict[str, str | None]:
    """A picture of the run folder for the report: its src (None when the file is not there) and its words."""
    path = directory / name
    source = None
    if path.is_file():
        # Embedded, the picture travels inside the HTML; otherwise the page refers to the file beside it.
        source = ("data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii") if embed
                  else urllib.parse.quote(name))
    return {"name": name, "title": title, "caption": caption, "source": source}


def write_ladder_report(out_directory: str | os.PathLike, rows: Sequence[Mapping[str, Any]]) -> pathlib.Path:
    """Writes the ladder: ladder.png, ladder.md, ladder.json and ladder.html.

    Args:
        out_directory: the folder holding the run folders; created if needed.
        rows: one dict per model, top rung first: {"model", "description",
            "parameters", "epochs", "wall_seconds", "test_accuracy" (0..1),
            "codelab_accuracy" (0..1 or None), "run" (the run folder, relative
            to out_directory)}.

    Returns:
        The path of ladder.html.

    Raises:
        ValueError: a row is not a dict.

    Example:
        write_ladder_report("runs", [{"model": "dense", "test_accuracy": 0.92, "run": "dense", ...}])
    """
    directory = pathlib.Path(out_directory)
    rows = list(rows)
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"ladder row {index} must be a dict, got {type(row).__name__}")

    figure = plots.ladder_figure(rows)
    plots.save_figure(figure, directory / "ladder.png")
    atomic.write_json(directory / "ladder.json", [dict(row) for row in rows])
    atomic.write_text(directory / "ladder.md", ladder_markdown(rows))

    shown = []
    for row in rows:
        run = rendering.plain_text(row.get("run"))
        link = urllib.parse.quote(pathlib.PurePath(run).as_posix().rstrip("/") + "/report.html") if run else None
        shown.append({"model": row.get("model", "?"), "link": link, "description": row.get("description", ""),
                      "codelab": _codelab_text(row),
                      **{name: row.get(name) for name in ("parameters", "epochs", "wall_seconds", "test_accuracy")}})
    path = directory / "ladder.html"
    page = rendering.render("ladder.html", rows=shown, refresh=None,
                            written=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S"))
    atomic.write_text(path, page)
    return path


def ladder_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ladder as a Markdown table, ready to paste into a README.

    Left in Python rather than a template: six cells a row, and only "|" and line breaks escaped (">99%" stays
    as written for a README), unlike the model card's full Markdown escaping.

    Example:
        | model | parameters | epochs | wall time | test accuracy | codelab |
        |---|---:|---:|---:|---:|---:|
        | dense | 7,850 | 10 | 31 s | 92.31% | 92.00% |
    """
    lines = [
        "| model | parameters | epochs | wall time | test accuracy | codelab |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        cells = [
            str(row.get("model", "?")),
            rendering.format_integer(row.get("parameters")),
            rendering.format_integer(row.get("epochs")),
            text.format_duration(row.get("wall_seconds")),
            rendering.format_percent(row.get("test_accuracy")),
            _codelab_text(row),
        ]
        # A "|" or a line break inside a cell would break the table.
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _codelab_text(row: Mapping[str, Any]) -> str:
    # The codelab's own words ("~97%", ">99%") when the row has them: they
    # say how precise its figure is.
    if row.get("codelab_accuracy") is not None and rendering.plain_text(row.get("codelab_text")):
        return rendering.plain_text(row["codelab_text"])
    return rendering.format_percent(row.get("codelab_accuracy"))


# Reading the run folder. Each reader returns a Loaded: the value, or why there is none.


@dataclasses.dataclass
class Loaded:
    """A file of the run folder: its value, or why there is none (templates' `note` macro says which)."""

    name: str
    value: Any = None
    problem: str | None = None  # None: read fine; "missing"; or a one-line reason it is unreadable.


def read_text(path: pathlib.Path) -> Loaded:
    loaded = Loaded(path.name)
    try:
        loaded.value = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        loaded.problem = "missing"
    except UnicodeDecodeError:
        loaded.problem = "not UTF-8 text"
    except OSError as error:
        loaded.problem = error.strerror or str(error)
    return loaded


def read_json_object(path: pathlib.Path) -> Loaded:
    loaded = read_text(path)
    if loaded.problem:
        return loaded
    try:
        value = json.loads(loaded.value)
    except ValueError as error:
        return Loaded(path.name, problem=f"not valid JSON: {error}")
    if not isinstance(value, dict):
        return Loaded(path.name, problem=f"expected a JSON object, found {type(value).__name__}")
    return Loaded(path.name, value)


def _read_history(path: pathlib.Path) -> Loaded:
    """history.csv as (header, rows, number of malformed rows skipped)."""
    loaded = read_text(path)
    if loaded.problem:
        return loaded
    try:
        records = [record for record in csv.reader(io.StringIO(loaded.value)) if record]
    except csv.Error as error:
        return Loaded(path.name, problem=f"not valid CSV: {error}")
    if not records:
        return Loaded(path.name, problem="empty file")
    header = [name.strip() for name in records[0]]
    if "epoch" not in header:
        return Loaded(path.name, problem="no header row with an epoch column")
    rows = [record for record in records[1:] if len(record) == len(header)]
    return Loaded(path.name, (header, rows, len(records) - 1 - len(rows)))


# What the sections of the run report show (templates/run.html lays them out).


def result(values: Mapping[str, Any]) -> dict[str, Any]:
    """The run's result as the report and the model card state it: accuracy on which split and how many
    examples, loss, the codelab's figure beside it and scoring's warnings, as (id, text) pairs."""
    codelab = rendering.finite_number(values.get("codelab_accuracy"))
    measured = rendering.finite_number(values.get("test_accuracy"))
    # The one-class and few-examples rules are scoring's, as on the dashboard and in the CLI.
    warnings = [(id, warning) for id, warning in (("one-class", scoring.one_class_warning_of(values)),
                                                  ("few-examples", scoring.few_examples_warning_of(values))) if warning]
    return {
        "accuracy": values.get("test_accuracy"),
        "examples": values.get("test_examples"),
        # Which split test_accuracy was measured on: the run's config class says ("test", or "validation" for photos).
        "split": evaluated_split(values),
        "loss": rendering.finite_number(values.get("test_loss")),
        "codelab": codelab,
        "points": f"{(measured - codelab) * 100:+.2f}" if codelab is not None and measured is not None else None,
        "warnings": warnings,
    }


def _headline(values: Mapping[str, Any]) -> dict[str, Any]:
    """The result (see `result`) and the run's facts."""
    headline = result(values)
    headline["facts"] = [
        ("model", rendering.plain_text(values.get("model")) or "—"),
        ("dataset", rendering.plain_text(values.get("dataset")) or "—"),
        ("epochs", rendering.format_integer(values.get("epochs"))),
        ("wall time", text.format_duration(values.get("wall_seconds"))),
        ("parameters", rendering.format_integer(values.get("parameters"))),
        (f"{headline['split']} loss", rendering.format_number(values.get("test_loss"), "{:.4f}")),
        ("seed", rendering.plain_text(values.get("seed")) or "—"),
        ("finished at", rendering.format_time(values.get("finished_at"))),
    ]
    return headline


def evaluated_split(values: Mapping[str, Any]) -> str:
    """"test", "validation" or "tuning": the split metrics.json's test_* figures come from (config.evaluated_split_of)."""
    try:
        return config_module.evaluated_split_of(values if isinstance(values, dict) else {})
    except NophdError:
        return "test"


def _transfer(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Transfer learning facts: phases, what was fine-tuned, the data and its skipped files."""
    # Written for runs that fine-tune a pretrained backbone (metrics.json records the phases).
    if "fine_tune_epochs" not in values:
        return None
    plain, integer = rendering.plain_text, rendering.format_integer
    layers = _list(values.get("fine_tuned_layers"))
    skipped = _list(values.get("skipped_files"))
    return {
        "facts": [
            ("backbone", f"{plain(values.get('base'))} ({plain(values.get('weights'))})"),
            ("head", plain(values.get("head")) or "—"),
            ("image size", f"{plain(values.get('image_size'))} px"),
            ("frozen phase", f"{integer(values.get('epochs'))} epochs, validation accuracy "
                             f"{rendering.format_percent(values.get('frozen_accuracy'))}"),
            ("fine-tuning", f"{integer(values.get('fine_tune_epochs'))} epochs, {len(layers)} layers with weights unfrozen"
                            + (f", trained on {plain(values['fine_tuned_on'])}" if values.get("fine_tuned_on") else "")),
            ("augmentation", photo_augmentation(values)),
            ("data", f"{plain(values.get('data'))} ({plain(values.get('data_format'))})"),
            ("evaluated on", plain(values.get("evaluated_on")) or "—"),
            ("examples", f"{integer(values.get('train_examples'))} training, "
                         f"{integer(values.get('test_examples'))} validation"),
        ],
        "layers": ", ".join(map(str, layers)),
        "skipped": len(skipped),
        # The first hundred (file, reason) pairs; metrics.json holds the rest.
        "skipped_shown": [(plain(entry[0]), plain(entry[1])) for entry in skipped[:100]
                          if isinstance(entry, list) and len(entry) == 2],
    }


def photo_augmentation(values: Mapping[str, Any]) -> str:
    """When a photo run augmented, and with which transforms (runs from before the list: flip, rotate, zoom, contrast)."""
    when = {"all": "both phases", "fine-tune": "fine-tuning only (frozen phase on cached features)"}.get(values.get("augment"))
    if when is None:
        return "off (frozen phase on cached backbone features)"
    names = values.get("augmentations")
    names = [rendering.plain_text(name) for name in names] if isinstance(names, list) and names else ["flip", "rotate", "zoom", "contrast"]
    return f"{', '.join(names)}: {when}"


def per_class(values: Mapping[str, Any]) -> dict[str, Any] | None:
    """metrics.json's per-class figures, for the run report and the model card alike; None when it has none.

    Returns:
        {"rows": [{"name", "accuracy", "precision", "recall", "f1", "examples"}, ...], "figures": whether
        precision, recall, F1 and examples are known (from the confusion matrix; older runs have only
        accuracy), "macro_f1"}.
    """
    accuracies = values.get("per_class_accuracy")
    if not isinstance(accuracies, list) or not accuracies:
        return None
    names = values.get("class_names")
    if not isinstance(names, list) or len(names) != len(accuracies):
        names = [str(index) for index in range(len(accuracies))]
    figures = class_figures(values, len(accuracies))
    rows = [{"name": name, "accuracy": accuracy} for name, accuracy in zip(names, accuracies)]
    if figures:
        for index, row in enumerate(rows):
            row.update(precision=figures["per_class_precision"][index], recall=figures["per_class_recall"][index],
                       f1=figures["per_class_f1"][index], examples=sum(values["confusion"][index]))
    return {"rows": rows, "figures": figures is not None, "macro_f1": figures["macro_f1"] if figures else None}


def class_figures(values: Mapping[str, Any], count: int) -> dict | None:
    """Per-class precision and F1 and the macro F1 from metrics.json's confusion matrix (older runs have no others)."""
    confusion = values.get("confusion")
    if not isinstance(confusion, list) or len(confusion) != count or not all(
            isinstance(row, list) and len(row) == count and all(rendering.finite_number(cell) is not None and cell >= 0 for cell in row)
            for row in confusion):
        return None
    return scoring.class_figures(confusion)


# What `nophd evaluate RUN --robustness` writes (nophd.inference.robustness), shown when present.
ROBUSTNESS_FILE = "robustness.json"
ROBUSTNESS_IMAGES = (
    ("robustness.png", "Accuracy per set", "Every set of the suite; the mean (bold) is over every set but clean."),
    ("robustness_samples.png", "What the sets look like", "A few digits of each set, with their true labels."),
)


def robustness_sets(values: Mapping[str, Any]) -> list[dict]:
    """robustness.json's rows, one per set ({"name", "kind", "examples", "accuracy", ...}), skipping what is not a
    row; each with "misread_text", its commonest mistakes in words ("" for none, or rows written before them)."""
    return [{**row, "misread_text": scoring.misread_text(row.get("misread"))}
            for row in _list(values.get("sets")) if isinstance(row, dict)]


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _format_history_cell(kind: str | None, cell: str) -> str:
    number = rendering.finite_number(cell)
    if kind is None or number is None:
        return cell.strip() or "—"
    if kind == "integer":
        return f"{round(number)}"
    if kind == "percent":
        return f"{number * 100:.2f}%"
    if kind == "loss":
        return f"{number:.4f}"
    if kind == "rate":
        return f"{number:.3g}"
    return f"{number:.1f}"  # seconds
