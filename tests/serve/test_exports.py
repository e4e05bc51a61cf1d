"""Downloads and "export from the page" (nophd.serve.exports)."""

from __future__ import annotations

import io
import os
import shutil
import time
import zipfile

import pytest
from starlette.testclient import TestClient

from nophd import runs
from nophd.serve import app as app_module


@pytest.fixture(scope="module")
def export_runs(served_runs, tmp_path_factory):
    """A copy of the finished digit run and of the still-running run, so exports do not touch the shared folder."""
    root = tmp_path_factory.mktemp("export-runs") / "runs"
    shutil.copytree(served_runs / "digits", root / "digits")
    shutil.copytree(served_runs / "running", root / "running")
    return root


@pytest.fixture(scope="module")
def client(export_runs, tiny_mnist):
    with TestClient(app_module.create_app(export_runs, data_dir=tiny_mnist)) as test_client:
        yield test_client


def wait_for_job(client, run_id: str, seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = client.get(f"/api/runs/{run_id}/exports").json()["job"]
        if job and job["state"] != "running":
            return job
        time.sleep(0.5)
    raise AssertionError("the export did not end")


def test_download_model_keras_as_an_attachment(client, export_runs):
    response = client.get("/api/runs/digits/download/model.keras")
    assert response.status_code == 200
    assert response.content == (export_runs / "digits" / runs.MODEL).read_bytes()
    assert response.headers["content-disposition"].startswith("attachment;")
    assert 'filename="digits.keras"' in response.headers["content-disposition"]
    assert client.get("/api/runs/running/download/model.keras").status_code == 404
    assert client.get("/api/runs/nope/download/model.keras").status_code == 404


def test_a_symlinked_model_is_not_sent(client, export_runs, tmp_path):
    outside = tmp_path / "secret.keras"
    outside.write_bytes(b"not for you")
    link_run = export_runs / "linked"
    link_run.mkdir()
    (link_run / runs.STATE).write_text('{"status": "finished"}', encoding="utf-8")
    os.symlink(outside, link_run / runs.MODEL)
    try:
        response = client.get("/api/runs/linked/download/model.keras")
        assert response.status_code == 404 and b"not for you" not in response.content
    finally:
        shutil.rmtree(link_run)


def test_export_from_the_page_then_download_it(client, export_runs):
    listing = client.get("/api/runs/digits/exports").json()
    assert [entry["format"] for entry in listing["formats"]] == ["savedmodel", "tflite", "tflite-int8", "onnx", "web"]
    assert not any(entry["exists"] for entry in listing["formats"]) and listing["job"] is None
    assert client.get("/api/runs/digits/download/export/tflite").status_code == 404

    started = client.post("/api/runs/digits/exports/tflite")
    assert started.status_code == 202 and started.json()["job"]["state"] == "running"
    # One export at a time per run.
    assert client.post("/api/runs/digits/exports/savedmodel").status_code == 409
    job = wait_for_job(client, "digits")
    assert job["state"] == "finished", job
    assert 0 <= job["result"]["accuracy"] <= 1 and job["result"]["file_bytes"] > 0

    tflite = next(entry for entry in client.get("/api/runs/digits/exports").json()["formats"] if entry["format"] == "tflite")
    assert tflite["exists"] and tflite["accuracy"] == job["result"]["accuracy"]
    response = client.get("/api/runs/digits/download/export/tflite")
    assert response.status_code == 200
    assert response.content == (export_runs / "digits" / "export" / "tflite" / "model.tflite").read_bytes()
    assert 'filename="digits-tflite.tflite"' in response.headers["content-disposition"]


def test_savedmodel_export_downloads_as_a_zip(client, export_runs):
    assert client.post("/api/runs/digits/exports/savedmodel").status_code == 202
    assert wait_for_job(client, "digits")["state"] == "finished"
    response = client.get("/api/runs/digits/download/export/savedmodel")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "saved_model.pb" in names and "export.json" in names


def test_web_export_downloads_as_a_zip_of_the_whole_app(client, export_runs):
    assert client.post("/api/runs/digits/exports/web").status_code == 202
    assert wait_for_job(client, "digits")["state"] == "finished"
    response = client.get("/api/runs/digits/download/export/web")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert 'filename="digits-web.zip"' in response.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert {"index.html", "app.js", "model.tflite", "export.json", "vendor/litertjs/LICENSE"} <= set(names)


def test_onnx_export_downloads_as_its_onnx_file(client, export_runs):
    from nophd.export import formats

    if formats.onnx_missing():
        pytest.skip(f"{', '.join(formats.onnx_missing())} not installed: {formats.ONNX_EXTRA}")
    assert client.post("/api/runs/digits/exports/onnx").status_code == 202
    assert wait_for_job(client, "digits")["state"] == "finished"
    response = client.get("/api/runs/digits/download/export/onnx")
    assert response.status_code == 200
    assert response.content == (export_runs / "digits" / "export" / "onnx" / "model.onnx").read_bytes()
    assert 'filename="digits-onnx.onnx"' in response.headers["content-disposition"]


def test_export_refuses_what_it_cannot_do(client):
    assert client.post("/api/runs/digits/exports/coreml").status_code == 400
    refused = client.post("/api/runs/running/exports/tflite")
    assert refused.status_code == 409 and "running" in refused.json()["error"]
    assert client.post("/api/runs/nope/exports/tflite").status_code == 404
    assert client.get("/api/runs/digits/download/export/coreml").status_code == 404


def test_a_run_named_exports_or_download_in_a_group_is_that_run_not_an_export(served_runs, tiny_mnist, tmp_path):
    # Runs "group/exports" and "group/download": their URLs look like the
    # export routes of a run "group", which does not exist. Before, GET
    # /api/runs/group/exports answered 404 "no run 'group'" and the run's
    # page could not load.
    root = tmp_path / "runs"
    for name in ("exports", "download"):
        shutil.copytree(served_runs / "digits", root / "group" / name)
    with TestClient(app_module.create_app(root, data_dir=tiny_mnist)) as client:
        listed = {run["id"] for run in client.get("/api/runs").json()["runs"]}
        assert listed == {"group/exports", "group/download"}
        detail = client.get("/api/runs/group/exports")
        assert detail.status_code == 200, detail.text
        assert detail.json()["id"] == "group/exports"
        assert client.get("/api/runs/group/exports/history").status_code == 200
        predicted = client.post("/api/runs/group/exports/predict", json={"pixels": [[0.0] * 10 + [1.0] * 8 + [0.0] * 10] * 28})
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["id"] == "group/exports"
        # A real run's own exports and downloads still answer as before.
        exports = client.get("/api/runs/group/exports/exports")
        assert exports.status_code == 200, exports.text
        assert exports.json()["id"] == "group/exports"
        model = client.get("/api/runs/group/download/download/model.keras")
        assert model.status_code == 200
        assert model.content == (root / "group" / "download" / runs.MODEL).read_bytes()
