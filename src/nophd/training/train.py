"""train_and_evaluate: one MNIST training run, start to finish, into a run folder."""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nophd import __version__, atomic, config as config_module, runs
from nophd.config import AnyConfig, PhotoConfig, TrainConfig
from nophd.data import mnist
from nophd.errors import ConfigError, RunError
from nophd.training import distribute

# Validation and test images are scored 1,000 at a time.
VALIDATION_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What a finished run left behind.

    Args:
        run_directory: the run folder.
        metrics: the contents of its metrics.json.
    """

    run_directory: Path
    metrics: dict[str, Any]

    @property
    def test_accuracy(self) -> float:
        return self.metrics["test_accuracy"]


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


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "nophd": __version__}


def make_optimizer(config: TrainConfig):
    import keras

    options = {"learning_rate": config.learning_rate}
    if config.clipnorm is not None:
        options["clipnorm"] = config.clipnorm
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(**options)
    return keras.optimizers.Adam(**options)


def compile_model(model, config: TrainConfig) -> None:
    # "accuracy" resolves to categorical or sparse-categorical accuracy from the
    # loss and label shapes; both appear as "accuracy" in logs and history.
    # Keras' "auto" jit_compile leaves XLA off while op determinism is on
    # (seed_everything), so only --jit turns it on.
    model.compile(optimizer=make_optimizer(config), loss=config.loss, metrics=["accuracy"],
                  jit_compile=True if config.jit else "auto")


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seeds Python, NumPy and TensorFlow and makes TensorFlow ops deterministic.

    Measured on the codelab's batch-norm convnet (2 CPU cores): 200 steps take
    7.8 s with and without op determinism, so repeatability costs nothing here.
    deterministic=False leaves op determinism off (for XLA, which Keras
    refuses while it is on); it cannot be turned off again in a process.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


# Wide enough for every column of a functional model's summary (layer,
# output shape, parameters, connected to) with MobileNet's long layer names.
SUMMARY_WIDTH = 120


def model_summary(model) -> str:
    """model.summary() as text, every column kept.

    Keras draws the table with rich, whose console is as wide as $COLUMNS
    (80 when there is no terminal) whatever `line_length` says: a wider table
    was cut at 80 columns and lost "Param #". The console gets the table's
    width for the time of the call.
    """
    from unittest import mock

    lines: list[str] = []
    with mock.patch.dict(os.environ, {"COLUMNS": str(SUMMARY_WIDTH + 4)}):
        model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=SUMMARY_WIDTH)
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines()) + "\n"


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


def check_data_identity(run_directory: Path, identity: dict[str, Any], where: str) -> None:
    """Refuses to resume a run on other data than it started on.

    Args:
        run_directory: the run being resumed.
        identity: this session's data identity (see data_identity).
        where: the data's location, for the message.

    A config.json written before runs recorded their data has no record,
    and resumes as before.
    """
    saved = (runs.read_json(run_directory / runs.CONFIG) or {}).get(runs.DATA_IDENTITY)
    if not isinstance(saved, dict) or saved == identity:
        return
    differing = sorted(key for key in set(saved) | set(identity) if saved.get(key) != identity.get(key))
    raise RunError(f"{where}: not the data this run started on ({', '.join(differing)} differ; {run_directory}); "
                   "resume with the same data, or start a new run")


def write_config(run_directory: Path, config: AnyConfig, identity: dict[str, Any]) -> None:
    """Writes config.json: the resolved config and the identity of the data it trains on."""
    atomic.write_json(run_directory / runs.CONFIG, {**config.to_dict(), runs.DATA_IDENTITY: identity})


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
) -> RunResult:
    """Trains `config`, evaluates it, and writes the run folder.

    A TrainConfig trains a ladder model on MNIST and evaluates on the test
    set; a PhotoConfig trains a transfer model on photos (see
    nophd.training.photos) and evaluates on its held-out validation split.

    Args:
        config: the resolved configuration (nophd.config.preset or photo_config).
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
                  distribution: distribute.Distribution) -> RunResult:
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


def start_run(run_directory: Path, config: AnyConfig, initial_epoch: int, wall_before: float, epochs_total: int) -> None:
    """Marks the run as running in run.json and draws the planned schedule."""
    from nophd.reports import artifacts

    runs.write_state(
        run_directory, status="running", model=config.model, dataset=config.dataset, pid=os.getpid(),
        epochs_total=epochs_total, epochs_done=initial_epoch, wall_seconds=wall_before,
        started_at=(runs.read_state(run_directory) or {}).get("started_at", runs.now()),
    )
    artifacts.write_schedule(run_directory, config, initial_epoch)


def fit_epochs(
    model,
    run_directory: Path,
    config: AnyConfig,
    train_dataset,
    validation_dataset,
    *,
    steps_per_epoch: int,
    validation_steps: int | None,
    initial_epoch: int,
    final_epoch: int,
    history_rows: list[dict],
    wall_before: float,
    progress: bool,
    checkpoint: str = runs.CHECKPOINT,
    class_weight: dict[int, float] | None = None,
    phase: str = "",
    distribution: distribute.Distribution | None = None,
    custom_loop: bool | None = None,
) -> float:
    """Fits epochs [initial_epoch, final_epoch) and records each into the run folder.

    With Model.fit, or under a multi-worker `distribution` (or custom_loop
    True) with distribute.fit_custom, which drives the same callbacks.

    After every epoch: history.csv, random states, the checkpoint (named
    `checkpoint`, with the optimizer), run.json, then the pictures and
    report in the background. On Ctrl-C the run is marked interrupted, on
    any other error failed, and the error goes on up.

    Returns:
        The run's wall seconds so far, earlier sessions and phases included.
    """
    import keras

    from nophd.reports import artifacts
    from nophd.training import callbacks as callbacks_module

    pictures = artifacts.EpochPictures(run_directory, config)
    recorder = callbacks_module.RunRecorder(
        run_directory, history_rows, wall_before, on_epoch_written=pictures.submit, checkpoint=checkpoint,
        keep_previous=distribution is not None and distribution.workers > 1,
    )
    # TensorBoard's own event files (per-epoch scalars for train and
    # validation), for people who already use it: tensorboard --logdir runs.
    tensorboard = keras.callbacks.TensorBoard(
        log_dir=str(run_directory / runs.TENSORBOARD), write_graph=False, update_freq="epoch", profile_batch=0)
    callback_list = [recorder, tensorboard, callbacks_module.ProgressFile(run_directory, final_epoch, steps_per_epoch)]
    if config.lr_decay is not None:
        callback_list.insert(0, keras.callbacks.LearningRateScheduler(config.learning_rate_at))
    if progress:
        prefix = phase
        if distribution is not None and distribution.workers > 1:
            prefix = f"worker {distribution.worker_index}" + (f" {phase}" if phase else "")
        callback_list.append(callbacks_module.Progress(final_epoch, steps_per_epoch, prefix=prefix))
    if custom_loop is None:
        custom_loop = distribution is not None and distribution.custom_loop
    if validation_dataset is not None and (custom_loop or distribute.replicated(model)):
        # Over several replicas Keras splits a short last validation batch
        # unevenly and fails on an empty share, and the hand-written loop has
        # no validation: each process scores the whole validation set with
        # the replicas' shared weights, before the callbacks that read it.
        callback_list.insert(0, distribute.validation_callback(validation_dataset, config.loss))
        validation_dataset = validation_steps = None
    try:
        if initial_epoch < final_epoch and custom_loop:
            distribute.fit_custom(
                model, distribution or distribute.setup(distribute.Settings(strategy="one")), train_dataset,
                callback_list, steps_per_epoch=steps_per_epoch, global_batch_size=config.batch_size,
                initial_epoch=initial_epoch, final_epoch=final_epoch, loss=config.loss, class_weight=class_weight,
            )
        elif initial_epoch < final_epoch:
            model.fit(
                train_dataset, epochs=final_epoch, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                validation_data=validation_dataset, validation_steps=validation_steps,
                callbacks=callback_list, verbose=0, shuffle=False, class_weight=class_weight,
            )
    except KeyboardInterrupt:
        runs.write_state(run_directory, status="interrupted", wall_seconds=round(recorder.wall_seconds(), 3))
        raise
    except BaseException:
        runs.write_state(run_directory, status="failed")
        raise
    finally:
        pictures.close()
    return recorder.wall_seconds() if initial_epoch < final_epoch else wall_before


def save_final_model(run_directory: Path, model) -> None:
    with atomic.atomic_path(run_directory / runs.MODEL) as temporary:
        model.save(temporary)


def end_run(run_directory: Path, epochs_done: int, wall_seconds: float,
            checkpoints: tuple[str, ...] = (runs.CHECKPOINT, runs.PREVIOUS_CHECKPOINT)) -> None:
    """Removes what only a resume needs and marks the run finished."""
    for name in (*checkpoints, runs.RANDOM_STATES, runs.PROGRESS):
        (run_directory / name).unlink(missing_ok=True)
    runs.write_state(run_directory, status="finished", epochs_done=epochs_done, wall_seconds=round(wall_seconds, 3))


def resume_point(model, steps_per_epoch: int, run_directory: Path, history_offset: int = 0):
    """How far a checkpointed model got: (epochs done, history rows kept, wall seconds before).

    The checkpoint's optimizer step count, not run.json, says how many epochs
    are done: it is written after history.csv and before run.json. Restores
    the dropout generators' states saved for that epoch.
    """
    import keras

    from nophd.training import callbacks as callbacks_module

    done = history_offset + int(keras.ops.convert_to_numpy(model.optimizer.iterations)) // steps_per_epoch
    history_rows = runs.read_history(run_directory)[:done]
    saved_states = (runs.read_json(run_directory / runs.RANDOM_STATES) or {}).get(str(done))
    if saved_states:
        callbacks_module.restore_random_states(model, saved_states)
    wall_before = float((runs.read_state(run_directory) or {}).get("wall_seconds", 0.0))
    return done, history_rows, wall_before


def _train_mnist(config: TrainConfig, run_directory: Path, resumed: bool, data_dir, progress: bool,
                 distribution: distribute.Distribution) -> RunResult:
    from nophd.models import registry

    spec = registry.get(config.model)
    splits = load_mnist_splits(config, data_dir)
    identity = {f"{key}_sha256": digest for key, digest in splits.sha256.items()}
    if resumed:
        check_data_identity(run_directory, identity, str(splits.directory))
    if not splits.official and progress:
        print(f"nophd: note: the MNIST files in {splits.directory} are not the official ones", file=sys.stderr)

    import keras

    from nophd.data import pipeline

    seed_everything(config.seed, deterministic=not config.jit)
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
            initial_epoch, history_rows, wall_before = resume_point(model, steps_per_epoch, run_directory)
            if progress:
                print(f"nophd: resuming {run_directory} after epoch {initial_epoch}/{config.epochs}", file=sys.stderr)
        else:
            model = registry.build(config.model)
            compile_model(model, config)
            write_config(run_directory, config, identity)
            initial_epoch, history_rows, wall_before = 0, [], 0.0
            atomic.write_text(run_directory / runs.SUMMARY, model_summary(model))

    start_run(run_directory, config, initial_epoch, wall_before, config.epochs)
    train_dataset = pipeline.training_dataset(
        splits.train_records, config.batch_size, one_hot, config.seed, config.shuffle_buffer,
        skip_batches=initial_epoch * steps_per_epoch, shift_pixels=config.shift_pixels,
    )
    validation_dataset = pipeline.evaluation_dataset(splits.validation_records, VALIDATION_BATCH, one_hot)
    wall_seconds = fit_epochs(
        model, run_directory, config, train_dataset, validation_dataset,
        steps_per_epoch=steps_per_epoch, validation_steps=-(-splits.validation_count // VALIDATION_BATCH),
        initial_epoch=initial_epoch, final_epoch=config.epochs, history_rows=history_rows,
        wall_before=wall_before, progress=progress, distribution=distribution,
    )
    save_final_model(run_directory, model)
    metrics = _finish(run_directory, config, spec, model, splits, history_rows, wall_seconds)
    end_run(run_directory, config.epochs, wall_seconds)
    return RunResult(run_directory, metrics)


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
        "versions": versions(),
        "finished_at": runs.now(),
    }
    atomic.write_json(run_directory / runs.METRICS, metrics)
    artifacts.write_final(run_directory, config, history_rows, model, evaluation, splits.test_images, splits.test_labels)
    return metrics
