"""The Open Inference Protocol (KServe v2) spoken with a client nophd did not write: tritonclient."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from nophd.data import images
from nophd.inference import evaluate
from nophd.inference.predictor import Predictor

from .conftest import PHOTO_CLASSES, PHOTO_SIZE
from .test_api import font_digit

triton = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def client(live_server):
    with triton.InferenceServerClient(live_server.url.removeprefix("http://")) as connection:
        yield connection


def post(live_server, path: str, body: dict | bytes, headers: dict | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(live_server.url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_server_metadata_and_repository(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "nophd"
    index = {entry["name"]: entry for entry in client.get_model_repository_index()}
    assert index["digits"]["state"] == index["ladder/dense-lrdecay"]["state"] == index["photos"]["state"] == "READY"
    assert index["running"]["state"] == "UNAVAILABLE"


def test_model_metadata_describes_the_raw_inputs(client):
    digits = client.get_model_metadata("ladder/dense-lrdecay")
    assert digits["name"] == "ladder/dense-lrdecay" and digits["versions"] == ["1"]
    assert digits["inputs"] == [{"name": "images", "datatype": "UINT8", "shape": [-1, 28, 28]}]
    assert digits["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]
    photos = client.get_model_metadata("photos")
    assert photos["inputs"][0]["shape"] == [-1, PHOTO_SIZE, PHOTO_SIZE, 3]
    assert photos["parameters"]["class_names"] == PHOTO_CLASSES
    assert client.is_model_ready("digits") and client.is_model_ready("digits", "1")
    assert not client.is_model_ready("running") and not client.is_model_ready("nope")
    with pytest.raises(InferenceServerException) as error:
        client.get_model_metadata("nope")
    assert error.value.status() == "404"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_gives_the_same_top_class_as_nophd_predict(client, served_runs, tmp_path, binary):
    paths = []
    for digit in range(10):
        paths.append(tmp_path / f"{digit}.png")
        font_digit(digit).save(paths[-1])
    expected = [result.top[0][0] for result in evaluate.predict_files(served_runs / "digits", paths, top=1)]
    raw = np.stack([np.round(images.to_mnist(images.load_image(path)) * 255).astype(np.uint8) for path in paths])
    tensor = triton.InferInput("images", list(raw.shape), "UINT8")
    tensor.set_data_from_numpy(raw, binary_data=binary)
    outputs = [triton.InferRequestedOutput("probabilities", binary_data=binary)]
    result = client.infer("digits", [tensor], outputs=outputs)
    probabilities = result.as_numpy("probabilities")
    assert probabilities.shape == (10, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
    assert [str(index) for index in probabilities.argmax(axis=1)] == expected
    # tritonclient's defaults: binary input, binary output, no outputs named.
    tensor.set_data_from_numpy(raw)
    np.testing.assert_allclose(client.infer("digits", [tensor]).as_numpy("probabilities"), probabilities, atol=1e-6)


def test_infer_on_a_photo_model_and_a_ladder_rung(client, served_runs, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"photo{index}.png")
        Image.fromarray(rng.integers(0, 256, (50 + index, 60, 3), dtype=np.uint8)).save(paths[-1])
    predictor = Predictor(served_runs / "photos")
    raw = np.stack([predictor.prepare(images.load_image(path)) for path in paths]).astype(np.uint8)
    expected = [result.top[0][0] for result in evaluate.predict_files(served_runs / "photos", paths, top=1)]
    tensor = triton.InferInput("images", list(raw.shape), "UINT8")
    tensor.set_data_from_numpy(raw)
    probabilities = client.infer("photos", [tensor]).as_numpy("probabilities")
    assert [PHOTO_CLASSES[index] for index in probabilities.argmax(axis=1)] == expected
    digit = triton.InferInput("images", [1, 28, 28], "UINT8")
    digit.set_data_from_numpy(np.zeros((1, 28, 28), np.uint8))
    assert client.infer("ladder/dense-lrdecay", [digit], model_version="1").as_numpy("probabilities").shape == (1, 10)


@pytest.mark.parametrize(("tensor", "fragment"), [
    ({"name": "images", "datatype": "FP32", "shape": [1, 28, 28], "data": [0.0] * 784}, "UINT8"),
    ({"name": "images", "datatype": "UINT8", "shape": [1, 28, 27], "data": [0] * 756}, "shape"),
    ({"name": "images", "datatype": "UINT8", "shape": [1, 28, 28], "data": [0] * 783}, "784 values"),
    ({"name": "images", "datatype": "UINT8", "shape": [1, 28, 28], "data": [300] * 784}, "0..255"),
    ({"name": "images", "datatype": "UINT8", "shape": [1, 28, 28], "data": [0.5] * 784}, "whole numbers"),
    ({"name": "pixels", "datatype": "UINT8", "shape": [1, 28, 28], "data": [0] * 784}, "unknown input"),
    ({"name": "images", "datatype": "UINT8", "shape": [0, 28, 28], "data": []}, "shape"),
], ids=["datatype", "shape", "length", "range", "floats", "name", "empty"])
def test_bad_tensors_are_400_with_the_protocol_error_body(live_server, tensor, fragment):
    status, body = post(live_server, "/v2/models/digits/infer", {"inputs": [tensor]})
    assert status == 400 and list(body) == ["error"] and fragment in body["error"], body


def test_bad_binary_requests_are_400(live_server, client):
    header = json.dumps({"inputs": [{"name": "images", "datatype": "UINT8", "shape": [1, 28, 28],
                                     "parameters": {"binary_data_size": 784}}]}).encode()
    status, body = post(live_server, "/v2/models/digits/infer", header + bytes(700),
                        {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
    assert status == 400 and "784 bytes" in body["error"]
    status, body = post(live_server, "/v2/models/digits/infer", header + bytes(784),
                        {"Inference-Header-Content-Length": "99999"})
    assert status == 400 and "Inference-Header-Content-Length" in body["error"]
    status, body = post(live_server, "/v2/models/digits/infer", b"[" * 50_000)
    assert status == 400 and "JSON" in body["error"]
    status, body = post(live_server, "/v2/models/running/infer", {"inputs": []})
    assert status == 409
    with pytest.raises(InferenceServerException) as error:
        wrong = triton.InferInput("images", [1, 28, 28], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 28, 28), np.float32))
        client.infer("digits", [wrong])
    assert error.value.status() == "400" and "UINT8" in error.value.message()
