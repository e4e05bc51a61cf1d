"""Errors a user can act on.

Every error raised for bad input (a missing or corrupt file, an unknown model
name, a bad flag) is a `NophdError`. The CLI turns it into one line on stderr
and exit status 2; the Python API lets it propagate like any exception.
"""


class NophdError(Exception):
    """An error caused by input the user can fix; its message is one line."""


class DataError(NophdError):
    """A dataset file is missing, unreadable, corrupt or inconsistent."""


class ConfigError(NophdError):
    """A configuration value, flag or model name is invalid."""


class RunError(NophdError):
    """A run folder is missing, incomplete, or cannot be resumed as asked."""


class CorruptModelError(RunError):
    """A saved model file (model.keras) is corrupt or truncated: retrain or restore it.

    Raised by nophd.inference.loading.load_run_model, which the CLI, export
    and the server's Predictor all load models through.
    """


# What a user can do about each OSError they can cause, by errno name.
_OS_ERROR_ADVICE = {
    "ENOSPC": "no space left on the device; free some space and run the command again "
              "(an interrupted training continues with --resume)",
    "EDQUOT": "disk quota exceeded; free some space and run the command again "
              "(an interrupted training continues with --resume)",
    "EROFS": "read-only file system; choose a folder on a writable disk",
    "EACCES": "permission denied; choose a folder you may read and write, or change its permissions",
    "EPERM": "operation not permitted; choose a folder you may read and write, or change its permissions",
    "ENOTDIR": "a part of this path is a file, not a folder; choose another path",
    "EISDIR": "is a folder, not a file; give a file",
    "EBUSY": "busy (in use, or a mount point); choose another path",
    "EEXIST": "already exists; choose another path",
    "ENOENT": "no such file or folder; check the path",
    "ELOOP": "too many levels of symbolic links (a link loop?); fix the link or choose another path",
    "ENAMETOOLONG": "the name is too long; choose a shorter path",
    "EFBIG": "the file grew too large for its file system; choose another disk",
    "EMLINK": "too many entries in the folder; choose another folder",
}


def os_error_line(error: OSError) -> str | None:
    """The one-line message for an OSError a user can cause, naming the path; None for others.

    Example:
        os_error_line(PermissionError(13, "Permission denied", "runs/x"))
        # 'runs/x: permission denied; choose a folder you may read and write, ...'
    """
    import errno

    name = errno.errorcode.get(error.errno or -1)
    advice = _OS_ERROR_ADVICE.get(name or "")
    if advice is None:
        return None
    paths = [str(path) for path in (error.filename, error.filename2) if path is not None]
    where = " -> ".join(paths) if paths else "a file nophd was writing"
    return f"{where}: {advice}"
