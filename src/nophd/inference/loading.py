"""Loading a run's final Keras model, with a one-line error for a missing or damaged file.

The predictor, evaluation and export all load a run's model through here.
Keras' safe_mode stays on: a Lambda layer saved as Python bytecode is
refused, with a one-line error. The named functions nophd's own Lambda
layers call (nophd.models.functions, conv-l2's L2 normalisation) are
registered with Keras before any model is loaded, so they load by name.

Example:
    model = load_run_model("runs/20261122-180000-conv-bn")
"""

from __future__ import annotations

import os
from pathlib import Path

from nophd import runs
from nophd.errors import CorruptModelError, RunError


def load_run_model(run: str | os.PathLike):
    """The final model of run folder `run` (or a .keras file)."""
    import keras

    path = Path(run)
    model_path = path / runs.MODEL if path.is_dir() else path
    if not path.exists():
        raise RunError(f"{path}: no such run folder")
    if not model_path.exists():
        hint = " (the run has not finished; resume it with --resume)" if runs.has_checkpoint(path) else ""
        raise RunError(f"{path}: no {runs.MODEL} in this run folder{hint}")
    if model_path.is_dir():
        raise RunError(f"{model_path}: is a folder, not a Keras model file")
    damage = archive_damage(model_path)
    if damage is not None:
        raise CorruptModelError(f"{model_path}: {model_path.name} is corrupt or truncated ({damage}); "
                                "retrain or restore it")
    register_functions()
    try:
        return keras.models.load_model(model_path)  # safe_mode=True, Keras' default: never turned off.
    except OSError:
        raise  # Permission denied and the like: the CLI names the file.
    except ValueError as error:
        if "Lambda" in str(error) and "safe_mode" in str(error):
            raise RunError(f"{model_path}: holds a Lambda layer saved as Python code, which nophd does not run "
                           "(Keras' safe_mode); load it in your own code only if you trust where it came from") from None
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise CorruptModelError(f"{model_path}: {model_path.name} is corrupt or truncated ({reason}); "
                                "retrain or restore it") from None
    except Exception as error:  # Keras raises many types for a damaged archive.
        reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        raise CorruptModelError(f"{model_path}: {model_path.name} is corrupt or truncated ({reason}); "
                                "retrain or restore it") from None


def register_functions() -> None:
    """Registers the named functions nophd's Lambda layers call, so their models load with safe_mode on.

    Importing nophd.models.functions registers them with Keras; call this
    before any keras.models.load_model of a run's model or checkpoint.
    """
    from nophd.models import functions  # noqa: F401


def archive_damage(path: Path) -> str | None:
    """What is wrong with a .keras file as a zip archive, or None when it reads whole.

    A .keras file is a zip archive; a truncated or overwritten one makes
    Keras say "File not found", which misleads. Every member's checksum is
    checked (a few MB for the ladder's models).
    """
    import zipfile
    import zlib

    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as error:
        return str(error) or "not a zip archive"
    except (EOFError, zipfile.LargeZipFile, zlib.error) as error:
        return str(error) or type(error).__name__
    except OSError as error:
        if error.errno is None:
            return str(error)
        raise
    if bad is not None:
        return f"bad checksum in {bad}"
    return None
