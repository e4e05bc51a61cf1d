"""Downloads and exports from the dashboard: a run's model.keras and its
exports as files, and `nophd export` started from the run page.

API (JSON errors as the rest of the API: {"error": "<one line>"}):

    GET  /api/runs/{id}/download/model.keras        the run's Keras model
    GET  /api/runs/{id}/download/export/{format}    an export: the .tflite or .onnx file,
                                                    or the SavedModel folder as a .zip
    GET  /api/runs/{id}/exports                     each format: written or not, its
                                                    export.json figures, the job's state
    POST /api/runs/{id}/exports/{format}            runs nophd.export.export_run into
                                                    RUN/export/<format>/ in a thread;
                                                    202, or 409 while one already runs

One export at a time per run (a second POST gets 409 until the first ends);
the page polls GET .../exports for the result. Every file sent is resolved,
symlinks included, and must lie inside the run folder, itself inside RUNS_DIR.

Example:
    routes = exports.routes("runs", data_dir=None)   # added to the app's routes
"""

from __future__ import annotations

import io
import os
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from nophd import runs, text
from nophd.export import ARTIFACT_FILES, FOLDER_FORMATS, FORMATS
from nophd.serve import catalog, paths

EXPORT_FOLDER = "export"  # As nophd.export.export.EXPORT_FOLDER (not imported: that module imports NumPy and more).
EXPORT_JSON = "export.json"
# Timed single-image predictions per model: fewer than the command's 200, so an export from the page is quick.
LATENCY_RUNS = 50
# A SavedModel of the models here is a few MB; refuse to zip anything far larger in memory.
MAX_ZIP_BYTES = 512 * 1024 * 1024
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


class ExportJobs:
    """The exports started from the dashboard: one thread each, one at a time per run."""

    def __init__(self, data_dir: str | os.PathLike | None = None):
        self.data_dir = data_dir
        self._guard = threading.Lock()
        self._jobs: dict[str, dict[str, Any]] = {}  # Run folder -> its latest job.

    def start(self, folder: Path, format: str) -> dict[str, Any]:
        """Starts exporting `folder` to `format`; the job's state.

        Raises:
            HTTPException 409: an export of this run is already running.
        """
        key = str(folder.resolve())
        with self._guard:
            job = self._jobs.get(key)
            if job and job["state"] == "running":
                raise HTTPException(409, f"an export of this run to {job['format']} is running; wait for it to end")
            job = {"format": format, "state": "running", "started_at": time.time(), "finished_at": None,
                   "message": f"exporting to {format}…", "result": None}
            self._jobs[key] = job
        threading.Thread(target=self._run, args=(folder, format, job), name=f"nophd-export-{format}", daemon=True).start()
        return dict(job)

    def job(self, folder: Path) -> dict[str, Any] | None:
        with self._guard:
            job = self._jobs.get(str(folder.resolve()))
            return dict(job) if job else None

    def _run(self, folder: Path, format: str, job: dict[str, Any]) -> None:
        from nophd.errors import NophdError

        try:
            from nophd.export import export as export_module

            result = export_module.export_run(folder, format, data_dir=self.data_dir, latency_runs=LATENCY_RUNS)
            outcome = {"state": "finished", "message": f"exported to {format}", "result": _figures(result)}
        except NophdError as error:
            outcome = {"state": "failed", "message": text.one_line(error)}
        except Exception as error:  # A bug or a converter's crash: said on the page, not lost in a thread.
            outcome = {"state": "failed", "message": f"internal error: {type(error).__name__}: {text.one_line(error)}"}
        with self._guard:
            job.update(outcome, finished_at=time.time())


def exports_of(folder: Path) -> list[dict[str, Any]]:
    """Each format: {"format", "exists", "file_bytes", "exported_at", "accuracy", "original_accuracy", "latency_ms"}."""
    found = []
    for format in FORMATS:
        metadata_path = paths.existing(folder, folder / EXPORT_FOLDER / format / EXPORT_JSON)
        metadata = runs.read_json(metadata_path) if metadata_path is not None else None
        written = metadata is not None
        found.append({"format": format, "exists": written, **(_figures(metadata) if written else {})})
    return found


def _figures(result: dict[str, Any]) -> dict[str, Any]:
    exported = result.get("exported") if isinstance(result.get("exported"), dict) else {}
    original = result.get("original") if isinstance(result.get("original"), dict) else {}
    return {"exported_at": result.get("exported_at"), "file_bytes": exported.get("file_bytes"),
            "accuracy": exported.get("accuracy"), "original_accuracy": original.get("accuracy"),
            "latency_ms": exported.get("latency_ms"), "original_latency_ms": original.get("latency_ms")}


def _run_folder(runs_dir: Path, run_id: str) -> Path:
    """The run's folder, which must resolve inside RUNS_DIR (a symlinked run folder does not)."""
    folder = catalog.find_run(runs_dir, run_id)
    resolved = paths.existing(runs_dir, folder)
    if resolved is None:
        raise catalog.UnknownRun(f"no run {run_id!r}")
    return resolved


def _download_name(run_id: str, suffix: str) -> str:
    base = "".join(character if character.isalnum() or character in "-_." else "-" for character in run_id.replace("/", "-"))
    return f"{base}{suffix}"


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue  # Nothing a link points to leaves the run folder.
            total += path.stat().st_size
            if total > MAX_ZIP_BYTES:
                raise HTTPException(413, f"the export is over {MAX_ZIP_BYTES // 2**20} MB; copy it from {folder}")
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def routes(runs_dir: str | os.PathLike, data_dir: str | os.PathLike | None = None, run_route=None) -> list[Route]:
    """The routes above, to put before the app's catch-all /api/runs/{rest:path}.

    Args:
        run_route: the catch-all's handler. A run named like these routes'
            words inside a group ("group/exports", "group/download") is that
            run's, not an export of "group": such requests are handed to it
            with path parameter "rest".
    """
    runs_dir = Path(runs_dir)
    jobs = ExportJobs(data_dir)

    def unless_a_run(handler):
        async def route(request: Request) -> Response:
            run_id = request.path_params["run_id"]
            rest = request.url.path.removeprefix("/api/runs/").rstrip("/")
            word = rest[len(run_id) + 1 :].split("/")[0]
            if run_route is not None and "/" not in run_id and await run_in_threadpool(
                catalog.is_run_folder, runs_dir / run_id / word
            ):
                request.scope["path_params"] = {"rest": rest}
                return await run_route(request)
            return await handler(request)

        return route

    def json_response(content: Any, status_code: int = 200) -> Response:
        return JSONResponse(catalog.plain(content), status_code=status_code, headers=_HEADERS)

    async def download_model(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        folder = await run_in_threadpool(_run_folder, runs_dir, run_id)
        path = paths.existing(folder, folder / runs.MODEL)
        if path is None or not path.is_file():
            raise catalog.UnknownRun(f"run {run_id!r} has no {runs.MODEL}")
        return FileResponse(path, filename=_download_name(run_id, ".keras"), media_type="application/octet-stream",
                            headers=_HEADERS)

    async def download_export(request: Request) -> Response:
        run_id, format = request.path_params["run_id"], request.path_params["format"]
        folder = await run_in_threadpool(_run_folder, runs_dir, run_id)
        if format not in FORMATS:
            raise catalog.UnknownRun(f"no export format {format!r}; formats: {', '.join(FORMATS)}")
        export_folder = paths.existing(folder, folder / EXPORT_FOLDER / format)
        if export_folder is None or not (export_folder / EXPORT_JSON).is_file():
            raise catalog.UnknownRun(f"run {run_id!r} has no {format} export yet: export it first")
        if format in FOLDER_FORMATS:
            data = await run_in_threadpool(_zip_folder, export_folder)
            name = _download_name(run_id, f"-{format}.zip")
            return Response(data, media_type="application/zip",
                            headers={**_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})
        name = ARTIFACT_FILES[format]
        path = paths.existing(folder, export_folder / name)
        if path is None or not path.is_file():
            raise catalog.UnknownRun(f"run {run_id!r}: the {format} export has no {name}")
        return FileResponse(path, filename=_download_name(run_id, f"-{format}{Path(name).suffix}"),
                            media_type="application/octet-stream", headers=_HEADERS)

    async def list_exports(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        folder = await run_in_threadpool(_run_folder, runs_dir, run_id)
        found = await run_in_threadpool(exports_of, folder)
        return json_response({"id": run_id, "formats": found, "job": jobs.job(folder)})

    async def start_export(request: Request) -> Response:
        run_id, format = request.path_params["run_id"], request.path_params["format"]
        folder = await run_in_threadpool(_run_folder, runs_dir, run_id)
        if format not in FORMATS:
            raise HTTPException(400, f"unknown export format {format!r}; formats: {', '.join(FORMATS)}")
        summary = await run_in_threadpool(catalog.summarize, folder, run_id)
        if summary["status"] != "finished" or not summary["has_model"]:
            raise HTTPException(409, f"run {run_id!r} is {summary['status']}: only a finished run with a model can be exported")
        return json_response({"id": run_id, "job": jobs.start(folder, format)}, status_code=202)

    return [
        Route("/api/runs/{run_id:path}/download/model.keras", unless_a_run(download_model), methods=["GET", "HEAD"]),
        Route("/api/runs/{run_id:path}/download/export/{format}", unless_a_run(download_export),
              methods=["GET", "HEAD"]),
        Route("/api/runs/{run_id:path}/exports", unless_a_run(list_exports), methods=["GET", "HEAD"]),
        Route("/api/runs/{run_id:path}/exports/{format}", unless_a_run(start_export), methods=["POST"]),
    ]
