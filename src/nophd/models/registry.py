"""The model registry: every model builder nophd has, by name (recipes are nophd.presets).

A family module (ladder.py) registers its models into nophd.models.spec;
this module loads the families and looks models up. nophd.config does not
import it: models depend on the config, never the other way.
"""

from __future__ import annotations

import keras

from nophd.errors import ConfigError
from nophd.models import spec as spec_module


def _load_families() -> None:
    # Importing a family module registers its models.
    from nophd.models import ladder  # noqa: F401


def names() -> list[str]:
    """All builder names, in ladder order."""
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


def build(name: str, input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10, tiny: bool = False) -> keras.Model:
    """Builds a new, uncompiled model by builder name (tiny: the same layers, far narrower, for tests).

    Example:
        model = build("conv-bn")  # input (None, 28, 28, 1) floats in [0, 1]
    """
    return get(name).build(tuple(input_shape), num_classes, tiny=tiny)
