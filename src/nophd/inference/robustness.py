"""A finished run's model on the robustness suite: robustness.json, its pictures and the report.

The suite (nophd.robustness) is asked of the run's task, so only the kinds
of run that have one (digits) are evaluated; others are refused with one
line before their model is even loaded.

Example:
    result = evaluate_run("runs/20261122-180000-conv-bn")
    print(result["mean_accuracy"])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nophd import atomic, errors, runs, scoring, tasks
from nophd.inference import loading
from nophd.robustness import suite as suite_module

ROBUSTNESS = "robustness.json"
CHART = "robustness.png"
SAMPLES = "robustness_samples.png"
# Digits per model.predict call.
BATCH = 1000
# Digits of each set in the samples picture.
SAMPLES_PER_SET = 10


def evaluate_run(run: str | os.PathLike, data_dir: str | os.PathLike | None = None, seed: int = 0,
                 per_set: int | None = None, stroke_count: int | None = None, write: bool = True) -> dict:
    """Scores a finished run's model on the robustness suite; writes robustness.json, its pictures and the report.

    The files go into the run folder (robustness.json, robustness.png,
    robustness_samples.png, report.html, MODEL_CARD.md unless it is the
    user's own), each written atomically. A folder
    that cannot be written (read-only, full, no permission) does not stop
    the evaluation: the result comes back with "not_written" saying why, in
    one line.

    Args:
        run: a finished run folder (or a model.keras file: nothing is written then).
        data_dir: the MNIST folder, as for `nophd evaluate`.
        seed: the suite's seed; the same seed gives the same digits.
        per_set, stroke_count: sizes (see nophd.robustness.suite.build_suite;
            None: suite.PER_SET and suite.STROKES, 1,000 and 2,000).
        write: False to only compute (benchmarks comparing runs).

    Returns:
        nophd.robustness.suite.evaluate's result, plus "run", "seed", "data",
        "fonts" (the font files used), "evaluated_at" and, when a file could
        not be written, "not_written".

    Raises:
        RunError: a kind of run with no robustness suite (photos), or a run
            folder without a model.

    Example:
        result = evaluate_run("runs/conv-bn", data_dir="/data/mnist")
    """
    folder = Path(run)
    run_config = (runs.read_json(folder / runs.CONFIG) or {}) if folder.is_dir() else {}
    task = tasks.of_run(run_config)
    task.check_robustness(run, run_config)
    model = loading.load_run_model(run)
    # A photo run whose config.json is lost reads as a digit run: its model says otherwise.
    task.check_model(model, str((folder if folder.is_dir() else folder.parent) / runs.CONFIG))
    sets, where = task.robustness_sets(data_dir, seed, per_set or suite_module.PER_SET,
                                       stroke_count or suite_module.STROKES)

    def predict(digits: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(task.inputs_from_raw(digits), batch_size=BATCH, verbose=0))

    from nophd.robustness import fonts

    result = {
        "run": str(run),
        **suite_module.evaluate(predict, sets),
        "seed": int(seed),
        "data": where,
        "fonts": [path.name for path in fonts.font_files()],
        "evaluated_at": runs.now(),
    }
    if write and folder.is_dir():
        problem = _write(folder, result, suite_module.samples(sets, SAMPLES_PER_SET))
        if problem:
            result["not_written"] = problem
    return result


def _write(folder: Path, result: dict, samples) -> str | None:
    """Writes robustness.json, the two pictures, the report and the model card; the one-line reason when a file
    could not be written."""
    from nophd.reports import model_card, plots, report

    try:
        atomic.write_json(folder / ROBUSTNESS, result)
        plots.save_figure(plots.robustness_figure(result), folder / CHART)
        plots.save_figure(plots.samples_figure(samples), folder / SAMPLES)
        report.write_run_report(folder)
        model_card.write_model_card(folder)
    except OSError as error:
        line = errors.os_error_line(error)
        if line is None:
            raise
        return line
    return None


def table(result: dict) -> str:
    """The result as a plain-text table: one row per set, then the mean.

    Example:
        print(table(evaluate_run("runs/conv-bn")))
    """
    rows = result.get("sets") or []
    width = max([len(str(row.get("name", ""))) for row in rows] + [4])
    lines = [f"{'set':<{width}}  {'kind':<10}  {'digits':>7}  {'accuracy':>8}  most often misread"]
    for row in rows:
        lines.append(f"{row['name']:<{width}}  {row['kind']:<10}  {row['examples']:>7,}  {100 * row['accuracy']:>7.2f}%  "
                     f"{scoring.misread_text(row.get('misread'))}".rstrip())
    mean = result.get("mean_accuracy")
    if mean is not None:
        counted = len(result.get("mean_over") or [])
        lines.append(f"{'mean':<{width}}  {f'{counted} sets':<10}  {'':>7}  {100 * mean:>7.2f}%  "
                     "(every set but clean counts once)")
    return "\n".join(lines)
