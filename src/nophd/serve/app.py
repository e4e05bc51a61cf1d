"""The dashboard's web application: three pages, static assets and a REST API.

Pages (plain HTML; the JavaScript in static/ fills them from the API):

    /                   every run, sortable; the ladder comparison when there is one
    /runs/{id}          one run: live curves, schedule, pictures, mistakes, "try it"
    /compare?runs=a,b   the curves of several runs on the same axes

API (JSON; every error is {"error": "<one line>"} with its status code):

    GET  /api/runs                     every run's summary and every ladder
    GET  /api/runs/{id}                one run: summary, config, metrics, model summary, files,
                                       model_ok (false when model.keras is missing or known not
                                       to load) and model_error (why, one line, or null)
    GET  /api/runs/{id}/history        history.csv's rows, the status and the planned schedule
    POST /api/runs/{id}/predict        an image (multipart field "image", or the raw body), or
                                       JSON {"pixels": 28x28}; ?top=3, ?input=1
    GET  /api/runs/{id}/misclassified  the test digits the model gets wrong; ?limit=40
    GET  /api/runs/{id}/files/{name}   curves.png, lr.png, predictions.png, confusion.png, report.html, summary.txt,
                                       MODEL_CARD.md (also in /api/runs/{id} as safe HTML: model_card)
    GET  /api/ladders/{name}/ladder.png

The Open Inference Protocol (KServe v2 REST) is served under /v2 (see
`nophd.serve.v2`).

Predictions: the request is read on the event loop, decoded and prepared in
a bounded thread pool of its own (the default pool stays free for the
pages), then gathered with other requests for the same model into one
compiled call by the model's batcher (`nophd.serve.batching`).

Status codes: 400 bad input (not an image, a truncated image, wrong array
shape, bad JSON), 404 unknown run or path, 405 wrong method, 409 the run has
no model yet, 413 upload over the size limit, 500 a bug (one line, no traceback).

Example:
    app = create_app("runs")
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from nophd import text
from nophd.errors import DataError, NophdError
from nophd.serve import catalog, exports, inference, v2

PACKAGE = Path(__file__).resolve().parent
STATIC = PACKAGE / "static"
PAGES = PACKAGE / "pages"
# A drawing is a few kilobytes and a phone photo a few megabytes.
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_TOP = 100
DEFAULT_MISCLASSIFIED = 40
MAX_MISCLASSIFIED = 500
# Threads that decode and prepare pictures; the model calls run on each model's own batcher thread.
PREDICTION_THREADS = max(2, min(8, os.cpu_count() or 2))
_ACTIONS = ("history", "predict", "misclassified")
# API routes accept every method and answer a wrong one with 405 and a JSON reason.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

# Nothing is loaded from anywhere but this server; inline scripts are refused.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# A run's report.html is shown as it is, with its inline style and pictures, but no script runs in it.
_FILE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'"}


class StrictJSONResponse(JSONResponse):
    """JSON that any parser reads: NaN and infinity become null, NumPy scalars numbers."""

    def render(self, content: Any) -> bytes:
        return json.dumps(catalog.plain(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def create_app(
    runs_dir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The dashboard and API over the runs in `runs_dir`.

    Args:
        runs_dir: the folder of run folders (it may not exist yet: the pages
            show runs as soon as `nophd train` writes them).
        data_dir: where the MNIST test set is, for the misclassified examples
            (default: $NOPHD_DATA, then the cache; the server never downloads).
        max_upload_bytes: larger predict requests get 413.
        allowed_hosts: Host header values to accept (protection against DNS
            rebinding when bound to localhost); None accepts any.
    """
    runs_dir = Path(runs_dir)
    models = inference.ModelCache(root=runs_dir)
    pool = concurrent.futures.ThreadPoolExecutor(PREDICTION_THREADS, thread_name_prefix="nophd-predict")

    async def in_pool(function, *args):
        """Runs `function(*args)` in the prediction pool (never on the event loop, never in the pages' pool)."""
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
    misclassified = inference.Misclassified(inference.MnistTestSet(data_dir))
    tensorboard_installed = importlib.util.find_spec("tensorboard") is not None

    def json_response(content: Any, status_code: int = 200) -> Response:
        return StrictJSONResponse(content, status_code=status_code, headers=_API_HEADERS)

    async def index_page(request: Request) -> Response:
        return _page("index.html")

    async def compare_page(request: Request) -> Response:
        return _page("compare.html")

    async def run_page(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        await run_in_threadpool(catalog.find_run, runs_dir, run_id)  # 404 page for an unknown run.
        return _page("run.html")

    async def api_runs(request: Request) -> Response:
        _require(request.method, "GET")
        summaries, ladders = await run_in_threadpool(catalog.scan, runs_dir)
        return json_response({
            "runs_dir": str(runs_dir),
            "runs_dir_exists": runs_dir.is_dir(),
            "runs": summaries,
            "ladders": ladders,
            "tensorboard_command": catalog.tensorboard_command(runs_dir),
            "tensorboard_installed": tensorboard_installed,
        })

    async def api_run(request: Request) -> Response:
        """/api/runs/{id}[/history|/predict|/misclassified|/files/{name}]; ids hold "/" themselves."""
        rest: str = request.path_params["rest"].rstrip("/")
        method = request.method
        head, _, action = rest.rpartition("/")
        if action == "predict" and head and method == "POST":
            # The hot path: the run is found in the prediction pool, with the decoding.
            return json_response({"id": head, **await _predict(request, lambda: _find_action_run(rest, head))})
        if await run_in_threadpool(_is_run, rest):
            _require(method, "GET")
            detail = await run_in_threadpool(catalog.run_detail, runs_dir, rest)
            detail["tensorboard_installed"] = tensorboard_installed
            # model_ok: false (with model_error, one line) when model.keras is known not to load.
            problem = None
            if detail["has_model"]:
                problem = await run_in_threadpool(lambda: models.problem(catalog.find_run(runs_dir, rest)))
            detail["model_ok"] = bool(detail["has_model"]) and problem is None
            detail["model_error"] = problem
            return json_response(detail)
        head, _, action = rest.rpartition("/")
        if action in _ACTIONS and head:
            folder = await run_in_threadpool(catalog.find_run, runs_dir, head)
            if action == "history":
                _require(method, "GET")
                return json_response(await run_in_threadpool(catalog.run_history, runs_dir, head))
            if action == "misclassified":
                _require(method, "GET")
                limit = _int_parameter(request, "limit", DEFAULT_MISCLASSIFIED, 0, MAX_MISCLASSIFIED)
                result = await run_in_threadpool(lambda: misclassified.get(folder, models.get(folder), limit))
                return json_response({"id": head, **result})
            _require(method, "POST", hint="POST an image file or JSON pixels")
            return json_response({"id": head, **await _predict(request, lambda: folder)})
        run_id, _, files = head.rpartition("/")
        if files == "files" and run_id:
            _require(method, "GET")
            path = await run_in_threadpool(catalog.run_file, runs_dir, run_id, action)
            return FileResponse(path, headers=_FILE_HEADERS)
        raise catalog.UnknownRun(f"no run {rest!r}")

    def _find_action_run(rest: str, head: str) -> Path:
        """The folder of run `head`; 405 when `rest` is itself a run's id (a run named "predict")."""
        try:
            # When `head` is a run, `rest` cannot be one (a folder inside a
            # run is part of it), so the hot path looks the run up once.
            return catalog.find_run(runs_dir, head)
        except catalog.UnknownRun:
            if _is_run(rest):
                _require("POST", "GET")
            raise

    def _is_run(run_id: str) -> bool:
        try:
            catalog.find_run(runs_dir, run_id)
        except catalog.UnknownRun:
            return False
        return True

    async def api_ladder_image(request: Request) -> Response:
        path = await run_in_threadpool(catalog.ladder_image, runs_dir, request.path_params["group"])
        return FileResponse(path, headers=_FILE_HEADERS)

    async def api_not_found(request: Request) -> Response:
        raise HTTPException(404, f"no API endpoint {request.url.path}")

    async def _predict(request: Request, find_folder) -> dict[str, Any]:
        """The prediction for the request's picture; `find_folder()` gives the run's folder (raises UnknownRun)."""
        top = _int_parameter(request, "top", 3, 1, MAX_TOP)
        with_input = request.query_params.get("input", "").lower() in ("1", "true", "yes")
        body = await _read_body(request, max_upload_bytes)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        json_body = None
        if content_type == "multipart/form-data":
            data, name = await _form_file(request, body, max_upload_bytes)
        elif content_type == "application/json" or content_type.endswith("+json"):
            json_body, data, name = body, None, None
        else:
            # Anything else is taken as the image file itself (curl --data-binary @seven.png).
            data, name = body, "request body"
        if data is not None and not data:
            raise inference.BadInput(f"{name}: empty, no image (send a PNG or JPEG, or JSON pixels)")

        def prepare() -> tuple[inference.LoadedModel, Any]:
            model = models.get(find_folder())
            if json_body is not None:
                return model, inference.prepare_pixels(model, _json_body(json_body))
            image = inference.decode_image(data, name, model.predictor.kind)
            return model, inference.prepare_image(model, image)

        model, inputs = await in_pool(prepare)
        probabilities = await model.predict(inputs)
        return inference.result(model, probabilities[0], top, inputs[0] if with_input else None)

    routes = [
        Route("/", index_page),
        Route("/compare", compare_page),
        Route("/runs/{run_id:path}", run_page),
        Route("/api/runs", api_runs, methods=_ALL_METHODS),
        *exports.routes(runs_dir, data_dir, run_route=api_run),  # Downloads and "export from the page" (see nophd.serve.exports).
        Route("/api/runs/{rest:path}", api_run, methods=_ALL_METHODS),
        Route("/api/ladders/{group}/ladder.png", api_ladder_image),
        *v2.routes(runs_dir, models, in_pool, lambda request: _read_body(request, max_upload_bytes)),
        Route("/api/{rest:path}", api_not_found, methods=_ALL_METHODS),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] if allowed_hosts else []
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={NophdError: _nophd_error, HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.runs_dir = runs_dir
    app.state.models = models
    app.state.prediction_pool = pool
    return app


def _page(name: str) -> Response:
    return FileResponse(PAGES / name, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


def _require(method: str, allowed: str, hint: str = "") -> None:
    if method != allowed and not (method == "HEAD" and allowed == "GET"):
        raise HTTPException(405, f"method {method} not allowed here; use {allowed}" + (f" ({hint})" if hint else ""),
                            headers={"Allow": allowed})


def _int_parameter(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise inference.BadInput(f"{name}: expected a whole number, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise inference.BadInput(f"{name}: expected {low}..{high}, got {value}")
    return value


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to be over `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise inference.BadInput(f"bad Content-Length header {declared[:40]!r}") from None
        if declared_size > limit:
            raise inference.TooLarge(f"upload of {declared_size:,} bytes is over the limit of {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise inference.TooLarge(f"upload is over the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _form_file(request: Request, body: bytes, limit: int) -> tuple[bytes, str]:
    """The file of a multipart form: the field "image" (or "file", or the first file)."""

    async def stream():
        yield body

    parser = MultiPartParser(request.headers, stream(), max_files=4, max_fields=16, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as error:
        raise inference.BadInput(f"malformed multipart form ({error.message})") from None
    try:
        upload = form.get("image") or form.get("file")
        if isinstance(upload, str) or upload is None:
            upload = next((value for _, value in form.multi_items() if not isinstance(value, str)), None)
        if upload is None:
            raise inference.BadInput("the form has no file: send the image in a field named image (curl -F image=@seven.png)")
        return await upload.read(), _file_name(upload.filename)
    finally:
        await form.close()


def _json_body(body: bytes) -> Any:
    if not body:
        raise inference.BadInput('empty JSON body: expected {"pixels": [[28 numbers], ... 28 rows]}')
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise inference.BadInput(f"not valid JSON ({text.one_line(error)})") from None
    except RecursionError:
        raise inference.BadInput("JSON nested too deeply: expected {\"pixels\": [[28 numbers], ... 28 rows]}") from None


def _file_name(name: str | None) -> str:
    """An uploaded file's base name, printable and short, for messages."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(character for character in base if character.isprintable())[:80]
    return base or "upload"


def _error_response(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    message = text.one_line(message)
    if request.url.path.startswith(("/api/", "/v2")):
        return StrictJSONResponse({"error": message}, status_code=status, headers={**_API_HEADERS, **(headers or {})})
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>nophd: '
        f'{status}</title><link rel="stylesheet" href="/static/dashboard.css"></head><body><main>'
        f'<h1>{status}</h1><p class="error">{html.escape(message)}</p><p><a href="/">All runs</a></p></main></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers={**_PAGE_HEADERS, **(headers or {})})


_STATUS_BY_ERROR = (
    (catalog.UnknownRun, 404),
    (inference.TooLarge, 413),
    (inference.NoModel, 409),
    (inference.BadInput, 400),
    (DataError, 400),
)


async def _nophd_error(request: Request, error: Exception) -> Response:
    status = next((code for kind, code in _STATUS_BY_ERROR if isinstance(error, kind)), 400)
    return _error_response(request, status, str(error))


async def _http_error(request: Request, error: HTTPException) -> Response:
    detail = error.detail
    if error.status_code == 404 and detail == "Not Found":
        detail = f"no such page {request.url.path}"
    return _error_response(request, error.status_code, str(detail), dict(error.headers or {}))


async def _internal_error(request: Request, error: Exception) -> Response:
    message = f"internal error: {type(error).__name__}: {text.one_line(str(error))}"
    print(f"nophd serve: {request.method} {request.url.path}: {message}", file=sys.stderr)
    return _error_response(request, 500, message)
