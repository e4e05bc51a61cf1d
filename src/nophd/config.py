"""Run configuration: frozen dataclasses, named presets, checked overrides.

`RunConfig` holds the settings every kind of run shares (seed, optimizer,
learning rate and schedule, batch, epochs, loss, clipping, distribution),
defined and checked once; each kind of run adds its own in a subclass
(`TrainConfig` for digits, `PhotoConfig` for photos, `CustomConfig` for a
user's own Keras model recorded by `nophd.RunFolder`), whose `task` names
it. A ladder rung's recipe is a `Recipe`; the rungs are named presets in
`nophd.presets`, whose `preset()` turns one into a `TrainConfig` (this
module imports no model). `override()`
changes fields with type checks and rejects unknown keys. The resolved
config is saved with every run as `config.json`, and `from_dict()` reads it
back for `--resume`.
"""

from __future__ import annotations

import dataclasses
import math
import typing

from nophd.data import augment, photo_augment
from nophd.errors import ConfigError

OPTIMIZERS = ("sgd", "adam")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy")
# What a digit run tells apart: the ten digits, or two classes made of them
# ("even-odd": label 0 for 0, 2, 4, 6, 8 and 1 for 1, 3, 5, 7, 9;
# nophd.tasks.digits relabels the MNIST files). Two classes train either
# with a softmax of two (categorical or sparse loss) or with one sigmoid
# unit (binary_crossentropy).
DIGIT_CLASSES = ("digits", "even-odd")
# The strategies a run can record (nophd.training.distribute resolves "auto").
RUN_STRATEGIES = ("one", "mirrored", "multiworker", "tpu")
LR_SCALINGS = ("linear", "sqrt", "none")
# "exponential": learning_rate * lr_decay**epoch, set per epoch (constant
# without lr_decay), the codelab's. "cosine": a linear warm-up from 0 over
# warmup_epochs, then a cosine decay to 0 at the end of the last epoch, set
# per step (keras.optimizers.schedules.CosineDecay).
LR_SCHEDULES = ("exponential", "cosine")


@dataclasses.dataclass(frozen=True)
class Recipe(augment.AugmentationFields):
    """How the codelab trains one model.

    Args:
        optimizer: "sgd" or "adam".
        learning_rate: the learning rate of epoch 0.
        lr_decay: when set, the learning rate of epoch e (0-based) is
            `learning_rate * lr_decay**e`, the codelab's exponential decay
            (`0.01 * 0.6**epoch`). None keeps it constant.
        batch_size: examples per step.
        epochs: default number of epochs.
        loss: "categorical_crossentropy" (one-hot labels, the codelab's),
            "sparse_categorical_crossentropy" (integer labels) or
            "binary_crossentropy" (two classes, one sigmoid output).
        classes: "digits" (the ten digits) or "even-odd" (two classes).
        clipnorm: optional gradient-norm clipping for the optimizer.
        clipvalue: optional clipping of each gradient element to
            [-clipvalue, clipvalue].
        shift_pixels: augment training images with random shifts of up to
            this many pixels (0: no augmentation, the codelab's way).
        lr_schedule, warmup_epochs: see RunConfig.
        label_smoothing: see RunConfig.
        weight_average: see RunConfig.
        the digit-augmentation strengths (rotate_degrees, ..., flag_share):
            inherited from nophd.data.augment.AugmentationFields, keyword
            only; all 0, the default, is none.
    """

    optimizer: str
    learning_rate: float
    batch_size: int
    epochs: int
    lr_decay: float | None = None
    loss: str = "categorical_crossentropy"
    classes: str = "digits"
    clipnorm: float | None = None
    clipvalue: float | None = None
    shift_pixels: int = 0
    lr_schedule: str = "exponential"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    weight_average: float | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig:
    """The settings every kind of run shares, defined and checked once.

    Each kind of run (nophd.tasks) has its own subclass adding its own
    fields; `task` names it, and config.json records it. Every field is
    honoured by training and saved in config.json.

    Args:
        model: the model's name (a ladder rung, or "<base>-<head>").
        dataset: what it trains on ("mnist", "flowers", a folder).
        optimizer: "sgd" or "adam".
        learning_rate: the learning rate of epoch 0.
        batch_size: examples per step (the global batch across replicas).
        epochs: epochs of training (a photo run: of its frozen phase).
        lr_decay: per-epoch multiplicative decay of the learning rate (None: constant).
        lr_schedule: "exponential" (the codelab's: learning_rate * lr_decay**epoch,
            set at each epoch's start) or "cosine" (a linear warm-up from 0 to
            learning_rate over warmup_epochs, then a cosine decay to 0 at the
            end of the last epoch, set at every step; lr_decay must be None).
        warmup_epochs: the cosine schedule's warm-up, in epochs (may be a fraction).
        label_smoothing: share of each one-hot label spread over all classes
            (0: none; needs the categorical loss).
        weight_average: when set, the optimizer also keeps an exponential
            moving average of the weights with this decay per step (e.g.
            0.999: about the last 1,000 steps), and the run ends with the
            averaged weights (Keras' use_ema; nophd.training.loop). None: the
            last step's weights.
        loss: "categorical_crossentropy" (one-hot labels),
            "sparse_categorical_crossentropy" (integer labels) or
            "binary_crossentropy" (two classes, integer labels 0 and 1, one
            sigmoid output: digit runs with classes "even-odd", photo
            folders of exactly two classes).
        clipnorm: rescale each variable's gradient to at most this L2 norm
            (None: no clipping). Keeps the gradient's direction, so it tames
            the rare exploding step of a recurrent net (rnn-bigru) without
            changing ordinary steps.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue]
            (None: no clipping). Cheaper and cruder: it changes the
            gradient's direction whenever one element is clipped. Keras'
            optimizers take one clipping at most, so only one of the two
            may be set.
        seed: seeds Python, NumPy, TensorFlow, shuffling and augmentation.
        validation_split: share of the training data held out for validation.
        shuffle_buffer: tf.data shuffle buffer, in examples.
        strategy, replicas, lr_scaling, mixed_precision, jit: how the run
            was spread over devices (nophd.training.distribute). batch_size
            and the learning rates are the global, scaled values for
            `replicas`, so a resume must use the same count.

    Class attributes (the same for every run of a kind):
        evaluated_split: the split metrics.json's test_* figures come from.
        scaled_learning_rates: the fields scaled with the replica count.
        supports_multiworker, supports_jit: what the kind of run can do.
        lr_schedules: the learning-rate schedules it can follow.
    """

    task: str
    model: str = ""
    dataset: str = ""
    optimizer: str = "adam"
    learning_rate: float = 0.001
    batch_size: int = 32
    epochs: int = 1
    lr_decay: float | None = None
    lr_schedule: str = "exponential"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    weight_average: float | None = None
    loss: str = "sparse_categorical_crossentropy"
    clipnorm: float | None = None
    clipvalue: float | None = None
    seed: int = 0
    validation_split: float = 0.0
    shuffle_buffer: int = 5000
    strategy: str = "one"
    replicas: int = 1
    lr_scaling: str = "linear"
    mixed_precision: bool = False
    jit: bool = False

    evaluated_split: typing.ClassVar[str] = "test"
    scaled_learning_rates: typing.ClassVar[tuple[str, ...]] = ("learning_rate",)
    supports_multiworker: typing.ClassVar[bool] = True
    supports_jit: typing.ClassVar[bool] = True
    lr_schedules: typing.ClassVar[tuple[str, ...]] = LR_SCHEDULES

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _CLASSES[cls.task] = cls  # The subclass's default `task`, before the dataclass decorator runs.

    @property
    def total_epochs(self) -> int:
        """Epochs over every phase of the run."""
        return self.epochs

    def learning_rate_at(self, epoch: int) -> float:
        """The scheduled learning rate of 0-based `epoch` (for the cosine schedule: at the epoch's middle)."""
        if self.lr_schedule == "cosine":
            return self.cosine_learning_rate(epoch + 0.5)
        if self.lr_decay is None:
            return self.learning_rate
        return self.learning_rate * self.lr_decay**epoch

    def cosine_learning_rate(self, epochs_done: float) -> float:
        """The cosine schedule's learning rate after `epochs_done` epochs (a fraction counts steps)."""
        if epochs_done < self.warmup_epochs:
            return self.learning_rate * epochs_done / self.warmup_epochs
        decay = max(self.total_epochs - self.warmup_epochs, 1e-9)
        progress = min((epochs_done - self.warmup_epochs) / decay, 1.0)
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))

    def schedule(self) -> list[float]:
        """The learning rate of every epoch, in order."""
        return [self.learning_rate_at(epoch) for epoch in range(self.total_epochs)]

    def to_dict(self) -> dict[str, typing.Any]:
        # The model first: it is what a reader of config.json looks for.
        return {"model": self.model, **dataclasses.asdict(self)}

    def validate(self) -> None:
        """Raises ConfigError naming the first field that is out of range (subclasses add theirs)."""
        if self.strategy not in RUN_STRATEGIES:
            raise ConfigError(f"strategy: expected one of {', '.join(RUN_STRATEGIES)}, got {self.strategy!r}")
        if self.lr_scaling not in LR_SCALINGS:
            raise ConfigError(f"lr_scaling: expected one of {', '.join(LR_SCALINGS)}, got {self.lr_scaling!r}")
        if self.replicas < 1:
            raise ConfigError(f"replicas: expected a whole number >= 1, got {self.replicas}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer: expected one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss: expected one of {', '.join(LOSSES)}, got {self.loss!r}")
        for name in ("epochs", "batch_size", "shuffle_buffer"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: expected a whole number >= 1, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning_rate: expected a positive number, got {self.learning_rate}")
        if self.lr_decay is not None and not 0 < self.lr_decay <= 1:
            raise ConfigError(f"lr_decay: expected a number in (0, 1], got {self.lr_decay}")
        if self.lr_schedule not in self.lr_schedules:
            raise ConfigError(f"lr_schedule: expected one of {', '.join(self.lr_schedules)} for a {self.task} run, "
                              f"got {self.lr_schedule!r}")
        if self.lr_schedule == "cosine" and self.lr_decay is not None:
            raise ConfigError("lr_decay: the cosine schedule sets its own decay; leave lr_decay unset with lr_schedule cosine")
        if not 0 <= self.warmup_epochs < self.total_epochs:
            raise ConfigError(f"warmup_epochs: expected a number from 0 to less than the {self.total_epochs} epochs, "
                              f"got {self.warmup_epochs}")
        if self.warmup_epochs and self.lr_schedule != "cosine":
            raise ConfigError("warmup_epochs: only the cosine schedule warms up; add lr_schedule cosine")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing: expected a fraction in [0, 1), got {self.label_smoothing}")
        if self.loss == "binary_crossentropy" and self.strategy != "one":
            # The multi-device validation (nophd.training.distribute) scores softmax rows by argmax.
            raise ConfigError(f"loss: binary_crossentropy trains on one device for now, not strategy {self.strategy}")
        if self.label_smoothing and self.loss != "categorical_crossentropy":
            raise ConfigError("label_smoothing: needs loss categorical_crossentropy (one-hot labels)")
        if self.weight_average is not None and not 0 < self.weight_average < 1:
            raise ConfigError(f"weight_average: expected a decay in (0, 1) such as 0.999, got {self.weight_average}")
        for name in ("clipnorm", "clipvalue"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name}: expected a positive number, got {value}")
        if self.clipnorm is not None and self.clipvalue is not None:
            raise ConfigError("clipvalue: Keras' optimizers clip one way at most; set clipnorm or clipvalue, not both")
        if self.seed < 0:
            raise ConfigError(f"seed: expected a whole number >= 0, got {self.seed}")


# Config classes by the task they belong to (filled by RunConfig.__init_subclass__).
_CLASSES: dict[str, type[RunConfig]] = {}


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(augment.AugmentationFields, RunConfig):
    """A digit run: a ladder rung trained on MNIST with its recipe.

    Args (beyond RunConfig's):
        net: the model builder to train (a name from nophd.models.registry,
            e.g. "conv-bn-norm"); "" (the default) trains the rung's own.
            The run keeps the rung's name and recipe, so a recipe can be
            tried on another net (benchmarks/digit_recipes.py does).
        shift_pixels: augment training images with random shifts of up to
            this many pixels (0: no augmentation, the codelab's way).
        the digit-augmentation strengths (rotate_degrees, ..., flag_share):
            inherited from nophd.data.augment.AugmentationFields, keyword
            only; all 0, the default, is none.
        classes: "digits" (ten classes, the codelab's) or "even-odd" (two
            classes: even 0, odd 1; see DIGIT_CLASSES).
        train_limit, test_limit: use only the first N training / test
            examples (quick runs and tests).
        validation_split: 0 keeps the codelab's convention: the 10,000 test
            images are the validation set shown in the curves. Nothing is
            selected on them (no early stopping, no best-epoch pick), so the
            final test figure stays honest. A fraction > 0 holds out that
            share of the training set instead.

    Example:
        config = override(presets.preset("conv-bn"), epochs=2, seed=1)
    """

    task: str = "digits"
    # No default (field() without one overrides RunConfig's): the rung names
    # the model and its recipe gives these (presets.preset).
    model: str = dataclasses.field()
    dataset: str = "mnist"
    optimizer: str = dataclasses.field()
    learning_rate: float = dataclasses.field()
    batch_size: int = dataclasses.field()
    epochs: int = dataclasses.field()
    loss: str = "categorical_crossentropy"
    classes: str = "digits"
    net: str = ""
    shift_pixels: int = 0
    train_limit: int | None = None
    test_limit: int | None = None

    @property
    def output_units(self) -> int:
        """The model's outputs: one sigmoid probability with binary_crossentropy, else one softmax per class."""
        if self.loss == "binary_crossentropy":
            return 1
        return 2 if self.classes == "even-odd" else 10

    def validate(self) -> None:
        super().validate()
        if self.classes not in DIGIT_CLASSES:
            raise ConfigError(f"classes: expected one of {', '.join(DIGIT_CLASSES)}, got {self.classes!r}")
        if self.loss == "binary_crossentropy" and self.classes != "even-odd":
            raise ConfigError("loss: binary_crossentropy needs two classes; add classes even-odd (--classes even-odd)")
        if self.flag_share and self.classes == "even-odd":
            raise ConfigError(f"flag_share: flags go on the 1s, which classes {self.classes} does not tell apart; "
                              "set it to 0 (--flag-share 0)")

        if not 0 <= self.validation_split < 1:
            raise ConfigError(f"validation_split: expected a fraction in [0, 1), got {self.validation_split}")
        for name in ("train_limit", "test_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name}: expected a whole number >= 1, got {value}")
        if not 0 <= self.shift_pixels <= 8:
            raise ConfigError(f"shift_pixels: expected a whole number from 0 to 8, got {self.shift_pixels}")
        self.augmentation.validate()

    @property
    def augmentation(self) -> augment.DigitAugmentation:
        """The run's digit augmentation (its strengths are this config's fields of the same names)."""
        return augment.DigitAugmentation.of(self)


# The names of nophd.models.transfer.BACKBONES (spelled out: this module imports no model).
BASES = ("mobilenet_v2", "mobilenet_v1_025", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
HEADS = ("flatten", "gap", "gmp")
CLASS_WEIGHTS = ("none", "balanced")
AUGMENT = photo_augment.PHASES


@dataclasses.dataclass(frozen=True, kw_only=True)
class PhotoConfig(RunConfig):
    """A transfer-learning run on photos.

    Two phases: `epochs` with the backbone frozen (only the head trains; on
    cached backbone features unless `augment` is "all"), then `fine_tune_epochs`
    with the top `fine_tune_layers` backbone layers unfrozen (batch
    normalization stays frozen) at `fine_tune_learning_rate`. Both phases
    use the run's optimizer, loss and gradient clipping (clipnorm, clipvalue).

    Args (beyond RunConfig's):
        dataset: "flowers" (tf_flowers), an image folder ROOT/<class>/*.jpg,
            or a folder of TFRecord shards written by `nophd data tfrecords`.
        base: backbone, one of BASES.
        head: "flatten" (the lab's), "gap" (global average pooling) or
            "gmp" (global max pooling).
        dropout: dropout rate before the last Dense (0: none).
        image_size: side of the square input, 32 to 512 (the lab: 192).
        weights: "auto" ($NOPHD_DATA/weights, the Keras cache, then Keras'
            download), "imagenet", "none" (random, for tests) or a file path.
        validation_split: share of each class held out for validation.
        tuning_split: when > 0, a share of each class's training photos
            held out instead, for choosing recipes: the run trains on the
            rest and is scored on it, and never reads the validation split.
        augment: random flips, small rotations, zooms and contrast changes
            (Keras preprocessing layers) on the training images: "off",
            "all" (both phases; the frozen phase then runs the backbone on
            every image in every epoch) or "fine-tune" (only while
            fine-tuning, so the frozen phase keeps its cached features).
        augmentations: which random transforms augmenting applies, names in
            nophd.data.photo_augment.TRANSFORMS (default flip, rotate,
            zoom, contrast; leave out flip when left and right matter).
        class_weight: "balanced" weighs each class by total / (classes * count).
        lr_decay: per-epoch decay of the fine-tuning learning rate (None: constant).
        class_names: filled in from the data when the run starts.

    Example:
        config = photo_config("flowers", fine_tune_epochs=6)
    """

    # The defaults: EfficientNet-Lite1 at 280 px (its weights were trained at
    # 240), 20 frozen epochs (cheap: the head trains on cached features), then
    # its top 100 layers fine-tuned at 1e-4. Chosen on a tuning split of the
    # training photos over seeds 0, 1 and 2 (94.80% mean fine-tuned; 94.15%
    # at 240 px; 92.85% for Lite0 with the lab recipe and 20 frozen epochs;
    # benchmarks/photo_recipes.py, README "Choosing photo recipes"), never on
    # the validation split. The other backbones keep the lab recipe (PHOTO_RECIPES).
    task: str = "photos"
    dataset: str = "flowers"
    base: str = "efficientnet_lite1"
    head: str = "gap"
    dropout: float = 0.2
    image_size: int = 280
    weights: str = "auto"
    epochs: int = 20
    fine_tune_epochs: int = 8
    fine_tune_layers: int = 100
    fine_tune_learning_rate: float = 1e-4
    validation_split: float = 0.2
    tuning_split: float = 0.0
    augment: str = "fine-tune"
    augmentations: tuple[str, ...] = photo_augment.DEFAULT
    class_weight: str = "none"
    class_names: tuple[str, ...] = ()
    lr_decay: float | None = 0.75

    evaluated_split: typing.ClassVar[str] = "validation"
    scaled_learning_rates: typing.ClassVar[tuple[str, ...]] = ("learning_rate", "fine_tune_learning_rate")
    # Keras 3 predict and fit fail under MultiWorkerMirroredStrategy for these models.
    supports_multiworker: typing.ClassVar[bool] = False
    supports_jit: typing.ClassVar[bool] = False
    # Two phases, each with its own learning rate (learning_rate_at below).
    lr_schedules: typing.ClassVar[tuple[str, ...]] = ("exponential",)

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

    def to_dict(self) -> dict[str, typing.Any]:
        values = super().to_dict()
        values["class_names"] = list(self.class_names)
        values["augmentations"] = list(self.augmentations)
        return values

    def validate(self) -> None:
        super().validate()
        choices = {"base": BASES, "head": HEADS, "class_weight": CLASS_WEIGHTS, "augment": AUGMENT}
        for name, valid in choices.items():
            if getattr(self, name) not in valid:
                raise ConfigError(f"{name}: expected one of {', '.join(valid)}, got {getattr(self, name)!r}")
        photo_augment.check(self.augmentations)
        if self.loss == "binary_crossentropy" and self.class_names and len(self.class_names) != 2:
            raise ConfigError(f"loss: binary_crossentropy (one sigmoid output) needs exactly two classes, "
                              f"not {len(self.class_names)}")
        for name in ("fine_tune_epochs", "fine_tune_layers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}: expected a whole number >= 0, got {getattr(self, name)}")
        if not (self.fine_tune_learning_rate > 0 and math.isfinite(self.fine_tune_learning_rate)):
            raise ConfigError(f"fine_tune_learning_rate: expected a positive number, got {self.fine_tune_learning_rate}")
        if not 32 <= self.image_size <= 512:
            raise ConfigError(f"image_size: expected a whole number of pixels from 32 to 512, got {self.image_size}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout: expected a fraction in [0, 1), got {self.dropout}")
        if not 0 < self.validation_split < 1:
            raise ConfigError(f"validation_split: expected a fraction in (0, 1), got {self.validation_split}")
        if not 0 <= self.tuning_split < 1:
            raise ConfigError(f"tuning_split: expected a fraction in [0, 1), got {self.tuning_split}")
        if not self.dataset:
            raise ConfigError("dataset: expected \"flowers\" or the path of an image folder or TFRecord shards")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CustomConfig(RunConfig):
    """A run of a Keras model of the user's own, recorded by `nophd.RunFolder` (nophd trains nothing itself).

    What a callback can learn from outside the user's `model.fit`: the
    model's name, the optimizer's class and first learning rate, the loss,
    the epochs fit was asked for; plus what the user tells it. Nothing here
    is a setting nophd acts on: the fields record the run for the report
    and the dashboard.

    Args (beyond RunConfig's, whose fields keep their meaning when known):
        name: the run's name as the user gave it ("" when not given).
        optimizer: the Keras optimizer's name, as Keras names it ("rmsprop").
        loss: the loss as Keras names it ("" when it has no name).
        learning_rate: the optimizer's learning rate when fit began (None
            when the optimizer has none, or a schedule nophd cannot read).
        batch_size: examples per step when the user gave it (Keras' fit
            does not tell callbacks), else None.
        seed: the user's seed when they gave it, else None.
        class_names: the classes' names when the user gave them.
        user_config: the user's own settings, as given (JSON values).

    Example:
        config = CustomConfig(model="my-cnn", dataset="my photos", epochs=3, user_config={"dropout": 0.3})
    """

    task: str = "custom"
    name: str = ""
    optimizer: str = ""
    loss: str = ""
    learning_rate: float | None = None
    batch_size: int | None = None
    seed: int | None = None
    class_names: tuple[str, ...] = ()
    user_config: dict[str, typing.Any] | None = None

    evaluated_split: typing.ClassVar[str] = "validation"
    supports_multiworker: typing.ClassVar[bool] = False
    supports_jit: typing.ClassVar[bool] = False

    # RunConfig's fields that describe how nophd trains: a callback cannot
    # know them, so config.json leaves them out (from_dict fills the defaults).
    not_recorded: typing.ClassVar[tuple[str, ...]] = (
        "lr_decay", "lr_schedule", "warmup_epochs", "label_smoothing", "weight_average", "clipnorm",
        "clipvalue", "validation_split", "shuffle_buffer", "strategy", "replicas", "lr_scaling", "mixed_precision", "jit")

    def to_dict(self) -> dict[str, typing.Any]:
        values = {key: value for key, value in super().to_dict().items() if key not in self.not_recorded}
        values["class_names"] = list(self.class_names)
        return values

    def validate(self) -> None:
        # The user's code chose the optimizer, loss and schedule: only what
        # nophd itself reads back (counts and the first learning rate) is checked.
        if self.epochs < 1:
            raise ConfigError(f"epochs: expected a whole number >= 1, got {self.epochs}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ConfigError(f"batch_size: expected a whole number >= 1, got {self.batch_size}")
        if self.learning_rate is not None and not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ConfigError(f"learning_rate: expected a positive number, got {self.learning_rate}")
        if self.user_config is not None and not isinstance(self.user_config, dict):
            raise ConfigError(f"user_config: expected a JSON object, got {type(self.user_config).__name__}")


AnyConfig = RunConfig
# A config.json without "task" was written before runs recorded theirs: the MNIST ladder came first.
DEFAULT_CLASS = TrainConfig


# The recipe first measured for MobileNetV2 (README, "Photos"): 10 frozen
# epochs, then the top 60 layers fine-tuned at 5e-5.
LAB_RECIPE: dict[str, typing.Any] = {"epochs": 10, "fine_tune_layers": 60, "fine_tune_learning_rate": 5e-5}

# Each backbone's own defaults, over PhotoConfig's (which are EfficientNet-Lite1's):
# EfficientNet-Lite0 and Lite2 at the size their ImageNet weights were
# trained at, the MobileNets at the lab's 192 px, all with the lab recipe,
# the one they were measured with; Lite1 with the recipe chosen for it.
PHOTO_RECIPES: dict[str, dict[str, typing.Any]] = {
    "mobilenet_v2": {**LAB_RECIPE, "image_size": 192},
    "mobilenet_v1_025": {**LAB_RECIPE, "image_size": 192},
    "efficientnet_lite0": {**LAB_RECIPE, "image_size": 224},
    "efficientnet_lite1": {"image_size": 280, "epochs": 20, "fine_tune_layers": 100, "fine_tune_learning_rate": 1e-4},
    "efficientnet_lite2": {**LAB_RECIPE, "image_size": 260},
}


def photo_config(dataset: str = "flowers", **changes: typing.Any) -> PhotoConfig:
    """A PhotoConfig for `dataset`: its backbone's defaults (PHOTO_RECIPES), then `changes` (None values ignored).

    The model name is "<base>-<head>", e.g. "mobilenet_v2-flatten".

    Raises:
        ConfigError: an unknown field, or a value of the wrong type or range.
    """
    base = changes.get("base") or PhotoConfig.base
    defaults = PHOTO_RECIPES.get(base, {}) if isinstance(base, str) else {}
    given = {key: value for key, value in changes.items() if value is not None}
    config = override(PhotoConfig(dataset=str(dataset)), **{**defaults, **given})
    return dataclasses.replace(config, model=f"{config.base}-{config.head}")


class _Unset:
    """The type of UNSET."""

    def __repr__(self) -> str:
        return "UNSET"


# override(config, lr_decay=UNSET) sets lr_decay to None; a plain None means "not given" (an unset flag).
UNSET = _Unset()


def override(config: RunConfig, **changes: typing.Any) -> RunConfig:
    """Returns `config` with `changes` applied; None values are ignored, UNSET sets a field to None.

    Switching to the cosine schedule drops the per-epoch decay (lr_decay) of
    the recipe it replaces, unless `changes` name one. Switching a digit run
    to two classes drops the recipe's flags (flag_share: they go on the 1s,
    which two classes do not tell apart), unless `changes` name them.

    Raises:
        ConfigError: an unknown field, or a value of the wrong type or range.
    """
    changes = {key: value for key, value in changes.items() if value is not None}
    fields = {field.name: field for field in dataclasses.fields(type(config))}
    if changes.get("lr_schedule") == "cosine" and "lr_decay" in fields:
        changes.setdefault("lr_decay", UNSET)
    if changes.get("classes") == "even-odd" and "flag_share" in fields:
        changes.setdefault("flag_share", 0.0)
    for key, value in changes.items():
        if key not in fields:
            raise ConfigError(f"unknown config field {key!r}; valid fields: {', '.join(fields)}")
        changes[key] = None if value is UNSET else _coerce(key, fields[key].type, value)
    result = dataclasses.replace(config, **changes)
    validate(result)
    return result


def evaluated_split_of(values: dict[str, typing.Any]) -> str:
    """The split a run's metrics.json (or config.json) test_* figures come from: "test", "validation" or "tuning".

    A photo run with a tuning_split was scored on that share of its training
    photos; otherwise the run's config class says.

    Raises:
        ConfigError: a task nophd does not know.
    """
    tuning = values.get("tuning_split") if isinstance(values, dict) else None
    if isinstance(tuning, (int, float)) and not isinstance(tuning, bool) and tuning > 0:
        return "tuning"
    return class_for(values).evaluated_split


def class_for(values: dict[str, typing.Any]) -> type[RunConfig]:
    """The config class of a run from its config.json contents ("task"; DEFAULT_CLASS when absent).

    Raises:
        ConfigError: a task nophd does not know.
    """
    task = values.get("task", DEFAULT_CLASS.task) if isinstance(values, dict) else DEFAULT_CLASS.task
    try:
        return _CLASSES[task]
    except (KeyError, TypeError):
        raise ConfigError(f"config.json: task: expected one of {', '.join(_CLASSES)}, got {task!r}") from None


def from_dict(values: dict[str, typing.Any]) -> RunConfig:
    """Reads a config saved as config.json (unknown keys are an error).

    Its "task" picks the config class (see `class_for`).
    """
    # config.json also records the run's data (runs.DATA_IDENTITY), which is
    # not a setting; runs written before that lack it.
    values = {key: value for key, value in values.items() if key != "data_identity"}
    kind = class_for(values)
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


def validate(config: RunConfig) -> None:
    """Raises ConfigError naming the first field that is out of range."""
    config.validate()


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
