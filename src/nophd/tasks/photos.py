"""Photos: transfer learning on a folder of labelled photos (tf_flowers, yours).

How its data are opened and split (`nophd.data.photos`: tf_flowers, an
image folder or TFRecord shards, a seeded stratified validation split), how
its model is built (a frozen ImageNet backbone and a new head,
`nophd.models.transfer`), how a picture becomes a model input (upright, RGB,
resized as the training pipeline resizes), and how it is scored: on its own
held-out validation split, on which nothing is selected.

The workflow (`train_photos`):

Phase 1 ("frozen", `epochs`): the backbone is frozen and only the head
trains. Without augmentation every image looks the same in every epoch, so
the backbone's features are computed once (`transfer.head_features_model`)
and the head trains on them: an epoch then costs milliseconds instead of a
pass through MobileNet. With augment "all" the whole model runs on freshly
augmented images each epoch; augment "fine-tune" keeps the cached frozen
phase and augments only while fine-tuning, where the model runs on images
anyway.

Phase 2 ("fine-tune", `fine_tune_epochs`): the top `fine_tune_layers`
backbone layers are unfrozen (batch normalization stays frozen, so it keeps
running on its ImageNet statistics) and the whole model trains on images at
`fine_tune_learning_rate`. With augment "off", the same trick one level
down: the layers below the unfrozen ones are frozen, so their output for an
image never changes; it is computed once (`transfer.frozen_bottom_split`,
cut at the last block boundary below the first unfrozen layer) and only the
top trains on it, with the same result as training on images
(tests/training/test_photos.py) at a fraction of the cost. The checkpoint
is then the top, which a resumed run copies back into a fresh model.

Resuming: phase 1 saves checkpoint.keras (the head on cached features, or
the whole model), phase 2 checkpoint-fine-tune.keras; each holds its
optimizer's state and step count, which says how many epochs are done. The
frozen backbone is rebuilt from the same weights file on resume, and the
training stream skips the batches already seen, so a resumed run without
augmentation ends where an uninterrupted one would. (Keras' random
augmentation layers keep their generator state in memory only, so an
augmented run resumes with fresh random draws.)

The run is evaluated on its held-out validation split: nothing is selected
on it (no early stopping, no best-epoch pick), so it serves as the test set.

Example:
    task = tasks.get("photos")
    inputs = task.prepare(Image.open("rose.jpg"), 192)  # float32 (192, 192, 3), 0..255
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nophd import atomic, runs, scoring, values as values_module
from nophd.data import photo_augment
from nophd.errors import ConfigError, RunError
from nophd.tasks import base
from nophd.tasks.base import Task

# A photo whose grey levels spread less than this (standard deviation, of
# 255) is one flat colour.
MIN_PHOTO_SPREAD = 2.0
# The server decodes at most this many pixels of a photo (JPEGs are first
# decoded at a reduced scale, so a phone's 48 megapixels count as what is
# really decoded).
MAX_UPLOAD_PIXELS = 40_000_000


class Photos(Task):
    name = "photos"
    noun = "photo"
    evaluated_split = "validation"
    max_upload_pixels = MAX_UPLOAD_PIXELS
    train_flag_fields = (*base.COMMON_TRAIN_FLAG_FIELDS, "base", "head", "dropout", "image_size", "weights",
                         "fine_tune_epochs", "fine_tune_layers", "fine_tune_learning_rate", "lr_decay", "augment",
                         "augmentations", "class_weight", "tuning_split")

    def config_class(self) -> type:
        from nophd.config import PhotoConfig

        return PhotoConfig

    def schedule_config(self, values: dict[str, Any], rate: float, decay: float | None):
        from nophd.config import PhotoConfig

        frozen, fine_rate = values_module.integer(values.get("epochs")), values_module.number(values.get("fine_tune_learning_rate"))
        if frozen is None:
            return None
        return PhotoConfig(learning_rate=rate, epochs=frozen, lr_decay=decay,
                           fine_tune_learning_rate=fine_rate if fine_rate is not None else rate)

    def planned_epochs(self, values: dict[str, Any]) -> int | None:
        epochs = values_module.integer(values.get("epochs"))
        if epochs is not None:
            epochs += values_module.integer(values.get("fine_tune_epochs")) or 0
        return epochs

    def raw_shape(self, image_size: int) -> tuple[int, ...]:
        return (image_size, image_size, 3)

    def matches_raw_shape(self, shape: tuple[int, ...]) -> bool:
        return len(shape) == 4 and shape[1] == shape[2] and shape[3] == 3

    def raw_input_text(self) -> str:
        return "raw RGB pixels 0..255, resized to the run's image size"

    def prepare(self, image, image_size: int) -> np.ndarray:
        from nophd.data import folders

        pixels = np.asarray(folders.to_rgb(image), dtype=np.uint8)
        return np.asarray(folders.resize(pixels, image_size), dtype=np.float32)

    def warning(self, prepared: np.ndarray) -> str | None:
        if float(np.asarray(prepared, dtype=np.float32).mean(axis=-1).std()) < MIN_PHOTO_SPREAD:
            return "the picture is one flat colour; this guess means nothing"
        return None

    def raw_pixels(self, inputs: np.ndarray) -> np.ndarray:
        array = np.asarray(inputs)
        if array.dtype != np.uint8:
            array = np.clip(np.round(array.astype(np.float32)), 0, 255).astype(np.uint8)
        return array

    def inputs_from_raw(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(raw).astype(np.float32)

    def serving_features(self, inputs, image_size: int):
        import keras

        # Rescaling casts to the layer's float dtype; a scale of 1 keeps the
        # 0..255 values the photo model's own Rescaling expects.
        return keras.layers.Rescaling(1.0, name="to_float")(inputs)

    def train(self, config, run_directory, resumed: bool, data_dir, progress: bool, distribution,
              explicit: frozenset[str] | None = None):
        # Photo runs build and compile their models inside the scope too,
        # so Model.fit and predict run under the strategy.
        with distribution.strategy.scope():
            return train_photos(config, run_directory, resumed, data_dir, progress,
                                adapt_batch=explicit is not None and "batch_size" not in explicit
                                and distribution.replicas == 1)

    def tta_views(self, run, run_config: dict[str, Any], tta) -> tuple[str, ...]:
        from nophd.inference import tta as tta_module

        chosen = tta_module.chosen_views(tta)
        augmentations = run_config.get("augmentations")
        if "flip" in chosen and "flip" not in (augmentations if isinstance(augmentations, list) else photo_augment.DEFAULT):
            # A run that trained without flips has classes where left and right matter: no mirrored views.
            if tta is not True:
                raise ConfigError(f"--tta-views flip: {run} trained without flips (left and right matter for its "
                                  "classes); leave flip out")
            chosen = tuple(view for view in chosen if view != "flip")
        return chosen

    def evaluate_run(self, run, model, run_config: dict[str, Any], data_dir, tta: tuple[str, ...] = ()) -> tuple[Any, str]:
        data = _reopen(run_config, data_dir)
        images, labels = collect(data.validation_dataset(), len(data.validation), "validation", progress=False)
        evaluation = evaluate_images(model, images, labels, tta=tta)
        where = str(data.source)
        if Path(run).is_dir() and not tta:  # mistakes.json keeps the model's own mistakes, as training wrote them.
            from nophd.reports import artifacts

            artifacts.write_mistakes(Path(run), evaluation, images, data.class_names, "validation photos", where)
        return evaluation, where

    def train_words(self, values: dict[str, Any]) -> list[str]:
        return [str(values.get("dataset") or "flowers")]

    def default_config(self, values: dict[str, Any]) -> dict[str, Any] | None:
        from nophd import config

        # The defaults of the run's own backbone (PHOTO_RECIPES), which `--base B` alone brings back;
        # "base" itself stays the default backbone, so a run on another one names it.
        dataset, base = str(values.get("dataset") or "flowers"), values.get("base")
        try:
            defaults = dataclasses.asdict(config.photo_config(dataset, base=base if isinstance(base, str) else None))
        except config.ConfigError:  # A backbone this version does not know: the plain defaults.
            defaults = dataclasses.asdict(config.photo_config(dataset))
        return {**defaults, "base": config.PhotoConfig.base}

    def intended_use(self, config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
        names = config.get("class_names") or metrics.get("class_names")
        names = [str(name) for name in names] if isinstance(names, list) else []
        size = values_module.integer(config.get("image_size") or metrics.get("image_size"))
        sentences = [
            (f"Tells apart only its {len(names)} classes ({', '.join(names)})" if names else "Tells apart only the "
             "classes of the photos it was trained on") + ": a photo of anything else still gets one of these labels, "
            "often with high confidence. It has no \"none of these\" answer.",
            f"It takes an RGB photo, resized to {size}x{size} pixels" if size else "It takes an RGB photo",
        ]
        sentences[-1] += ("; photos unlike its training photos (other cameras, lighting, framing, drawings) may be "
                          "classified far worse than its figures say.")
        if metrics.get("weights") in ("random", "none") or config.get("weights") == "none":
            sentences.append("Its backbone started from random weights, not ImageNet's: expect figures near chance.")
        if values_module.number(config.get("tuning_split")):
            sentences.append("It was scored on a tuning split carved out of its training photos, to compare recipes; "
                             "the validation split was not read. Retrain the chosen recipe without --tuning-split for "
                             "a final figure.")
        augmentations = config.get("augmentations")
        if config.get("augment") in ("all", "fine-tune") and isinstance(augmentations, list) and "flip" in augmentations:
            sentences.append("It trained with mirrored photos: classes that differ only by left and right (arrows, "
                             "some letters) are beyond it.")
        sentences.append("Transfer learning in the spirit of the codelab's flowers lab; the codelab records no figure "
                         "for this run to be compared with.")
        return sentences

    def export_data(self, run_config: dict[str, Any], data_dir, representative_count: int, seed: int):
        """A photo run's data reopened as training made it (same source, split, seed and image size):
        (calibration images drawn from its training split, its validation images and labels, where they are)."""
        data = _reopen(run_config, data_dir)
        rng = np.random.default_rng(seed)
        count = min(representative_count, len(data.training))
        chosen = np.sort(rng.choice(len(data.training), size=count, replace=False))
        representative, _ = collect(data.dataset([data.training[index] for index in chosen]), count, "calibration",
                                    progress=False)
        images, labels = collect(data.validation_dataset(), len(data.validation), "validation", progress=False)
        return (_as_uint8(representative), _as_uint8(images), labels,
                f"held-out {data.held_out} split ({len(labels):,} images) of {data.source}")


def _reopen(run_config: dict[str, Any], data_dir):
    """A finished photo run's dataset opened again as training opened it: same source, split, seed, size and classes.

    Raises:
        RunError: config.json lacks a field that says how.
        DataError: the data are missing, or their classes changed since the run started.
    """
    from nophd.data import photos

    try:
        source, image_size = run_config["dataset"], int(run_config["image_size"])
        validation_split, seed = float(run_config["validation_split"]), int(run_config["seed"])
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"the run's {runs.CONFIG} lacks a usable photo field ({error})") from None
    tuning_split = float(run_config.get("tuning_split") or 0.0)
    data = photos.open_photos(source, image_size=image_size, validation_split=validation_split, seed=seed,
                              data_dir=data_dir, tuning_split=tuning_split)
    data.require_classes(run_config.get("class_names"))
    return data


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """Pixels as uint8, the raw input exports take (resized shard images may arrive as float 0..255)."""
    return images if images.dtype == np.uint8 else np.clip(np.round(images), 0, 255).astype(np.uint8)


TASK = Photos()

FINE_TUNE_CHECKPOINT = "checkpoint-fine-tune.keras"
# A small folder's batch (small_folder_batch): aim for this many steps an
# epoch (the dashboard's little-data warning starts under it), never a batch under MIN_BATCH.
MIN_STEPS_PER_EPOCH = 10
MIN_BATCH = 4
PREDICT_BATCH = 64
# Fine-tuning without augmentation trains the top on the frozen layers' cached outputs (train_photos), when
# they fit in this many bytes (float32, training and validation images together); tests switch it off to compare.
CACHE_FROZEN_LAYERS = True
CACHED_OUTPUTS_LIMIT = 2 * 2**30


def balanced_class_weights(labels: np.ndarray, classes: int) -> dict[int, float]:
    """total / (classes * count of class) for each class, as scikit-learn's "balanced".

    Example:
        balanced_class_weights(np.array([0, 0, 0, 1]), 2)  # {0: 0.667, 1: 2.0}
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=classes)
    return {index: float(len(labels) / (classes * count)) if count else 0.0 for index, count in enumerate(counts)}


def collect(dataset, count: int, what: str, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """Reads a (uint8 image, label) dataset into memory: (N, S, S, 3) uint8 and (N,) int32."""
    images, labels = [], []
    start = time.monotonic()
    done, last = 0, start
    for image_batch, label_batch in dataset.batch(PREDICT_BATCH).prefetch(2).as_numpy_iterator():
        images.append(image_batch)
        labels.append(label_batch)
        done += len(label_batch)
        if progress and (time.monotonic() - last > 2 or done == count):
            last = time.monotonic()
            print(f"nophd: reading {what}: {done:,}/{count:,} images  {last - start:.0f} s", file=sys.stderr)
    if not images:
        raise ConfigError(f"no {what} images to read")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def small_folder_batch(train_count: int, batch_size: int) -> int:
    """The batch size a photo run uses for `train_count` training photos when none was asked for.

    At least MIN_STEPS_PER_EPOCH steps an epoch where the folder allows: the
    largest power of two up to train_count / MIN_STEPS_PER_EPOCH, never
    under MIN_BATCH (so never over the photos there are) nor over
    `batch_size`. A Teachable Machine-size folder (3 classes of 10 photos:
    24 training photos) trains at batch 4, 6 steps an epoch, instead of
    failing on batch 32; tf_flowers keeps 32.

    Example:
        small_folder_batch(24, 32)  # 4
    """
    target = max(train_count // MIN_STEPS_PER_EPOCH, 1)
    power = 1 << (target.bit_length() - 1)
    return max(min(power, batch_size), min(MIN_BATCH, batch_size, train_count))


def train_photos(config, run_directory: Path, resumed: bool, data_dir, progress: bool, adapt_batch: bool = False):
    """Trains and evaluates a photo classifier (a PhotoConfig) into the locked `run_directory`.

    With `adapt_batch` (the user gave no batch size), a small folder trains
    at a smaller batch (small_folder_batch), which config.json then records.

    Returns:
        loop.RunResult for the run folder.
    """
    import keras

    from nophd.data import photos
    from nophd.models import transfer, two_class
    from nophd.training import loop

    data = photos.open_photos(
        config.dataset, image_size=config.image_size, validation_split=config.validation_split, seed=config.seed,
        data_dir=data_dir, tuning_split=config.tuning_split,
    )
    data.require_classes(config.class_names)
    identity = {"photos_index_sha256": data.index_sha256()}
    if resumed:
        loop.check_data_identity(run_directory, identity, str(data.source))
    config = dataclasses.replace(config, class_names=tuple(data.class_names))
    train_count = len(data.training)
    if adapt_batch and not resumed:
        batch_size = small_folder_batch(train_count, config.batch_size)
        if batch_size != config.batch_size and progress:
            print(f"nophd: {train_count} training photos: batch size {batch_size} instead of {config.batch_size}, "
                  f"for {train_count // batch_size} steps an epoch (set --batch-size to choose)", file=sys.stderr)
        config = dataclasses.replace(config, batch_size=batch_size)
    if train_count < config.batch_size:
        raise ConfigError(f"batch_size: {config.batch_size} is larger than the {train_count} training images; "
                          f"lower --batch-size to {train_count} or less, or leave it out for nophd to pick one")
    steps_per_epoch = train_count // config.batch_size
    classes = len(data.class_names)
    if config.loss == "binary_crossentropy" and classes != 2:
        raise ConfigError(f"--loss binary_crossentropy: one sigmoid output tells two classes apart; {data.source} "
                          f"has {classes}")
    # Two classes with binary cross-entropy: one sigmoid output, the probability of the second class.
    outputs = 1 if config.loss == "binary_crossentropy" else classes
    if progress:
        print(f"nophd: {data.source}: {classes} classes ({', '.join(data.class_names)}), "
              f"{train_count:,} training and {len(data.validation):,} {data.held_out} images"
              + (f", {len(data.skipped)} file(s) skipped" if data.skipped else ""), file=sys.stderr)

    loop.seed_everything(config.seed)
    run_directory.mkdir(parents=True, exist_ok=True)
    weights = transfer.resolve_weights(config.base, config.weights, data_dir)

    def fresh_model():
        return transfer.build_transfer_model(
            config.base, outputs, config.image_size, config.head, config.dropout, weights=weights or "none"
        )

    fine_checkpoint = run_directory / FINE_TUNE_CHECKPOINT
    frozen_checkpoint = run_directory / runs.CHECKPOINT
    cached = config.augment != "all"
    if not resumed:
        for leftover in (fine_checkpoint, frozen_checkpoint):
            leftover.unlink(missing_ok=True)  # From a run restarted before its first epoch ended.

    # Where the run stands: which phase, how many epochs done, the model(s). The fresh model is built first, as
    # in an uninterrupted run: loading a checkpoint draws initializer seeds, which would change random weights.
    head = None
    in_fine_tuning = resumed and fine_checkpoint.exists()
    top = None  # Fine-tuning on cached frozen-layer outputs: the top of the model that trains (see below).
    model = fresh_model()
    if in_fine_tuning:
        loaded = keras.models.load_model(fine_checkpoint)
        if transfer.is_frozen_top(loaded):
            top = loaded
        else:
            model = loaded
        initial_epoch, history_rows, wall_before = loop.resume_point(
            loaded, steps_per_epoch, run_directory, history_offset=config.epochs)
    elif resumed and frozen_checkpoint.exists():
        loaded = keras.models.load_model(frozen_checkpoint)
        if cached:
            head = loaded
        else:
            model = loaded
        initial_epoch, history_rows, wall_before = loop.resume_point(loaded, steps_per_epoch, run_directory)
    else:
        initial_epoch, history_rows, wall_before = 0, [], 0.0
    if not resumed:
        # Only once the model is built: a start-up that fails (unreadable
        # --weights) leaves no config.json to block a retry.
        loop.write_config(run_directory, config, identity)
        atomic.write_text(run_directory / runs.SUMMARY, loop.model_summary(model))
    if resumed and progress:
        print(f"nophd: resuming {run_directory} after epoch {initial_epoch}/{config.total_epochs}", file=sys.stderr)

    loop.start_run(run_directory, config, initial_epoch, wall_before, config.total_epochs)
    started = time.monotonic()
    train_images, train_labels = collect(data.training_dataset(), train_count, "training", progress)
    validation_images, validation_labels = collect(data.validation_dataset(), len(data.validation), "validation", progress)
    class_weight = balanced_class_weights(train_labels, classes) if config.class_weight == "balanced" else None
    seconds = {"reading": round(time.monotonic() - started, 3)}
    wall_before += time.monotonic() - started

    # Phase 1: frozen backbone.
    if initial_epoch < config.epochs:
        phase_start = time.monotonic()
        if cached:
            feature_extractor, shared_head = transfer.head_features_model(model)
            if head is None:
                head = shared_head
                _compile(head, config, config.learning_rate)
            train_inputs = _features(feature_extractor, train_images, "training", progress)
            validation_inputs = _features(feature_extractor, validation_images, "validation", progress)
            seconds["features"] = round(time.monotonic() - phase_start, 3)
            wall_before += time.monotonic() - phase_start
            fitted = head
        else:
            if not resumed:
                _compile(model, config, config.learning_rate)
            train_inputs, validation_inputs, fitted = train_images, validation_images, model
        wall_before = loop.fit_epochs(
            fitted, run_directory, config,
            _training_stream(train_inputs, _labels_for(train_labels, config, classes), config, initial_epoch * steps_per_epoch,
                             augment=config.augment == "all"),
            _batches(validation_inputs, _labels_for(validation_labels, config, classes)),
            steps_per_epoch=steps_per_epoch, validation_steps=None, initial_epoch=initial_epoch,
            final_epoch=config.epochs, history_rows=history_rows, wall_before=wall_before, progress=progress,
            class_weight=class_weight, phase="frozen",
        )
        seconds["frozen"] = round(time.monotonic() - phase_start, 3)
        if head is not None:
            _copy_head(head, model)
        initial_epoch = config.epochs
    elif head is not None:
        _copy_head(head, model)  # Phase 1 finished; the fine-tuning checkpoint was not written yet.

    # Phase 2: fine-tuning.
    unfrozen: list[str] = []
    fine_tuned_on = None
    if config.fine_tune_epochs:
        phase_start = time.monotonic()
        if not in_fine_tuning or top is not None:
            unfrozen = transfer.set_fine_tuning(model, config.fine_tune_layers)
        else:
            unfrozen = [layer.name for layer in transfer.backbone_of(model).layers if layer.trainable and layer.weights]
        fitted, train_inputs, validation_inputs = model, train_images, validation_images
        # Without augmentation, the frozen layers below the unfrozen ones give each image the same output in
        # every epoch: computed once, only the top trains on them (the frozen phase's trick, one level down).
        # A resumed phase keeps its checkpoint's form: the top (whatever the limit says now) or the whole model.
        if top is not None:
            split = transfer.frozen_bottom_split(model)
            if split is None:
                raise RunError(f"{run_directory / FINE_TUNE_CHECKPOINT}: holds the top of a model this nophd cannot "
                               "split the same way; start the run again without --resume")
        elif config.augment == "off" and not in_fine_tuning:
            split = _frozen_split(model, train_count + len(validation_images), progress)
        else:
            split = None
        if split is not None:
            bottom, shared_top = split
            fitted = top if top is not None else shared_top
            train_inputs = _features(bottom, train_images, "training", progress, "the frozen layers' outputs for")
            validation_inputs = _features(bottom, validation_images, "validation", progress, "the frozen layers' outputs for")
            fine_tuned_on = (f"cached outputs of the frozen layers up to {transfer.frozen_cut_name(bottom)} "
                             f"({' x '.join(str(size) for size in bottom.output.shape[1:])} per image)")
            seconds["frozen_layers"] = round(time.monotonic() - phase_start, 3)
            wall_before += time.monotonic() - phase_start  # Like the frozen phase's feature pass, it is the run's time.
        if not in_fine_tuning:
            _compile(fitted, config, config.fine_tune_learning_rate)
        wall_before = loop.fit_epochs(
            fitted, run_directory, config,
            _training_stream(train_inputs, _labels_for(train_labels, config, classes), config, (initial_epoch - config.epochs) * steps_per_epoch,
                             augment=config.augment != "off"),
            _batches(validation_inputs, _labels_for(validation_labels, config, classes)),
            steps_per_epoch=steps_per_epoch, validation_steps=None, initial_epoch=initial_epoch,
            final_epoch=config.total_epochs, history_rows=history_rows, wall_before=wall_before, progress=progress,
            checkpoint=FINE_TUNE_CHECKPOINT, class_weight=class_weight, phase="fine-tune",
        )
        if top is not None:  # A resumed run's top is the loaded checkpoint: its weights go into the fresh model.
            _copy_head(top, model)
        if fitted is not model:
            # The saved model carries the run's optimizer, loss and metrics, as when the whole model trained
            # (its optimizer's moments stay with the top in the checkpoint).
            _compile(model, config, config.fine_tune_learning_rate)
            model.optimizer.build(model.trainable_variables)  # So that loading model.keras finds what it saved.
        seconds["fine_tune"] = round(time.monotonic() - phase_start, 3)

    # A single sigmoid output is saved, scored and served as two probabilities [1 - p, p] (nophd.models.two_class).
    model = two_class.two_class_model(model)
    loop.save_final_model(run_directory, model)
    metrics = _finish(run_directory, config, data, model, validation_images, validation_labels, history_rows,
                      wall_before, unfrozen, weights, seconds, fine_tuned_on)
    loop.end_run(run_directory, config.total_epochs, wall_before, (runs.CHECKPOINT, FINE_TUNE_CHECKPOINT))
    return loop.RunResult(run_directory, metrics)


def evaluate_images(model, images: np.ndarray, labels: np.ndarray, tta: tuple[str, ...] = ()):
    """A photo model's scoring.Evaluation on uint8 images (fed as raw pixel values).

    With `tta` views (nophd.inference.tta.VIEWS), its probabilities averaged
    over the photos and those views of them.
    """
    if tta:
        from nophd.inference import tta as tta_module

        return scoring.score(tta_module.predict(model, images, tta, batch_size=PREDICT_BATCH), labels)
    probabilities = np.asarray(model.predict(images.astype(np.float32), batch_size=PREDICT_BATCH, verbose=0))
    return scoring.score(probabilities, labels)


def _compile(model, config, learning_rate: float) -> None:
    """Compiles with the run's optimizer, loss and gradient clipping at this phase's learning rate."""
    from nophd.training import loop

    loop.compile_model(model, dataclasses.replace(config, learning_rate=learning_rate))


def _features(feature_extractor, images: np.ndarray, what: str, progress: bool,
              outputs: str = "backbone features of") -> np.ndarray:
    """The frozen backbone's (or frozen layers') outputs for `images`, with progress lines."""
    from nophd.training import callbacks

    steps = -(-len(images) // PREDICT_BATCH)
    watcher = [callbacks.PredictProgress(steps, f"{outputs} the {what} images")] if progress else []
    return np.asarray(feature_extractor.predict(images, batch_size=PREDICT_BATCH, verbose=0, callbacks=watcher))


def _frozen_split(model, images: int, progress: bool):
    """transfer.frozen_bottom_split(model) when its cached outputs for `images` images fit in
    CACHED_OUTPUTS_LIMIT bytes; else None (the top then trains on images, as with augmentation)."""
    from nophd.models import transfer

    split = transfer.frozen_bottom_split(model) if CACHE_FROZEN_LAYERS else None
    if split is None:
        return None
    size = images * int(np.prod(split[0].output.shape[1:])) * 4
    if size > CACHED_OUTPUTS_LIMIT:
        if progress:
            print(f"nophd: fine-tuning on images: the frozen layers' outputs would take {size / 2**30:.1f} GiB",
                  file=sys.stderr)
        return None
    return split


def _copy_head(head, model) -> None:
    """The trained weights and dropout generator states of a part of the model (the head, or the fine-tuned
    top of transfer.frozen_bottom_split) into the full model.

    A no-op when they share layers; after a resume the part is a loaded
    checkpoint and the model a fresh build.
    """
    from nophd.models import transfer
    from nophd.training import callbacks

    transfer.copy_weights_by_name(head, model)
    callbacks.restore_random_states(model, callbacks.random_states(head))


def _labels_for(labels: np.ndarray, config, classes: int) -> np.ndarray:
    """Integer labels, or one-hot rows when the run's loss is categorical cross-entropy."""
    if config.loss == "categorical_crossentropy":
        return np.eye(classes, dtype=np.float32)[labels]
    return labels


def _training_stream(inputs: np.ndarray, labels: np.ndarray, config, skip_batches: int, augment: bool):
    """Endless shuffled batches; with augment, the run's random transforms (config.augmentations)."""
    import tensorflow as tf

    dataset = (
        tf.data.Dataset.from_tensor_slices((inputs, labels))
        .shuffle(min(config.shuffle_buffer, len(labels)), seed=config.seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(config.batch_size, drop_remainder=True)
    )
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    dataset = dataset.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        augmenter = photo_augment.augmenter(config.augmentations, config.seed)
        dataset = dataset.map(lambda x, y: (augmenter(x, training=True), y))
    return dataset.prefetch(tf.data.AUTOTUNE)


def _batches(inputs: np.ndarray, labels: np.ndarray):
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices((inputs, labels))
            .batch(PREDICT_BATCH)
            .map(lambda x, y: (tf.cast(x, tf.float32), y))
            .prefetch(tf.data.AUTOTUNE))


def _finish(run_directory: Path, config, data, model, images, labels, history_rows, wall_seconds,
            unfrozen, weights, seconds, fine_tuned_on: str | None = None) -> dict:
    """Evaluates the final model on the validation split; writes metrics, pictures, report."""
    from nophd.reports import artifacts
    from nophd.training import loop

    evaluation = evaluate_images(model, images, labels)
    frozen_row = history_rows[config.epochs - 1] if len(history_rows) >= config.epochs else None
    trainable = int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
    metrics = {
        "model": config.model,
        "task": config.task,
        "dataset": config.dataset,
        "data": str(data.source),
        "data_format": data.kind,
        "status": "finished",
        "test_accuracy": evaluation.accuracy,
        "test_loss": evaluation.loss,
        "evaluated_on": (f"the tuning split ({config.tuning_split:g} of each class's training photos, seed "
                         f"{config.seed}; the validation split was not read)" if config.tuning_split else
                         f"the held-out validation split ({config.validation_split:g} of each class, seed {config.seed})"),
        "tuning_split": config.tuning_split,
        "test_examples": int(len(labels)),
        "train_examples": len(data.training),
        "skipped_files": [list(entry) for entry in data.skipped],
        "frozen_accuracy": frozen_row.get("val_accuracy") if frozen_row else None,
        "epochs": config.epochs,
        "fine_tune_epochs": config.fine_tune_epochs,
        "fine_tuned_layers": unfrozen,
        # None: on images; else what the top layers trained on (augment "off": the frozen layers' cached outputs).
        "fine_tuned_on": fine_tuned_on if config.fine_tune_epochs else None,
        "base": config.base,
        "head": config.head,
        "image_size": config.image_size,
        "weights": weights or "random",
        "augment": config.augment,
        "augmentations": list(config.augmentations),
        "wall_seconds": round(wall_seconds, 3),
        "phase_seconds": seconds,
        "seconds_per_epoch": round(float(np.mean([row["seconds"] for row in history_rows])), 3) if history_rows else None,
        "parameters": int(model.count_params()),
        "trainable_parameters": trainable,
        "seed": config.seed,
        "codelab_accuracy": None,
        "codelab_text": None,
        # Per-class accuracy (recall), precision, F1, their macro averages and the
        # confusion matrix (rows true classes, columns predicted).
        **evaluation.class_figures(),
        "class_names": list(config.class_names),
        "versions": loop.versions(),
        "finished_at": runs.now(),
    }
    atomic.write_json(run_directory / runs.METRICS, metrics)
    artifacts.write_final_photos(run_directory, config, history_rows, evaluation, images, labels)
    return metrics
