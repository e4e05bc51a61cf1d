"""Checkpoint agreement: the epoch every worker of a multi-worker run resumes from.

Each worker keeps its own latest checkpoint and the one before it
(RunRecorder with keep_previous). On start, resumed or not, the workers
read the epochs their checkpoints hold (`saved_steps`, without loading a
model), compare them with one collective (`common_epoch`) and all load the
latest epoch every one of them holds (`common_checkpoint`), or all start
again when one of them holds nothing.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from nophd import runs
from nophd.errors import RunError
from nophd.training.distribute import cluster, peers


def saved_steps(path: Path) -> int:
    """The optimizer step count of a .keras checkpoint, read without loading the model.

    Keras keeps the optimizer's iteration counter as its first variable
    ("optimizer/vars/0" in the archive's model.weights.h5).
    """
    import h5py

    try:
        with zipfile.ZipFile(path) as archive, archive.open("model.weights.h5") as stream:
            with h5py.File(io.BytesIO(stream.read()), "r") as weights:
                steps = weights["optimizer/vars/0"][()]
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise RunError(f"{path}: not a readable Keras checkpoint ({error})") from None
    if np.ndim(steps) != 0 or not np.issubdtype(np.asarray(steps).dtype, np.integer):
        raise RunError(f"{path}: its first optimizer variable is not a step count")
    return int(steps)


def common_checkpoint(run_directory: Path, steps_per_epoch: int, distribution: cluster.Distribution) -> Path | None:
    """The checkpoint this worker resumes from: of the latest epoch every worker holds.

    Every worker of a multi-worker run calls this first, resumed or not, so
    that all of them then build or load their model the same way. A worker
    killed while the others saved an epoch is at most one epoch behind
    (RunRecorder keeps the epoch before); one killed in the first epoch
    holds nothing, and then every worker starts the run again.

    Returns:
        The checkpoint to load, or None to build a new model.
    """
    held = {}
    for name in (runs.PREVIOUS_CHECKPOINT, runs.CHECKPOINT):
        if (run_directory / name).exists():
            held[saved_steps(run_directory / name) // steps_per_epoch] = run_directory / name
    epoch = common_epoch(distribution, sorted(held))
    if held and epoch not in held:
        print(f"nophd: worker {distribution.worker_index}: another worker holds no checkpoint; "
              "every worker starts the run again", file=sys.stderr)
        for path in held.values():
            path.unlink()
    elif held and epoch != max(held):
        print(f"nophd: worker {distribution.worker_index}: another worker is one epoch behind; "
              f"resuming after epoch {epoch}", file=sys.stderr)
    return held.get(epoch)


def common_epoch(distribution: cluster.Distribution, held: list[int]) -> int:
    """The latest epoch whose checkpoint every worker holds (`held`: this
    worker's, at most two); 0 when there is none."""
    if distribution.workers < 2:
        return max(held, default=0)
    import tensorflow as tf

    slots = (sorted(held, reverse=True) + [-1, -1])[:2]
    strategy = distribution.strategy
    try:
        gathered = strategy.gather(strategy.run(lambda: tf.constant([slots])), axis=0).numpy().tolist()
    except tf.errors.OpError as error:
        raise peers.WorkerLostError(f"the workers could not compare their checkpoints ({peers.first_line(error)}); "
                                    "restart every worker with --resume") from None
    return latest_common(gathered)


def latest_common(held_by_worker: list[list[int]]) -> int:
    """The latest epoch in every worker's list (-1 pads a list); 0 when none.

    Example:
        latest_common([[2, 1], [1, -1]]) == 1
    """
    common = set.intersection(*({epoch for epoch in row if epoch >= 0} for row in held_by_worker))
    return max(common, default=0)
