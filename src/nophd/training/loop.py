"""The steps every kind of run shares: seeding, compiling, fitting epochs with checkpoints, resuming, finishing.

The MNIST workflow (nophd.training.train) and the photo workflow
(nophd.training.photos) both train through these functions, so a run folder
is written, checkpointed and resumed the same way whatever the task.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from nophd import atomic, config as config_module, runs
from nophd.config import AnyConfig, TrainConfig
from nophd.errors import RunError
from nophd.training import distribute
from nophd.version import __version__


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

    @property
    def scored_on(self) -> str:
        """Which images test_accuracy was measured on: "test" (MNIST), "validation" (photos' held-out split) or
        "tuning" (a photo run's tuning split)."""
        return config_module.evaluated_split_of(self.metrics)

    def _repr_html_(self) -> str:
        """The run's report, shown inline when a notebook displays the result (pictures embedded, styles scoped)."""
        from nophd.reports import report

        return report.run_report_html(self.run_directory, fragment=True)


def open_run(run_directory: str | os.PathLike) -> RunResult:
    """A run folder as a RunResult: its metrics.json ({} while it trains) and, in a notebook, its report inline.

    Raises:
        RunError: not a run folder (no config.json and no run.json).
    """
    directory = Path(run_directory).expanduser()
    if not directory.is_dir():
        raise RunError(f"{directory}: no such run folder")
    if not ((directory / runs.CONFIG).is_file() or (directory / runs.STATE).is_file()):
        raise RunError(f"{directory}: not a run folder (no {runs.CONFIG} or {runs.STATE}); give a folder nophd wrote")
    return RunResult(directory, runs.read_json(directory / runs.METRICS) or {})


def versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": np.__version__, "nophd": __version__}


def make_optimizer(config: TrainConfig, steps_per_epoch: int | None = None):
    """The run's optimizer; with the cosine schedule its learning rate is a per-step schedule.

    The schedule counts the optimizer's own steps, which the checkpoint
    keeps, so a resumed run continues it exactly.
    """
    import keras

    learning_rate = config.learning_rate
    if config.lr_schedule == "cosine":
        if not steps_per_epoch:
            raise ValueError("the cosine schedule needs steps_per_epoch")
        warmup_steps = int(round(config.warmup_epochs * steps_per_epoch))
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup_steps else config.learning_rate,
            decay_steps=max(config.total_epochs * steps_per_epoch - warmup_steps, 1),
            alpha=0.0, warmup_target=config.learning_rate if warmup_steps else None, warmup_steps=warmup_steps)
    options = {"learning_rate": learning_rate}
    if config.clipnorm is not None:
        options["clipnorm"] = config.clipnorm
    if config.clipvalue is not None:
        options["clipvalue"] = config.clipvalue
    if config.weight_average is not None:
        # The average's variables are the optimizer's, so checkpoints keep them
        # and a resumed run continues the same average.
        options.update(use_ema=True, ema_momentum=config.weight_average)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(**options)
    return keras.optimizers.Adam(**options)


def compile_model(model, config: TrainConfig, steps_per_epoch: int | None = None) -> None:
    """Compiles with the run's optimizer (see make_optimizer), loss (with its label smoothing) and accuracy."""
    import keras

    loss = config.loss
    if config.label_smoothing:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    # "accuracy" resolves to categorical or sparse-categorical accuracy from the
    # loss and label shapes; both appear as "accuracy" in logs and history.
    # One sigmoid output (binary_crossentropy) is scored by binary accuracy,
    # p > 0.5 read as class 1, named "accuracy" too so history.csv, the
    # curves and the reports read it as they read the others.
    metric = keras.metrics.BinaryAccuracy(name="accuracy") if config.loss == "binary_crossentropy" else "accuracy"
    # Keras' "auto" jit_compile leaves XLA off while op determinism is on
    # (seed_everything), so only --jit turns it on.
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=loss, metrics=[metric],
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

    train_dataset = without_autotune_thread(train_dataset)

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
    if config.lr_decay is not None and config.lr_schedule != "cosine":
        callback_list.insert(0, keras.callbacks.LearningRateScheduler(config.learning_rate_at))
    if progress:
        prefix = phase
        if distribution is not None and distribution.workers > 1:
            prefix = f"worker {distribution.worker_index}" + (f" {phase}" if phase else "")
        from nophd.training import notebook

        if notebook.in_notebook():
            callback_list.append(notebook.NotebookProgress(final_epoch, steps_per_epoch, history_rows, prefix=prefix,
                                                           initial_epoch=initial_epoch))
        else:
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
    use_average_weights(model)
    return recorder.wall_seconds() if initial_epoch < final_epoch else wall_before


def without_autotune_thread(dataset):
    """The training stream with tf.data's autotuning model switched off (fit_epochs reads it for a whole fit).

    With autotuning on, tf.data's optimisation thread sleeps for periods that
    double up to 60 s, and destroying the iterator at the end of `fit` waits
    for it to wake: a 3-epoch conv-bn-fast run measured 25-35 s idle after its
    last epoch in about half its runs, a 10-epoch conv-bn up to 22 s (stacks
    taken during the wait end in UnboundedThreadPool's LogicalThreadWrapper,
    under RootDataset::Iterator's destructor). Without it, AUTOTUNE in the
    maps means one call per core and prefetching keeps its own buffer tuner;
    the order of the examples and their augmentation do not depend on either.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def use_average_weights(model) -> bool:
    """With a weight-averaging optimizer (config.weight_average), sets the model's weights to their average.

    Model.fit does this itself when it ends; the hand-written multi-worker
    loop does not, and a resumed run whose epochs were all done calls no
    fit, so fit_epochs always ends here. Setting them twice changes nothing.
    The epoch checkpoints keep the last step's weights (and the average in
    the optimizer), so a resumed run continues from where training was.

    Returns:
        Whether the weights were replaced.
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        return False
    optimizer.finalize_variable_values(model.trainable_variables)
    return True


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
