"""The pictures and report of one run, written as the run goes.

At the start: lr.png (the planned schedule). After every epoch: curves.png,
lr.png and report.html, so someone watching the folder sees them grow. At
the end: predictions.png, confusion.png and the final report.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import numpy as np

from nophd import runs
from nophd.config import AnyConfig as TrainConfig
from nophd.reports import plots, report

# The prediction grid: the first test digits in file order (an honest
# sample), then mistakes from further on, so errors are visible even for a
# 99.5% model.
GRID_SAMPLE = 40
GRID_MISTAKES = 30


def write_schedule(run_directory: Path, config: TrainConfig, epochs_done: int) -> None:
    plots.save_figure(plots.learning_rate_figure(config.schedule(), epochs_done), run_directory / "lr.png")


def write_epoch(run_directory: Path, config: TrainConfig, history_rows: list[dict]) -> None:
    plots.save_figure(plots.curves_figure(runs.history_columns(history_rows)), run_directory / "curves.png")
    write_schedule(run_directory, config, len(history_rows))
    report.write_run_report(run_directory)


class EpochPictures:
    """Redraws curves.png, lr.png and report.html after each epoch, off the training thread.

    Drawing and saving the figures takes about a second; training does not
    need to wait for it. One worker thread keeps the pictures in epoch order;
    close() waits for it and re-raises any error it met.
    """

    def __init__(self, run_directory: Path, config: TrainConfig):
        self.run_directory = run_directory
        self.config = config
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="nophd-pictures")
        self._futures: list[concurrent.futures.Future] = []

    def submit(self, history_rows: list[dict]) -> None:
        for future in [future for future in self._futures if future.done()]:
            future.result()
            self._futures.remove(future)
        rows = [dict(row) for row in history_rows]
        self._futures.append(self._executor.submit(write_epoch, self.run_directory, self.config, rows))

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for future in self._futures:
            future.result()


def grid_indices(predictions: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices for the prediction grid: the first GRID_SAMPLE, then later mistakes."""
    sample = np.arange(min(GRID_SAMPLE, len(labels)))
    wrong = np.flatnonzero(predictions != labels)
    later_wrong = wrong[wrong >= len(sample)][:GRID_MISTAKES]
    return np.concatenate([sample, later_wrong])


def write_final(run_directory: Path, config: TrainConfig, history_rows, model, evaluation, test_images, test_labels) -> None:
    from nophd.data import images
    from nophd.training.evaluate import as_model_input

    font_images, font_labels = images.render_font_digits()
    font_predictions = np.asarray(model.predict(as_model_input(font_images), verbose=0)).argmax(axis=1)
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
        test_images[chosen], test_labels[chosen], evaluation.predictions[chosen], validation_title=title,
    )
    _write_closing(run_directory, config, history_rows, figure, evaluation, None)


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
