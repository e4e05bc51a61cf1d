"""Batch and learning-rate scaling for the replica count, and the strategy/recipe combinations that work.

The recipe's batch size is per replica. With N replicas the global batch is
N times larger and an epoch has N times fewer steps, so the learning rate is
scaled too: linearly by default (Goyal et al., "Accurate, Large Minibatch
SGD"), or by sqrt(N), or not at all (`lr_scaling`). The scaled values are
what config.json holds, next to the strategy and replica count; a resume
with another replica count is refused.
"""

from __future__ import annotations

import math

from nophd.errors import ConfigError
from nophd.training.distribute import cluster

LR_SCALINGS = ("linear", "sqrt", "none")


def learning_rate_factor(replicas: int, lr_scaling: str) -> float:
    """How much the learning rate grows with `replicas` (the global batch grows by `replicas`)."""
    if lr_scaling == "linear":
        return float(replicas)
    if lr_scaling == "sqrt":
        return math.sqrt(replicas)
    return 1.0


def scale_config(config, distribution: cluster.Distribution):
    """`config` with its per-replica batch and learning rate(s) scaled for `distribution`.

    The result records the strategy and replica count; its batch_size is the
    global batch. A config that already records a replica count (read back
    from config.json) must match and is returned unchanged.

    Example:
        scale_config(preset("dense1"), mirrored_over_2)  # batch 100 -> 200, lr 0.003 -> 0.006
    """
    from nophd.config import override

    if config.replicas != 1 or config.strategy != "one":
        check_replicas(config, distribution, "the config")
        return config
    factor = learning_rate_factor(distribution.replicas, config.lr_scaling)
    changes = {"strategy": distribution.name, "replicas": distribution.replicas,
               "batch_size": config.batch_size * distribution.replicas}
    # Every learning rate of the run (a photo run's fine-tuning one too), as its config class lists them.
    for name in config.scaled_learning_rates:
        changes[name] = getattr(config, name) * factor
    return override(config, **changes)


def per_replica_value(config, key: str, value):
    """What `config`'s field `key` was before scale_config, for comparing with a flag on resume."""
    if value is None:
        return value
    if key == "batch_size":
        return value // config.replicas
    if key in config.scaled_learning_rates:
        return value / learning_rate_factor(config.replicas, config.lr_scaling)
    return value


def check_replicas(config, distribution: cluster.Distribution, what: str) -> None:
    """Refuses to continue `config` (trained on config.replicas) with another replica count."""
    if config.replicas != distribution.replicas:
        raise ConfigError(
            f"{what} trained on {config.replicas} replica(s) ({config.strategy}), this process has "
            f"{distribution.replicas} ({distribution.describe()}): its batch size and learning rate are scaled "
            "for its count; resume with the same --strategy, --cpu-devices and --workers, or start a new run"
        )


def check_supported(config, distribution: cluster.Distribution) -> None:
    """Rejects combinations that do not work yet, with what to do instead."""
    if distribution.name == "multiworker" and not config.supports_multiworker:
        raise ConfigError(f"--strategy multiworker: not supported yet for {config.task} runs (Keras 3 predict and "
                          "fit fail under MultiWorkerMirroredStrategy); use one or mirrored")
    if config.jit and not config.supports_jit:
        raise ConfigError("--jit: only for mnist runs")
    if config.jit and distribution.custom_loop:
        raise ConfigError("--jit: not with --strategy multiworker (its hand-written loop is not XLA-compiled)")
