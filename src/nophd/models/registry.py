"""The model registry: every model nophd can train, by name, with its recipe.

A family module (ladder.py) registers its models into nophd.models.spec;
this module loads the families and looks models up. nophd.config does not
import it: models depend on the config, never the other way.
"""

from __future__ import annotations

import dataclasses

import keras

from nophd.config import TrainConfig
from nophd.errors import ConfigError
from nophd.models import spec as spec_module


def _load_families() -> None:
    # Importing a family module registers its models.
    from nophd.models import ladder  # noqa: F401


def names() -> list[str]:
    """All model names, in ladder order."""
    _load_families()
    return list(spec_module.REGISTRY)


def get(name: str) -> spec_module.ModelSpec:
    """The spec of model `name`.

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    _load_families()
    if name not in spec_module.REGISTRY:
        raise ConfigError(f"unknown model {name!r}; valid models: {', '.join(spec_module.REGISTRY)}")
    return spec_module.REGISTRY[name]


def build(name: str, input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10) -> keras.Model:
    """Builds a new, uncompiled model by name.

    Example:
        model = build("conv-bn")  # input (None, 28, 28, 1) floats in [0, 1]
    """
    return get(name).build(tuple(input_shape), num_classes)


def preset(model_name: str) -> TrainConfig:
    """The codelab's recipe for ladder rung `model_name` as a TrainConfig.

    Example:
        config = nophd.config.override(preset("conv-bn"), epochs=2, seed=1)

    Raises:
        ConfigError: unknown name; the message lists the valid ones.
    """
    recipe = get(model_name).recipe
    return TrainConfig(model=model_name, **dataclasses.asdict(recipe))
