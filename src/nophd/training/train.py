"""train_and_evaluate: one training run, start to finish, into a run folder (the MNIST workflow here; photos in photos.py).

The steps both workflows share (fitting epochs, checkpoints, resuming) are in
nophd.training.loop.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nophd import atomic, config as config_module, runs
from nophd.config import AnyConfig, PhotoConfig, TrainConfig
from nophd.data import mnist
from nophd.errors import ConfigError, RunError
from nophd.training import distribute, loop

# Validation and test images are scored 1,000 at a time.
VALIDATION_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class MnistSplits:
    """The tf.data records and NumPy arrays one run trains and evaluates on."""

    train_records: Any
    validation_records: Any
    test_records: Any
    train_count: int
    validation_count: int
    test_images: np.ndarray  # uint8 (N, 28, 28)
    test_labels: np.ndarray  # uint8 (N,)
    official: bool
    directory: Path
    sha256: dict[str, str]  # of each uncompressed MNIST file, keyed like mnist.FILES


def load_mnist_splits(config: TrainConfig, data_dir: str | os.PathLike | None) -> MnistSplits:
    """Validates the MNIST files, then opens them as fixed-length-record datasets."""
    from nophd.data import pipeline

    data = mnist.load(data_dir)
    paths = mnist.file_paths(data.directory)
    train_records = pipeline.mnist_records(paths["train_images"], paths["train_labels"])
    test_records = pipeline.mnist_records(paths["test_images"], paths["test_labels"])
    train_count = len(data.train_labels)
    test_images, test_labels = data.test_images, data.test_labels
    if config.train_limit:
        train_count = min(train_count, config.train_limit)
        train_records = train_records.take(train_count)
    if config.test_limit:
        test_images, test_labels = test_images[: config.test_limit], test_labels[: config.test_limit]
        test_records = test_records.take(config.test_limit)
    validation_records, validation_count = test_records, len(test_labels)
    if config.validation_split:
        validation_count = int(round(train_count * config.validation_split))
        if validation_count < 1 or validation_count >= train_count:
            raise ConfigError(f"validation_split: {config.validation_split} of {train_count} examples leaves nothing to train or validate on")
        train_count -= validation_count
        validation_records = train_records.skip(train_count)
        train_records = train_records.take(train_count)
    if train_count < config.batch_size:
        raise ConfigError(f"batch_size: {config.batch_size} is larger than the {train_count} training examples")
    return MnistSplits(train_records, validation_records, test_records, train_count, validation_count, test_images, test_labels,
                       data.official, data.directory, dict(data.sha256))


def _prepare_run_directory(
    config: AnyConfig, run_directory: Path | None, resume: bool, runs_root: Path, explicit: dict[str, Any],
    distribution=None,
) -> tuple[Path, AnyConfig, bool, runs.RunLock]:
    """Picks the run folder and takes its lock; on resume, reads back the interrupted run's config.

    The lock is taken before anything is written into the folder, so a
    second process training into the same folder stops here with one line.
    Explicit batch sizes and learning rates are per replica; the saved
    config holds them scaled for its replica count, which must be this
    process's (`distribution`).

    Returns:
        (run folder, the config to use, whether this continues a run, the
        folder's lock, to release when the run ends).
    """
    if resume:
        candidate = run_directory if run_directory is not None else runs.find_resumable(config.model, runs_root)
        if candidate is not None and (Path(candidate) / runs.STATE).exists():
            candidate = Path(candidate)
            held = runs.lock(candidate)
            try:
                return _resume_checks(candidate, config, explicit, distribution, held)
            except BaseException:
                held.release()
                raise
        if run_directory is None:
            print(f"nophd: no interrupted {config.model} run under {runs_root}; starting a new one", file=sys.stderr)
        else:
            print(f"nophd: {run_directory}: no run to resume there; starting a new one", file=sys.stderr)
    if run_directory is None:
        run_directory = runs.new_run_directory(config.model, runs_root)
    run_directory = Path(run_directory)
    _check_new_folder(run_directory)
    held = runs.lock(run_directory)
    try:
        # Again under the lock: another process may have filled it meanwhile.
        _check_new_folder(run_directory, locked=True)
        runs.sweep(run_directory)
    except BaseException:
        held.release()
        raise
    return run_directory, config, False, held


def _check_new_folder(run_directory: Path, locked: bool = False) -> None:
    """Refuses a folder a new run may not start in: a file, a busy run, a run, other files."""
    if run_directory.exists() and not run_directory.is_dir():
        raise RunError(f"{run_directory}: is a file, not a folder; choose another --out")
    if not locked and runs.is_locked(run_directory):
        raise runs.busy_error(run_directory)
    if runs.only_startup_files(run_directory):
        return
    if (run_directory / runs.STATE).exists():
        status = runs.read_state(run_directory) or {}
        state = "interrupted" if locked and status.get("status") == "running" else runs.status(run_directory)
        raise RunError(
            f"{run_directory}: already holds a run ({state}); "
            "pass --resume to continue it or choose another --out"
        )
    raise RunError(f"{run_directory}: folder is not empty; choose another --out")


def _resume_checks(candidate: Path, config: AnyConfig, explicit: dict[str, Any], distribution,
                   held: runs.RunLock) -> tuple[Path, AnyConfig, bool, runs.RunLock]:
    """The checks of a resume, made while holding the folder's lock."""
    # This process holds the lock, so a run.json saying "running" is a killed run's.
    state = (runs.read_state(candidate) or {}).get("status")
    if state == "finished":
        raise RunError(f"{candidate}: this run already finished; nothing to resume")
    saved = runs.read_json(candidate / runs.CONFIG)
    if saved is None:
        raise RunError(f"{candidate / runs.CONFIG}: missing or unreadable; cannot resume this run")
    saved_config = config_module.from_dict(saved)
    if saved_config.model != config.model or type(saved_config) is not type(config):
        raise RunError(f"{candidate}: holds a {saved_config.model} run, not {config.model}")
    if isinstance(config, PhotoConfig) and saved_config.dataset != config.dataset:
        raise RunError(f"dataset {config.dataset} differs from the interrupted run's {saved_config.dataset} "
                       f"({candidate}); resume with the same dataset, or start a new run")
    if distribution is not None:
        distribute.check_replicas(saved_config, distribution, str(candidate))
    for key, value in explicit.items():
        saved_value = distribute.per_replica_value(saved_config, key, getattr(saved_config, key))
        if value is not None and not _same(saved_value, value):
            raise RunError(
                f"{key} {value} differs from the interrupted run's {saved_value} "
                f"({candidate}); drop the flag to resume, or start a new run"
            )
    runs.sweep(candidate)
    if runs.has_checkpoint(candidate):
        return candidate, saved_config, True, held
    # Stopped before its first epoch ended: nothing to continue, so the
    # same run starts again in the same folder.
    print(f"nophd: {candidate} stopped before its first epoch ended; starting it again", file=sys.stderr)
    return candidate, saved_config, False, held


def _same(saved: Any, given: Any) -> bool:
    if isinstance(saved, float) and isinstance(given, (int, float)) and not isinstance(given, bool):
        return math.isclose(saved, given, rel_tol=1e-9)
    return saved == given


def train_and_evaluate(
    config: AnyConfig,
    run_directory: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = runs.DEFAULT_ROOT,
    progress: bool = True,
    explicit: dict[str, Any] | None = None,
    distribution: distribute.Distribution | None = None,
) -> loop.RunResult:
    """Trains `config`, evaluates it, and writes the run folder.

    A TrainConfig trains a ladder model on MNIST and evaluates on the test
    set; a PhotoConfig trains a transfer model on photos (see
    nophd.training.photos) and evaluates on its held-out validation split.

    Args:
        config: the resolved configuration (nophd.models.registry.preset or nophd.config.photo_config).
        run_directory: where to write; default runs_root/<time>-<model>.
        resume: continue the interrupted run in run_directory (or the newest
            interrupted run of this model under runs_root).
        data_dir: where the MNIST files (or the flower photos) are.
        progress: print epochs and steps with ETA to stderr.
        explicit: the fields the user set by hand; on resume they must agree
            with the interrupted run's config.
        distribution: the strategy to train under (distribute.setup); default
            "one". `config`'s batch size and learning rate(s) are per replica
            and are scaled for its replicas (distribute.scale_config). In a
            multi-worker run every worker writes a whole run folder; worker
            I > 0 writes to the chief's folder name + "-worker<I>" (under
            runs_root/worker<I> when no folder is given).

    Returns:
        The run folder and its metrics.
    """
    if distribution is None:
        distribution = distribute.setup(distribute.Settings(strategy="one"))
    config = distribute.scale_config(config, distribution)
    distribute.check_supported(config, distribution)
    runs_root = Path(runs_root)
    if not distribution.is_chief:
        if run_directory:
            run_directory = Path(run_directory).with_name(distribute.worker_folder_name(Path(run_directory).name, distribution))
        runs_root = runs_root / f"worker{distribution.worker_index}"
    run_directory, config, resumed, held = _prepare_run_directory(
        config, Path(run_directory) if run_directory else None, resume, runs_root, explicit or {}, distribution
    )
    with held:
        return _train_locked(config, run_directory, resumed, data_dir, progress, distribution)


def _train_locked(config: AnyConfig, run_directory: Path, resumed: bool, data_dir, progress: bool,
                  distribution: distribute.Distribution) -> loop.RunResult:
    if progress and (distribution.replicas > 1 or distribution.workers > 1 or config.mixed_precision or config.jit):
        print(f"nophd: {distribution.describe()}: global batch {config.batch_size}, learning rate "
              f"{config.learning_rate:g} ({config.lr_scaling} scaling)"
              + (", mixed precision" if config.mixed_precision else "") + (", XLA" if config.jit else ""),
              file=sys.stderr)
    with distribute.precision(distribute.precision_policy(config, distribution)):
        if isinstance(config, PhotoConfig):
            from nophd.training import photos

            # Photo runs build and compile their models inside the scope too,
            # so Model.fit and predict run under the strategy.
            with distribution.strategy.scope():
                return photos.train_photos(config, run_directory, resumed, data_dir, progress)
        with distribute.peer_failures(distribution):
            return _train_mnist(config, run_directory, resumed, data_dir, progress, distribution)


def _train_mnist(config: TrainConfig, run_directory: Path, resumed: bool, data_dir, progress: bool,
                 distribution: distribute.Distribution) -> loop.RunResult:
    from nophd.models import registry

    spec = registry.get(config.model)
    splits = load_mnist_splits(config, data_dir)
    identity = {f"{key}_sha256": digest for key, digest in splits.sha256.items()}
    if resumed:
        loop.check_data_identity(run_directory, identity, str(splits.directory))
    if not splits.official and progress:
        print(f"nophd: note: the MNIST files in {splits.directory} are not the official ones", file=sys.stderr)

    import keras

    from nophd.data import pipeline

    loop.seed_everything(config.seed, deterministic=not config.jit)
    steps_per_epoch = splits.train_count // config.batch_size
    one_hot = config.loss == "categorical_crossentropy"
    run_directory.mkdir(parents=True, exist_ok=True)

    checkpoint = run_directory / runs.CHECKPOINT if resumed else None
    if distribution.workers > 1:
        checkpoint = distribute.common_checkpoint(run_directory, steps_per_epoch, distribution)
    # Variables made in the strategy's scope live on its replicas.
    with distribution.strategy.scope():
        if checkpoint is not None:
            model = keras.models.load_model(checkpoint)
            initial_epoch, history_rows, wall_before = loop.resume_point(model, steps_per_epoch, run_directory)
            if progress:
                print(f"nophd: resuming {run_directory} after epoch {initial_epoch}/{config.epochs}", file=sys.stderr)
        else:
            model = registry.build(config.model)
            loop.compile_model(model, config)
            loop.write_config(run_directory, config, identity)
            initial_epoch, history_rows, wall_before = 0, [], 0.0
            atomic.write_text(run_directory / runs.SUMMARY, loop.model_summary(model))

    loop.start_run(run_directory, config, initial_epoch, wall_before, config.epochs)
    train_dataset = pipeline.training_dataset(
        splits.train_records, config.batch_size, one_hot, config.seed, config.shuffle_buffer,
        skip_batches=initial_epoch * steps_per_epoch, shift_pixels=config.shift_pixels,
    )
    validation_dataset = pipeline.evaluation_dataset(splits.validation_records, VALIDATION_BATCH, one_hot)
    wall_seconds = loop.fit_epochs(
        model, run_directory, config, train_dataset, validation_dataset,
        steps_per_epoch=steps_per_epoch, validation_steps=-(-splits.validation_count // VALIDATION_BATCH),
        initial_epoch=initial_epoch, final_epoch=config.epochs, history_rows=history_rows,
        wall_before=wall_before, progress=progress, distribution=distribution,
    )
    loop.save_final_model(run_directory, model)
    metrics = _finish(run_directory, config, spec, model, splits, history_rows, wall_seconds)
    loop.end_run(run_directory, config.epochs, wall_seconds)
    return loop.RunResult(run_directory, metrics)


def _finish(run_directory: Path, config: TrainConfig, spec, model, splits: MnistSplits, history_rows, wall_seconds):
    """Evaluates on the test set and writes metrics, pictures and the report."""
    from nophd.reports import artifacts
    from nophd.training import evaluate

    evaluation = evaluate.evaluate_arrays(model, splits.test_images, splits.test_labels)
    metrics = {
        "model": config.model,
        "dataset": config.dataset,
        "status": "finished",
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "test_examples": int(len(splits.test_labels)),
        "train_examples": splits.train_count,
        "official_data": splits.official,
        "epochs": config.epochs,
        "wall_seconds": round(wall_seconds, 3),
        "seconds_per_epoch": round(float(np.mean([row["seconds"] for row in history_rows])), 3) if history_rows else None,
        "parameters": int(model.count_params()),
        "seed": config.seed,
        "codelab_accuracy": spec.codelab_accuracy,
        "codelab_text": spec.codelab_text,
        "per_class_accuracy": evaluation.per_class_accuracy,
        "confusion": evaluation.confusion.tolist(),  # Rows: true classes; columns: predicted (for the dashboard).
        "class_names": [str(index) for index in range(10)],
        "versions": loop.versions(),
        "finished_at": runs.now(),
    }
    atomic.write_json(run_directory / runs.METRICS, metrics)
    artifacts.write_final(run_directory, config, history_rows, model, evaluation, splits.test_images, splits.test_labels)
    return metrics
