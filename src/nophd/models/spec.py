"""What a model family registers: a named builder with its recipe, and the store it goes into.

Family modules (ladder.py) import this module and register their models;
nophd.models.registry loads the families and looks models up. Imports flow
one way: registry -> families -> spec -> config.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras

from nophd.config import Recipe


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A named model: how to build it, how the codelab trains it, what it reached.

    Args:
        name: the name used on the command line, e.g. "conv-bn".
        build: returns a new, uncompiled Functional model for
            (input_shape, num_classes).
        recipe: the default training recipe.
        description: one line for `nophd models`.
        codelab_accuracy: the test accuracy the codelab reports (0..1), or
            None where it gives no figure.
        codelab_text: that figure as the codelab words it, e.g. "~97%".
        family: "ladder" for the codelab's rungs, "advanced" for the
            advanced-layers tutorial's.
    """

    name: str
    build: Callable[[tuple[int, ...], int], keras.Model]
    recipe: Recipe
    description: str
    codelab_accuracy: float | None = None
    codelab_text: str = "—"
    family: str = "ladder"


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Adds `spec` to the registry; names are unique."""
    if spec.name in REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec
