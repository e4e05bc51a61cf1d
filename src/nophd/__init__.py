"""nophd: the Keras codelabs as real software.

Train, understand, export and serve the image classifiers of "TensorFlow,
Keras and deep learning, without a PhD" from the command line and from
Python.

Example:
    import nophd
    result = nophd.train("conv-bn", epochs=2)
    print(result.run_directory, result.test_accuracy)

Your own Keras model, recorded as a nophd run (see nophd.training.run_folder):

    with nophd.RunFolder("runs/my-model", dataset="my data") as run_folder:
        model.fit(x, y, validation_split=0.1, epochs=5, callbacks=[run_folder])

Importing nophd is cheap; TensorFlow loads on first use.
"""

from __future__ import annotations

import os

from nophd.data import augment
from nophd.errors import ConfigError
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
            mixed_precision=True, jit=True, net="conv-bn-norm" (another
            registered net trained with this rung's recipe), or digit augmentation such as
            rotate_degrees=10, elastic_alpha=34, elastic_sigma=4 (see
            nophd.data.augment).
    """
    from nophd import config, presets
    from nophd.training.train import train_and_evaluate

    # lr_decay is also a ladder recipe field (the per-epoch decay), so this
    # function takes it; `nophd train mnist --lr-decay` (the fine-tuning
    # decay) is refused by train_dataset.
    _refuse(overrides, [name for name in PHOTO_ONLY if name not in config.TrainConfig.__dataclass_fields__],
            "only for photo datasets, not mnist")
    # First: splitting the CPU must happen before TensorFlow starts.
    distribution = _distribution(strategy, cpu_devices, workers, worker_index, worker_timeout)
    explicit = {"epochs": epochs, "batch_size": batch_size, "seed": seed, **overrides}
    resolved = config.override(presets.preset(model), **explicit)
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
    workers: str | list[str] | None = None,
    worker_index: int = 0,
    worker_timeout: int | None = None,
    **options,
):
    """Trains a transfer-learning photo classifier; returns a RunResult.

    Args:
        dataset: "flowers" (tf_flowers), an image folder ROOT/<class>/*.jpg,
            or a folder of TFRecord shards from `nophd data tfrecords`.
        options: PhotoConfig fields (see nophd.config.PhotoConfig), e.g.
            base="mobilenet_v2", head="gap", epochs=6, fine_tune_epochs=6.
        out, resume, data_dir, runs_root, progress, strategy, cpu_devices,
            worker_index, worker_timeout: as for `train` (multiworker is not
            supported for photos yet: `workers` is refused).

    Raises:
        ConfigError: an MNIST-only option (model, shift_pixels, the digit
            augmentation strengths, train_limit, test_limit), workers, or a
            bad PhotoConfig value.

    Example:
        result = nophd.train_photos("flowers", fine_tune_epochs=6)
        print(result.test_accuracy)  # on the held-out validation split
    """
    from pathlib import Path

    from nophd import config
    from nophd.training.train import train_and_evaluate

    _refuse(options, augment.FIELDS, "only for mnist; photo runs augment with --augment")
    _refuse(options, MNIST_ONLY, "only for mnist; photo runs use --base and --head")
    if workers:
        raise ConfigError("--workers: photo runs do not support multi-worker training yet")
    distribution = _distribution(strategy, cpu_devices, None, worker_index, worker_timeout)
    if str(dataset) != "flowers":
        dataset = str(Path(dataset).expanduser().resolve())
    explicit = {key: value for key, value in options.items() if value is not None}
    resolved = config.photo_config(str(dataset), **explicit)
    return train_and_evaluate(
        resolved, out, resume=resume, data_dir=data_dir, runs_root=runs_root, progress=progress, explicit=explicit,
        distribution=distribution,
    )


def train_dataset(dataset: str | os.PathLike, *, model: str | None = None, **options):
    """Trains on `dataset` named as `nophd train DATASET` names it; returns a RunResult.

    The one place that picks the kind of run from the dataset: "mnist" trains
    ladder rung `model` (see `train`), anything else a photo classifier (see
    `train_photos`). Options that only the other kind takes are refused with
    the flag's name, as the command line shows them.

    Args:
        dataset: "mnist", "flowers", an image folder or a TFRecord shard folder.
        model: a ladder rung; required for mnist, refused for photos.
        options: keyword arguments of `train` or `train_photos`; None means unset.

    Raises:
        ConfigError: an option the dataset's kind of run does not take, or
            no model for mnist.

    Example:
        nophd.train_dataset("mnist", model="conv-bn", epochs=2)
    """
    options = {key: value for key, value in options.items() if value is not None}
    if str(dataset) == "mnist":
        _refuse(options, PHOTO_ONLY, "only for photo datasets, not mnist")
        if not model:
            raise ConfigError("--model: required for mnist (see `nophd models`)")
        return train(model, **options)
    return train_photos(dataset, model=model, **options)


# Options that only one kind of run takes, in the order they are checked
# (the first one set is the one named in the error).
PHOTO_ONLY = ("base", "head", "dropout", "image_size", "weights", "fine_tune_epochs", "fine_tune_layers",
              "fine_tune_learning_rate", "lr_decay", "augment", "augmentations", "class_weight", "tuning_split")
MNIST_ONLY = ("model", "net", "classes", "shift_pixels", *augment.FIELDS, "train_limit", "test_limit")


def _refuse(options: dict, names, reason: str) -> None:
    """Raises ConfigError naming the first of `names` set (not None) in `options`, as its --flag."""
    for name in names:
        if options.get(name) is not None:
            raise ConfigError(f"--{name.replace('_', '-')}: {reason}")


def evaluate(run: str | os.PathLike, data_dir: str | os.PathLike | None = None, tta: bool | str = False) -> dict:
    """Evaluates a run's model on its evaluation split: the MNIST test set, a photo run's validation (or tuning) split.

    With `tta` (photo runs only), test-time augmentation: softmax averaged
    over the photo and its views, True for the default ones or names such
    as "flip" (see nophd.inference.evaluate and .tta).
    """
    from nophd.inference.evaluate import evaluate_run

    return evaluate_run(run, data_dir, tta=tta)


def evaluate_robustness(run: str | os.PathLike, data_dir: str | os.PathLike | None = None, seed: int = 0) -> dict:
    """Scores a digit run's model on the robustness suite; writes robustness.json (see nophd.inference.robustness).

    Example:
        result = nophd.evaluate_robustness("runs/conv-bn")
        print(result["mean_accuracy"], [(row["name"], row["accuracy"]) for row in result["sets"]])
    """
    from nophd.inference import robustness

    return robustness.evaluate_run(run, data_dir, seed=seed)


def open_run(run: str | os.PathLike):
    """An existing run folder as a RunResult (see nophd.training.loop.open_run); a notebook shows its report inline.

    Example:
        run = nophd.open_run("runs/conv-bn")
        run.test_accuracy  # and, as a cell's last line, `run` shows the report
    """
    from nophd.training.loop import open_run as open_run_folder

    return open_run_folder(run)


def export_run(run: str | os.PathLike, format: str = "tflite", out: str | os.PathLike | None = None,
               data_dir: str | os.PathLike | None = None) -> dict:
    """Exports a finished run as `nophd export RUN --format FORMAT` does; returns export.json's contents.

    (Not `nophd.export`: that name is the nophd.export package, which importing it binds on `nophd`.)

    Args:
        format: "savedmodel", "tflite", "tflite-int8", "onnx" or "web".
        out: the export folder (default RUN/export/FORMAT).

    Example:
        exported = nophd.export_run("runs/conv-bn", "tflite-int8")
        exported["artifact_path"], exported["exported"]["accuracy"], exported["original"]["accuracy"]
    """
    from nophd.export import export as export_module

    return export_module.export_run(run, format, out, data_dir=data_dir)


def predict(run: str | os.PathLike, paths, top: int = 3):
    """Top-`top` classes for each image file; see nophd.inference.evaluate.predict_files."""
    from nophd.inference.evaluate import predict_files

    return predict_files(run, [paths] if isinstance(paths, (str, os.PathLike)) else list(paths), top)


def __getattr__(name: str):
    # RunFolder is a Keras callback, so defining it loads TensorFlow: it is
    # imported on first use, and `import nophd` stays cheap.
    if name == "RunFolder":
        from nophd.training.run_folder import RunFolder

        return RunFolder
    raise AttributeError(f"module 'nophd' has no attribute {name!r}")


def ladder(out: str | os.PathLike = "runs/ladder", **options):
    """Trains every rung and writes ladder.html; see nophd.training.ladder.run_ladder."""
    from nophd.training.ladder import run_ladder

    return run_ladder(out, **options)
