"""The whole MNIST ladder: train every rung, then one comparison report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from nophd import config as config_module, runs
from nophd.errors import RunError
from nophd.training.train import train_and_evaluate


def scaled_epochs(epochs: int, epochs_scale: float) -> int:
    """The recipe's epochs times `epochs_scale`, at least 1."""
    return max(1, int(round(epochs * epochs_scale)))


def run_ladder(
    out_directory: str | os.PathLike = runs.DEFAULT_ROOT / "ladder",
    *,
    epochs_scale: float = 1.0,
    models: list[str] | None = None,
    data_dir: str | os.PathLike | None = None,
    seed: int = 0,
    train_limit: int | None = None,
    test_limit: int | None = None,
    progress: bool = True,
) -> Path:
    """Trains each rung into out_directory/<model>/ and writes ladder.html.

    Running it again continues where it stopped: finished rungs with the same
    config are reused, interrupted ones are resumed.

    Returns:
        The path of ladder.html.
    """
    from nophd import presets
    from nophd.reports import report

    out_directory = Path(out_directory)
    names = models or presets.default_ladder_names()
    configs = []
    for name in names:
        preset = presets.preset(name)
        configs.append(config_module.override(
            preset, epochs=scaled_epochs(preset.epochs, epochs_scale), seed=seed,
            train_limit=train_limit, test_limit=test_limit,
        ))
    rows = []
    for position, config in enumerate(configs, start=1):
        run_directory = out_directory / config.model
        if progress:
            print(f"== {position}/{len(configs)} {config.model}: {config.epochs} epochs, batch {config.batch_size}",
                  file=sys.stderr)
        metrics = _finished_metrics(run_directory, config)
        if metrics is None:
            resume = runs.status(run_directory) in ("interrupted", "failed")
            metrics = train_and_evaluate(config, run_directory, resume=resume, data_dir=data_dir,
                                         progress=progress).metrics
        elif progress:
            print(f"   already trained in {run_directory}: {100 * metrics['test_accuracy']:.2f}%", file=sys.stderr)
        spec = presets.get(config.model)
        rows.append({
            "model": config.model,
            "description": spec.description,
            "parameters": metrics["parameters"],
            "epochs": metrics["epochs"],
            "wall_seconds": metrics["wall_seconds"],
            "test_accuracy": metrics["test_accuracy"],
            "codelab_accuracy": spec.codelab_accuracy,
            "codelab_text": spec.codelab_text,
            "run": config.model,
        })
    return report.write_ladder_report(out_directory, rows)


def _finished_metrics(run_directory: Path, config) -> dict | None:
    if runs.status(run_directory) != "finished":
        return None
    saved = runs.read_json(run_directory / runs.CONFIG)
    if saved is None or config_module.from_dict(saved) != config:
        raise RunError(
            f"{run_directory}: holds a finished run with a different config; choose another --out for this ladder"
        )
    return runs.read_json(run_directory / runs.METRICS)
