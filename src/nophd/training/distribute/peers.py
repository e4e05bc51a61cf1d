"""A multi-worker run's peers failing: the one error a user sees, and what turns TensorFlow's errors into it.

A multi-worker run never waits forever. Workers must all register within
`timeout_seconds`, the coordination service declares a worker that stops
sending heartbeats dead after `timeout_seconds` / 3, and collectives time
out after `timeout_seconds` (all configured in `cluster`); the survivors
then stop with a one-line WorkerLostError (restart every worker with
--resume).

This is the package's leaf: it imports nothing from the other modules.
"""

from __future__ import annotations

import contextlib

from nophd.errors import NophdError


class WorkerLostError(NophdError):
    """A peer of a multi-worker run died, hung or never came up."""


# Lines of a TensorFlow error that say where, not what.
_NOT_THE_CAUSE = ("Graph execution error", "Detected at node", "File ", "<module>", "[[", "Additional GRPC")


def first_line(error: BaseException) -> str:
    """The line of a (TensorFlow) error that says what went wrong, shortened to 200 characters.

    Example:
        first_line(ValueError("Graph execution error:\\nconnection refused"))  # "connection refused"
    """
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(_NOT_THE_CAUSE) and not line.endswith(":")]
    return ((causes or lines or [type(error).__name__])[0])[:200]


@contextlib.contextmanager
def peer_failures(distribution):
    """Turns a multi-worker run's collective failures anywhere (not only in
    custom_loop.fit_custom: also while loading and broadcasting a resumed
    model) into the one-line WorkerLostError.

    Args:
        distribution: a cluster.Distribution; only its `workers` and
            `worker_index` are read (a run of one worker re-raises as is).
    """
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.InternalError) as error:
        if distribution.workers < 2:
            raise
        raise WorkerLostError(
            f"worker {distribution.worker_index} of {distribution.workers}: a peer died or stopped answering "
            f"({first_line(error)}); restart every worker with --resume"
        ) from None
