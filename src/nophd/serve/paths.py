"""The one rule for every path the server reads: it must resolve inside RUNS_DIR.

A run folder may hold symbolic links (a report.html pointing at
/etc/passwd, a whole run folder pointing somewhere else). The server follows
a path only after resolving it, symlinks included, and finding it inside the
resolved RUNS_DIR; anything else is treated as absent. Every reader in
`catalog` and `inference` asks `inside` first.

Example:
    path = inside("runs", Path("runs/conv-bn/report.html"))
    if path is None:
        ...  # missing as far as the server is concerned
"""

from __future__ import annotations

import os
from pathlib import Path


def inside(runs_dir: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """`path` resolved (symlinks followed), or None when it resolves outside `runs_dir`.

    A path that does not exist resolves as far as it can and is returned when
    it would lie inside, so callers still see "missing" as missing.

    Args:
        runs_dir: the folder the server serves (resolved here too).
        path: a path under it, as joined by the caller.
    """
    try:
        root = Path(runs_dir).resolve()
        resolved = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):  # A symlink loop, a NUL byte.
        return None
    if resolved == root or root in resolved.parents:
        return resolved
    return None


def existing(runs_dir: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """`path` resolved, when it exists and resolves inside `runs_dir`; else None."""
    resolved = inside(runs_dir, path)
    return resolved if resolved is not None and resolved.exists() else None


def is_inside(runs_dir: str | os.PathLike, path: str | os.PathLike) -> bool:
    """True when `path` resolves inside `runs_dir` (see `inside`)."""
    return inside(runs_dir, path) is not None
