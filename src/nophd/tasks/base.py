"""What every kind of run answers for itself: the `Task` protocol.

nophd trains more than one kind of classifier (MNIST-style digits, photos by
transfer learning). Everything that differs between them is a method or an
attribute of its task, in its own module (`nophd.tasks.digits`,
`nophd.tasks.photos`); training, evaluation, reports, the dashboard, export
and the command line ask the run's task (`nophd.tasks.of_config`,
`nophd.tasks.of_run`) and never test a task's name.

Adding a kind of run: one module defining a `Task` subclass and its config
dataclass (a `nophd.config.RunConfig`), plus one line in
`nophd.tasks.TASKS`.

Example:
    task = tasks.of_run(runs.read_json(folder / "config.json"))
    inputs = task.prepare(image, image_size=task.image_size_of(model))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nophd import values as values_module
from nophd.errors import ConfigError

# Config fields every kind of run sets with a `nophd train` flag (--batch-size: batch_size).
COMMON_TRAIN_FLAG_FIELDS = ("epochs", "batch_size", "learning_rate", "seed", "lr_schedule", "warmup_epochs",
                            "label_smoothing", "weight_average", "loss", "clipnorm", "clipvalue", "validation_split",
                            "strategy", "lr_scaling", "mixed_precision", "jit")


class Task:
    """One kind of run. Subclasses fill in every attribute and method.

    Attributes:
        name: as config.json's "task" records it.
        noun: what one example is, for people ("digit", "photo").
        evaluated_split: the split whose figures metrics.json records as
            test_accuracy and test_loss: "test" or "validation".
        max_upload_pixels: the largest picture the server decodes for it.
        takes_pixel_arrays: whether a JSON array of pixels is an input.
        shows_model_input: whether predictions return what the model saw.
        mistakes_saved: whether the run's worst mistakes come from the run
            folder (mistakes.json) rather than being scored live.
        supports_robustness: whether `robustness_sets` builds a robustness
            suite for this kind of run (`nophd evaluate RUN --robustness`).
        train_flag_fields: the config fields that `nophd train` sets with a
            flag of the same name (--batch-size sets batch_size) for this kind
            of run; the model card's command uses only these.
        takes_inputs: whether nophd can prepare inputs for the run's model
            (predict, evaluate, export, the dashboard's "Try it"); False for
            a user's own model recorded by nophd.RunFolder.
    """

    name: str
    noun: str
    evaluated_split: str
    max_upload_pixels: int
    takes_pixel_arrays: bool = False
    shows_model_input: bool = False
    mistakes_saved: bool = True
    supports_robustness: bool = False
    train_flag_fields: tuple[str, ...] = ()
    takes_inputs: bool = True

    # --- configs

    def config_class(self) -> type:
        """The frozen dataclass holding this task's settings."""
        raise NotImplementedError

    def schedule(self, values: dict[str, Any], epochs: int | None) -> list[float]:
        """The learning rate of each of `epochs` epochs from config.json values ([] when they are incomplete).

        Only the schedule's fields are read, so a partial config.json still
        has a schedule: the task's config class computes it (learning_rate_at).
        """
        rate, decay = values_module.number(values.get("learning_rate")), values.get("lr_decay")
        if rate is None or not epochs or epochs > 10_000:
            return []
        if decay is not None:
            decay = values_module.number(decay)
            if decay is None:
                return []
        planner = self.schedule_config(values, rate, decay)
        return [] if planner is None else [planner.learning_rate_at(epoch) for epoch in range(epochs)]

    def schedule_config(self, values: dict[str, Any], rate: float, decay: float | None):
        """A config holding just the schedule's fields from config.json `values` (None when they are incomplete)."""
        raise NotImplementedError

    def planned_epochs(self, values: dict[str, Any]) -> int | None:
        """The epochs config.json plans, all phases together (None when it does not say)."""
        raise NotImplementedError

    # --- inputs

    def check_takes_inputs(self, what: str) -> None:
        """Raises RunError (one line naming `what`, e.g. "export") when nophd cannot feed this kind of run's model.

        Called before a model is loaded, so a refused command fails fast.
        """

    def image_size_of(self, model) -> int:
        """The side of the square pictures the Keras `model` takes."""
        return int(model.input_shape[1])

    def check_model(self, model, where: str) -> None:
        """Raises RunError when `model` cannot be this task's model (`where`: the config.json path)."""

    def raw_shape(self, image_size: int) -> tuple[int, ...]:
        """One raw uint8 example's shape, as exports and the v2 protocol take it."""
        raise NotImplementedError

    def matches_raw_shape(self, shape: tuple[int, ...]) -> bool:
        """Whether a batch of raw uint8 inputs of `shape` (N first) is this task's."""
        raise NotImplementedError

    def raw_input_text(self) -> str:
        """What an export's raw input holds, for export.json."""
        raise NotImplementedError

    def prepare(self, image, image_size: int) -> np.ndarray:
        """One Pillow image as one model input (no batch axis), prepared as in training."""
        raise NotImplementedError

    def warning(self, prepared: np.ndarray) -> str | None:
        """Why a prediction for this prepared input means little, or None."""
        return None

    def is_blank(self, prepared: np.ndarray) -> bool:
        """Whether the server refuses this prepared input as holding nothing to classify."""
        return False

    def raw_pixels(self, inputs: np.ndarray) -> np.ndarray:
        """Prepared model inputs as the raw uint8 pixels an export takes."""
        raise NotImplementedError

    def inputs_from_raw(self, raw: np.ndarray) -> np.ndarray:
        """Raw uint8 inputs (N, *raw_shape) as the Keras model takes them."""
        raise NotImplementedError

    def serving_features(self, inputs, image_size: int):
        """Keras layers from raw pixel inputs to what the model takes (export's serving model)."""
        raise NotImplementedError

    def channels(self) -> int:
        """Colour channels of one input (sizes the server's batches)."""
        return self.raw_shape(1)[-1] if len(self.raw_shape(1)) == 3 else 1

    # --- training and evaluation (each task's workflow)

    def train(self, config, run_directory, resumed: bool, data_dir, progress: bool, distribution,
              explicit: frozenset[str] | None = None):
        """Trains and evaluates `config` into `run_directory` (locked); returns a training.loop.RunResult.

        `explicit` names the fields the user set; a task may adapt the others
        to its data (a photo run picks a smaller batch for a small folder).
        None: train `config` exactly as it is.
        """
        raise NotImplementedError

    def evaluate_run(self, run, model, run_config: dict[str, Any], data_dir, tta: tuple[str, ...] = ()) -> tuple[Any, str]:
        """Scores a saved run's model on its evaluation split: (scoring.Evaluation, where the data is).

        With `tta` views (from `tta_views`), test-time augmentation (nophd.inference.tta).
        """
        raise NotImplementedError

    def tta_views(self, run, run_config: dict[str, Any], tta) -> tuple[str, ...]:
        """The test-time augmentation views `tta` (True or names, see nophd.inference.tta.chosen_views) gives
        this run. The default: none suit this kind of run (ConfigError)."""
        raise ConfigError("--tta: test-time augmentation is for photo runs (flips and crops do not suit digits)")

    def export_data(self, run_config: dict[str, Any], data_dir, representative_count: int):
        """The evaluation images and labels and the calibration images an export is checked with."""
        raise NotImplementedError

    # --- the model card (nophd.reports.model_card)

    def produced_by(self, values: dict[str, Any]) -> str | None:
        """For the model card: how the run was produced when no `nophd train` command trains it again
        (a user's own Keras model), as a sentence; None (the default) for runs of `nophd train`."""
        return None

    def train_words(self, values: dict[str, Any]) -> list[str]:
        """The start of the `nophd train` command that trains a run like this one (config.json `values`): the
        dataset and whatever names the model, e.g. ["mnist", "--model", "conv-bn"]."""
        raise NotImplementedError

    def default_config(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """The config.json `nophd train` would write given only `train_words`, as a dict; None when unknown
        (a model nophd no longer has). The model card names the flags where the run differs from it."""
        raise NotImplementedError

    def intended_use(self, config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
        """Plain sentences for the model card's "Intended use and known limits": what this kind of model
        expects, what it cannot know, and what the run's own figures leave open (config.json and metrics.json
        values; either may be {})."""
        raise NotImplementedError

    # --- robustness

    def check_robustness(self, run, values: dict[str, Any]) -> None:
        """Raises RunError (one line naming `run`) when the run (config.json `values`) has no robustness suite."""
        from nophd.errors import RunError

        if not self.supports_robustness:
            raise RunError(f"{run}: robustness suite: digit runs only (this is a {self.noun} run)")

    def robustness_sets(self, data_dir, seed: int, per_set: int, stroke_count: int) -> tuple[list, str]:
        """The robustness suite of this kind of run: (nophd.robustness.suite.DigitSets, where their data is).

        Args:
            data_dir: where the task's evaluation data are (as for evaluate_run).
            seed: the suite's seed.
            per_set, stroke_count: sizes (see nophd.robustness.suite.build_suite).

        Raises:
            RunError: this kind of run has no robustness suite.
        """
        from nophd.errors import RunError

        raise RunError("robustness suite: digit runs only")
