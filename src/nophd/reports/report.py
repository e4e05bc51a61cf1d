"""Static HTML reports: one page per run folder, and the ladder page over all runs.

A run report is rebuilt from whatever the run folder holds at the moment, so
it can be written after every epoch: a file that is not there yet is shown as
"not written yet", a file that cannot be parsed as "unreadable", and the page
is still written. Pages are self-contained (inline CSS, no JavaScript,
nothing fetched from the network) and refer to their pictures by relative
paths, so a run folder can be moved or zipped and still shows.

Everything printed from a file is HTML-escaped.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import html
import io
import json
import math
import os
import pathlib
import urllib.parse
from typing import Any, Mapping, Sequence

from nophd import atomic, config as config_module, runs, scoring, text, version
from nophd.errors import NophdError, RunError
from nophd.reports import plots

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
    directory = pathlib.Path(run_directory)
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run folder")

    config = read_json_object(directory / "config.json")
    metrics = read_json_object(directory / "metrics.json")
    history = _read_history(directory / "history.csv")
    summary = read_text(directory / "summary.txt")
    values = metrics.value or {}

    model = plain_text(values.get("model")) or plain_text((config.value or {}).get("model"))
    dataset = plain_text(values.get("dataset")) or plain_text((config.value or {}).get("dataset"))
    title = f"{model or directory.name}" + (f" on {dataset}" if dataset else "")
    # run.json knows whether the run is still going (and notices a killed
    # one); metrics.json only exists once it has finished.
    status = runs.status(directory)
    if status == "unknown" or (status == "running" and values.get("status") == "finished"):
        # A run's last report is written by the running process after
        # metrics.json and just before run.json says finished: metrics.json
        # saying so is the run's word. (Killed at that point, it is interrupted.)
        status = plain_text(values.get("status"))

    parts = ["<header>"]
    if (directory.parent / "ladder.html").exists():
        parts.append('<p class="back"><a href="../ladder.html">&larr; the ladder</a></p>')
    parts.append(f"<h1>{_escape(title)}</h1>")
    parts.append(
        f'<p class="subtitle">run folder <code>{_escape(directory.name)}</code>'
        + (f' &middot; <span class="status {_STATUS_CLASSES.get(status, "other")}">{_escape(status)}</span>' if status else "")
        + "</p>"
    )
    parts.append("</header>")
    parts.append(_headline_section(metrics))
    parts.append(_images_section(directory, values))
    parts.append(_per_class_section(metrics))
    parts.append(_robustness_section(directory))
    parts.append(_photo_section(metrics))
    parts.append(_history_section(history))
    parts.append(_config_section(config))
    parts.append(_summary_section(summary))
    parts.append(_versions_section(metrics))

    path = directory / "report.html"
    page = _page(f"{title}: nophd run report", "\n".join(parts), refresh=_REFRESH_SECONDS if status == "running" else None)
    atomic.write_text(path, page)
    return path


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

    header = (
        "<tr><th>model</th><th>description</th><th class=number>parameters</th><th class=number>epochs</th>"
        "<th class=number>wall time</th><th class=number>test accuracy</th><th class=number>codelab</th></tr>"
    )
    body = []
    for row in rows:
        model = _escape(row.get("model", "?"))
        run = plain_text(row.get("run"))
        if run:
            link = urllib.parse.quote(pathlib.PurePath(run).as_posix().rstrip("/") + "/report.html")
            model = f'<a href="{_escape(link)}">{model}</a>'
        body.append(
            f"<tr><td>{model}</td><td>{_escape(row.get('description', ''))}</td>"
            f"<td class=number>{_escape(format_integer(row.get('parameters')))}</td>"
            f"<td class=number>{_escape(format_integer(row.get('epochs')))}</td>"
            f"<td class=number>{_escape(text.format_duration(row.get('wall_seconds')))}</td>"
            f"<td class=number><strong>{_escape(format_percent(row.get('test_accuracy')))}</strong></td>"
            f"<td class=number>{_escape(_codelab_text(row))}</td></tr>"
        )
    table = (
        f'<div class="scroll"><table>{header}{"".join(body)}</table></div>'
        if rows
        else '<p class="missing">No models trained yet.</p>'
    )
    content = (
        "<header><h1>The ladder</h1>"
        '<p class="subtitle">Each model of the codelab, trained and tested here; '
        "the codelab's own figure beside it. Click a model for its run report.</p></header>"
        f"<section><h2>Results</h2>{table}</section>"
        '<section><h2>Test accuracy</h2><figure><img src="ladder.png" alt="Bar chart of test accuracy per model">'
        "</figure></section>"
    )
    path = directory / "ladder.html"
    atomic.write_text(path, _page("The ladder: nophd", content))
    return path


def ladder_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The ladder as a Markdown table, ready to paste into a README.

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
            format_integer(row.get("parameters")),
            format_integer(row.get("epochs")),
            text.format_duration(row.get("wall_seconds")),
            format_percent(row.get("test_accuracy")),
            _codelab_text(row),
        ]
        # A "|" or a line break inside a cell would break the table.
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_percent(value: Any, decimals: int = 2) -> str:
    """0.99512 -> "99.51%"; anything that is not a number -> "—"."""
    number = finite_number(value)
    return "—" if number is None else f"{number * 100:.{decimals}f}%"


def format_integer(value: Any) -> str:
    """1234567 -> "1,234,567"; anything that is not a number -> "—"."""
    number = finite_number(value)
    return "—" if number is None else f"{round(number):,}"


def _codelab_text(row: Mapping[str, Any]) -> str:
    # The codelab's own words ("~97%", ">99%") when the row has them: they
    # say how precise its figure is.
    if row.get("codelab_accuracy") is not None and plain_text(row.get("codelab_text")):
        return plain_text(row["codelab_text"])
    return format_percent(row.get("codelab_accuracy"))


# Reading the run folder. Each reader returns a Loaded: the value, or why there is none.


@dataclasses.dataclass
class Loaded:
    name: str
    value: Any = None
    problem: str | None = None  # None: read fine; "missing"; or a one-line reason it is unreadable.

    def note(self) -> str:
        """HTML telling the reader why there is nothing to show."""
        if self.problem == "missing":
            return f'<p class="missing"><code>{_escape(self.name)}</code>: not written yet.</p>'
        return f'<p class="unreadable"><code>{_escape(self.name)}</code>: unreadable ({_escape(self.problem)}).</p>'


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


# Sections of the run report.


def _headline_section(metrics: Loaded) -> str:
    if metrics.problem:
        return f"<section><h2>Result</h2>{metrics.note()}</section>"
    values = metrics.value
    # The one-class rule is scoring's, as on the dashboard and in the CLI.
    one_class = scoring.one_class_warning_of(values)
    warning = f'<p class="warning" id="one-class">Warning: {_escape(one_class)}</p>' if one_class else ""
    few = scoring.few_examples_warning_of(values)
    warning += f'<p class="warning" id="few-examples">Warning: {_escape(few)}</p>' if few else ""
    accuracy = format_percent(values.get("test_accuracy"))
    codelab = finite_number(values.get("codelab_accuracy"))
    measured = finite_number(values.get("test_accuracy"))
    comparison = ""
    if codelab is not None:
        comparison = f'<span class="codelab">codelab: {_escape(format_percent(codelab))}'
        if measured is not None:
            comparison += f" ({(measured - codelab) * 100:+.2f} points)"
        comparison += "</span>"
    # Which split test_accuracy was measured on: the run's config class says ("test", or "validation" for photos).
    split = evaluated_split(values)
    facts = [
        ("model", plain_text(values.get("model")) or "—"),
        ("dataset", plain_text(values.get("dataset")) or "—"),
        ("epochs", format_integer(values.get("epochs"))),
        ("wall time", text.format_duration(values.get("wall_seconds"))),
        ("parameters", format_integer(values.get("parameters"))),
        (f"{split} loss",
         _format_number(values.get("test_loss"), "{:.4f}")),
        ("seed", plain_text(values.get("seed")) or "—"),
        ("finished at", format_time(values.get("finished_at"))),
    ]
    facts_html = "".join(f"<div><dt>{_escape(name)}</dt><dd>{_escape(value)}</dd></div>" for name, value in facts)
    return (
        "<section><h2>Result</h2>"
        f'<div class="headline"><span class="accuracy">{_escape(accuracy)}</span>'
        f'<span class="label">{_escape(split)} accuracy</span>{comparison}</div>'
        f'{warning}<dl class="facts">{facts_html}</dl></section>'
    )


def _images_section(directory: pathlib.Path, metrics: Mapping[str, Any]) -> str:
    figures = []
    for name, title, caption in RUN_IMAGES:
        if name == "predictions.png" and metrics.get("dataset") not in (None, "mnist"):
            caption = "Validation images with their predicted labels; wrong predictions in red."
        if (directory / name).is_file():
            body = f'<img src="{_escape(urllib.parse.quote(name))}" alt="{_escape(title)}">'
            body += f"<figcaption>{_escape(caption)}</figcaption>"
        else:
            body = f'<p class="missing"><code>{_escape(name)}</code>: not written yet.</p>'
        figures.append(f'<figure id="{_escape(name.removesuffix(".png"))}"><h3>{_escape(title)}</h3>{body}</figure>')
    # Curves and predictions are wide; the schedule and the matrix sit side by side.
    curves, schedule, predictions, confusion = figures
    return (
        f"<section><h2>Pictures</h2>{curves}<div class=pair>{schedule}{confusion}</div>{predictions}</section>"
    )


def evaluated_split(values: Mapping[str, Any]) -> str:
    """"test", "validation" or "tuning": the split metrics.json's test_* figures come from (config.evaluated_split_of)."""
    try:
        return config_module.evaluated_split_of(values if isinstance(values, dict) else {})
    except NophdError:
        return "test"


def _photo_section(metrics: Loaded) -> str:
    """Transfer learning facts: phases, what was fine-tuned, the data and its skipped files."""
    values = metrics.value or {}
    # Written for runs that fine-tune a pretrained backbone (metrics.json records the phases).
    if metrics.problem or "fine_tune_epochs" not in values:
        return ""
    layers = values.get("fine_tuned_layers") if isinstance(values.get("fine_tuned_layers"), list) else []
    facts = [
        ("backbone", f"{plain_text(values.get('base'))} ({plain_text(values.get('weights'))})"),
        ("head", plain_text(values.get("head")) or "—"),
        ("image size", f"{plain_text(values.get('image_size'))} px"),
        ("frozen phase", f"{format_integer(values.get('epochs'))} epochs, validation accuracy "
                         f"{format_percent(values.get('frozen_accuracy'))}"),
        ("fine-tuning", f"{format_integer(values.get('fine_tune_epochs'))} epochs, {len(layers)} layers with weights unfrozen"),
        ("augmentation", photo_augmentation(values)),
        ("data", f"{plain_text(values.get('data'))} ({plain_text(values.get('data_format'))})"),
        ("evaluated on", plain_text(values.get("evaluated_on")) or "—"),
        ("examples", f"{format_integer(values.get('train_examples'))} training, {format_integer(values.get('test_examples'))} validation"),
    ]
    facts_html = "".join(f"<div><dt>{_escape(name)}</dt><dd>{_escape(value)}</dd></div>" for name, value in facts)
    skipped = values.get("skipped_files") if isinstance(values.get("skipped_files"), list) else []
    skipped_html = ""
    if skipped:
        items = "".join(
            f"<li><code>{_escape(plain_text(entry[0]))}</code>: {_escape(plain_text(entry[1]))}</li>"
            for entry in skipped[:100] if isinstance(entry, list) and len(entry) == 2
        )
        more = f"<p>and {len(skipped) - 100} more (see metrics.json)</p>" if len(skipped) > 100 else ""
        skipped_html = f"<h3>{len(skipped)} file(s) skipped</h3><ul>{items}</ul>{more}"
    tuned = f"<p>Fine-tuned layers: {_escape(', '.join(map(str, layers)))}</p>" if layers else ""
    return f'<section><h2>Transfer learning</h2><dl class="facts">{facts_html}</dl>{tuned}{skipped_html}</section>'


def photo_augmentation(values: Mapping[str, Any]) -> str:
    """When a photo run augmented, and with which transforms (runs from before the list: flip, rotate, zoom, contrast)."""
    when = {"all": "both phases", "fine-tune": "fine-tuning only (frozen phase on cached features)"}.get(values.get("augment"))
    if when is None:
        return "off (frozen phase on cached backbone features)"
    names = values.get("augmentations")
    names = [plain_text(name) for name in names] if isinstance(names, list) and names else ["flip", "rotate", "zoom", "contrast"]
    return f"{', '.join(names)}: {when}"


def _per_class_section(metrics: Loaded) -> str:
    if metrics.problem:
        return ""  # The headline already says what is wrong with metrics.json.
    accuracies = metrics.value.get("per_class_accuracy")
    if not isinstance(accuracies, list) or not accuracies:
        return '<section><h2>Accuracy per class</h2><p class="missing">Not in metrics.json yet.</p></section>'
    names = metrics.value.get("class_names")
    if not isinstance(names, list) or len(names) != len(accuracies):
        names = [str(index) for index in range(len(accuracies))]
    figures = class_figures(metrics.value, len(accuracies))
    rows = []
    for index, (name, value) in enumerate(zip(names, accuracies)):
        number = finite_number(value)
        width = 0.0 if number is None else min(max(number, 0.0), 1.0) * 100
        shown = ([figures["per_class_precision"][index], value, figures["per_class_f1"][index]] if figures
                 else [value])
        cells = "".join(f"<td class=number>{_escape(format_percent(figure))}</td>" for figure in shown)
        rows.append(
            f"<tr><td>{_escape(name)}</td>{cells}"
            f'<td class=barcell><span class=bar style="width: {width:.1f}%"></span></td></tr>'
        )
    headings = ("<th class=number>precision</th><th class=number>recall (accuracy)</th><th class=number>F1</th>"
                if figures else "<th class=number>accuracy</th>")
    note = (f'<p class="note">Macro F1 {_escape(format_percent(figures["macro_f1"]))} (every class weighing the same). '
            "Precision: the share of a class's predictions that are right; recall: the share of its examples "
            "found.</p>") if figures else ""
    title = "Precision, recall and F1 per class" if figures else "Accuracy per class"
    return (
        f"<section><h2>{title}</h2><div class=scroll><table class=perclass>"
        f"<tr><th>class</th>{headings}<th></th></tr>"
        f"{''.join(rows)}</table></div>{note}</section>"
    )


def class_figures(values: Mapping[str, Any], count: int) -> dict | None:
    """Per-class precision and F1 and the macro F1 from metrics.json's confusion matrix (older runs have no others)."""
    confusion = values.get("confusion")
    if not isinstance(confusion, list) or len(confusion) != count or not all(
            isinstance(row, list) and len(row) == count and all(finite_number(cell) is not None and cell >= 0 for cell in row)
            for row in confusion):
        return None
    return scoring.class_figures(confusion)


# What `nophd evaluate RUN --robustness` writes (nophd.inference.robustness), shown when present.
ROBUSTNESS_FILE = "robustness.json"
ROBUSTNESS_IMAGES = (
    ("robustness.png", "Accuracy per set", "Every set of the suite; the mean (bold) is over every set but clean."),
    ("robustness_samples.png", "What the sets look like", "A few digits of each set, with their true labels."),
)


def _robustness_section(directory: pathlib.Path) -> str:
    """robustness.json as a table (the mean highlighted), its bar chart and its sample grid; nothing when absent."""
    loaded = read_json_object(directory / ROBUSTNESS_FILE)
    if loaded.problem == "missing":
        return ""
    if loaded.problem:
        return f'<section id="robustness"><h2>Robustness suite</h2>{loaded.note()}</section>'
    values = loaded.value
    sets = values.get("sets") if isinstance(values.get("sets"), list) else []
    rows = []
    for row in sets:
        if not isinstance(row, dict):
            continue
        number = finite_number(row.get("accuracy"))
        width = 0.0 if number is None else min(max(number, 0.0), 1.0) * 100
        rows.append(
            f"<tr><td>{_escape(plain_text(row.get('name')))}</td><td>{_escape(plain_text(row.get('kind')))}</td>"
            f"<td class=number>{_escape(format_integer(row.get('examples')))}</td>"
            f"<td class=number>{_escape(format_percent(row.get('accuracy')))}</td>"
            f'<td class=barcell><span class=bar style="width: {width:.1f}%"></span></td></tr>'
        )
    mean = finite_number(values.get("mean_accuracy"))
    over = values.get("mean_over") if isinstance(values.get("mean_over"), list) else []
    rows.append(
        f'<tr class="mean"><td>mean</td><td>{len(over)} sets</td><td></td>'
        f"<td class=number>{_escape(format_percent(values.get('mean_accuracy')))}</td>"
        f'<td class=barcell><span class=bar style="width: {0.0 if mean is None else min(max(mean, 0.0), 1.0) * 100:.1f}%">'
        "</span></td></tr>"
    )
    facts = (f"<p>Seed {_escape(plain_text(values.get('seed')))}; {_escape(plain_text(values.get('data')))}; "
             f"evaluated {_escape(format_time(values.get('evaluated_at')))}. The mean counts every set but "
             "<em>clean</em> once, whatever its size.</p>")
    figures = []
    for name, title, caption in ROBUSTNESS_IMAGES:
        if (directory / name).is_file():
            figures.append(f'<figure><h3>{_escape(title)}</h3><img src="{_escape(urllib.parse.quote(name))}" '
                           f'alt="{_escape(title)}"><figcaption>{_escape(caption)}</figcaption></figure>')
    return (
        '<section id="robustness"><h2>Robustness suite</h2>' + facts
        + "<div class=scroll><table class=perclass><tr><th>set</th><th>kind</th><th class=number>digits</th>"
        f"<th class=number>accuracy</th><th></th></tr>{''.join(rows)}</table></div>{''.join(figures)}</section>"
    )


def _history_section(history: Loaded) -> str:
    if history.problem:
        return f"<section><h2>History</h2>{history.note()}</section>"
    header, rows, skipped = history.value
    head = "".join(
        f"<th{' class=number' if name in _HISTORY_FORMATS else ''}>{_escape(name)}</th>" for name in header
    )
    body = []
    for row in rows:
        cells = []
        for name, cell in zip(header, row):
            kind = _HISTORY_FORMATS.get(name)
            cells.append(f"<td{' class=number' if kind else ''}>{_escape(_format_history_cell(kind, cell))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    notes = ""
    if not rows:
        notes += '<p class="missing">No epoch finished yet.</p>'
    if skipped:
        notes += f'<p class="unreadable">{skipped} malformed row(s) of history.csv skipped.</p>'
    table = f"<div class=scroll><table><tr>{head}</tr>{''.join(body)}</table></div>" if rows else ""
    return f"<section><h2>History</h2>{table}{notes}</section>"


def _config_section(config: Loaded) -> str:
    if config.problem:
        return f"<section><h2>Configuration</h2>{config.note()}</section>"
    rows = "".join(
        f"<tr><th>{_escape(key)}</th><td><code>{_escape(_config_value(value))}</code></td></tr>"
        for key, value in config.value.items()
    )
    return f"<section><h2>Configuration</h2><div class=scroll><table class=keyvalue>{rows}</table></div></section>"


def _summary_section(summary: Loaded) -> str:
    if summary.problem:
        return f"<section><h2>Model</h2>{summary.note()}</section>"
    return f"<section><h2>Model</h2><pre>{_escape(summary.value.rstrip())}</pre></section>"


def _versions_section(metrics: Loaded) -> str:
    if metrics.problem:
        return ""
    versions = metrics.value.get("versions")
    if not isinstance(versions, dict) or not versions:
        return ""
    rows = "".join(
        f"<tr><th>{_escape(name)}</th><td>{_escape(_config_value(value))}</td></tr>" for name, value in versions.items()
    )
    return f"<section><h2>Versions</h2><table class=keyvalue>{rows}</table></section>"


# Formatting.


def _escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def plain_text(value: Any) -> str:
    """A scalar as text; "" for None and for lists or objects."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def finite_number(value: Any) -> float | None:
    """A finite float, or None for None, bools, text, NaN and infinity."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _format_number(value: Any, pattern: str) -> str:
    number = finite_number(value)
    return "—" if number is None else pattern.format(number)


def format_time(value: Any) -> str:
    """An ISO time as "2026-01-31 14:05:09 UTC+01:00"; other text as it is."""
    text = plain_text(value)
    if not text:
        return "—"
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return text
    shown = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.strftime("%z")
    if offset:
        shown += " UTC" if offset == "+0000" else f" UTC{offset[:3]}:{offset[3:]}"
    return shown


def _format_history_cell(kind: str | None, cell: str) -> str:
    number = finite_number(cell)
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


def _config_value(value: Any) -> str:
    # Strings as they are; numbers, booleans, lists and objects as JSON (true, null, [1, 2]).
    return value if isinstance(value, str) else json.dumps(value)


_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7f9; color: #1c1e21; line-height: 1.5;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 56px; }
header h1 { margin: 0 0 4px; font-size: 1.9rem; }
.subtitle { margin: 0; color: #555; }
.back { margin: 0 0 8px; }
a { color: #1f5fbf; }
h2 { font-size: 1.25rem; margin: 32px 0 12px; padding-bottom: 4px; border-bottom: 1px solid #dde1e6; }
h3 { font-size: 1rem; margin: 0 0 8px; }
code, pre { font-family: ui-monospace, "SF Mono", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
pre { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px; overflow-x: auto;
  font-size: 0.8rem; line-height: 1.35; }
figure { margin: 0 0 16px; background: #fff; border: 1px solid #dde1e6; border-radius: 8px; padding: 12px; }
figcaption { color: #555; font-size: 0.9rem; margin-top: 6px; }
img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(380px, 100%), 1fr)); gap: 16px; margin-bottom: 16px; }
.pair figure { margin: 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: #fff; border: 1px solid #dde1e6; font-size: 0.92rem; }
th, td { padding: 5px 12px; border-bottom: 1px solid #eceff2; text-align: left; vertical-align: top; }
tr:last-child th, tr:last-child td { border-bottom: none; }
th { background: #f0f2f5; font-weight: 600; }
.keyvalue th { background: #f6f7f9; }
.number { text-align: right; font-variant-numeric: tabular-nums; }
.missing { color: #6b7280; font-style: italic; }
.warning { color: #92400e; background: #fef3c7; border-left: 4px solid #d97706; padding: 0.5rem 0.75rem; }
.unreadable { color: #b42318; }
.status { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 0.85rem; color: #fff; background: #8a5a00; }
.status.good { background: #1a7f37; }
.status.busy { background: #1f5fbf; }
.headline { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 14px; margin-bottom: 12px; }
.headline .accuracy { font-size: 2.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
.headline .label { color: #555; }
.headline .codelab { color: #333; background: #eef1f5; border-radius: 6px; padding: 2px 10px; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 8px; margin: 0; }
.facts div { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 6px 10px; }
.facts dt { color: #6b7280; font-size: 0.8rem; }
.facts dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.perclass .barcell { width: 240px; }
tr.mean td { font-weight: 700; background: #fff4e0; }
tr.mean .bar { background: #ff7f0e; }
.bar { display: block; height: 0.8em; margin-top: 0.35em; background: #4c72b0; border-radius: 2px; }
footer { margin-top: 40px; color: #6b7280; font-size: 0.85rem; }
"""


def _page(title: str, content: str, refresh: int | None = None) -> str:
    written = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S")
    refresh_tag = f'<meta http-equiv="refresh" content="{int(refresh)}">\n' if refresh else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{refresh_tag}<title>{_escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"{content}\n"
        f"<footer>Written by nophd {_escape(version.__version__)} at {_escape(written)}"
        + (f"; reloads every {int(refresh)} s while the run is going" if refresh else "")
        + ".</footer>\n</main>\n</body>\n</html>\n"
    )
