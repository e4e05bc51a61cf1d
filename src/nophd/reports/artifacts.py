"""The pictures and report of one run, written as the run goes.

At the start: lr.png (the planned schedule). After every epoch: curves.png,
lr.png and report.html, so someone watching the folder sees them grow. At
the end: predictions.png, confusion.png and the final report. A user's own
model recorded by nophd.RunFolder has no planned schedule and no inputs
nophd can draw: its lr.png shows the rates used (write_recorded_epoch).
"""

from __future__ import annotations

import base64
import concurrent.futures
import io
from pathlib import Path

import numpy as np

from nophd import atomic, runs, scoring
from nophd.config import AnyConfig as TrainConfig
from nophd.reports import plots, report

# The prediction grid: the first test digits in file order (an honest
# sample), then mistakes from further on, so errors are visible even for a
# 99.5% model.
GRID_SAMPLE = 40
GRID_MISTAKES = 30
# mistakes.json keeps the most confident wrong predictions, with thumbnails.
MISTAKES_KEPT = 100
THUMBNAIL_SIDE = 128


def write_schedule(run_directory: Path, config: TrainConfig, epochs_done: int) -> None:
    plots.save_figure(plots.learning_rate_figure(config.schedule(), epochs_done), run_directory / "lr.png")


def write_epoch(run_directory: Path, config: TrainConfig, history_rows: list[dict]) -> None:
    plots.save_figure(plots.curves_figure(runs.history_columns(history_rows)), run_directory / "curves.png")
    write_schedule(run_directory, config, len(history_rows))
    report.write_run_report(run_directory)


def write_recorded_epoch(run_directory: Path, history_rows: list[dict]) -> None:
    """curves.png, lr.png and report.html of a run with no planned schedule (a user's own model, nophd.RunFolder).

    lr.png shows the learning rate each finished epoch used, as history.csv records it.
    """
    plots.save_figure(plots.curves_figure(runs.history_columns(history_rows)), run_directory / "curves.png")
    write_recorded_rates(run_directory, history_rows)
    report.write_run_report(run_directory)


def write_recorded_rates(run_directory: Path, history_rows: list[dict]) -> None:
    rates = [row.get("learning_rate", float("nan")) for row in history_rows]
    plots.save_figure(plots.learning_rate_figure(rates, len(rates)), run_directory / "lr.png")


def write_recorded_final(run_directory: Path, history_rows: list[dict], evaluation=None,
                         class_names: list[str] | None = None) -> None:
    """The closing pictures of a user's own model's run: curves, rates, the confusion matrix when scored, the report.

    Args:
        run_directory: the run folder.
        history_rows: every finished epoch.
        evaluation: a scoring.Evaluation on the user's evaluation data, or
            None (no confusion matrix then).
        class_names: one name per class, or None for 0..K-1.
    """
    if evaluation is not None:
        plots.save_figure(plots.confusion_figure(evaluation.confusion, class_names), run_directory / "confusion.png")
    if history_rows:
        plots.save_figure(plots.curves_figure(runs.history_columns(history_rows)), run_directory / "curves.png")
        write_recorded_rates(run_directory, history_rows)
    report.write_run_report(run_directory)


class EpochPictures:
    """Redraws curves.png, lr.png and report.html after each epoch, off the training thread.

    Drawing and saving the figures takes about a second; training does not
    need to wait for it. One worker thread keeps the pictures in epoch order
    (a drawing still waiting when the next epoch's arrives is skipped); close()
    waits for it and re-raises any error it met.

    Args:
        run_directory: the run folder.
        config: the run's config (its schedule is drawn), or None with `draw`.
        draw: what to call with (run_directory, history rows) instead of
            `write_epoch`, e.g. write_recorded_epoch.
    """

    def __init__(self, run_directory: Path, config: TrainConfig | None, draw=None):
        self.run_directory = run_directory
        self.config = config
        self.draw = draw
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="nophd-pictures")
        self._futures: list[concurrent.futures.Future] = []

    def submit(self, history_rows: list[dict]) -> None:
        for future in [future for future in self._futures if future.done()]:
            if not future.cancelled():
                future.result()
            self._futures.remove(future)
        # A drawing still waiting for its turn would be overwritten by this
        # one (every drawing holds the whole history): skip it. Short epochs
        # then cost one drawing, not one each.
        for future in self._futures:
            future.cancel()
        rows = [dict(row) for row in history_rows]
        if self.draw is not None:
            self._futures.append(self._executor.submit(self.draw, self.run_directory, rows))
        else:
            self._futures.append(self._executor.submit(write_epoch, self.run_directory, self.config, rows))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for future in self._futures:
            if not future.cancelled():
                future.result()


def grid_indices(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices for the prediction grid: the first GRID_SAMPLE, then later mistakes."""
    sample = np.arange(min(GRID_SAMPLE, len(labels)))
    wrong = np.flatnonzero(predictions != labels)
    later_wrong = wrong[wrong >= len(sample)][:GRID_MISTAKES]
    return np.concatenate([sample, later_wrong])


def write_final(run_directory: Path, config: TrainConfig, history_rows, model, evaluation, test_images, test_labels,
                class_names: list[str] | None = None, relabel=None) -> None:
    """The end-of-run pictures of a digit run: the font digits and test digits with their predictions, and the rest.

    class_names and relabel (digit labels -> the run's labels) are given
    for a run that does not tell the ten digits apart (even-odd).
    """
    from nophd.data import images

    font_images, font_labels = images.render_font_digits()
    if relabel is not None:
        font_labels = relabel(font_labels)
    font_predictions = np.asarray(model.predict(images.as_model_input(font_images), verbose=0)).argmax(axis=1)
    chosen = grid_indices(evaluation.predictions, evaluation.labels)
    wrong = evaluation.predictions != evaluation.labels
    sample = min(GRID_SAMPLE, len(test_labels))
    more = len(chosen) - sample
    title = (
        f"the first {sample} test digits ({int(wrong[:sample].sum())} wrong)"
        + (f", then {more} of the other {int(wrong[sample:].sum())} mistakes" if more else "")
        + f" — {int(wrong.sum())} wrong of {len(test_labels):,} in all, in red"
    )
    figure = plots.predictions_figure(
        font_images, font_labels, font_predictions,
        test_images[chosen], test_labels[chosen], evaluation.predictions[chosen], class_names=class_names,
        validation_title=title,
    )
    _write_closing(run_directory, config, history_rows, figure, evaluation, class_names)


def _write_closing(run_directory: Path, config, history_rows, predictions, evaluation, class_names) -> None:
    """The pictures every run ends with: the grid, the confusion matrix, the curves and schedule, the report."""
    plots.save_figure(predictions, run_directory / "predictions.png")
    plots.save_figure(plots.confusion_figure(evaluation.confusion, class_names), run_directory / "confusion.png")
    # Usually the last epoch's pictures already show this; drawn again because
    # a run killed between its final checkpoint and the background drawing
    # resumes straight to here, with curves one epoch behind.
    if history_rows:
        plots.save_figure(plots.curves_figure(runs.history_columns(history_rows)), run_directory / "curves.png")
    write_schedule(run_directory, config, len(history_rows))
    report.write_run_report(run_directory)


def write_final_photos(run_directory: Path, config, history_rows, evaluation, images, labels) -> None:
    """The end-of-run pictures of a photo run: validation grid with class names, confusion, report.

    The grid shows GRID_SAMPLE validation images spread evenly over the
    split (which is ordered by class, so every class appears), then up to
    GRID_MISTAKES of the other mistakes.
    """
    class_names = list(config.class_names)
    count = len(labels)
    sample = np.unique(np.linspace(0, count - 1, min(GRID_SAMPLE, count)).round().astype(int))
    wrong = evaluation.predictions != evaluation.labels
    others = np.setdiff1d(np.flatnonzero(wrong), sample)
    chosen = np.concatenate([sample, others[:GRID_MISTAKES]])
    title = (
        f"{len(sample)} validation images from every class ({int(wrong[sample].sum())} wrong)"
        + (f", then {len(chosen) - len(sample)} more mistakes" if len(chosen) > len(sample) else "")
        + f"; {int(wrong.sum())} wrong of {count:,}, in red"
    )
    figure = plots.predictions_figure(
        None, None, None, images[chosen], labels[chosen], evaluation.predictions[chosen],
        class_names=class_names, columns=10, validation_title=title,
    )
    _write_closing(run_directory, config, history_rows, figure, evaluation, class_names)
    write_mistakes(run_directory, evaluation, images, class_names, "validation photos", str(config.dataset))


def write_mistakes(run_directory: Path, evaluation, images: np.ndarray, class_names: list[str], what: str,
                   data: str | None = None) -> None:
    """mistakes.json: the MISTAKES_KEPT most confident wrong predictions, with thumbnails.

    What the dashboard shows as a photo run's misclassified examples (a
    digit run's are computed by the server from the MNIST test set).
    """
    examples = scoring.worst_mistakes(evaluation, class_names, MISTAKES_KEPT)
    for example in examples:
        example["image"] = image_data_url(images[example["index"]], THUMBNAIL_SIDE)
    count = int(len(evaluation.labels))
    atomic.write_json(run_directory / runs.MISTAKES, {
        "what": what,
        "test_examples": count,
        "errors": int((evaluation.predictions != evaluation.labels).sum()),
        "accuracy": evaluation.accuracy,
        "data": data,
        "written_at": runs.now(),
        "examples": examples,
    })


def image_data_url(pixels: np.ndarray, max_side: int | None = None) -> str:
    """A data: URL of uint8 pixels: PNG for a grey (H, W) digit, JPEG for an
    (H, W, 3) photo, shrunk to `max_side` when larger."""
    from PIL import Image

    image = Image.fromarray(np.asarray(pixels, dtype=np.uint8))
    if max_side is not None and max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    photo = image.mode == "RGB"
    image.save(buffer, format="JPEG" if photo else "PNG", **({"quality": 85} if photo else {}))
    return f"data:image/{'jpeg' if photo else 'png'};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
