"""Time to reach a test accuracy: the codelab's plain Keras against nophd's conv-bn and its fast rung, over seeds.

Trains, for each seed (default 0, 1, 2) and in one process, on the same
machine and MNIST files:

1. the batch-norm convnet of "TensorFlow, Keras and deep learning, without
   a PhD" as a self-contained plain-Keras + tf.data program written the way
   the codelab's keras_05 notebook does it, plus the one thing nophd's
   conv-bn recipe adds, random shifts of up to 2 pixels: the reference every
   ratio is taken against (Adam, 0.01 * 0.666**epoch, batch 64);
2. `nophd.train("conv-bn")`, the same recipe;
3. `nophd.train("conv-bn-fast")`, the fast rung (its own recipe and epochs);
4. optionally (--sides ...,codelab) the codelab's exact recipe, no shifts.

Time to a target is measured the same way for all: wall seconds from the
start of training to the end of the first epoch whose test accuracy (the
per-epoch validation on the 10,000 test images) reaches it. For nophd that
is history.csv's `elapsed` column, which counts everything the run did
before that moment, its checkpoints and run-folder writes included; a run
that reaches a target only with its final figure (after precise batch norm)
counts its whole call. Every epoch of the budget runs, even after the target.
The table gives, per run kind and target, the median, min and max over the
seeds, how many seeds reached it, and the ratio of medians to the reference.

Figures, not pass/fail. The full run (3 seeds x (10 + 10 + 3) epochs) takes
about 20 minutes on 2 CPU cores with nothing else running (longer on a loaded machine):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/mnist_time_to_accuracy.py --json local/tta.json

A quick smoke run on a slice of the data:

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/mnist_time_to_accuracy.py \\
        --epochs 1 --fast-epochs 1 --seeds 0 --train-limit 3000 --test-limit 1000 --targets 0.8,0.9
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Lines TensorFlow's C++ side prints at import before TF_CPP_MIN_LOG_LEVEL takes effect.
def _import_tensorflow_quietly():
    """Imports TensorFlow and Keras with TF's C++ start-up log lines filtered out of stderr."""
    from nophd import quiet  # Only the import helper; the reference below uses no nophd code.

    tensorflow = quiet.import_tensorflow()
    import keras

    return keras, tensorflow


keras, tf = _import_tensorflow_quietly()

# The codelab's batch-norm recipe (keras_05 notebook).
BATCH_SIZE = 64
LEARNING_RATE = 0.01
LR_DECAY = 0.666
SHUFFLE_BUFFER = 5000
# nophd's conv-bn adds random shifts of up to 2 pixels to the codelab's recipe;
# the same-recipe reference does the same, the way a Keras user would write it.
SHIFT_PIXELS = 2
# The codelab scores the 10,000 test images in one batch of 10,000; nophd
# scores them 1,000 at a time. Both sides here use 1,000 so they do the same work.
VALIDATION_BATCH = 1000


# --------------------------------------------------------------------------
# The plain-Keras reference, written as the codelab does it. It does not use
# nophd at all.
# --------------------------------------------------------------------------


def _idx_record_count(path: Path) -> int:
    """Number of records an idx file says it holds (bytes 4..8 of its header, big-endian)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        header = stream.read(8)
    return int.from_bytes(header[4:8], "big")


def _read_label(tf_bytestring):
    label = tf.io.decode_raw(tf_bytestring, tf.uint8)
    label = tf.reshape(label, [])
    return tf.one_hot(label, 10)


def _read_image(tf_bytestring):
    # uint8 pixels -> float32 in [0, 1], shaped (28, 28, 1) for the first convolution.
    image = tf.io.decode_raw(tf_bytestring, tf.uint8)
    image = tf.cast(image, tf.float32) / 255.0
    return tf.reshape(image, [28, 28, 1])


def _load_dataset(image_file: Path, label_file: Path) -> tf.data.Dataset:
    def compression(path: Path) -> str:
        return "GZIP" if path.suffix == ".gz" else ""

    images = tf.data.FixedLengthRecordDataset(
        str(image_file), 28 * 28, header_bytes=16, compression_type=compression(image_file)
    ).map(_read_image, num_parallel_calls=tf.data.AUTOTUNE)
    labels = tf.data.FixedLengthRecordDataset(
        str(label_file), 1, header_bytes=8, compression_type=compression(label_file)
    ).map(_read_label, num_parallel_calls=tf.data.AUTOTUNE)
    return tf.data.Dataset.zip((images, labels))


def _random_shift(image, label, pixels: int):
    padded = tf.pad(image, [[pixels, pixels], [pixels, pixels], [0, 0]])
    return tf.image.random_crop(padded, [28, 28, 1]), label


def _training_dataset(image_file: Path, label_file: Path, limit: int | None, shift_pixels: int) -> tf.data.Dataset:
    dataset = _load_dataset(image_file, label_file)
    if limit:
        dataset = dataset.take(limit)
    dataset = dataset.cache()  # the whole of MNIST fits in memory
    dataset = dataset.shuffle(SHUFFLE_BUFFER, reshuffle_each_iteration=True)
    dataset = dataset.repeat()
    if shift_pixels:
        dataset = dataset.map(lambda image, label: _random_shift(image, label, shift_pixels),
                              num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(BATCH_SIZE, drop_remainder=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _validation_dataset(image_file: Path, label_file: Path, limit: int | None) -> tf.data.Dataset:
    dataset = _load_dataset(image_file, label_file)
    if limit:
        dataset = dataset.take(limit)
    return dataset.cache().batch(VALIDATION_BATCH).prefetch(tf.data.AUTOTUNE)


def _codelab_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(filters=12, kernel_size=3, padding="same", use_bias=False),
        keras.layers.BatchNormalization(center=True, scale=False),
        keras.layers.Activation("relu"),
        keras.layers.Conv2D(filters=24, kernel_size=6, padding="same", use_bias=False, strides=2),
        keras.layers.BatchNormalization(center=True, scale=False),
        keras.layers.Activation("relu"),
        keras.layers.Conv2D(filters=32, kernel_size=6, padding="same", use_bias=False, strides=2),
        keras.layers.BatchNormalization(center=True, scale=False),
        keras.layers.Activation("relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(200, use_bias=False),
        keras.layers.BatchNormalization(center=True, scale=False),
        keras.layers.Activation("relu"),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


class _EpochTimer(keras.callbacks.Callback):
    """Wall time and test accuracy of each epoch, from on_epoch_begin to on_epoch_end."""

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self.elapsed: list[float] = []
        self.accuracies: list[float] = []

    def on_train_begin(self, logs=None):
        self.train_start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        # Validation has already run when on_epoch_end is called, as for nophd's recorder.
        self.seconds.append(time.monotonic() - self.epoch_start)
        self.elapsed.append(time.monotonic() - self.train_start)
        self.accuracies.append(float((logs or {})["val_accuracy"]))
        print(f"  plain Keras epoch {epoch + 1}: test accuracy {100 * self.accuracies[-1]:.2f}%, "
              f"{self.seconds[-1]:.1f} s", file=sys.stderr, flush=True)


def run_reference(
    files: dict[str, Path], epochs: int, seed: int, train_limit: int | None, test_limit: int | None, shift_pixels: int
) -> dict:
    """Trains the codelab's batch-norm convnet in plain Keras; returns its per-epoch figures."""
    call_start = time.monotonic()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()

    train_count = _idx_record_count(files["train_images"])
    if train_limit:
        train_count = min(train_count, train_limit)
    steps_per_epoch = train_count // BATCH_SIZE
    test_count = _idx_record_count(files["test_images"])
    if test_limit:
        test_count = min(test_count, test_limit)
    training_dataset = _training_dataset(files["train_images"], files["train_labels"], train_limit, shift_pixels)
    validation_dataset = _validation_dataset(files["test_images"], files["test_labels"], test_limit)

    model = _codelab_model()
    # Adam's default learning rate is replaced at the start of every epoch by the schedule.
    lr_decay_callback = keras.callbacks.LearningRateScheduler(lambda epoch: LEARNING_RATE * math.pow(LR_DECAY, epoch))
    timer = _EpochTimer()
    fit_start = time.monotonic()
    # verbose=0 and shuffle=False as nophd does: no progress bar, and the
    # tf.data pipeline already shuffles.
    model.fit(
        training_dataset, steps_per_epoch=steps_per_epoch, epochs=epochs,
        validation_data=validation_dataset, validation_steps=-(-test_count // VALIDATION_BATCH),
        callbacks=[lr_decay_callback, timer], verbose=0, shuffle=False,
    )
    fit_seconds = time.monotonic() - fit_start
    return {
        "epoch_seconds": timer.seconds,
        "epoch_elapsed": timer.elapsed,
        "epoch_accuracies": timer.accuracies,
        "total_seconds": fit_seconds,
        "call_seconds": time.monotonic() - call_start,
    }


# --------------------------------------------------------------------------
# nophd, through its public API.
# --------------------------------------------------------------------------


def run_nophd(preset: str, data_dir: Path, epochs: int | None, seed: int, train_limit: int | None,
              test_limit: int | None, keep: Path | None = None) -> dict:
    """Trains nophd preset `preset` into a temporary run folder (or keep/<preset>-seed<seed>); returns its figures."""
    import nophd

    with tempfile.TemporaryDirectory(prefix="nophd-benchmark-") as temporary:
        out = keep / f"{preset}-seed{seed}" if keep else Path(temporary) / "run"
        call_start = time.monotonic()
        result = nophd.train(
            preset, out=out, seed=seed, epochs=epochs, data_dir=data_dir, progress=False,
            train_limit=train_limit, test_limit=test_limit,
        )
        call_seconds = time.monotonic() - call_start
        with open(result.run_directory / "history.csv", newline="") as stream:
            rows = list(csv.DictReader(stream))
        run_config = json.loads((result.run_directory / "config.json").read_text())
    for row in rows:
        print(f"  nophd {preset} epoch {row['epoch']}: test accuracy {100 * float(row['val_accuracy']):.2f}%, "
              f"{float(row['seconds']):.1f} s", file=sys.stderr)
    return {
        "epoch_seconds": [float(row["seconds"]) for row in rows],
        "epoch_elapsed": [float(row["elapsed"]) for row in rows],
        "epoch_accuracies": [float(row["val_accuracy"]) for row in rows],
        "total_seconds": float(result.metrics["wall_seconds"]),
        "call_seconds": call_seconds,
        "final_test_accuracy": float(result.metrics["test_accuracy"]),
        "config": run_config,
    }


# --------------------------------------------------------------------------
# Figures.
# --------------------------------------------------------------------------


def seconds_to(figures: dict, target: float) -> tuple[int | None, float | None]:
    """(the epoch that first reached `target`, the wall seconds from the start of training to its end).

    A nophd run's final figure comes after its last epoch, with precise
    batch-norm statistics: when only that one reaches the target, the time
    is the whole call's (setup, training, the statistics, the final test
    evaluation and the report files), the conservative count.
    """
    for index, accuracy in enumerate(figures["epoch_accuracies"]):
        if accuracy >= target:
            return index + 1, figures["epoch_elapsed"][index]
    final = figures.get("final_test_accuracy")
    if final is not None and final >= target:
        return len(figures["epoch_accuracies"]), figures["call_seconds"]
    return None, None


def summarize(figures: dict, targets: tuple[float, ...]) -> dict:
    """Adds, per target, the epoch it was reached at and the seconds to it, and the best accuracy and seconds per epoch."""
    seconds, accuracies = figures["epoch_seconds"], figures["epoch_accuracies"]
    reached = {f"{target:g}": seconds_to(figures, target) for target in targets}
    return {
        **figures,
        "epochs_run": len(seconds),
        "reached_at_epoch": {key: epoch for key, (epoch, _) in reached.items()},
        "seconds_to_target": {key: elapsed for key, (_, elapsed) in reached.items()},
        "best_accuracy": max(accuracies + [figures.get("final_test_accuracy") or 0.0]) if accuracies else None,
        "seconds_per_epoch": sum(seconds) / len(seconds) if seconds else None,
        # On this project's VMs an epoch takes either about 20 s or about 40 s,
        # whatever runs it (host contention); the fastest epoch shows the cost
        # of the training step itself, free of that noise.
        "fastest_epoch_seconds": min(seconds) if seconds else None,
    }


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _recipe_mismatches(run_config: dict) -> list[str]:
    """Fields of nophd's resolved conv-bn config that differ from the reference's recipe."""
    expected = {
        "optimizer": "adam", "learning_rate": LEARNING_RATE, "lr_decay": LR_DECAY, "batch_size": BATCH_SIZE,
        "loss": "categorical_crossentropy", "shuffle_buffer": SHUFFLE_BUFFER, "validation_split": 0.0,
        "shift_pixels": SHIFT_PIXELS,
    }
    return [
        f"{key} {run_config[key]!r} (reference {value!r})"
        for key, value in expected.items()
        if key in run_config and run_config[key] != value
    ]


# (key, label, nophd preset or None for plain Keras): the same-recipe reference
# (the ratios' denominator), nophd's conv-bn, its fast rung, and the codelab's exact recipe.
SIDES = (
    ("reference", f"plain Keras conv-bn, +{SHIFT_PIXELS} px", None),
    ("nophd", "nophd conv-bn", "conv-bn"),
    ("fast", "nophd conv-bn-fast", "conv-bn-fast"),
    ("codelab", "plain Keras, codelab", None),
)


def spread(values: list[float | None]) -> dict:
    """Median, min and max of the values that exist, and how many do."""
    present = sorted(value for value in values if value is not None)
    if not present:
        return {"median": None, "min": None, "max": None, "count": 0}
    return {"median": statistics.median(present), "min": present[0], "max": present[-1], "count": len(present)}


def aggregate(results: dict[str, list[dict]], targets: tuple[float, ...]) -> dict:
    """Per side and target: the spread of seconds to target over seeds, and the ratios of medians to the reference."""
    table = {}
    for side, runs in results.items():
        table[side] = {
            "seeds": len(runs),
            "to_target": {f"{target:g}": spread([run["seconds_to_target"][f"{target:g}"] for run in runs])
                          for target in targets},
            "best_accuracy": spread([run["best_accuracy"] for run in runs]),
            "final_test_accuracy": spread([run.get("final_test_accuracy") for run in runs]),
            "seconds_per_epoch": spread([run["seconds_per_epoch"] for run in runs]),
            "fastest_epoch_seconds": spread([run["fastest_epoch_seconds"] for run in runs]),
        }
    reference = table.get("reference")
    for side, row in table.items():
        row["ratio_median_to_target"] = {
            key: (_ratio(row["to_target"][key]["median"], reference["to_target"][key]["median"])
                  if reference and row["to_target"][key]["count"] == row["seeds"]
                  and reference["to_target"][key]["count"] == reference["seeds"] else None)
            for key in row["to_target"]
        }
    return table


def format_report(arguments, results: dict[str, list[dict]], table: dict, command: str) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    header = (
        f"time to {' and '.join(f'{100 * target:.2f}%' for target in arguments.targets)} test accuracy, seeds "
        f"{', '.join(map(str, arguments.seeds))}, up to {arguments.epochs} epochs (conv-bn-fast: its own "
        f"{arguments.fast_epochs or 'recipe'}), {cpus} CPU, TF {tf.__version__}, Keras {keras.__version__}"
    )
    if arguments.train_limit or arguments.test_limit:
        header += f", train limit {arguments.train_limit or 'none'}, test limit {arguments.test_limit or 'none'}"
    lines = [header, ""]
    columns = ["", *(f"s to {100 * t:.2f}% median (min-max) [seeds]" for t in arguments.targets),
               *(f"vs reference {100 * t:.2f}%" for t in arguments.targets), "final test acc median (min-max)",
               "s/epoch median", "fastest epoch s"]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    labels = {key: label for key, label, _ in SIDES}
    for side, row in table.items():
        cells = [labels[side]]
        for target in arguments.targets:
            figure = row["to_target"][f"{target:g}"]
            cells.append("not reached" if not figure["count"] else
                         f"{figure['median']:.1f} ({figure['min']:.1f}-{figure['max']:.1f}) [{figure['count']}/{row['seeds']}]")
        for target in arguments.targets:
            ratio = row["ratio_median_to_target"][f"{target:g}"]
            cells.append(f"{ratio:.2f}x" if ratio is not None else "n/a")
        final = row["final_test_accuracy"] if row["final_test_accuracy"]["count"] else row["best_accuracy"]
        cells.append(f"{100 * final['median']:.2f}% ({100 * final['min']:.2f}-{100 * final['max']:.2f})")
        cells.append(f"{row['seconds_per_epoch']['median']:.1f}")
        cells.append(f"{row['fastest_epoch_seconds']['min']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("per seed (epoch reached, seconds) per target:")
    for side, runs in results.items():
        for seed, run in zip(arguments.seeds, runs):
            parts = [f"{100 * float(key):.2f}%: " + (f"epoch {run['reached_at_epoch'][key]}, {run['seconds_to_target'][key]:.1f} s"
                                                    if run["seconds_to_target"][key] is not None else "not reached")
                     for key in run["seconds_to_target"]]
            lines.append(f"  {labels[side]}, seed {seed}: " + "; ".join(parts)
                         + f"; accuracy by epoch {', '.join(f'{100 * a:.2f}' for a in run['epoch_accuracies'])}"
                         + (f"; final {100 * run['final_test_accuracy']:.2f}%" if run.get("final_test_accuracy") else ""))
    lines.append(
        "seconds to target: wall time from the start of training to the end of the epoch that reached it (the test "
        "set validates every epoch), earlier epochs' run-folder writes included; a nophd run reached only by its final "
        "figure (after precise batch norm) counts its whole call. Ratios: median over the seeds against the plain-Keras "
        "reference's median, n/a unless every seed of both reached the target."
    )
    for run in results.get("nophd", []):
        mismatches = _recipe_mismatches(run.get("config", {}))
        if mismatches:
            lines.append("warning: nophd's conv-bn recipe differs from the reference: " + "; ".join(mismatches))
            break
    lines.append(f"command: {command}")
    return "\n".join(lines)


def _command_line() -> str:
    prefix = f"NOPHD_DATA={shlex.quote(os.environ['NOPHD_DATA'])} " if os.environ.get("NOPHD_DATA") else ""
    return prefix + shlex.join([os.path.relpath(sys.executable) if sys.executable else "python", *sys.argv])


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1], e.g. 0.995; got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text}")
    return value


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2; got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected seeds like 0,1,2; got {text!r}")
    return seeds


def _targets(text: str) -> tuple[float, ...]:
    return tuple(_fraction(part) for part in text.split(",") if part.strip())


def parse_arguments(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=_targets, default=(0.994, 0.995),
                        help="test accuracies to reach, comma-separated (default 0.994,0.995)")
    parser.add_argument("--epochs", type=_positive, default=10,
                        help="epoch budget of the reference, conv-bn and the codelab run (default 10)")
    parser.add_argument("--fast-epochs", type=_positive, default=None,
                        help="epochs of conv-bn-fast (default: its recipe's)")
    parser.add_argument("--seeds", type=_seeds, default=[0, 1, 2], help="seeds, comma-separated (default 0,1,2)")
    parser.add_argument("--sides", default="reference,nophd,fast",
                        help="which runs, comma-separated, from reference, nophd, fast, codelab "
                             "(default reference,nophd,fast; the ratios need reference)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the four MNIST files (default: found like nophd does, e.g. $NOPHD_DATA/mnist)")
    parser.add_argument("--train-limit", type=_positive, default=None, help="train on the first N examples only (smoke runs)")
    parser.add_argument("--test-limit", type=_positive, default=None, help="validate on the first N test examples only")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON to this file")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep nophd's run folders in this folder, as <preset>-seed<seed> (e.g. for "
                             "benchmarks/robustness.py); by default they are deleted")
    arguments = parser.parse_args(argv)
    arguments.sides = [side.strip() for side in arguments.sides.split(",") if side.strip()]
    unknown = sorted(set(arguments.sides) - {key for key, _, _ in SIDES})
    if unknown:
        parser.error(f"--sides: unknown {', '.join(unknown)}; choose from {', '.join(key for key, _, _ in SIDES)}")
    return arguments


def main(argv=None) -> int:
    arguments = parse_arguments(argv)
    command = _command_line()
    from nophd.data import mnist
    from nophd.errors import NophdError

    try:
        data_dir = mnist.locate(arguments.data_dir)
    except NophdError as error:
        print(f"mnist_time_to_accuracy: {error}", file=sys.stderr)
        return 2
    files = mnist.file_paths(data_dir)
    if arguments.train_limit is not None and arguments.train_limit < 128:
        print("mnist_time_to_accuracy: --train-limit must be at least the largest batch size, 128", file=sys.stderr)
        return 2

    presets_by_side = {key: preset for key, _, preset in SIDES}
    labels = {key: label for key, label, _ in SIDES}
    results: dict[str, list[dict]] = {side: [] for side in arguments.sides}
    # Seed by seed, every side in turn, so that the machine's slow spells fall on all of them.
    for seed in arguments.seeds:
        for side in arguments.sides:
            # Start each run from a fresh Keras state, so one does not leave the next anything.
            keras.backend.clear_session()
            print(f"training {labels[side]}, seed {seed} ...", file=sys.stderr, flush=True)
            limits = (arguments.train_limit, arguments.test_limit)
            if presets_by_side[side]:
                epochs = arguments.fast_epochs if side == "fast" else arguments.epochs
                figures = run_nophd(presets_by_side[side], data_dir, epochs, seed, *limits, keep=arguments.keep)
            else:
                figures = run_reference(files, arguments.epochs, seed, *limits,
                                        shift_pixels=SHIFT_PIXELS if side == "reference" else 0)
            results[side].append(summarize(figures, arguments.targets))

    table = aggregate(results, arguments.targets)
    print(format_report(arguments, results, table, command))
    if arguments.json is not None:
        document = {
            "targets": list(arguments.targets), "epochs": arguments.epochs, "fast_epochs": arguments.fast_epochs,
            "seeds": arguments.seeds, "sides": arguments.sides,
            "train_limit": arguments.train_limit, "test_limit": arguments.test_limit,
            "data_dir": str(data_dir), "tensorflow": tf.__version__, "keras": keras.__version__,
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "command": command,
            "summary": table,
            "runs": {side: [{key: value for key, value in run.items() if key != "config"} for run in runs]
                     for side, runs in results.items()},
        }
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        temporary = arguments.json.with_name(arguments.json.name + ".tmp")
        temporary.write_text(json.dumps(document, indent=2) + "\n")
        temporary.replace(arguments.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
