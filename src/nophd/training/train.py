"""train_and_evaluate(config, workdir): one training run, start to finish, into a run folder.

This module picks and locks the run folder (a new one, or the interrupted
run to resume, after checking the resume is the same run on the same
data), sets up distribution and precision, and hands over to the run's
task (nophd.tasks), whose workflow trains through nophd.training.loop.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Any

from nophd import config as config_module, runs, tasks
from nophd.config import AnyConfig
from nophd.errors import RunError
from nophd.reports import model_card
from nophd.training import distribute, loop


def _prepare_run_directory(
    config: AnyConfig, run_directory: Path | None, resume: bool, runs_root: Path, explicit: dict[str, Any],
    distribution=None,
) -> tuple[Path, AnyConfig, bool, runs.RunLock]:
    """Picks the run folder and takes its lock; on resume, reads back the interrupted run's config.

    The lock is taken before anything is written into the folder, so a
    second process training into the same folder stops here with one line.
    Explicit batch sizes and learning rates are per replica; the saved
    config holds them scaled for its replica count, which must be this
    process's (`distribution`).

    Returns:
        (run folder, the config to use, whether this continues a run, the
        folder's lock, to release when the run ends).
    """
    if resume:
        candidate = run_directory if run_directory is not None else runs.find_resumable(config.model, runs_root)
        if candidate is not None and (Path(candidate) / runs.STATE).exists():
            candidate = Path(candidate)
            held = runs.lock(candidate)
            try:
                return _resume_checks(candidate, config, explicit, distribution, held)
            except BaseException:
                held.release()
                raise
        if run_directory is None:
            print(f"nophd: no interrupted {config.model} run under {runs_root}; starting a new one", file=sys.stderr)
        else:
            print(f"nophd: {run_directory}: no run to resume there; starting a new one", file=sys.stderr)
    if run_directory is None:
        run_directory = runs.new_run_directory(config.model, runs_root)
    run_directory = Path(run_directory)
    _check_new_folder(run_directory)
    held = runs.lock(run_directory)
    try:
        # Again under the lock: another process may have filled it meanwhile.
        _check_new_folder(run_directory, locked=True)
        runs.sweep(run_directory)
    except BaseException:
        held.release()
        raise
    return run_directory, config, False, held


def _check_new_folder(run_directory: Path, locked: bool = False) -> None:
    """Refuses a folder a new run may not start in: a file, a busy run, a run, other files."""
    if run_directory.exists() and not run_directory.is_dir():
        raise RunError(f"{run_directory}: is a file, not a folder; choose another --out")
    if not locked and runs.is_locked(run_directory):
        raise runs.busy_error(run_directory)
    if runs.only_startup_files(run_directory):
        return
    if (run_directory / runs.STATE).exists():
        status = runs.read_state(run_directory) or {}
        state = "interrupted" if locked and status.get("status") == "running" else runs.status(run_directory)
        raise RunError(
            f"{run_directory}: already holds a run ({state}); "
            "pass --resume to continue it or choose another --out"
        )
    raise RunError(f"{run_directory}: folder is not empty; choose another --out")


def _resume_checks(candidate: Path, config: AnyConfig, explicit: dict[str, Any], distribution,
                   held: runs.RunLock) -> tuple[Path, AnyConfig, bool, runs.RunLock]:
    """The checks of a resume, made while holding the folder's lock."""
    # This process holds the lock, so a run.json saying "running" is a killed run's.
    state = (runs.read_state(candidate) or {}).get("status")
    if state == "finished":
        raise RunError(f"{candidate}: this run already finished; nothing to resume")
    saved = runs.read_json(candidate / runs.CONFIG)
    if saved is None:
        raise RunError(f"{candidate / runs.CONFIG}: missing or unreadable; cannot resume this run")
    saved_config = config_module.from_dict(saved)
    if saved_config.model != config.model or type(saved_config) is not type(config):
        raise RunError(f"{candidate}: holds a {saved_config.model} run, not {config.model}")
    if saved_config.dataset != config.dataset:
        raise RunError(f"dataset {config.dataset} differs from the interrupted run's {saved_config.dataset} "
                       f"({candidate}); resume with the same dataset, or start a new run")
    if distribution is not None:
        distribute.check_replicas(saved_config, distribution, str(candidate))
    for key, value in explicit.items():
        saved_value = distribute.per_replica_value(saved_config, key, getattr(saved_config, key))
        if value is not None and not _same(saved_value, value):
            raise RunError(
                f"{key} {value} differs from the interrupted run's {saved_value} "
                f"({candidate}); drop the flag to resume, or start a new run"
            )
    runs.sweep(candidate)
    if runs.has_checkpoint(candidate):
        return candidate, saved_config, True, held
    # Stopped before its first epoch ended: nothing to continue, so the
    # same run starts again in the same folder.
    print(f"nophd: {candidate} stopped before its first epoch ended; starting it again", file=sys.stderr)
    return candidate, saved_config, False, held


def _same(saved: Any, given: Any) -> bool:
    if isinstance(saved, float) and isinstance(given, (int, float)) and not isinstance(given, bool):
        return math.isclose(saved, given, rel_tol=1e-9)
    return saved == given


def train_and_evaluate(
    config: AnyConfig,
    run_directory: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    runs_root: str | os.PathLike = runs.DEFAULT_ROOT,
    progress: bool = True,
    explicit: dict[str, Any] | None = None,
    distribution: distribute.Distribution | None = None,
) -> loop.RunResult:
    """Trains `config`, evaluates it, and writes the run folder.

    The run's task trains and scores it: a digit run (TrainConfig) trains
    a ladder model on MNIST and scores it on the test set; a photo run
    (PhotoConfig) trains a transfer model and scores it on its held-out
    validation split (see nophd.tasks).

    Args:
        config: the resolved configuration (nophd.presets.preset or nophd.config.photo_config).
        run_directory: where to write; default runs_root/<time>-<model>.
        resume: continue the interrupted run in run_directory (or the newest
            interrupted run of this model under runs_root).
        data_dir: where the MNIST files (or the flower photos) are.
        progress: print epochs and steps with ETA to stderr.
        explicit: the fields the user set by hand; on resume they must agree
            with the interrupted run's config. When given, the run may adapt
            the others to its data (a small photo folder's batch size); None
            (the default) trains `config` exactly as it is.
        distribution: the strategy to train under (distribute.setup); default
            "one". `config`'s batch size and learning rate(s) are per replica
            and are scaled for its replicas (distribute.scale_config). In a
            multi-worker run every worker writes a whole run folder; worker
            I > 0 writes to the chief's folder name + "-worker<I>" (under
            runs_root/worker<I> when no folder is given).

    Returns:
        The run folder and its metrics.
    """
    if distribution is None:
        distribution = distribute.setup(distribute.Settings(strategy="one"))
    config = distribute.scale_config(config, distribution)
    distribute.check_supported(config, distribution)
    runs_root = Path(runs_root)
    if not distribution.is_chief:
        if run_directory:
            run_directory = Path(run_directory).with_name(distribute.worker_folder_name(Path(run_directory).name, distribution))
        runs_root = runs_root / f"worker{distribution.worker_index}"
    run_directory, config, resumed, held = _prepare_run_directory(
        config, Path(run_directory) if run_directory else None, resume, runs_root, explicit or {}, distribution
    )
    with held:
        return _train_locked(config, run_directory, resumed, data_dir, progress, distribution,
                             None if explicit is None else frozenset(explicit))


def _train_locked(config: AnyConfig, run_directory: Path, resumed: bool, data_dir, progress: bool,
                  distribution: distribute.Distribution, explicit: frozenset[str] | None = None) -> loop.RunResult:
    if progress and (distribution.replicas > 1 or distribution.workers > 1 or config.mixed_precision or config.jit):
        print(f"nophd: {distribution.describe()}: global batch {config.batch_size}, learning rate "
              f"{config.learning_rate:g} ({config.lr_scaling} scaling)"
              + (", mixed precision" if config.mixed_precision else "") + (", XLA" if config.jit else ""),
              file=sys.stderr)
    with distribute.precision(distribute.precision_policy(config, distribution)):
        result = tasks.of_config(config).train(config, run_directory, resumed, data_dir, progress, distribution,
                                               explicit)
    # The card reads what the finished run wrote (run.json says finished by now), still under the run's lock.
    model_card.write_model_card(run_directory)
    return result
