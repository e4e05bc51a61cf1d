"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader (a browser, the dashboard, `tail -f`) never sees a half-written
file, and a crash or `kill -9` leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()
# Write failures that name no file (a full disk, a quota, a failing device).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it onto `path` on success.

    Args:
        path: the final file path.
        suffix: suffix for the temporary name; defaults to the target's own
            suffix, because some writers (Keras, matplotlib) choose the
            format from the file name.

    Example:
        with atomic_path("run/curves.png") as tmp:
            figure.savefig(tmp)
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}.", suffix=suffix if suffix is not None else target.suffix
    )
    os.close(handle)
    temporary_path = Path(temporary)
    # mkstemp makes the file private (0600); give it the permissions a plain
    # open() would have, so a run folder can be shared or served.
    os.chmod(temporary_path, 0o666 & ~_UMASK)
    try:
        try:
            yield temporary_path
            os.replace(temporary_path, target)
        except OSError as error:
            # A full disk fails a write() with no file name; name the file
            # being written, so the user's one-line error says where.
            if error.filename is None and error.errno in _WRITE_ERRNOS:
                raise OSError(error.errno, error.strerror, str(target)) from error
            raise
    finally:
        if temporary_path.exists():
            temporary_path.unlink()


def temporary_name_pattern(name: str) -> re.Pattern:
    """What atomic_path names the temporary files of target `name`: "." + stem + "." +
    mkstemp's eight random characters (a-z, 0-9, _) + suffix, e.g. ".curves.k2j_9x0a.png"."""
    target = Path(name)
    return re.compile(rf"\.{re.escape(target.stem)}\.[a-z0-9_]{{8}}{re.escape(target.suffix)}")


def sweep_temporary_files(folder: str | os.PathLike, names) -> list[Path]:
    """Removes atomic_path's temporary files for targets `names` left in `folder` by a killed process.

    Only call it on a folder no other process writes to (a run folder whose
    lock this process holds): a live writer's temporary file looks the same.

    Args:
        folder: the folder to sweep (not its subfolders).
        names: the file names nophd writes there, e.g. ("curves.png", "model.keras").

    Returns:
        The paths removed.
    """
    patterns = [temporary_name_pattern(name) for name in names]
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if any(pattern.fullmatch(entry.name) for pattern in patterns) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(Path(entry.path))
    return removed


def hold_folder(path: str | os.PathLike) -> int:
    """Takes an exclusive lock on a temporary folder this process is filling.

    sweep_temporary_folders leaves a held folder alone; the kernel drops the
    lock when the process dies, so a killed process's folder is swept.

    Returns:
        The open descriptor; closing it releases the lock.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    return descriptor


def sweep_temporary_folders(parent: str | os.PathLike, prefix: str) -> list[Path]:
    """Removes folders `parent/<prefix>*` that no live process holds (see hold_folder).

    Returns:
        The paths removed.
    """
    removed = []
    try:
        entries = [entry for entry in os.scandir(parent) if entry.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            descriptor = os.open(entry.path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(descriptor)
            continue  # A live export is filling it.
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
        finally:
            os.close(descriptor)
    return removed


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, value: Any) -> None:
    """Writes `value` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(value, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    # NumPy scalars and paths show up in metrics; store them as plain values.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")
