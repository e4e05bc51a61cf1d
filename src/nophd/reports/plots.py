"""Figures of a training run and of the model ladder.

Every function builds and returns a `matplotlib.figure.Figure` without
touching `pyplot`: there is no global figure registry, so the functions are
safe in threads, in a headless trainer and in tests. Saving is separate:
`save_figure` writes the file atomically, so a browser refreshing the report
during a run never shows half a PNG.

All functions draw something sensible for empty and single-epoch inputs (a
half-finished run is the normal case while training), and none imports
TensorFlow.
"""

from __future__ import annotations

import math
import os
from typing import Any, Mapping, Sequence

import matplotlib.colors
import matplotlib.figure
import matplotlib.ticker
import numpy as np

from nophd import atomic

# Colours: matplotlib's default cycle, named for what they mean here.
TRAIN_COLOUR = "#1f77b4"
VALIDATION_COLOUR = "#ff7f0e"
MEASURED_COLOUR = "#4c72b0"
CODELAB_COLOUR = "#222222"
# Wrong predictions are plain red, right ones near-black, as in the codelab.
WRONG_COLOUR = "red"
RIGHT_COLOUR = "#111111"
EMPTY_TEXT_COLOUR = "#777777"


def curves_figure(history: Mapping[str, Sequence[float]]) -> matplotlib.figure.Figure:
    """Loss and accuracy per epoch, training and validation, side by side.

    Args:
        history: columns of the training history: "epoch" (1-based ints),
            "loss", "accuracy" and optionally "val_loss", "val_accuracy"; lists
            of equal length, possibly empty. Missing values (None, NaN, "")
            are skipped. When "epoch" is missing, epochs are numbered 1..N.

    Returns:
        A figure with the loss panel on the left and the accuracy panel (a
        percent axis zoomed to the data) on the right, the final validation
        accuracy annotated.

    Example:
        figure = curves_figure({"epoch": [1, 2], "loss": [0.3, 0.1], "accuracy": [0.91, 0.97],
                                "val_loss": [0.2, 0.1], "val_accuracy": [0.94, 0.98]})
        save_figure(figure, "run/curves.png")
    """
    series = {name: _float_array(history.get(name, ())) for name in ("loss", "accuracy", "val_loss", "val_accuracy")}
    length = max((len(values) for values in series.values()), default=0)
    epochs = _float_array(history.get("epoch", ()))
    if len(epochs) < length or not np.all(np.isfinite(epochs[:length])):
        epochs = np.arange(1, length + 1, dtype=float)

    figure = matplotlib.figure.Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    panels = (
        (loss_axes, "loss", "Loss", "loss (cross-entropy)"),
        (accuracy_axes, "accuracy", "Accuracy", "accuracy"),
    )
    for axes, key, title, ylabel in panels:
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.set_ylabel(ylabel)
        axes.grid(True, alpha=0.3)
        axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
        drawn = False
        for prefix, label, colour in (("", "training", TRAIN_COLOUR), ("val_", "validation", VALIDATION_COLOUR)):
            values = series[prefix + key]
            x, y = _finite_pairs(epochs, values)
            if len(y) == 0:
                continue
            # Markers keep a single epoch visible; they get small once there are many epochs.
            axes.plot(x, y, color=colour, label=label, marker="o", markersize=4 if len(y) <= 30 else 0, linewidth=1.8)
            drawn = True
        if drawn:
            axes.legend(loc="best")
        else:
            _write_empty(axes, "no epochs finished yet")

    if length:
        # Whole epochs only, with a little room either side so end points are not on the frame.
        for axes in (loss_axes, accuracy_axes):
            axes.set_xlim(epochs[:length].min() - 0.5, epochs[:length].max() + 0.5)
        _, losses = _finite_pairs(epochs, np.concatenate([series["loss"], series["val_loss"]]))
        if len(losses) and np.all(losses >= 0):
            loss_axes.set_ylim(bottom=0)

    accuracies = np.concatenate([series["accuracy"], series["val_accuracy"]])
    accuracies = accuracies[np.isfinite(accuracies)]
    accuracy_axes.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=None))
    if len(accuracies):
        accuracy_axes.set_ylim(*_accuracy_limits(accuracies))
        _annotate_final_accuracy(accuracy_axes, epochs, series["val_accuracy"], series["accuracy"])
    return figure


def learning_rate_figure(learning_rates: Sequence[float], epochs_done: int = 0) -> matplotlib.figure.Figure:
    """The planned learning-rate schedule, one value per epoch.

    Args:
        learning_rates: the rate for epoch 1..N, e.g. 0.01 * 0.666**epoch.
        epochs_done: how many epochs have finished; these are drawn solid with
            markers, the remaining ones dashed.

    Returns:
        A figure with a log y-axis when the rates span more than a factor 10.

    Example:
        figure = learning_rate_figure([0.01 * 0.666**n for n in range(10)], epochs_done=3)
    """
    rates = _float_array(learning_rates)
    count = len(rates)
    done = min(max(int(epochs_done), 0), count)
    epochs = np.arange(1, count + 1, dtype=float)

    figure = matplotlib.figure.Figure(figsize=(7, 3.6), layout="constrained")
    axes = figure.subplots()
    axes.set_title("Learning-rate schedule" + (f" ({done} of {count} epochs done)" if count else ""))
    axes.set_xlabel("epoch")
    axes.set_ylabel("learning rate")
    axes.grid(True, which="both", alpha=0.3)
    axes.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, min_n_ticks=1))
    finite = rates[np.isfinite(rates)]
    if len(finite) == 0:
        _write_empty(axes, "no schedule planned")
        return figure

    if done:
        axes.plot(epochs[:done], rates[:done], color=TRAIN_COLOUR, marker="o", markersize=5, linewidth=2, label="done")
    if done < count:
        # Start the dashed part at the last finished epoch so the line is continuous.
        start = max(done - 1, 0)
        axes.plot(
            epochs[start:], rates[start:], color=TRAIN_COLOUR, linestyle="--", marker="o", markersize=3,
            markerfacecolor="white", linewidth=1.5, label="planned",
        )
    positive = finite[finite > 0]
    if len(positive) == len(finite) and positive.max() > 10 * positive.min():
        axes.set_yscale("log")
    elif np.all(finite >= 0):
        axes.set_ylim(bottom=0, top=finite.max() * 1.1 if finite.max() > 0 else 1.0)
    axes.set_xlim(0.5, count + 0.5)
    axes.legend(loc="best")
    return figure


def predictions_figure(
    font_images: Any,
    font_labels: Any,
    font_predictions: Any,
    images: Any,
    labels: Any,
    predictions: Any,
    class_names: Sequence[str] | Mapping[int, str] | None = None,
    columns: int = 10,
    validation_title: str | None = None,
) -> matplotlib.figure.Figure:
    """The codelab's prediction grid: digits rendered from fonts, then validation digits.

    Under each image is the predicted label: near-black when right; red with
    the true label ("7 ≠ 1") when wrong.

    Args:
        font_images: (K, H, W), (K, H, W, 1) or colour (K, H, W, 3) images;
            floats in [0, 1] (floats up to 255 are rescaled) or uint8.
        font_labels: K true class indices (or one-hot rows).
        font_predictions: K predicted class indices (or probability rows,
            reduced with argmax).
        images, labels, predictions: the same for N validation images.
        class_names: label index -> text (a list or a dict); default str(index).
        columns: images per row.
        validation_title: the second group's title, when the images are not a
            plain sample (e.g. a sample followed by chosen mistakes, where
            "N of M right" would mislead). Default: "validation digits: N of
            M right, K wrong (red)".

    Returns:
        A figure; either group may be empty.

    Raises:
        ValueError: columns < 1, or images, labels and predictions of one group
            differ in length.

    Example:
        figure = predictions_figure(font_x, font_y, font_p, val_x[:50], val_y[:50], val_p[:50])
    """
    if int(columns) < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    columns = int(columns)
    groups = []
    for title, group_images, group_labels, group_predictions, fixed_title in (
        ("digits rendered from fonts", font_images, font_labels, font_predictions, None),
        ("validation {kind}", images, labels, predictions, validation_title),
    ):
        group = _prediction_group(title, group_images, group_labels, group_predictions, class_names)
        if group is not None:
            groups.append((*group, fixed_title))

    # Layout in inches: square image cells in a grid, room under each for a one- or two-line label,
    # a title line above each group. At least wide enough for the titles.
    image_size, gap, margin, header = 0.9, 0.12, 0.2, 0.45
    label_lines = max((text.count("\n") + 1 for group in groups for text, _ in group[2]), default=1)
    label_space = 0.08 + 0.2 * label_lines
    grid_width = columns * image_size + (columns - 1) * gap
    width = max(grid_width + 2 * margin, 5.0)
    rows_per_group = [math.ceil(len(group[1]) / columns) for group in groups]
    heights = [header + rows * (image_size + label_space) for rows in rows_per_group]
    figure = matplotlib.figure.Figure(figsize=(width, sum(heights) if groups else 2.0))
    if not groups:
        figure.text(0.5, 0.5, "no predictions yet", ha="center", va="center", color=EMPTY_TEXT_COLOUR, fontsize=14)
        return figure

    subfigures = figure.subfigures(len(groups), 1, height_ratios=heights, squeeze=False)[:, 0]
    for subfigure, (title, group_images, texts, fixed_title), rows, group_height in zip(
        subfigures, groups, rows_per_group, heights
    ):
        wrong = sum(colour == WRONG_COLOUR for _, colour in texts)
        subfigure.suptitle(
            fixed_title
            or f"{title}: {len(texts) - wrong} of {len(texts)} right" + (f", {wrong} wrong (red)" if wrong else ""),
            fontsize=12, y=1 - 0.1 / group_height, va="top",
        )
        # One axes a group, in inches (y down), every image placed in its cell:
        # an axes an image made the closing pictures cost seconds a run.
        side = (width - grid_width) / 2 / width
        grid_height = rows * (image_size + label_space) - label_space
        axes = subfigure.add_axes((side, label_space / group_height, 1 - 2 * side, grid_height / group_height))
        axes.set_axis_off()
        for index, (image, (text, colour)) in enumerate(zip(group_images, texts)):
            left = (index % columns) * (image_size + gap)
            top = (index // columns) * (image_size + label_space)
            # A picture keeps its aspect, centred in its square cell.
            height, width_pixels = image.shape[:2]
            scale = image_size / max(height, width_pixels)
            x0 = left + (image_size - width_pixels * scale) / 2
            y0 = top + (image_size - height * scale) / 2
            extent = (x0, x0 + width_pixels * scale, y0 + height * scale, y0)
            if image.ndim == 2:
                axes.imshow(image, cmap="binary", vmin=0.0, vmax=1.0, interpolation="nearest", extent=extent)
            else:
                axes.imshow(image, interpolation="nearest", extent=extent)
            axes.text(
                left + image_size / 2, top + image_size * 1.03, text, ha="center", va="top", color=colour,
                fontsize=10, fontweight="bold" if colour == WRONG_COLOUR else "normal", linespacing=1.0,
            )
        axes.set_aspect("auto")
        axes.set_xlim(0, grid_width)
        axes.set_ylim(grid_height, 0)
    return figure


def confusion_figure(matrix: Any, class_names: Sequence[str] | Mapping[int, str] | None = None) -> matplotlib.figure.Figure:
    """A confusion matrix: rows are true labels, columns predicted labels.

    Cells are coloured by the row-normalised value (the fraction of each true
    class predicted as each class) and annotated with the counts.

    Args:
        matrix: (K, K) counts, matrix[true, predicted].
        class_names: label index -> text; default str(index).

    Returns:
        A figure titled with the overall accuracy.

    Raises:
        ValueError: the matrix is not square.

    Example:
        figure = confusion_figure(np.array([[50, 2], [3, 45]]), ["cat", "dog"])
    """
    counts = np.asarray(matrix)
    if counts.size == 0:
        counts = np.zeros((0, 0))
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"a confusion matrix must be square (K, K), got shape {counts.shape}")
    counts = np.nan_to_num(counts.astype(float))
    size = counts.shape[0]
    names = [_class_name(class_names, index) for index in range(size)]

    side = min(max(4.5, 0.55 * size + 2.5), 14)
    figure = matplotlib.figure.Figure(figsize=(side + 1.2, side), layout="constrained")
    axes = figure.subplots()
    total = counts.sum()
    if size == 0 or total == 0:
        axes.set_title("Confusion matrix")
        axes.set_xticks([])
        axes.set_yticks([])
        _write_empty(axes, "no predictions yet")
        return figure

    row_sums = counts.sum(axis=1, keepdims=True)
    fractions = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    colourbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colourbar.set_label("share of the true class")
    colourbar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0))

    accuracy = np.trace(counts) / total
    axes.set_title(f"Confusion matrix: accuracy {accuracy * 100:.2f}% of {int(round(total)):,} images")
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    axes.set_xticks(range(size), names)
    axes.set_yticks(range(size), names)
    if max((len(name) for name in names), default=0) > 3:
        for label in axes.get_xticklabels():
            label.set_rotation(35)
            label.set_horizontalalignment("right")
    axes.tick_params(length=0)

    # Smaller numbers for big matrices; counts of tens of thousands still fit in a cell at K=10.
    fontsize = 10 if size <= 10 else max(5, 10 - (size - 10) // 3)
    colour_map = image.get_cmap()
    for true in range(size):
        for predicted in range(size):
            count = counts[true, predicted]
            shade = matplotlib.colors.to_rgb(colour_map(fractions[true, predicted]))
            # White text on dark cells, dark text on light ones; empty cells faint.
            luminance = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2]
            colour = "white" if luminance < 0.5 else ("#bbbbbb" if count == 0 else "#111111")
            axes.text(predicted, true, _count_text(count), ha="center", va="center", color=colour, fontsize=fontsize)
    return figure


def ladder_figure(rows: Sequence[Mapping[str, Any]]) -> matplotlib.figure.Figure:
    """Measured test accuracy per model as horizontal bars, the codelab's figure beside each.

    Args:
        rows: ladder rows, top rung first: {"model", "description",
            "parameters", "epochs", "wall_seconds", "test_accuracy" (0..1),
            "codelab_accuracy" (0..1 or None), "run"}. Missing values are
            drawn as "not run" / no marker.

    Returns:
        A figure with one bar per model on a percent axis zoomed to the data.

    Example:
        figure = ladder_figure([{"model": "dense", "test_accuracy": 0.92, "codelab_accuracy": 0.92}])
    """
    rows = list(rows)
    models = [str(row.get("model", "?")) for row in rows]
    measured = np.array([_number(row.get("test_accuracy")) for row in rows], dtype=float)
    codelab = np.array([_number(row.get("codelab_accuracy")) for row in rows], dtype=float)

    figure = matplotlib.figure.Figure(figsize=(9, 1.2 + 0.55 * max(len(rows), 2)), layout="constrained")
    axes = figure.subplots()
    axes.set_title("The ladder: test accuracy per model")
    if not rows:
        axes.set_yticks([])
        axes.set_xticks([])
        _write_empty(axes, "no models trained yet")
        return figure

    positions = np.arange(len(rows))
    values = np.concatenate([measured, codelab])
    values = values[np.isfinite(values)]
    low, high = _ladder_limits(values)
    has_measured = np.isfinite(measured)
    axes.barh(
        positions[has_measured], measured[has_measured] - low, left=low, height=0.6,
        color=MEASURED_COLOUR, label="measured (this run)",
    )
    has_codelab = np.isfinite(codelab)
    if has_codelab.any():
        axes.scatter(
            codelab[has_codelab], positions[has_codelab], marker="D", s=45, color=CODELAB_COLOUR,
            zorder=3, label="codelab's figure",
        )
    # Numbers in a column right of the axes, so they never collide with bars near 100%.
    for position, value, reference in zip(positions, measured, codelab):
        text = f"{value * 100:.2f}%" if np.isfinite(value) else "not run"
        if np.isfinite(reference):
            text += f"  (codelab {reference * 100:.2f}%)"
        axes.annotate(
            text, xy=(1.0, position), xycoords=("axes fraction", "data"), xytext=(6, 0),
            textcoords="offset points", va="center", ha="left", fontsize=10,
            color="#111111" if np.isfinite(value) else EMPTY_TEXT_COLOUR,
        )
    axes.set_yticks(positions, models)
    axes.set_ylim(len(rows) - 0.5, -0.5)  # First row at the top.
    axes.set_xlim(low, high)
    axes.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=None))
    axes.set_xlabel("test accuracy")
    axes.grid(True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    if has_measured.any() or has_codelab.any():
        # Below the axes: inside, it would cover the longest bars, which are usually at the bottom.
        handles, labels = axes.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda index: not labels[index].startswith("measured"))
        figure.legend(
            [handles[index] for index in order], [labels[index] for index in order],
            loc="outside lower center", ncols=2, fontsize=9, frameon=False,
        )
    return figure


def robustness_figure(result: Mapping[str, Any]) -> matplotlib.figure.Figure:
    """Accuracy per set of the robustness suite as horizontal bars, the mean as a highlighted bar at the bottom.

    Args:
        result: robustness.json's contents: {"sets": [{"name", "kind",
            "accuracy"}...], "mean_accuracy"}. Unreadable values are drawn as
            empty rows.

    Example:
        figure = robustness_figure({"sets": [{"name": "fog", "kind": "corruption", "accuracy": 0.4}],
                                    "mean_accuracy": 0.4})
    """
    rows = [row for row in result.get("sets") or [] if isinstance(row, Mapping)]
    names = [str(row.get("name", "?")) for row in rows] + ["mean"]
    values = np.array([_number(row.get("accuracy")) for row in rows] + [_number(result.get("mean_accuracy"))], dtype=float)
    kinds = [str(row.get("kind", "")) for row in rows] + ["mean"]
    colours = {"clean": "#999999", "corruption": MEASURED_COLOUR, "fonts": "#55a868", "strokes": "#8172b2",
               "mean": VALIDATION_COLOUR}
    figure = matplotlib.figure.Figure(figsize=(8, 1.0 + 0.3 * len(names)), layout="constrained")
    axes = figure.subplots()
    axes.set_title("Robustness suite: accuracy per set")
    positions = np.arange(len(names))
    finite = np.isfinite(values)
    axes.barh(positions[finite], values[finite], height=0.7,
              color=[colours.get(kind, MEASURED_COLOUR) for kind, ok in zip(kinds, finite) if ok])
    for position, value, kind in zip(positions, values, kinds):
        text = f"{value * 100:.1f}%" if np.isfinite(value) else "—"
        axes.annotate(text, xy=(1.0, position), xycoords=("axes fraction", "data"), xytext=(6, 0),
                      textcoords="offset points", va="center", ha="left", fontsize=9,
                      fontweight="bold" if kind == "mean" else "normal")
    axes.set_yticks(positions, names)
    for label, kind in zip(axes.get_yticklabels(), kinds):
        if kind == "mean":
            label.set_fontweight("bold")
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlim(0.0, 1.0)
    axes.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0, decimals=None))
    axes.set_xlabel("accuracy (mean: over every set but clean)")
    axes.grid(True, axis="x", alpha=0.3)
    axes.set_axisbelow(True)
    return figure


def samples_figure(samples: Sequence[tuple[str, Any, Any]]) -> matplotlib.figure.Figure:
    """A few digits of every set of the robustness suite: one row per set, its name on the left.

    The digits are laid out as one mosaic in one axes (grey gaps between
    them), which draws in a fraction of the time of one axes per digit.

    Args:
        samples: (name, uint8 (k, 28, 28) digits, labels) per set, as
            nophd.robustness.suite.samples returns them.

    Example:
        figure = samples_figure([("fog", digits, labels)])
    """
    samples = list(samples)
    columns = max([len(digits) for _, digits, _ in samples] + [1])
    side, gap = 28, 4
    figure = matplotlib.figure.Figure(figsize=(0.5 * columns + 1.8, 0.5 * max(len(samples), 1) + 0.6),
                                      layout="constrained")
    axes = figure.subplots()
    axes.set_title("Robustness suite: examples of each set (digits 0-9 where the set has them)", fontsize=10)
    if not samples:
        axes.set_xticks([])
        axes.set_yticks([])
        _write_empty(axes, "no sets")
        return figure
    step = side + gap
    mosaic = np.full((len(samples) * step - gap, columns * step - gap), 128, dtype=np.uint8)
    for row, (_, digits, _) in enumerate(samples):
        for column, digit in enumerate(np.asarray(digits)[:columns]):
            mosaic[row * step : row * step + side, column * step : column * step + side] = digit
    axes.imshow(mosaic, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    axes.set_yticks([row * step + side / 2 for row in range(len(samples))], [name for name, _, _ in samples], fontsize=8)
    labels = next((list(labels) for _, _, labels in samples if len(labels) == columns), [])
    axes.set_xticks([column * step + side / 2 for column in range(len(labels))],
                    [str(int(label)) for label in labels], fontsize=8)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    return figure


def augmentation_figure(originals: Any, augmented: Sequence[Any], title: str = "") -> matplotlib.figure.Figure:
    """Digits as they are (top row) and augmented versions of each (one row per draw), for a look at augmentation.

    Args:
        originals: (N, H, W) or (N, H, W, 1) greyscale digits, floats in [0, 1] or uint8.
        augmented: R arrays like `originals`, each an augmented copy of all N.
        title: a line above the grid, e.g. the strengths used.

    Example:
        figure = augmentation_figure(batch, [augment_batch(batch, 0, row, params) for row in range(4)])
    """
    rows = [_images(originals)] + [_images(row) for row in augmented]
    columns = max(len(rows[0]), 1)
    cell, margin, header, label = 0.7, 0.15, 0.55, 1.1
    figure = matplotlib.figure.Figure(figsize=(label + columns * cell + margin, header + len(rows) * cell + margin))
    if title:
        figure.suptitle(title, fontsize=9, y=1 - 0.08 / figure.get_figheight(), va="top", wrap=True)
    grid = figure.add_gridspec(
        len(rows), columns, left=label / figure.get_figwidth(), right=1 - margin / figure.get_figwidth(),
        top=1 - header / figure.get_figheight(), bottom=margin / figure.get_figheight(), wspace=0.06, hspace=0.06)
    for row_index, row in enumerate(rows):
        for column_index, image in enumerate(row):
            axes = figure.add_subplot(grid[row_index, column_index])
            axes.imshow(image, cmap="binary", vmin=0.0, vmax=1.0, interpolation="nearest")
            axes.set_xticks([])
            axes.set_yticks([])
            if column_index == 0:
                axes.set_ylabel("original" if row_index == 0 else f"draw {row_index}", fontsize=9,
                                rotation=0, ha="right", va="center")
    return figure


def save_figure(figure: matplotlib.figure.Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Saves `figure` to `path` atomically; the format follows the suffix (e.g. ".png").

    A reader never sees a half-written image: the figure goes to a temporary
    file beside `path` (with the same suffix), which is then renamed.

    Example:
        save_figure(curves_figure(history), "runs/conv-bn/curves.png")
    """
    with atomic.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi, facecolor="white")


# Helpers.


def _float_array(values: Any) -> np.ndarray:
    """A 1-D float array; None, "" and anything not a number become NaN."""
    if values is None:
        return np.zeros(0)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiu":
        return values.astype(float).reshape(-1)
    return np.array([_number(value) for value in values], dtype=float)


def _number(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _finite_pairs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Lists of unequal length are paired up to the shorter one: a plot must not kill a run.
    length = min(len(x), len(y))
    x, y = x[:length], y[:length]
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _accuracy_limits(accuracies: np.ndarray) -> tuple[float, float]:
    """Y-limits that zoom to the data: accuracies of 97-99.5% should not be a flat line at the top."""
    low, high = float(accuracies.min()), float(accuracies.max())
    padding = max(0.08 * (high - low), 0.002)
    bottom = max(low - padding, 0.0)
    # Allow a little above 100% only so points at 100% are not cut by the frame.
    top = min(high + padding, 1.0 + padding / 2)
    return bottom, top


def _ladder_limits(values: np.ndarray) -> tuple[float, float]:
    if len(values) == 0:
        return 0.0, 1.0
    low = float(values.min())
    padding = max(0.15 * (1.0 - low), 0.01)
    return max(low - padding, 0.0), 1.0


def _annotate_final_accuracy(axes, epochs: np.ndarray, validation: np.ndarray, training: np.ndarray) -> None:
    x, y = _finite_pairs(epochs, validation)
    which, colour = "validation", VALIDATION_COLOUR
    if len(y) == 0:
        x, y = _finite_pairs(epochs, training)
        which, colour = "training", TRAIN_COLOUR
    if len(y) == 0:
        return
    axes.annotate(
        f"final {which}: {y[-1] * 100:.2f}%",
        xy=(x[-1], y[-1]), xytext=(-10, -28), textcoords="offset points", ha="right", va="top",
        fontsize=10, fontweight="bold", color=colour,
        arrowprops={"arrowstyle": "->", "color": colour, "linewidth": 1},
        bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": colour, "alpha": 0.9},
    )


def _count_text(count: float) -> str:
    # Counts are integers; a matrix of averaged counts (floats) keeps one decimal.
    return f"{int(count)}" if float(count).is_integer() else f"{count:.1f}"


def _write_empty(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center", color=EMPTY_TEXT_COLOUR, fontsize=12)


def _class_name(class_names, index: int) -> str:
    if class_names is None:
        return str(index)
    try:
        return str(class_names[index])
    except (IndexError, KeyError, TypeError):
        return str(index)


def _labels(values: Any) -> np.ndarray:
    """Class indices from indices or from one-hot / probability rows."""
    array = np.asarray(values)
    if array.ndim == 2:
        return array.argmax(axis=1) if array.shape[1] else np.zeros(len(array), dtype=int)
    return array.reshape(-1).astype(int)


def _images(values: Any) -> np.ndarray:
    """Images as floats in [0, 1]: (N, H, W) greyscale or (N, H, W, 3) colour."""
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros((0, 1, 1))
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:  # A single greyscale image.
        array = array[np.newaxis]
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"images must be (N, H, W), (N, H, W, 1) or (N, H, W, 3), got shape {array.shape}")
    if array.dtype.kind in "ui":
        array = array.astype(float) / 255.0
    else:
        array = np.nan_to_num(array.astype(float))
        # Floats in 0..255 (unnormalised photos) are rescaled rather than shown as white.
        if array.max(initial=0.0) > 1.5:
            array = array / 255.0
    return np.clip(array, 0.0, 1.0)


def _prediction_group(title: str, images: Any, labels: Any, predictions: Any, class_names):
    """(title, images, [(text, colour)]) for one group, or None when it is empty."""
    images = _images(images) if images is not None else np.zeros((0, 1, 1))
    labels = _labels(labels if labels is not None else [])
    predictions = _labels(predictions if predictions is not None else [])
    if not (len(images) == len(labels) == len(predictions)):
        raise ValueError(
            f"{title}: got {len(images)} images, {len(labels)} labels and {len(predictions)} predictions;"
            " they must be the same length"
        )
    if len(images) == 0:
        return None
    # Photo datasets reuse the grid; "digits" would be wrong for them.
    title = title.format(kind="digits" if images.ndim == 3 else "images")
    texts = [_prediction_text(predicted, true, class_names) for predicted, true in zip(predictions, labels)]
    return title, images, texts


def _prediction_text(predicted: int, true: int, class_names) -> tuple[str, str]:
    """The label under an image and its colour: "7" when right, "7 ≠ 1" in red when wrong."""
    predicted_name = _class_name(class_names, int(predicted))
    if predicted == true:
        return predicted_name, RIGHT_COLOUR
    true_name = _class_name(class_names, int(true))
    # Long class names ("sunflowers ≠ dandelion") would run into the neighbouring image.
    separator = " " if len(predicted_name) + len(true_name) <= 8 else "\n"
    return f"{predicted_name}{separator}≠ {true_name}", WRONG_COLOUR
