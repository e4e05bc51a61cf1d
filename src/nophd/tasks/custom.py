"""Custom: a Keras model of the user's own, trained by their code and recorded by `nophd.RunFolder`.

nophd did not build the model and does not know its data: the run folder
is a record to read, compare and serve on the dashboard, with the same
files as a run of `nophd train`. nophd cannot prepare inputs for such a
model, so predicting, evaluating and exporting it is left to the user's own
code: those commands refuse such a run with one line (`check_takes_inputs`).

Example:
    task = tasks.get("custom")
    task.planned_epochs({"epochs": 3})  # 3
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nophd import values as values_module
from nophd.errors import ConfigError, RunError
from nophd.tasks.base import Task

# Nothing is decoded for these models; a small budget keeps a stray upload cheap.
MAX_UPLOAD_PIXELS = 1024 * 1024


def refused(what: str) -> RunError:
    """The one-line error for what nophd cannot do with a user's own model."""
    return RunError(f"{what}: not supported for runs of your own models (recorded with nophd.RunFolder); "
                    "load its model.keras with keras.saving.load_model in your own code")


class Custom(Task):
    name = "custom"
    noun = "custom"
    evaluated_split = "validation"
    max_upload_pixels = MAX_UPLOAD_PIXELS
    mistakes_saved = True
    takes_inputs = False

    def config_class(self) -> type:
        from nophd.config import CustomConfig

        return CustomConfig

    def schedule(self, values: dict[str, Any], epochs: int | None) -> list[float]:
        # The user's code sets the learning rate; only the rates it used are known (history.csv).
        return []

    def schedule_config(self, values: dict[str, Any], rate: float, decay: float | None):
        return None

    def planned_epochs(self, values: dict[str, Any]) -> int | None:
        return values_module.integer(values.get("epochs"))

    def check_takes_inputs(self, what: str) -> None:
        raise refused(what)

    # --- the model card

    def produced_by(self, values: dict[str, Any]) -> str | None:
        return ("Trained by the user's own Keras code and recorded with `nophd.RunFolder` "
                "(`model.fit(..., callbacks=[nophd.RunFolder(...)])`); no `nophd train` command trains it again. "
                "config.json holds what the callback could see: the model's name, optimizer, loss, epochs and "
                "whatever the code passed.")

    def intended_use(self, config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
        return [
            "A model nophd did not define: nophd knows neither its inputs nor what its classes mean, so what it is "
            "for, and what data it suits, is for its author to write here (the card is rewritten only while its "
            "first line is nophd's marker; delete that line to keep your edits).",
            "Its figures are those of the data the training code validated or evaluated on (metrics.json); nophd "
            "has not checked them on other data.",
        ]

    def image_size_of(self, model) -> int:
        raise refused("inputs")

    def check_model(self, model, where: str) -> None:
        raise refused(where)

    def raw_shape(self, image_size: int) -> tuple[int, ...]:
        raise refused("raw inputs")

    def matches_raw_shape(self, shape: tuple[int, ...]) -> bool:
        return False  # An export is never one of these runs (export refuses them).

    def raw_input_text(self) -> str:
        raise refused("raw inputs")

    def prepare(self, image, image_size: int) -> np.ndarray:
        raise refused("predicting")

    def raw_pixels(self, inputs: np.ndarray) -> np.ndarray:
        raise refused("raw inputs")

    def inputs_from_raw(self, raw: np.ndarray) -> np.ndarray:
        raise refused("raw inputs")

    def serving_features(self, inputs, image_size: int):
        raise refused("export")

    def channels(self) -> int:
        raise refused("inputs")

    def train(self, config, run_directory, resumed: bool, data_dir, progress: bool, distribution,
              explicit: frozenset[str] | None = None):
        raise ConfigError("a run of your own model is trained by your code: add nophd.RunFolder to its model.fit callbacks")

    def evaluate_run(self, run, model, run_config: dict[str, Any], data_dir, tta: tuple[str, ...] = ()) -> tuple[Any, str]:
        raise refused(f"{run}: evaluate")

    def export_data(self, run_config: dict[str, Any], data_dir, representative_count: int, seed: int = 0):
        raise refused("export")


TASK = Custom()
