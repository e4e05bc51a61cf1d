"""Scale-out: a run spread over devices and machines with tf.distribute, one module per job.

- `peers`: WorkerLostError, the one-line error when a peer of a
  multi-worker run dies, hangs or never comes up, and `peer_failures`,
  which turns TensorFlow's collective errors into it. The leaf: it imports
  nothing from the other modules.
- `cluster`: devices and cluster: Settings, Distribution, `setup` (the
  strategy for "auto", "one", "mirrored", "multiworker" or "tpu"), TF_CONFIG
  parsing and writing, logical CPU devices, worker folder names.
- `scaling`: the per-replica batch and learning rate scaled for the replica
  count, the per-replica values compared on resume, and the strategy and
  recipe combinations that are refused.
- `mixed_precision`: the Keras dtype policy a model is built under.
- `custom_loop`: the hand-written training step used under "multiworker",
  where Keras 3's Model.fit fails, and the validation it adds.
- `checkpoints`: checkpoint agreement: the epoch every worker of a
  multi-worker run resumes from.

Imports flow one way: peers <- cluster <- scaling, mixed_precision,
custom_loop, checkpoints. The names below are re-exported so callers keep
writing `distribute.setup(...)`, `distribute.fit_custom(...)`.

Example:
    from nophd.training import distribute
    distribution = distribute.setup(distribute.Settings(strategy="mirrored", cpu_devices=2))
"""

from nophd.training.distribute.checkpoints import common_checkpoint, common_epoch, latest_common, saved_steps
from nophd.training.distribute.cluster import (
    DEFAULT_TIMEOUT_SECONDS,
    STRATEGIES,
    Distribution,
    Settings,
    parse_workers,
    setup,
    split_cpu,
    tf_config,
    worker_folder_name,
)
from nophd.training.distribute.custom_loop import distribute_dataset, fit_custom, replicated, validation_callback
from nophd.training.distribute.mixed_precision import precision, precision_policy
from nophd.training.distribute.peers import WorkerLostError, peer_failures
from nophd.training.distribute.scaling import (
    LR_SCALINGS,
    check_replicas,
    check_supported,
    learning_rate_factor,
    per_replica_value,
    scale_config,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS", "LR_SCALINGS", "STRATEGIES", "Distribution", "Settings", "WorkerLostError",
    "check_replicas", "check_supported", "common_checkpoint", "common_epoch", "distribute_dataset", "fit_custom",
    "latest_common", "learning_rate_factor", "parse_workers", "per_replica_value", "peer_failures", "precision",
    "precision_policy", "replicated", "saved_steps", "scale_config", "setup", "split_cpu", "tf_config",
    "validation_callback", "worker_folder_name",
]
