"""What a model family registers: a named builder, and the store it goes into.

Family modules (ladder.py) import this module and register their models;
nophd.models.registry loads the families and looks models up. Imports flow
one way: registry -> families -> spec. Recipes are not here: see nophd.presets.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras



@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A named model builder.

    Args:
        name: the builder's name, e.g. "conv-bn" (presets refer to it).
        build: returns a new, uncompiled Functional model for
            (input_shape, num_classes, tiny=False); tiny=True builds the
            same layers, far narrower, for tests.
        description: one line.
    """

    name: str
    build: Callable[..., keras.Model]
    description: str


REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Adds `spec` to the registry; names are unique."""
    if spec.name in REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec
