"""nophd: the Keras codelabs as real software.

Train, understand, export and serve the image classifiers of "TensorFlow,
Keras and deep learning, without a PhD" from the command line and from
Python.

Example:
    import nophd
    result = nophd.train("conv-bn", epochs=2)
    print(result.run_directory, result.test_accuracy)

Importing nophd is cheap; TensorFlow loads on first use.
"""

from __future__ import annotations

import os

from nophd.version import __version__  # noqa: F401


def train(
    model: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int | None = None,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = "runs",
    progress: bool = True,
    strategy: str = "auto",
    cpu_devices: int | None = None,
    workers: str | list[str] | None = None,
    worker_index: int = 0,
    worker_timeout: int | None = None,
    **overrides,
):
    """Trains ladder rung `model` on MNIST with its codelab recipe; returns a RunResult.

    Args:
        model: a name from `nophd models`, e.g. "conv-bn".
        epochs, batch_size, seed: override the recipe.
        out: the run folder (default runs/<time>-<model>).
        resume: continue an interrupted run (the one in `out`, or the newest
            interrupted run of this model under runs_root).
        data_dir: a folder with the four MNIST files (or one holding mnist/).
        strategy, cpu_devices, workers, worker_index, worker_timeout: how to
            spread the run over devices and workers, and how many seconds a
            worker waits for its peers (see nophd.training.distribute); batch
            size and learning rate are per replica and scaled with the
            replica count (lr_scaling="linear", "sqrt" or "none").
        overrides: any other TrainConfig field, e.g. learning_rate=0.005,
            mixed_precision=True, jit=True.
    """
    from nophd import config
    from nophd.models import registry
    from nophd.training.train import train_and_evaluate

    # First: splitting the CPU must happen before TensorFlow starts.
    distribution = _distribution(strategy, cpu_devices, workers, worker_index, worker_timeout)
    explicit = {"epochs": epochs, "batch_size": batch_size, "seed": seed, **overrides}
    resolved = config.override(registry.preset(model), **explicit)
    return train_and_evaluate(
        resolved, out, resume=resume, data_dir=data_dir, runs_root=runs_root, progress=progress, explicit=explicit,
        distribution=distribution,
    )


def _distribution(strategy: str, cpu_devices: int | None, workers, worker_index: int, worker_timeout: int | None = None):
    from nophd.training import distribute

    if isinstance(workers, str):
        workers = distribute.parse_workers(workers)
    return distribute.setup(distribute.Settings(
        strategy=strategy, cpu_devices=cpu_devices, workers=tuple(workers or ()), worker_index=worker_index,
        timeout_seconds=worker_timeout or distribute.DEFAULT_TIMEOUT_SECONDS))


def train_photos(
    dataset: str | os.PathLike = "flowers",
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = "runs",
    progress: bool = True,
    strategy: str = "auto",
    cpu_devices: int | None = None,
    **options,
):
    """Trains a transfer-learning photo classifier; returns a RunResult.

    Args:
        dataset: "flowers" (tf_flowers), an image folder ROOT/<class>/*.jpg,
            or a folder of TFRecord shards from `nophd data tfrecords`.
        options: PhotoConfig fields (see nophd.config.PhotoConfig), e.g.
            base="mobilenet_v2", head="gap", epochs=6, fine_tune_epochs=6.
        out, resume, data_dir, runs_root, progress, strategy, cpu_devices: as
            for `train` (multiworker is not supported for photos yet).

    Example:
        result = nophd.train_photos("flowers", fine_tune_epochs=6)
        print(result.test_accuracy)  # on the held-out validation split
    """
    from pathlib import Path

    from nophd import config
    from nophd.training.train import train_and_evaluate

    distribution = _distribution(strategy, cpu_devices, None, 0)
    if str(dataset) != "flowers":
        dataset = str(Path(dataset).expanduser().resolve())
    explicit = {key: value for key, value in options.items() if value is not None}
    resolved = config.photo_config(str(dataset), **explicit)
    return train_and_evaluate(
        resolved, out, resume=resume, data_dir=data_dir, runs_root=runs_root, progress=progress, explicit=explicit,
        distribution=distribution,
    )


def evaluate(run: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> dict:
    """Evaluates a run's model on the MNIST test set (see nophd.training.evaluate)."""
    from nophd.training.evaluate import evaluate_run

    return evaluate_run(run, data_dir)


def predict(run: str | os.PathLike, paths, top: int = 3):
    """Top-`top` classes for each image file; see nophd.training.evaluate.predict_files."""
    from nophd.training.evaluate import predict_files

    return predict_files(run, [paths] if isinstance(paths, (str, os.PathLike)) else list(paths), top)


def ladder(out: str | os.PathLike = "runs/ladder", **options):
    """Trains every rung and writes ladder.html; see nophd.training.ladder.run_ladder."""
    from nophd.training.ladder import run_ladder

    return run_ladder(out, **options)
