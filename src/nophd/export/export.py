"""export_run: a finished run's model as a SavedModel, TFLite or ONNX file or a web app, measured against the original.

What `export_run` does, in order:

1. Checks the format, the run (a finished run folder with model.keras),
   the output folder and, for ONNX, that its converter and runtime are
   installed, before any slow work.
2. Writes the artifact into a temporary folder beside the output folder.
3. Loads it back and runs it over the run's evaluation images (the MNIST
   test set for digits, the held-out validation split for photos), next to
   the Keras model; times one-image predictions of both in this process.
4. Writes export.json (format, shapes, accuracy, file size and latency of
   the export and of the original, their ratios) into the temporary folder,
   then renames it onto the output folder. A failed or interrupted export
   leaves no half-written artifact; an earlier export in the same folder is
   replaced only by a complete new one, and only when the folder holds
   nothing but what that export wrote (export.json lists it under "files").
   A killed export's temporary folder is swept by the next export to the
   same folder.
5. Rewrites the run's MODEL_CARD.md (nophd.reports.model_card), which lists
   the exports under RUN/export/, unless the card there is the user's own.

The output folder holds:

    savedmodel:   the SavedModel (saved_model.pb, variables/, ...) + export.json
    tflite:       model.tflite + export.json
    tflite-int8:  model.tflite + export.json
    onnx:         model.onnx + export.json (needs `pip install 'nophd[onnx]'`)
    web:          index.html, app.js, app.css, vendor/ (LiteRT.js) + model.tflite
                  (float, batch 1) + export.json: open it from a local web
                  server (nophd.export.webapp). Its "exported" accuracy and
                  latency are of that model.tflite in Python's LiteRT
                  interpreter, as for the other formats; where headless
                  Chromium is installed, export.json's "web"/"browser" adds
                  the page's own accuracy and latency, measured with the
                  network cut (nophd.export.browser).

Example:
    result = export_run("runs/ladder/conv-bn", "tflite-int8")
    result["exported"]["accuracy"], result["original"]["accuracy"]
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from nophd import atomic, errors, runs, tasks, text
from nophd.errors import ConfigError, RunError
from nophd.export import FOLDER_FORMATS, FORMATS, OPTIONAL_FORMATS, artifacts, formats, measure, webapp
from nophd.reports import model_card

EXPORT_FOLDER = "export"
# "A few hundred" training images to calibrate the activation ranges. On a
# conv-bn trained on the real MNIST (float: 99.54%), 100, 200, 500 and 2,000
# images gave int8 test accuracies of 99.53%, 99.55%, 99.55% and 99.55%.
REPRESENTATIVE_COUNT = 500
REPRESENTATIVE_SEED = 0


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@dataclasses.dataclass(frozen=True)
class ExportData:
    """The images an export is calibrated and evaluated on, all raw uint8.

    Attributes:
        representative: training images for int8 calibration (R, *input_shape).
        images: evaluation images (N, *input_shape).
        labels: their classes, int (N,).
        description: where the evaluation images come from, in words.
    """

    representative: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    description: str


def export_data(run_config: dict, data_dir: str | os.PathLike | None = None,
                representative_count: int = REPRESENTATIVE_COUNT) -> ExportData:
    """Calibration and evaluation images for a run, as its task (nophd.tasks) reopens its data.

    Args:
        run_config: the run's config.json contents.
        data_dir: where the data is (as for `nophd train --data-dir`).
        representative_count: how many training images to calibrate on,
            drawn at random (seed REPRESENTATIVE_SEED) from the run's training data.
    """
    representative, images, labels, description = tasks.of_run(run_config).export_data(
        run_config, data_dir, representative_count, REPRESENTATIVE_SEED)
    return ExportData(representative=np.asarray(representative, dtype=np.uint8),
                      images=np.asarray(images, dtype=np.uint8), labels=np.asarray(labels).astype(np.int64),
                      description=description)


def default_out(run: str | os.PathLike, format: str) -> Path:
    """RUN/export/<format>."""
    return Path(run) / EXPORT_FOLDER / format


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid formats: {', '.join(FORMATS)}")
    return format


def check_converter(format: str) -> None:
    """A one-line ConfigError when the format's optional converter or runtime is not installed."""
    needed = OPTIONAL_FORMATS.get(format, ())
    missing = formats.onnx_missing(needed) if needed else []
    if missing:
        raise ConfigError(f"--format {format} needs {', '.join(missing)}, not installed here: {formats.ONNX_EXTRA}")


def check_run(run: str | os.PathLike) -> Path:
    """The run folder, if it is a finished run with a model; else a one-line RunError."""
    path = Path(run)
    if not path.exists():
        raise RunError(f"{path}: no such run folder")
    if not path.is_dir():
        raise RunError(f"{path}: not a run folder (export takes the folder a training run wrote)")
    status = runs.status(path)
    if status == "unknown":
        raise RunError(f"{path}: not a run folder (no readable {runs.STATE})")
    if status != "finished":
        hint = "; resume it with `nophd train ... --resume` first" if status in ("interrupted", "failed") else ""
        raise RunError(f"{path}: the run is {status}, not finished{hint}")
    if not (path / runs.MODEL).is_file():
        raise RunError(f"{path}: no {runs.MODEL} in this run folder")
    return path


# What an export folder held before exports listed their files in
# export.json ("files"): a SavedModel's parts, or model.tflite.
_EXPORT_NAMES = frozenset({artifacts.EXPORT_JSON, artifacts.TFLITE_NAME, artifacts.ONNX_NAME,
                           artifacts.SAVED_MODEL_FILE, "variables",
                           "assets", "fingerprint.pb", "keras_metadata.pb"})


def check_out(out: str | os.PathLike) -> Path:
    """The output folder, if an export may be written there; else a one-line ConfigError.

    It may not exist yet, be an empty folder, or hold an earlier export
    and nothing else (which is replaced whole); a file, a folder holding
    anything nophd did not write there, or a path through a file is
    refused: nothing a user put there is ever deleted.
    """
    path = Path(out)
    if path.suffix in (".tflite", ".onnx", ".pb", ".json"):
        raise ConfigError(f"--out {path}: give a folder for the export (it will hold the model and export.json), "
                          "not a file name")
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            where = "is a file" if parent == path else f"is inside {parent}, which is a file"
            raise ConfigError(f"--out {path}: {where}; give a folder for the export")
    if not path.is_dir():
        return path
    names = sorted(os.listdir(path))
    if not names:
        return path
    if artifacts.EXPORT_JSON not in names:
        raise ConfigError(f"--out {path}: the folder holds other files; give a new or empty folder, "
                          "or an earlier export's folder to replace it")
    foreign = [name for name in names if name not in _written_by_export(path)]
    if foreign:
        raise ConfigError(f"--out {path}: holds files an earlier export did not write ({', '.join(foreign[:3])}"
                          + (", ..." if len(foreign) > 3 else "") + "); move them away, or choose another --out")
    return path


def _written_by_export(path: Path) -> frozenset[str]:
    """The names an earlier export in `path` wrote: its export.json's "files", or the export names."""
    listed = artifacts.read_metadata(path).get("files")
    if isinstance(listed, list) and all(isinstance(name, str) for name in listed):
        return frozenset(listed) | {artifacts.EXPORT_JSON}
    return _EXPORT_NAMES


def export_run(
    run: str | os.PathLike,
    format: str,
    out: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    representative_count: int = REPRESENTATIVE_COUNT,
    latency_runs: int = 200,
) -> dict:
    """Exports a finished run's model, evaluates the export next to the original, writes export.json.

    Args:
        run: a finished run folder.
        format: "savedmodel", "tflite", "tflite-int8", "onnx" or "web".
        out: the export folder (default RUN/export/<format>).
        data_dir: where the run's data is (MNIST: as `--data-dir`).
        representative_count: training images to calibrate int8 on.
        latency_runs: timed single-image predictions per model.

    Returns:
        The export.json contents, plus "path" (the export folder) and
        "artifact_path" (what `nophd predict` takes: the folder (SavedModel, web), the .tflite or the .onnx).

    Raises:
        ConfigError: unknown format, unusable --out, or ONNX without its extra installed.
        RunError: missing, unfinished or broken run.
        ExportError: conversion failed.
        DataError: the evaluation data is missing or corrupt.
    """
    from nophd.inference import loading

    check_format(format)
    run_path = check_run(run)
    out_path = check_out(out if out is not None else default_out(run_path, format))
    check_converter(format)
    run_config = runs.read_json(run_path / runs.CONFIG) or {}
    task = tasks.of_run(run_config)
    task.check_takes_inputs(f"{run_path}: export")
    model = loading.load_run_model(run_path)
    image_size = task.image_size_of(model)
    classes = int(model.output_shape[-1])
    names = run_config.get("class_names") or (runs.read_json(run_path / runs.METRICS) or {}).get("class_names")
    class_names = [str(name) for name in names] if names and len(names) == classes else [str(i) for i in range(classes)]
    data = export_data(run_config, data_dir, representative_count)

    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--out {out_path}: cannot create its folder ({error.strerror})") from None
    # Temporary folders of exports to this --out killed before they ended.
    atomic.sweep_temporary_folders(out_path.parent, f".{out_path.name}.tmp-")
    atomic.sweep_temporary_folders(out_path.parent, f".{out_path.name}.old-")
    temporary = Path(tempfile.mkdtemp(dir=out_path.parent, prefix=f".{out_path.name}.tmp-"))
    held = atomic.hold_folder(temporary)  # Until it is renamed into place or removed.
    # mkdtemp makes the folder private (0700); give it a plain mkdir's
    # permissions, so an export can be shared or served.
    os.chmod(temporary, 0o777 & ~_UMASK)
    try:
        try:
            artifact_name = _write_artifact(model, format, task, image_size, data.representative, temporary)
        except OSError as error:
            if error.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # The temporary folder is gone when the user reads this: name --out.
            raise OSError(error.errno, error.strerror, str(out_path)) from None
        metadata = {
            "format": format,
            "artifact": artifact_name,
            "run": str(run_path),
            "model": run_config.get("model", model.name),
            "kind": task.name,
            "class_names": class_names,
            "image_size": image_size,
            "input": _input_description(task, image_size, format),
            "output": {"dtype": "float32", "shape": [None, classes], "what": "probabilities"},
        }
        atomic.write_json(temporary / artifacts.EXPORT_JSON, metadata)
        artifact = artifacts.load(temporary)
        if format == "tflite-int8":
            _describe_quantization(metadata, artifact)
        result = {**metadata, **_compare(model, artifact, task, data, run_path, temporary, latency_runs)}
        if format == "web":
            result["exported"]["format"] = "web"
            result["web"] = {
                "runtime": webapp.RUNTIME,
                "open": "serve the folder (python -m http.server) and open index.html; it makes no request outside it",
                "measured_here": "exported accuracy and latency are of the page's model.tflite in Python's LiteRT "
                                 "interpreter, like the other formats'; \"browser\" has the page's own, measured in "
                                 "headless Chromium where it is installed; the folder size includes the runtime",
                # The page itself on the evaluation images, or why it was not measured here.
                "browser": webapp.measure_in_browser(temporary, data.images, data.labels,
                                                     artifact.predict(data.images[:webapp.BROWSER_SAMPLE])),
            }
        if format == "tflite-int8":
            result["calibration"] = {"representative_images": int(len(data.representative)),
                                     "drawn_from": "the run's training images, at random (seed 0)"}
        result["versions"] = _versions()
        result["exported_at"] = runs.now()
        # What this export wrote, so a later one replaces only a folder of these.
        result["files"] = sorted({*os.listdir(temporary), artifacts.EXPORT_JSON})
        atomic.write_json(temporary / artifacts.EXPORT_JSON, result)
        check_out(out_path)  # Again: a user may have added files while this export ran.
        _replace(temporary, out_path)
    finally:
        if temporary.exists():
            shutil.rmtree(temporary, ignore_errors=True)
        os.close(held)
    artifact_path = out_path if artifact_name == "." or format in FOLDER_FORMATS else out_path / artifact_name
    result = {**result, "path": str(out_path), "artifact_path": str(artifact_path)}
    # The run's model card lists the exports under RUN/export/, and those elsewhere through RUN/exports.json. The
    # export itself is done: a list or card that cannot be written is reported, not raised.
    try:
        _record_elsewhere(run_path, out_path, format)
        model_card.write_model_card(run_path)
    except OSError as error:
        result["model_card_not_written"] = errors.os_error_line(error) or text.one_line(error)
    return result


def _record_elsewhere(run_path: Path, out_path: Path, format: str) -> None:
    """Lists an export outside RUN/export/ in RUN/exports.json (one entry per folder, the latest export's)."""
    folder, run_folder = out_path.resolve(), run_path.resolve()
    if folder.is_relative_to(run_folder / EXPORT_FOLDER):
        return
    # Inside the run folder, relative to it: the listing stays right when the run folder moves.
    where = str(folder.relative_to(run_folder)) if folder.is_relative_to(run_folder) else str(folder)
    listed = (runs.read_json(run_path / runs.EXPORTS) or {}).get("exports")
    entries = [entry for entry in (listed if isinstance(listed, list) else [])
               if isinstance(entry, dict) and entry.get("path") != where]
    entries.append({"path": where, "format": format, "exported_at": runs.now()})
    atomic.write_json(run_path / runs.EXPORTS, {"exports": entries})


def _write_artifact(model, format: str, task, image_size: int, representative: np.ndarray,
                    folder: Path) -> str:
    """Writes the format's files into `folder`; returns the artifact's name in it ("." for a SavedModel)."""
    if format == "savedmodel":
        formats.write_savedmodel(formats.serving_model(model, task, image_size, "uint8"), folder)
        return "."
    if format == "onnx":
        formats.write_onnx(formats.serving_model(model, task, image_size, "uint8"), folder / artifacts.ONNX_NAME)
        return artifacts.ONNX_NAME
    # TFLite is converted from a SavedModel, the converter's best-supported input.
    # Inside `folder`, so that the sweep of a killed export's folder takes it too.
    with tempfile.TemporaryDirectory(dir=folder, prefix=".savedmodel-") as scratch:
        saved_model = Path(scratch) / "savedmodel"
        if format == "web":
            # LiteRT.js runs fixed input shapes only: one image at a time.
            formats.write_savedmodel(formats.serving_model(model, task, image_size, "uint8", batch_size=1), saved_model)
            content = formats.tflite_bytes(saved_model)
        elif format == "tflite":
            formats.write_savedmodel(formats.serving_model(model, task, image_size, "uint8"), saved_model)
            content = formats.tflite_bytes(saved_model)
        else:
            formats.write_savedmodel(formats.serving_model(model, task, image_size, "float32"), saved_model)
            content = formats.tflite_bytes(saved_model, representative)
    atomic.write_bytes(folder / artifacts.TFLITE_NAME, content)
    if format == "web":
        webapp.copy_app(folder)
    return artifacts.TFLITE_NAME


def _input_description(task, image_size: int, format: str) -> dict:
    batch = 1 if format == "web" else None
    return {"dtype": "uint8", "shape": [batch, *task.raw_shape(image_size)], "what": task.raw_input_text()}


def _describe_quantization(metadata: dict, artifact) -> None:
    """Adds the int8 model's actual input and output quantization to its metadata.

    Calibration decides them: training images spanning 0..255 give the input
    scale 1 and zero point 0 (the raw pixels are the quantized input), and
    softmax outputs get scale 1/256, zero point 0. A reader should still use
    these values rather than assume them.
    """
    scale, zero_point = artifact.input_quantization
    metadata["input"]["quantization"] = {"scale": scale, "zero_point": zero_point}
    if (scale, zero_point) != (1.0, 0):
        metadata["input"]["what"] += f"; quantized as round(pixel / {scale:g} + {zero_point}) before feeding"
    scale, zero_point = artifact.output_quantization
    metadata["output"] = {**metadata["output"], "dtype": "uint8",
                          "quantization": {"scale": scale, "zero_point": zero_point},
                          "what": f"quantized probabilities: (value - {zero_point}) * {scale:g}"}


def _compare(model, artifact, task, data: ExportData, run_path: Path, folder: Path, latency_runs: int) -> dict:
    """Accuracy, size and latency of the export and of the Keras model, and their ratios."""
    batch = artifacts.batch_size(data.images.shape[1:])
    original_probabilities = np.asarray(model.predict(task.inputs_from_raw(data.images), batch_size=batch, verbose=0))
    exported_probabilities = artifact.predict(data.images)
    image = data.images[:1]
    timings = measure.latencies(
        {"original": measure.keras_single(model, task.inputs_from_raw(image)), "exported": artifact.single(image)},
        runs=latency_runs,
    )
    original = {
        "format": "keras",
        "file": str(run_path / runs.MODEL),
        "file_bytes": (run_path / runs.MODEL).stat().st_size,
        "accuracy": measure.accuracy(original_probabilities, data.labels),
        "latency_ms": timings["original"]["median_ms"],
        "latency": timings["original"],
    }
    exported = {
        "format": artifact.format,
        "file_bytes": formats.folder_bytes(folder, leave_out=(artifacts.EXPORT_JSON,)),
        "accuracy": measure.accuracy(exported_probabilities, data.labels),
        "latency_ms": timings["exported"]["median_ms"],
        "latency": timings["exported"],
    }
    return {
        "evaluated_on": data.description,
        "test_examples": int(len(data.labels)),
        "exported": exported,
        "original": original,
        "accuracy_change_points": 100.0 * (exported["accuracy"] - original["accuracy"]),
        "size_ratio": exported["file_bytes"] / original["file_bytes"],
        "latency_ratio": exported["latency_ms"] / original["latency_ms"] if original["latency_ms"] else None,
        "agreement_with_original": measure.agreement(exported_probabilities, original_probabilities),
        "latency_method": (f"median of {timings['exported']['runs']} single-image predictions after 20 warm-up calls, "
                           "interleaved with the Keras model's in 5 rounds, same process; Keras: "
                           "model(x, training=False); SavedModel: the serving_default signature; TFLite: "
                           f"set_tensor + invoke + get_tensor, {artifacts.threads()} threads; ONNX: "
                           f"InferenceSession.run on the CPU provider, {artifacts.threads()} intra-op threads"),
    }


def _replace(temporary: Path, out_path: Path) -> None:
    """Renames the finished export onto `out_path`, replacing an earlier export there."""
    if not out_path.exists():
        os.replace(temporary, out_path)
        return
    old = Path(tempfile.mkdtemp(dir=out_path.parent, prefix=f".{out_path.name}.old-"))
    held = atomic.hold_folder(old)
    os.replace(out_path, old / "export")
    try:
        os.replace(temporary, out_path)
    except OSError:
        os.replace(old / "export", out_path)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
        os.close(held)


def _versions() -> dict:
    import importlib.metadata

    versions = {}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "ai-edge-litert", "numpy", "tf2onnx", "onnx",
                    "onnxruntime"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
