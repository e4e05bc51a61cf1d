"""The Open Inference Protocol (KServe v2 REST, also spoken by Triton and MLServer).

Tools that already speak it (tritonclient, KServe's clients, load testers)
can use nophd's models without knowing nophd:

    GET  /v2/health/live              200 while the server runs
    GET  /v2/health/ready             200 once TensorFlow is imported
    GET  /v2                          server metadata
    POST /v2/repository/index         every run with a model (Triton's repository extension)
    GET  /v2/models/{name}            model metadata: inputs, outputs, datatypes, shapes
    GET  /v2/models/{name}/ready      200 when the model loads
    POST /v2/models/{name}/infer      a UINT8 tensor of raw images -> FP32 probabilities

A model's name is its run id, exactly as /api/runs lists it: "conv-bn", or
"ladder/conv-bn" for a ladder's rung (the "/" may be sent as it is or
escaped as %2F; tritonclient sends it as it is). "/versions/1" may be put
after the name; every model has the one version "1".

The input is the export's raw input (`nophd export`): "images", UINT8,
shape [N, 28, 28] for a digit model (MNIST-style: light digit on black, no
centring is done) or [N, S, S, 3] for a photo model (S = the run's image
size, the photo already resized). The output is "probabilities", FP32,
[N, classes], in the order of the run's class names (listed in the model's
metadata under parameters.class_names). Tensor data may be JSON ("data":
flat or nested numbers) or the binary tensor extension (the JSON header's
length in the Inference-Header-Content-Length header, the raw bytes after
it); outputs come back as binary when the request asks for it
(parameters.binary_data_output, or an output's parameters.binary_data), as
tritonclient does by default. A bad tensor gets 400 with {"error": "..."}.

Example:
    import tritonclient.http as triton
    client = triton.InferenceServerClient("localhost:8000")
    images = triton.InferInput("images", [1, 28, 28], "UINT8")
    images.set_data_from_numpy(digits)  # uint8 (1, 28, 28)
    probabilities = client.infer("ladder/conv-bn", [images]).as_numpy("probabilities")
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Awaitable, Callable

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from nophd import text
from nophd.serve import catalog, inference

INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
VERSION = "1"
# The most images in one request: the batcher runs larger requests alone.
MAX_BATCH = 256
_HEADER_LENGTH = "inference-header-content-length"
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def routes(runs_dir: Path, models: inference.ModelCache, in_pool: Callable[..., Awaitable[Any]],
           read_body: Callable[[Request], Awaitable[bytes]]) -> list[Route]:
    """The v2 routes, to add to the application's routes.

    Args:
        runs_dir: RUNS_DIR.
        models: the server's model cache (each model's batcher runs the calls).
        in_pool: runs a function in the server's prediction pool (awaitable).
        read_body: reads a request body within the upload limit (413 beyond).
    """
    runs_dir = Path(runs_dir)

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        await in_pool(inference.import_tensorflow)
        return _json({"ready": True})

    async def server_metadata(request: Request) -> Response:
        from nophd import version

        return _json({"name": "nophd", "version": version.__version__,
                      "extensions": ["binary_tensor_data", "model_repository"]})

    async def repository_index(request: Request) -> Response:
        summaries, _ = await in_pool(catalog.scan, runs_dir)
        return _json([{"name": summary["id"], "version": VERSION, "state": "READY" if summary["has_model"] else "UNAVAILABLE",
                       **({} if summary["has_model"] else {"reason": f"no model yet (run status: {summary['status']})"})}
                      for summary in summaries])

    async def model_endpoint(request: Request) -> Response:
        name, action = await in_pool(_split, runs_dir, request.path_params["rest"].rstrip("/"))
        folder = await in_pool(catalog.find_run, runs_dir, name)
        if action == "infer":
            if request.method != "POST":
                return _error(405, f"method {request.method} not allowed here; POST an inference request")
            return await _infer(request, name, folder)
        if request.method not in ("GET", "HEAD"):
            return _error(405, f"method {request.method} not allowed here; use GET")
        model = await in_pool(models.get, folder)
        if action == "ready":
            return _json({"name": name, "ready": True})
        return _json(metadata(name, model))

    async def _infer(request: Request, name: str, folder: Path) -> Response:
        body = await read_body(request)
        if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
            raise inference.BadInput("compressed requests are not supported: send the request uncompressed")
        header_length = request.headers.get(_HEADER_LENGTH)

        def prepare():
            model = models.get(folder)
            header, images, binary_output = parse_request(body, header_length, model)
            return model, header, model_inputs(model, images), binary_output

        model, header, inputs, binary_output = await in_pool(prepare)
        probabilities = np.asarray(await model.predict(inputs), dtype=np.float32)
        return infer_response(name, header, probabilities, binary_output)

    return [
        Route("/v2", server_metadata),
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2/repository/index", repository_index, methods=["POST"]),
        Route("/v2/models/{rest:path}", model_endpoint, methods=["GET", "HEAD", "POST"]),
    ]


def _split(runs_dir: Path, rest: str) -> tuple[str, str]:
    """"ladder/conv-bn/versions/1/infer" -> ("ladder/conv-bn", "infer"); a run's own id wins."""
    if _is_run(runs_dir, rest):
        return rest, "metadata"
    name, action = rest, "metadata"
    head, _, last = rest.rpartition("/")
    if last in ("infer", "ready") and head:
        name, action = head, last
    before, _, version = name.rpartition("/versions/")
    if before and not _is_run(runs_dir, name):
        if version != VERSION:
            raise catalog.UnknownRun(f"model {before!r} has no version {version!r} (its only version is {VERSION})")
        name = before
    return name, action


def _is_run(runs_dir: Path, run_id: str) -> bool:
    try:
        catalog.find_run(runs_dir, run_id)
    except catalog.UnknownRun:
        return False
    return True


def input_shape(model: inference.LoadedModel) -> list[int]:
    """The raw input's shape with -1 for the batch: [-1, 28, 28] or [-1, S, S, 3]."""
    predictor = model.predictor
    return [-1, *predictor.task.raw_shape(predictor.image_size)]


def metadata(name: str, model: inference.LoadedModel) -> dict[str, Any]:
    """The protocol's model metadata response."""
    return {
        "name": name,
        "versions": [VERSION],
        "platform": "nophd_keras",
        "inputs": [{"name": INPUT_NAME, "datatype": "UINT8", "shape": input_shape(model)}],
        "outputs": [{"name": OUTPUT_NAME, "datatype": "FP32", "shape": [-1, len(model.predictor.class_names)]}],
        "parameters": {"kind": model.predictor.kind, "class_names": list(model.predictor.class_names)},
    }


def parse_request(body: bytes, header_length: str | None, model: inference.LoadedModel) -> tuple[dict, np.ndarray, bool]:
    """An inference request's JSON header, its one input as uint8 images, and whether outputs go back as binary.

    Raises:
        BadInput: one line naming what is wrong (JSON, input name, datatype, shape, data length or values).
    """
    binary = b""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            raise inference.BadInput(f"Inference-Header-Content-Length: expected a number, got {header_length[:40]!r}") from None
        if not 0 < length <= len(body):
            raise inference.BadInput(f"Inference-Header-Content-Length {length} does not fit a body of {len(body)} bytes")
        body, binary = body[:length], body[length:]
    try:
        header = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise inference.BadInput(f"the inference request is not valid JSON ({text.one_line(error)})") from None
    if not isinstance(header, dict) or not isinstance(header.get("inputs"), list):
        raise inference.BadInput('expected a JSON object {"inputs": [{"name": "images", "datatype": "UINT8", ...}]}')
    if len(header["inputs"]) != 1 or not isinstance(header["inputs"][0], dict):
        raise inference.BadInput(f"expected exactly one input, {INPUT_NAME!r}; got {len(header['inputs'])}")
    tensor = header["inputs"][0]
    if tensor.get("name") != INPUT_NAME:
        raise inference.BadInput(f"unknown input {str(tensor.get('name'))[:40]!r}: this model's input is {INPUT_NAME!r}")
    if tensor.get("datatype") != "UINT8":
        raise inference.BadInput(f"input {INPUT_NAME!r}: datatype must be UINT8 (raw pixels 0..255), "
                                 f"got {str(tensor.get('datatype'))[:20]!r}")
    expected = input_shape(model)
    shape = tensor.get("shape")
    if (not isinstance(shape, list) or len(shape) != len(expected)
            or not all(isinstance(side, int) and not isinstance(side, bool) for side in shape)
            or shape[1:] != expected[1:] or not 1 <= shape[0] <= MAX_BATCH):
        raise inference.BadInput(f"input {INPUT_NAME!r}: shape must be [N, {', '.join(map(str, expected[1:]))}] "
                                 f"with N 1..{MAX_BATCH}, got {json.dumps(shape)[:60]}")
    count = math.prod(shape)
    parameters = tensor.get("parameters") if isinstance(tensor.get("parameters"), dict) else {}
    if "binary_data_size" in parameters:
        size = parameters["binary_data_size"]
        if not isinstance(size, int) or size != count or len(binary) != size:
            raise inference.BadInput(f"input {INPUT_NAME!r}: shape {shape} needs {count} bytes of binary data, "
                                     f"got {len(binary) if isinstance(size, int) else 'a bad binary_data_size'}")
        images = np.frombuffer(binary, dtype=np.uint8)
    else:
        if binary:
            raise inference.BadInput(f"{len(binary)} bytes after the JSON header, but no input says binary_data_size")
        if "data" not in tensor:
            raise inference.BadInput(f"input {INPUT_NAME!r} has no data")
        try:
            values = np.asarray(tensor["data"])
        except (ValueError, TypeError, RecursionError):
            raise inference.BadInput(f"input {INPUT_NAME!r}: data must be numbers, flat or nested evenly") from None
        if values.dtype.kind not in "iu" or values.dtype == np.bool_:
            raise inference.BadInput(f"input {INPUT_NAME!r}: data must be whole numbers 0..255 (UINT8)")
        if values.size != count:
            raise inference.BadInput(f"input {INPUT_NAME!r}: shape {shape} needs {count} values, got {values.size}")
        if values.size and (values.min() < 0 or values.max() > 255):
            raise inference.BadInput(f"input {INPUT_NAME!r}: values must be 0..255 (UINT8)")
        images = values.astype(np.uint8).ravel()
    output_parameters = header.get("parameters") if isinstance(header.get("parameters"), dict) else {}
    binary_output = bool(output_parameters.get("binary_data_output"))
    for output in header.get("outputs") or []:
        if isinstance(output, dict) and output.get("name") not in (None, OUTPUT_NAME):
            raise inference.BadInput(f"unknown output {str(output.get('name'))[:40]!r}: this model's output is {OUTPUT_NAME!r}")
        if isinstance(output, dict) and isinstance(output.get("parameters"), dict) and "binary_data" in output["parameters"]:
            binary_output = bool(output["parameters"]["binary_data"])
    return header, images.reshape(shape), binary_output


def model_inputs(model: inference.LoadedModel, images: np.ndarray) -> np.ndarray:
    """Raw uint8 images as the Keras model takes them (as `Predictor.prepare` makes them)."""
    return model.predictor.task.inputs_from_raw(images)


def infer_response(name: str, header: dict, probabilities: np.ndarray, binary_output: bool) -> Response:
    """The protocol's inference response, JSON or with the binary tensor extension."""
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "FP32", "shape": list(probabilities.shape)}
    answer: dict[str, Any] = {"model_name": name, "model_version": VERSION, "outputs": [output]}
    if isinstance(header.get("id"), str):
        answer["id"] = header["id"]
    if not binary_output:
        output["data"] = [float(value) for value in probabilities.ravel()]
        return _json(answer)
    raw = probabilities.astype("<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    encoded = json.dumps(answer, separators=(",", ":")).encode("utf-8")
    return Response(encoded + raw, media_type="application/octet-stream",
                    headers={**_HEADERS, "Inference-Header-Content-Length": str(len(encoded))})


def _json(content: Any, status_code: int = 200) -> Response:
    return JSONResponse(content, status_code=status_code, headers=_HEADERS)


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)
