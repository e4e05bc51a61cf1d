"""Digits: the MNIST ladder's kind of run (28x28 grey digits, ten classes).

How its data are opened and split (the MNIST files; the 10,000 test images,
or a share of the training images, validate), how its models are built (the
ladder's registry), how a picture becomes a model input (MNIST's own
recipe, `nophd.data.images.to_mnist`), and how it is scored: on the MNIST
test set.

Example:
    task = tasks.get("digits")
    inputs = task.prepare(Image.open("seven.png"), 28)  # float32 (28, 28, 1)
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nophd import atomic, runs, values as values_module
from nophd.errors import ConfigError
from nophd.data import augment, images
from nophd.tasks import base
from nophd.tasks.base import Task

DIGIT_SIZE = images.MNIST_SIZE
# A picture whose MNIST-style digit has fewer ink pixels (above 0.2) than
# this holds no digit: blank, too faint, or noise with no stroke standing out
# from it (to_mnist removes the border's level plus five deviations). The
# fewest in the real MNIST test set is 34.
MIN_INK_PIXELS = 10
INK_LEVEL = 0.2
# The server decodes at most this many pixels of a picture sent to a digit
# model: a digit becomes 28x28, so it gets a far smaller budget than a photo.
MAX_UPLOAD_PIXELS = 4096 * 4096 // 4
# The class names of each of nophd.config.DIGIT_CLASSES, in label order.
CLASS_NAMES = {"digits": tuple(str(digit) for digit in range(10)), "even-odd": ("even", "odd")}


def classes_of(values: dict[str, Any]) -> str:
    """What a digit run tells apart, from its config.json values ("digits" when it does not say: older runs)."""
    classes = values.get("classes") if isinstance(values, dict) else None
    return classes if classes in CLASS_NAMES else "digits"


def relabel(labels: np.ndarray, classes: str) -> np.ndarray:
    """MNIST's digit labels (N,) as the labels of `classes`: themselves, or 0 for even and 1 for odd digits."""
    labels = np.asarray(labels)
    if classes == "even-odd":
        return (labels % 2).astype(labels.dtype)
    return labels


class Digits(Task):
    name = "digits"
    noun = "digit"
    evaluated_split = "test"
    max_upload_pixels = MAX_UPLOAD_PIXELS
    takes_pixel_arrays = True
    shows_model_input = True
    mistakes_saved = False
    supports_robustness = True
    train_flag_fields = (*base.COMMON_TRAIN_FLAG_FIELDS, "classes", "net", "shift_pixels", "train_limit", "test_limit",
                         *augment.FIELDS)

    def config_class(self) -> type:
        from nophd.config import TrainConfig

        return TrainConfig

    def schedule_config(self, values: dict[str, Any], rate: float, decay: float | None):
        from nophd.config import RunConfig

        if values.get("lr_schedule") == "cosine":
            epochs, warmup = values_module.integer(values.get("epochs")), values_module.number(values.get("warmup_epochs", 0.0))
            if epochs is None or warmup is None:
                return None
            return RunConfig(task=self.name, learning_rate=rate, lr_schedule="cosine", epochs=epochs, warmup_epochs=warmup)
        return RunConfig(task=self.name, learning_rate=rate, lr_decay=decay)

    def planned_epochs(self, values: dict[str, Any]) -> int | None:
        return values_module.integer(values.get("epochs"))

    def image_size_of(self, model) -> int:
        return DIGIT_SIZE

    def check_model(self, model, where: str) -> None:
        from nophd.errors import RunError

        if tuple(model.input_shape[1:3]) != (DIGIT_SIZE, DIGIT_SIZE):
            # A photo run's config.json says how its pictures are prepared.
            raise RunError(f"{where}: missing or unreadable, and the model is not a digit model "
                           f"(it takes {tuple(model.input_shape[1:])}); restore config.json from a backup, "
                           "or retrain")

    def raw_shape(self, image_size: int) -> tuple[int, ...]:
        return (image_size, image_size)

    def matches_raw_shape(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 3 and shape[1] == shape[2]

    def raw_input_text(self) -> str:
        return "raw pixels 0..255, a white digit on black as in the MNIST files"

    def prepare(self, image, image_size: int) -> np.ndarray:
        return images.digits_input(images.to_mnist(image))[0]

    def warning(self, prepared: np.ndarray) -> str | None:
        if int((np.asarray(prepared, dtype=np.float32) > INK_LEVEL).sum()) < MIN_INK_PIXELS:
            return "no digit found (blank or noise after MNIST-style preprocessing); this guess means nothing"
        return None

    def is_blank(self, prepared: np.ndarray) -> bool:
        return not np.asarray(prepared).any()

    def raw_pixels(self, inputs: np.ndarray) -> np.ndarray:
        array = np.asarray(inputs)
        if array.dtype != np.uint8:
            array = np.clip(np.round(array.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
        if array.ndim == 4 and array.shape[-1] == 1:
            array = array[..., 0]
        return array

    def inputs_from_raw(self, raw: np.ndarray) -> np.ndarray:
        return images.digits_input(raw)

    def serving_features(self, inputs, image_size: int):
        import keras

        features = keras.layers.Rescaling(1.0 / 255.0, name="to_unit_range")(inputs)
        return keras.layers.Reshape((image_size, image_size, 1), name="add_channel")(features)

    def train(self, config, run_directory, resumed: bool, data_dir, progress: bool, distribution,
              explicit: frozenset[str] | None = None):
        from nophd.training import distribute

        with distribute.peer_failures(distribution):
            return train_digits(config, run_directory, resumed, data_dir, progress, distribution)

    def evaluate_run(self, run, model, run_config: dict[str, Any], data_dir, tta: tuple[str, ...] = ()) -> tuple[Any, str]:
        from nophd.data import mnist

        data = mnist.load(data_dir)
        labels = relabel(data.test_labels, classes_of(run_config))
        return evaluate_digits(model, data.test_images, labels), str(data.directory)

    def export_data(self, run_config: dict[str, Any], data_dir, representative_count: int, seed: int):
        """(calibration images drawn from the training set, the MNIST test images and labels, where they are)."""
        from nophd.data import mnist

        data = mnist.load(data_dir)
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(len(data.train_images), size=min(representative_count, len(data.train_images)),
                                    replace=False))
        return (data.train_images[chosen], data.test_images, relabel(data.test_labels, classes_of(run_config)),
                f"MNIST test set ({len(data.test_labels):,} images) in {data.directory}")

    def train_words(self, values: dict[str, Any]) -> list[str]:
        return [str(values.get("dataset") or "mnist"), "--model", str(values.get("model") or "MODEL")]

    def default_config(self, values: dict[str, Any]) -> dict[str, Any] | None:
        from nophd import presets

        try:
            return dataclasses.asdict(presets.preset(str(values.get("model"))))
        except ConfigError:
            return None

    def intended_use(self, config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
        from nophd import presets

        two_classes = classes_of(config) == "even-odd"
        what = ("Tells whether one handwritten digit per picture is even (0, 2, 4, 6, 8) or odd (1, 3, 5, 7, 9)."
                if two_classes else "Classifies one handwritten digit, 0 to 9, per picture.")
        sentences = [
            f"{what} It expects MNIST-style input: a single digit, "
            "centred by its mass, light strokes on a dark background, 28x28 grey pixels. nophd predict and the "
            "dashboard bring other pictures to that form (MNIST's own recipe), but a picture far from it (several "
            "digits, a digit touching the edges, a photo of a scene) is outside what the model has seen.",
            "It always answers even or odd: a letter, a symbol or an empty picture still gets one." if two_classes
            else "It always answers one of the ten digits: a letter, a symbol or an empty picture still gets one.",
        ]
        if metrics.get("official_data") is False:
            sentences.append("It was trained and evaluated on digits that are not the official MNIST files (generated "
                             "or partial data): its figures say nothing about real handwriting.")
        limit = values_module.integer(config.get("test_limit"))
        if limit:
            sentences.append(f"It was evaluated on the first {limit:,} test images only.")
        if not values_module.number(config.get("validation_split")):
            sentences.append("Its validation curves were drawn on the test set, the codelab's convention; nothing "
                             "was selected on it (no early stopping, no best epoch), so the test figure stays honest.")
        try:
            preset = presets.get(str(config.get("model") or metrics.get("model")))
        except ConfigError:
            preset = None
        if preset is not None and preset.codelab_accuracy is not None:
            sentences.append(f"A rung of the codelab's ladder: the codelab reports {preset.codelab_text} for this "
                             "model with its recipe (the command below shows where this run differs).")
        elif preset is not None and preset.family == "ladder":
            sentences.append("A rung of the codelab's ladder for which the codelab gives no figure.")
        elif preset is not None:
            sentences.append(f"Beyond the codelab (a \"{preset.family}\" recipe of nophd's): no codelab figure to "
                             "compare with.")
        return sentences

    def check_robustness(self, run, values: dict[str, Any]) -> None:
        from nophd.errors import RunError

        super().check_robustness(run, values)
        if classes_of(values) != "digits":
            raise RunError(f"{run}: robustness suite: ten-digit runs only (this run tells {classes_of(values)} apart)")

    def robustness_sets(self, data_dir, seed: int, per_set: int, stroke_count: int) -> tuple[list, str]:
        """MNIST-C corruptions of a seeded sample of the MNIST test set, font digits and stroke-drawn digits."""
        from nophd.data import mnist
        from nophd.robustness import suite

        data = mnist.load(data_dir)
        return (suite.build_suite(data.test_images, data.test_labels, seed=seed, per_set=per_set, stroke_count=stroke_count),
                f"MNIST test set in {data.directory}")


TASK = Digits()

# Validation and test images are scored 1,000 at a time.
VALIDATION_BATCH = 1000
# The final model's batch-norm statistics are recomputed over at most this
# many training images (the first ones): a few seconds for conv-bn on 2 cores.
PRECISE_BN_IMAGES = 4096


def evaluate_digits(model, digits: np.ndarray, labels: np.ndarray, batch_size: int = VALIDATION_BATCH):
    """Runs a digit model over MNIST-style `digits` once and scores it against `labels` (a scoring.Evaluation)."""
    from nophd import scoring

    probabilities = np.asarray(model.predict(images.as_model_input(digits), batch_size=batch_size, verbose=0))
    return scoring.score(probabilities, labels)


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


def load_mnist_splits(config, data_dir: str | os.PathLike | None) -> MnistSplits:
    """Validates the MNIST files (a TrainConfig's limits and split), then streams the arrays they hold as datasets."""
    from nophd.data import mnist, pipeline

    data = mnist.load(data_dir)
    # Two-class runs (classes "even-odd") train and are scored on their own labels.
    train_labels, test_labels = relabel(data.train_labels, config.classes), relabel(data.test_labels, config.classes)
    train_records = pipeline.mnist_arrays(data.train_images, train_labels)
    test_records = pipeline.mnist_arrays(data.test_images, test_labels)
    train_count = len(train_labels)
    test_images = data.test_images
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


def train_digits(config, run_directory: Path, resumed: bool, data_dir, progress: bool, distribution):
    """Trains ladder rung `config.model` on MNIST into the locked `run_directory`; returns loop.RunResult."""
    from nophd import presets
    from nophd.inference import loading
    from nophd.models import registry, two_class
    from nophd.training import distribute, loop

    spec = presets.get(config.model)
    # Checked before any data is read: an unknown --net fails at once, naming the valid ones.
    net = config.net or spec.model
    if net not in registry.names():
        raise ConfigError(f"net: unknown net {net!r}; valid nets: {', '.join(registry.names())} (`nophd models`)")
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
    class_count = len(CLASS_NAMES[config.classes])
    run_directory.mkdir(parents=True, exist_ok=True)

    checkpoint = run_directory / runs.CHECKPOINT if resumed else None
    if distribution.workers > 1:
        checkpoint = distribute.common_checkpoint(run_directory, steps_per_epoch, distribution)
    # Variables made in the strategy's scope live on its replicas.
    with distribution.strategy.scope():
        if checkpoint is not None:
            loading.register_functions()  # conv-l2's Lambda layer calls a registered function.
            model = keras.models.load_model(checkpoint)
            initial_epoch, history_rows, wall_before = loop.resume_point(model, steps_per_epoch, run_directory)
            if progress:
                print(f"nophd: resuming {run_directory} after epoch {initial_epoch}/{config.epochs}", file=sys.stderr)
        else:
            model = registry.build(net, num_classes=config.output_units)
            loop.compile_model(model, config, steps_per_epoch)
            loop.write_config(run_directory, config, identity)
            initial_epoch, history_rows, wall_before = 0, [], 0.0
            atomic.write_text(run_directory / runs.SUMMARY, loop.model_summary(model))

    loop.start_run(run_directory, config, initial_epoch, wall_before, config.epochs)
    train_dataset = pipeline.training_dataset(
        splits.train_records, config.batch_size, one_hot, config.seed, config.shuffle_buffer,
        skip_batches=initial_epoch * steps_per_epoch, shift_pixels=config.shift_pixels,
        augmentation=config.augmentation, num_classes=class_count,
    )
    validation_dataset = pipeline.evaluation_dataset(splits.validation_records, VALIDATION_BATCH, one_hot, class_count)
    wall_seconds = loop.fit_epochs(
        model, run_directory, config, train_dataset, validation_dataset,
        steps_per_epoch=steps_per_epoch, validation_steps=-(-splits.validation_count // VALIDATION_BATCH),
        initial_epoch=initial_epoch, final_epoch=config.epochs, history_rows=history_rows,
        wall_before=wall_before, progress=progress, distribution=distribution,
    )
    precise = _precise_batch_norm(model, splits, one_hot, class_count, progress)
    # A single sigmoid output is saved, scored and served as two probabilities [1 - p, p] (nophd.models.two_class).
    model = two_class.two_class_model(model)
    loop.save_final_model(run_directory, model)
    metrics = _finish(run_directory, config, spec, net, model, splits, history_rows, wall_seconds, precise)
    loop.end_run(run_directory, config.epochs, wall_seconds)
    return loop.RunResult(run_directory, metrics)


def _precise_batch_norm(model, splits: MnistSplits, one_hot: bool, class_count: int,
                        progress: bool) -> dict[str, int] | None:
    """Recomputes the final model's batch-norm statistics over the first training images (precise_bn).

    The first PRECISE_BN_IMAGES records of the training split, decoded as
    for validation (no shifts): a fixed set, so a resumed run ends with the
    statistics of an uninterrupted one. None when the model has no trainable
    batch norm (nothing is read).
    """
    from nophd.data import pipeline
    from nophd.training import precise_bn

    count = min(splits.train_count, PRECISE_BN_IMAGES)
    # Lazy: nothing is read when the model has no trainable batch norm.
    dataset = pipeline.evaluation_dataset(splits.train_records.take(count), precise_bn.BATCH, one_hot, class_count)
    images = precise_bn.recompute_batch_norm(model, dataset, max_images=count)
    if not images:
        return None
    if progress:
        print(f"nophd: batch-norm statistics recomputed over {images:,} training images with the final weights "
              "(precise BN)", file=sys.stderr)
    return {"images": images}


def _finish(run_directory: Path, config, spec, net: str, model, splits: MnistSplits, history_rows, wall_seconds,
            precise: dict[str, int] | None = None):
    """Evaluates on the test set and writes metrics, pictures and the report."""
    from nophd.reports import artifacts
    from nophd.training import loop

    evaluation = evaluate_digits(model, splits.test_images, splits.test_labels)
    metrics = {
        "model": config.model,
        "net": net,
        "task": config.task,
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
        # Per-class accuracy (recall), precision, F1, their macro averages and the
        # confusion matrix (rows true classes, columns predicted).
        **evaluation.class_figures(),
        "class_names": list(CLASS_NAMES[config.classes]),
        "versions": loop.versions(),
        "finished_at": runs.now(),
    }
    if precise:
        metrics["precise_bn"] = precise
    atomic.write_json(run_directory / runs.METRICS, metrics)
    two_classes = config.classes != "digits"
    artifacts.write_final(run_directory, config, history_rows, model, evaluation, splits.test_images, splits.test_labels,
                          class_names=list(CLASS_NAMES[config.classes]) if two_classes else None,
                          relabel=(lambda labels: relabel(labels, config.classes)) if two_classes else None)
    return metrics
