"""Training configuration: frozen dataclasses, named presets, checked overrides.

A ladder rung's recipe (optimizer, learning-rate schedule, batch size,
epochs, loss) is defined once, next to its model, as a `Recipe`.
`nophd.models.registry.preset()` turns a rung into a `TrainConfig` (this
module does not import the registry: models depend on the config); `override()` changes fields with type
checks and rejects unknown keys. The resolved config is saved with every run
as `config.json`, and `from_dict()` reads it back for `--resume`.
"""

from __future__ import annotations

import dataclasses
import math
import typing

from nophd.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
AnyConfig = typing.Union["TrainConfig", "PhotoConfig"]
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
# The strategies a run can record (nophd.training.distribute resolves "auto").
RUN_STRATEGIES = ("one", "mirrored", "multiworker", "tpu")
LR_SCALINGS = ("linear", "sqrt", "none")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How the codelab trains one model.

    Args:
        optimizer: "sgd" or "adam".
        learning_rate: the learning rate of epoch 0.
        lr_decay: when set, the learning rate of epoch e (0-based) is
            `learning_rate * lr_decay**e`, the codelab's exponential decay
            (`0.01 * 0.6**epoch`). None keeps it constant.
        batch_size: examples per step.
        epochs: default number of epochs.
        loss: "categorical_crossentropy" (one-hot labels, the codelab's) or
            "sparse_categorical_crossentropy" (integer labels).
        clipnorm: optional gradient-norm clipping for the optimizer.
        shift_pixels: augment training images with random shifts of up to
            this many pixels (0: no augmentation, the codelab's way).
    """

    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    lr_decay: float | None = None
    loss: str = "categorical_crossentropy"
    clipnorm: float | None = None
    shift_pixels: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Recipe):
    """Everything that decides what a training run does: a recipe, the model and the data.

    Example:
        config = override(registry.preset("conv-bn"), epochs=2, seed=1)
    """

    model: str
    dataset: str = "mnist"
    seed: int = 0
    # 0 keeps the codelab's convention: the 10,000 test images are the
    # validation set shown in the curves. Nothing is selected on them (no early
    # stopping, no best-epoch pick), so the final test figure stays honest.
    # A fraction > 0 holds out that share of the training set instead.
    validation_split: float = 0.0
    # Use only the first N training / test examples (quick runs and tests).
    train_limit: int | None = None
    test_limit: int | None = None
    shuffle_buffer: int = 5000
    # How the run was spread over devices (nophd.training.distribute). Not
    # part of the recipe, but batch_size and the learning rate(s) above are
    # the global, scaled values for `replicas` replicas, so a resume must
    # use the same count. Defaults keep older config.json files loading.
    strategy: str = "one"
    replicas: int = 1
    lr_scaling: str = "linear"
    mixed_precision: bool = False
    jit: bool = False

    def learning_rate_at(self, epoch: int) -> float:
        """The scheduled learning rate of 0-based `epoch`."""
        if self.lr_decay is None:
            return self.learning_rate
        return self.learning_rate * self.lr_decay**epoch

    def schedule(self) -> list[float]:
        """The learning rate of every epoch, in order."""
        return [self.learning_rate_at(epoch) for epoch in range(self.epochs)]

    def to_dict(self) -> dict[str, typing.Any]:
        # The model first: it is what a reader of config.json looks for.
        return {"model": self.model, **dataclasses.asdict(self)}


BASES = ("mobilenet_v2", "mobilenet_v1_025")
HEADS = ("flatten", "gap")
CLASS_WEIGHTS = ("none", "balanced")
AUGMENT = ("off", "all", "fine-tune")
PHOTOS = "photos"


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhotoConfig:
    """Everything that decides what a transfer-learning run on photos does.

    Two phases: `epochs` with the backbone frozen (only the head trains; on
    cached backbone features unless `augment` is "all"), then `fine_tune_epochs`
    with the top `fine_tune_layers` backbone layers unfrozen (batch
    normalization stays frozen) at `fine_tune_learning_rate`.

    Args:
        dataset: "flowers" (tf_flowers), an image folder ROOT/<class>/*.jpg,
            or a folder of TFRecord shards written by `nophd data tfrecords`.
        base: backbone, one of BASES.
        head: "flatten" (the lab's) or "gap" (global average pooling).
        dropout: dropout rate before the last Dense (0: none).
        image_size: side of the square input, 32 to 512 (the lab: 192).
        weights: "auto" ($NOPHD_DATA/weights, the Keras cache, then Keras'
            download), "imagenet", "none" (random, for tests) or a file path.
        validation_split: share of each class held out for validation.
        augment: random flips, small rotations, zooms and contrast changes
            (Keras preprocessing layers) on the training images: "off",
            "all" (both phases; the frozen phase then runs the backbone on
            every image in every epoch) or "fine-tune" (only while
            fine-tuning, so the frozen phase keeps its cached features).
        class_weight: "balanced" weighs each class by total / (classes * count).
        lr_decay: per-epoch decay of the fine-tuning learning rate (None: constant).
        class_names: filled in from the data when the run starts.

    Example:
        config = photo_config("flowers", fine_tune_epochs=6)
    """

    # The defaults are the recipe measured on tf_flowers (README, "Photos"):
    # 88.1% frozen, 92.4% fine-tuned on the 80/20 split, seed 0.
    task: str = PHOTOS
    model: str = ""
    dataset: str = "flowers"
    base: str = "mobilenet_v2"
    head: str = "gap"
    dropout: float = 0.2
    image_size: int = 192
    weights: str = "auto"
    optimizer: str = "adam"
    learning_rate: float = 0.001
    batch_size: int = 32
    epochs: int = 10
    fine_tune_epochs: int = 8
    fine_tune_layers: int = 60
    fine_tune_learning_rate: float = 5e-5
    validation_split: float = 0.2
    augment: str = "fine-tune"
    class_weight: str = "none"
    seed: int = 0
    shuffle_buffer: int = 5000
    class_names: tuple[str, ...] = ()
    # Fields the shared training code reads on every config.
    loss: str = "sparse_categorical_crossentropy"
    lr_decay: float | None = 0.75
    clipnorm: float | None = None
    # How the run was spread over devices (nophd.training.distribute). Not
    # part of the recipe, but batch_size and the learning rate(s) above are
    # the global, scaled values for `replicas` replicas, so a resume must
    # use the same count. Defaults keep older config.json files loading.
    strategy: str = "one"
    replicas: int = 1
    lr_scaling: str = "linear"
    mixed_precision: bool = False
    jit: bool = False

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.fine_tune_epochs

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of 0-based `epoch` over both phases.

        The frozen phase keeps `learning_rate`; fine-tuning starts at
        `fine_tune_learning_rate` and, with `lr_decay`, multiplies it by
        lr_decay after each fine-tuning epoch.
        """
        if epoch < self.epochs:
            return self.learning_rate
        return self.fine_tune_learning_rate * (self.lr_decay or 1.0) ** (epoch - self.epochs)

    def schedule(self) -> list[float]:
        return [self.learning_rate_at(epoch) for epoch in range(self.total_epochs)]

    def to_dict(self) -> dict[str, typing.Any]:
        values = dataclasses.asdict(self)
        values["class_names"] = list(self.class_names)
        return {"model": self.model, **values}


def photo_config(dataset: str = "flowers", **changes: typing.Any) -> PhotoConfig:
    """A PhotoConfig for `dataset` with `changes` applied (None values ignored).

    The model name is "<base>-<head>", e.g. "mobilenet_v2-flatten".

    Raises:
        ConfigError: an unknown field, or a value of the wrong type or range.
    """
    config = override(PhotoConfig(dataset=str(dataset)), **changes)
    return dataclasses.replace(config, model=f"{config.base}-{config.head}")


def override(config: AnyConfig, **changes: typing.Any) -> AnyConfig:
    """Returns `config` with `changes` applied; None values are ignored.

    Raises:
        ConfigError: an unknown field, or a value of the wrong type or range.
    """
    changes = {key: value for key, value in changes.items() if value is not None}
    fields = {field.name: field for field in dataclasses.fields(type(config))}
    for key, value in changes.items():
        if key not in fields:
            raise ConfigError(f"unknown config field {key!r}; valid fields: {', '.join(fields)}")
        changes[key] = _coerce(key, fields[key].type, value)
    result = dataclasses.replace(config, **changes)
    validate(result)
    return result


def from_dict(values: dict[str, typing.Any]) -> AnyConfig:
    """Reads a config saved as config.json (unknown keys are an error).

    A "task": "photos" entry makes it a PhotoConfig, otherwise a TrainConfig.
    """
    # config.json also records the run's data (runs.DATA_IDENTITY), which is
    # not a setting; runs written before that lack it.
    values = {key: value for key, value in values.items() if key != "data_identity"}
    kind = PhotoConfig if values.get("task") == PHOTOS else TrainConfig
    fields = {field.name: field for field in dataclasses.fields(kind)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"config.json: unknown fields {', '.join(unknown)}")
    missing = [name for name, field in fields.items() if name not in values and field.default is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"config.json: missing fields {', '.join(missing)}")
    coerced = {key: None if value is None else _coerce(key, fields[key].type, value) for key, value in values.items()}
    config = kind(**coerced)
    validate(config)
    return config


def validate(config: AnyConfig) -> None:
    """Raises ConfigError naming the first field that is out of range."""
    _validate_distribution(config)
    if isinstance(config, PhotoConfig):
        _validate_photos(config)
        return
    if config.optimizer not in OPTIMIZERS:
        raise ConfigError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    if config.loss not in LOSSES:
        raise ConfigError(f"loss: expected one of {', '.join(LOSSES)}, got {config.loss!r}")
    positive = {"epochs": config.epochs, "batch_size": config.batch_size, "shuffle_buffer": config.shuffle_buffer}
    for name, value in positive.items():
        if value < 1:
            raise ConfigError(f"{name}: expected a whole number >= 1, got {value}")
    if not (config.learning_rate > 0 and math.isfinite(config.learning_rate)):
        raise ConfigError(f"learning_rate: expected a positive number, got {config.learning_rate}")
    if config.lr_decay is not None and not 0 < config.lr_decay <= 1:
        raise ConfigError(f"lr_decay: expected a number in (0, 1], got {config.lr_decay}")
    if not 0 <= config.validation_split < 1:
        raise ConfigError(f"validation_split: expected a fraction in [0, 1), got {config.validation_split}")
    for name in ("train_limit", "test_limit"):
        value = getattr(config, name)
        if value is not None and value < 1:
            raise ConfigError(f"{name}: expected a whole number >= 1, got {value}")
    if not 0 <= config.shift_pixels <= 8:
        raise ConfigError(f"shift_pixels: expected a whole number from 0 to 8, got {config.shift_pixels}")
    if config.seed < 0:
        raise ConfigError(f"seed: expected a whole number >= 0, got {config.seed}")


def _validate_distribution(config: AnyConfig) -> None:
    if config.strategy not in RUN_STRATEGIES:
        raise ConfigError(f"strategy: expected one of {', '.join(RUN_STRATEGIES)}, got {config.strategy!r}")
    if config.lr_scaling not in LR_SCALINGS:
        raise ConfigError(f"lr_scaling: expected one of {', '.join(LR_SCALINGS)}, got {config.lr_scaling!r}")
    if config.replicas < 1:
        raise ConfigError(f"replicas: expected a whole number >= 1, got {config.replicas}")


def _validate_photos(config: PhotoConfig) -> None:
    choices = {"base": BASES, "head": HEADS, "class_weight": CLASS_WEIGHTS, "optimizer": OPTIMIZERS,
               "augment": AUGMENT}
    for name, valid in choices.items():
        if getattr(config, name) not in valid:
            raise ConfigError(f"{name}: expected one of {', '.join(valid)}, got {getattr(config, name)!r}")
    for name in ("epochs", "batch_size", "shuffle_buffer"):
        if getattr(config, name) < 1:
            raise ConfigError(f"{name}: expected a whole number >= 1, got {getattr(config, name)}")
    for name in ("fine_tune_epochs", "fine_tune_layers", "seed"):
        if getattr(config, name) < 0:
            raise ConfigError(f"{name}: expected a whole number >= 0, got {getattr(config, name)}")
    for name in ("learning_rate", "fine_tune_learning_rate"):
        value = getattr(config, name)
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{name}: expected a positive number, got {value}")
    if not 32 <= config.image_size <= 512:
        raise ConfigError(f"image_size: expected a whole number of pixels from 32 to 512, got {config.image_size}")
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"dropout: expected a fraction in [0, 1), got {config.dropout}")
    if not 0 < config.validation_split < 1:
        raise ConfigError(f"validation_split: expected a fraction in (0, 1), got {config.validation_split}")
    if config.lr_decay is not None and not 0 < config.lr_decay <= 1:
        raise ConfigError(f"lr_decay: expected a number in (0, 1], got {config.lr_decay}")
    if not config.dataset:
        raise ConfigError("dataset: expected \"flowers\" or the path of an image folder or TFRecord shards")


def _coerce(name: str, annotation: str, value: typing.Any) -> typing.Any:
    # Annotations are strings (postponed evaluation); the base type is enough.
    base = annotation.split("|")[0].strip()
    try:
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if base == "bool":
            if not isinstance(value, bool):
                raise ValueError
            return value
        if base.startswith("tuple"):
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ValueError
            return tuple(value)
        if base == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {base}, got {value!r}") from None
    return value
