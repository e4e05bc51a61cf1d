"""Precision: the Keras dtype policy a run's model is built under."""

from __future__ import annotations

import contextlib

from nophd.training.distribute import cluster


def precision_policy(config, distribution: cluster.Distribution) -> str:
    """The Keras dtype policy for the run: float32, or mixed_float16 on GPU / mixed_bfloat16 on TPU and CPU."""
    if not config.mixed_precision:
        return "float32"
    return "mixed_float16" if distribution.device == "gpu" else "mixed_bfloat16"


@contextlib.contextmanager
def precision(policy: str):
    """Sets Keras' global dtype policy for models built inside; restores the previous one after."""
    import keras

    previous = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
