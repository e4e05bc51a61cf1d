"""The REST API: each endpoint, and each kind of bad input with its status code and one-line error."""

from __future__ import annotations

import concurrent.futures
import io
import json
import shutil
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw
from starlette.testclient import TestClient

from nophd import runs, tasks
from nophd.data import images
from nophd.serve import app as app_module

from .conftest import PHOTO_CLASSES


@pytest.fixture(scope="module")
def client(served_runs, tiny_mnist):
    with TestClient(app_module.create_app(served_runs, data_dir=tiny_mnist)) as test_client:
        yield test_client


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def drawn_one() -> bytes:
    """A "1" drawn as the canvas draws: a thick white stroke on black, 280x280."""
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line([(140, 40), (140, 240)], fill=255, width=20)
    return png_bytes(image)


def font_digit(digit: int) -> Image.Image:
    """A digit rendered from a font, dark on light and large, as a user's picture might be."""
    rendered = images.render_digit(digit, images.font_paths()[0])
    return Image.fromarray(255 - (rendered * 255).astype(np.uint8)).resize((140, 140))


def assert_error(response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert "\n" not in body["error"] and "Traceback" not in body["error"]
    for fragment in fragments:
        assert fragment in body["error"]


# GET /api/runs


def test_runs_lists_every_run_including_ladder_rungs_and_broken_folders(client):
    body = client.get("/api/runs").json()
    by_id = {run["id"]: run for run in body["runs"]}
    assert {"digits", "ladder/dense-lrdecay", "photos", "running", "broken", "garbage", "half"} <= set(by_id)
    assert "notes" not in by_id and ".hidden" not in by_id
    digits = by_id["digits"]
    assert digits["status"] == "finished" and digits["model"] == "dense-lrdecay" and digits["dataset"] == "mnist"
    assert digits["epochs_done"] == 4 and digits["epochs_total"] == 4 and digits["has_model"]
    assert 0 < digits["best_val_accuracy"] <= 1 and 0 < digits["test_accuracy"] <= 1 and digits["wall_seconds"] > 0
    assert by_id["ladder/dense-lrdecay"]["group"] == "ladder"
    assert by_id["running"]["status"] == "running" and by_id["running"]["epochs_done"] == 2
    assert by_id["photos"]["kind"] == "photos"
    assert by_id["broken"]["status"] == "corrupt"
    assert any("run.json: not valid JSON" in problem for problem in by_id["broken"]["problems"])
    assert any("history.csv: not a number in row 2" in problem for problem in by_id["broken"]["problems"])
    assert by_id["garbage"]["status"] == "corrupt"
    assert by_id["half"]["status"] == "incomplete" and by_id["half"]["model"] == "conv"
    (ladder,) = body["ladders"]
    assert ladder["id"] == "ladder" and ladder["rows"][0]["run_id"] == "ladder/dense-lrdecay"
    assert body["tensorboard_command"].startswith("tensorboard --logdir ")


def test_runs_of_a_missing_folder_is_an_empty_list(tmp_path):
    with TestClient(app_module.create_app(tmp_path / "not-yet")) as test_client:
        body = test_client.get("/api/runs").json()
    assert body["runs"] == [] and body["runs_dir_exists"] is False


# GET /api/runs/{id} and /history


def test_run_detail(client):
    body = client.get("/api/runs/digits").json()
    assert body["config"]["model"] == "dense-lrdecay" and body["metrics"]["test_accuracy"] > 0
    assert "Total params" in body["model_summary"]
    assert {"curves.png", "lr.png", "predictions.png", "confusion.png", "report.html"} <= set(body["files"])
    np.testing.assert_allclose(body["planned_learning_rates"], [0.003 * 0.6**epoch for epoch in range(4)], rtol=1e-9)
    assert body["tensorboard_command"].endswith("tensorboard")
    assert body["has_tensorboard"]  # nophd train writes its event files into <run>/tensorboard/.


def test_nested_run_detail_and_files(client):
    assert client.get("/api/runs/ladder/dense-lrdecay").json()["group"] == "ladder"
    picture = client.get("/api/runs/ladder/dense-lrdecay/files/curves.png")
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")
    assert_error(client.get("/api/runs/digits/files/model.keras"), 404)
    assert_error(client.get("/api/runs/digits/files/..%2Fconfig.json"), 404)


def test_history(client):
    body = client.get("/api/runs/digits/history").json()
    assert [row["epoch"] for row in body["rows"]] == [1, 2, 3, 4]
    assert body["status"] == "finished" and body["epochs_total"] == 4
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"} <= set(body["rows"][0])
    assert body["version"] == client.get("/api/runs/digits/history").json()["version"]


def test_history_of_a_running_run_changes_version_with_a_new_epoch(client, served_runs):
    from .conftest import write_running_run

    folder = served_runs / "growing"
    write_running_run(folder, epochs_done=1)
    try:
        first = client.get("/api/runs/growing/history").json()
        write_running_run(folder, epochs_done=2)
        second = client.get("/api/runs/growing/history").json()
    finally:
        import shutil

        shutil.rmtree(folder)
    assert first["status"] == second["status"] == "running"
    assert len(first["rows"]) == 1 and len(second["rows"]) == 2
    assert first["version"] != second["version"]


def test_broken_history_is_reported_not_raised(client):
    body = client.get("/api/runs/broken/history").json()
    assert body["rows"] == [] and body["status"] == "corrupt"
    assert any("history.csv" in problem for problem in body["problems"])
    assert client.get("/api/runs/garbage").status_code == 200


# POST /api/runs/{id}/predict


def test_predict_a_drawn_one_as_multipart_raw_body_and_json(client):
    by_form = client.post("/api/runs/digits/predict?input=1", files={"image": ("one.png", drawn_one(), "image/png")})
    assert by_form.status_code == 200, by_form.text
    body = by_form.json()
    assert body["kind"] == "digits" and len(body["top"]) == 3 and len(body["probabilities"]) == 10
    assert abs(sum(body["probabilities"]) - 1) < 1e-4
    assert body["top"][0]["label"] == "1"
    seen = np.array(body["input"])
    assert seen.shape == (28, 28) and seen.max() == pytest.approx(1.0)
    raw = client.post("/api/runs/digits/predict", content=drawn_one(), headers={"Content-Type": "image/png"}).json()
    assert raw["probabilities"] == pytest.approx(body["probabilities"], abs=1e-6)
    pixels = client.post("/api/runs/digits/predict", json={"pixels": (seen * 255).round().astype(int).tolist()}).json()
    assert pixels["top"][0]["label"] == "1"
    assert "input" not in raw


def test_predict_agrees_with_the_command_line(client, served_runs, tmp_path):
    from nophd.inference import evaluate

    path = tmp_path / "three.png"
    font_digit(3).save(path)
    (expected,) = evaluate.predict_files(served_runs / "digits", [path], top=3)
    body = client.post("/api/runs/digits/predict", files={"image": ("three.png", path.read_bytes())}).json()
    assert [entry["label"] for entry in body["top"]] == [label for label, _ in expected.top]
    assert [entry["probability"] for entry in body["top"]] == pytest.approx([p for _, p in expected.top], abs=1e-5)


def test_predict_top_parameter(client):
    body = client.post("/api/runs/digits/predict?top=10", content=drawn_one()).json()
    assert len(body["top"]) == 10
    assert_error(client.post("/api/runs/digits/predict?top=zero", content=drawn_one()), 400, "top")
    assert_error(client.post("/api/runs/digits/predict?top=0", content=drawn_one()), 400, "top")


def test_predict_a_photo(client):
    photo = Image.new("RGB", (120, 80), (200, 30, 40))
    response = client.post("/api/runs/photos/predict", files={"image": ("rose.jpg", png_bytes(photo), "image/jpeg")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["kind"] == "photos" and body["class_names"] == PHOTO_CLASSES and "input" not in body
    assert {entry["label"] for entry in body["top"]} == set(PHOTO_CLASSES)
    assert_error(client.post("/api/runs/photos/predict", json={"pixels": [[0] * 28] * 28}), 400, "photo model")


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"content": b"hello, not an image", "headers": {"Content-Type": "image/png"}}, ["not an image"]),
        ({"files": {"image": ("notes.txt", b"just text\n", "text/plain")}}, ["notes.txt: not an image"]),
        ({"files": {"image": ("cut.png", drawn_one()[:300], "image/png")}}, ["cut.png", "truncated"]),
        ({"content": b"", "headers": {"Content-Type": "image/png"}}, ["empty"]),
        ({"files": {"image": ("empty.png", b"", "image/png")}}, ["empty"]),
        ({"json": {"pixels": [[0.0] * 28] * 27}}, ["28x28", "27x28"]),
        ({"json": {"pixels": [[0.0] * 28] * 27 + [[0.0] * 27]}}, ["28 rows of 28 numbers"]),
        ({"json": {"pixels": [["a"] * 28] * 28}}, ["numbers"]),
        ({"json": {"pixels": [[300] * 28] * 28}}, ["0..255"]),
        ({"json": {"pixels": [[-1] * 28] * 28}}, ["0..255"]),
        ({"json": {"image": []}}, ["pixels"]),
        ({"json": 7}, ["28x28"]),
        ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, ["not valid JSON"]),
        ({"files": {"image": ("blank.png", png_bytes(Image.new("L", (280, 280), 0)), "image/png")}}, ["no digit"]),
    ],
    ids=["raw-text", "text-file", "truncated", "empty-body", "empty-file", "27-rows", "ragged", "strings",
         "over-255", "negative", "no-pixels-key", "scalar", "bad-json", "blank-canvas"],
)
def test_predict_bad_input_is_400_with_one_line(client, kwargs, fragments):
    assert_error(client.post("/api/runs/digits/predict", **kwargs), 400, *fragments)


def test_predict_a_form_without_a_file_or_a_broken_form_is_400(client):
    form = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nvalue\r\n--x--\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=x"}
    assert_error(client.post("/api/runs/digits/predict", content=form, headers=headers), 400, "no file")
    headers = {"Content-Type": "multipart/form-data"}  # No boundary.
    assert_error(client.post("/api/runs/digits/predict", content=form, headers=headers), 400, "multipart")


def test_predict_upload_over_the_limit_is_413(served_runs):
    with TestClient(app_module.create_app(served_runs, max_upload_bytes=1000)) as small:
        big = png_bytes(Image.effect_noise((200, 200), 80).convert("L"))
        assert len(big) > 1000
        assert_error(small.post("/api/runs/digits/predict", content=big, headers={"Content-Type": "image/png"}), 413, "limit")
        assert_error(small.post("/api/runs/digits/predict", files={"image": ("big.png", big, "image/png")}), 413)

        def chunks():  # No Content-Length: the limit is enforced while reading.
            yield big[:800]
            yield big[800:]

        assert_error(small.post("/api/runs/digits/predict", content=chunks()), 413)


def test_predict_a_picture_with_too_many_pixels_is_413(client):
    huge = Image.new("1", (8000, 6000), 0)  # 48 megapixels, a few kilobytes as PNG.
    assert_error(client.post("/api/runs/digits/predict", content=png_bytes(huge)), 413, "pixels")


def test_predict_without_a_model_is_409(client):
    assert_error(client.post("/api/runs/running/predict", content=drawn_one()), 409, "still training")
    assert_error(client.post("/api/runs/half/predict", content=drawn_one()), 409, "model.keras")


# Unknown runs, escapes, methods


@pytest.mark.parametrize("path", [
    "/api/runs/nope", "/api/runs/nope/history", "/api/runs/nope/predict", "/api/runs/notes",
    "/api/runs/.hidden", "/api/runs/..%2F..%2Fetc%2Fpasswd", "/api/runs/%2E%2E/history", "/api/runs/digits/summary.txt",
    "/api/runs/ladder", "/api/runs/ladder/dense-lrdecay/x/history", "/api/runs/%2Fetc", "/api/nothing",
    "/api/ladders/nope/ladder.png", "/api/ladders/..%2Fdigits/ladder.png",
])
def test_unknown_runs_and_escapes_are_404(client, path):
    method = client.post if path.endswith("predict") else client.get
    kwargs = {"content": drawn_one()} if path.endswith("predict") else {}
    assert_error(method(path, **kwargs), 404)


def test_escape_with_raw_dot_dot_segments_is_404(live_server):
    # httpx and browsers collapse "..": send the raw request line instead.
    import http.client

    connection = http.client.HTTPConnection(live_server.url.removeprefix("http://"))
    for path in ("/api/runs/../../../etc/passwd", "/api/runs/digits/../../history", "/runs/../../etc/passwd"):
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 404, (path, body)
    connection.close()


def test_wrong_methods_are_405(client):
    assert_error(client.get("/api/runs/digits/predict"), 405, "POST")
    assert_error(client.post("/api/runs/digits/history"), 405)
    assert_error(client.delete("/api/runs/digits"), 405)
    assert_error(client.post("/api/runs"), 405)


def test_pages(client):
    for path in ("/", "/compare", "/runs/digits", "/runs/ladder/dense-lrdecay"):
        response = client.get(path)
        assert response.status_code == 200 and "<!DOCTYPE html>" in response.text
        assert "script-src 'self'" in response.headers["content-security-policy"]
    missing = client.get("/runs/nope")
    assert missing.status_code == 404 and "no run" in missing.text and "<html" in missing.text


def test_assets_ship_in_the_package_and_nothing_comes_from_elsewhere(client):
    for name in ("dashboard.css", "common.js", "charts.js", "runs.js", "run.js", "compare.js", "draw.js", "favicon.svg"):
        assert client.get(f"/static/{name}").status_code == 200
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):  # The chart library, vendored.
        assert client.get(f"/static/vendor/uplot/{name}").status_code == 200
    for folder in (app_module.STATIC, app_module.PAGES):
        for path in folder.rglob("*"):
            if path.is_dir():
                continue
            # uPlot's banner names its home page; that is a comment, not something fetched.
            text = path.read_text(encoding="utf-8").replace("https://github.com/leeoniya/uPlot", "")
            assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text, path


# GET /api/runs/{id}/misclassified


def test_misclassified_digits_with_probabilities(client):
    body = client.get("/api/runs/digits/misclassified?limit=5").json()
    assert body["available"] and body["test_examples"] == 300
    assert body["errors"] == round((1 - body["accuracy"]) * 300)
    assert len(body["examples"]) == min(5, body["errors"])
    for example in body["examples"]:
        assert example["label"] != example["predicted"] == example["top"][0]["label"]
        assert example["image"].startswith("data:image/png;base64,")
    confidences = [example["top"][0]["probability"] for example in body["examples"]]
    assert confidences == sorted(confidences, reverse=True)
    assert_error(client.get("/api/runs/digits/misclassified?limit=-1"), 400, "limit")


def test_misclassified_says_plainly_when_data_or_kind_do_not_allow_it(served_runs, client, tmp_path):
    with TestClient(app_module.create_app(served_runs, data_dir=tmp_path / "no-mnist-here")) as without_data:
        body = without_data.get("/api/runs/digits/misclassified").json()
    assert body["available"] is False and "MNIST" in body["reason"]
    # A photo run finished by an older nophd, without mistakes.json.
    older = tmp_path / "runs"
    shutil.copytree(served_runs / "photos", older / "photos")
    (older / "photos" / runs.MISTAKES).unlink()
    with TestClient(app_module.create_app(older)) as older_client:
        photos = older_client.get("/api/runs/photos/misclassified").json()
    assert photos["available"] is False and "nophd evaluate" in photos["reason"]
    assert_error(client.get("/api/runs/running/misclassified"), 409)


def test_misclassified_photos_come_from_the_runs_mistakes_file(client):
    body = client.get("/api/runs/photos/misclassified?limit=3").json()
    assert body["available"] and body["what"] == "validation photos" and body["test_examples"] == 12
    assert body["errors"] == round((1 - body["accuracy"]) * 12) > 0
    assert len(body["examples"]) == min(3, body["errors"])
    for example in body["examples"]:
        assert example["label"] != example["predicted"] == example["top"][0]["label"]
        assert example["label"] in PHOTO_CLASSES and example["image"].startswith("data:image/jpeg;base64,")
    confidences = [example["top"][0]["probability"] for example in body["examples"]]
    assert confidences == sorted(confidences, reverse=True)


# Concurrency and caching


def test_fifty_concurrent_predictions_all_succeed_and_the_model_loads_once(live_server, served_runs):
    from nophd.serve import inference

    one = drawn_one()
    three = png_bytes(font_digit(3))

    def predict(index: int) -> dict:
        body = one if index % 2 else three
        request = urllib.request.Request(f"{live_server.url}/api/runs/ladder/dense-lrdecay/predict", data=body,
                                         headers={"Content-Type": "image/png"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            return json.loads(response.read())

    loads = []
    original = inference.LoadedModel.__init__

    def counting(self, *args, **kwargs):
        loads.append(1)
        original(self, *args, **kwargs)

    live_server.server.config.app.state.models.clear()  # Other tests may have loaded it already.
    inference.LoadedModel.__init__ = counting
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            results = list(pool.map(predict, range(50)))
    finally:
        inference.LoadedModel.__init__ = original
    assert len(results) == 50
    assert len(loads) == 1
    odd = {tuple(entry["label"] for entry in result["top"]) for result in results[1::2]}
    even = {tuple(entry["label"] for entry in result["top"]) for result in results[0::2]}
    assert len(odd) == 1 and len(even) == 1  # The same picture always gets the same answer.


def test_model_cache_is_bounded_and_reloads_a_changed_model(served_runs, tmp_path):
    import os
    import shutil

    from nophd.serve import inference

    cache = inference.ModelCache(capacity=1)
    first = cache.get(served_runs / "digits")
    assert cache.get(served_runs / "digits") is first
    cache.get(served_runs / "photos")
    assert cache.get(served_runs / "digits") is not first  # Dropped for the photo model, loaded again.
    copy = tmp_path / "copy"
    shutil.copytree(served_runs / "digits", copy)
    loaded = cache.get(copy)
    stat = (copy / "model.keras").stat()
    os.utime(copy / "model.keras", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # Trained again.
    assert cache.get(copy) is not loaded


def test_a_report_is_served_without_running_scripts(client):
    response = client.get("/api/runs/digits/files/report.html")
    assert response.status_code == 200 and "<html" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]


# Hostile inputs: one-line 4xx, never a traceback (issue 11, defect 4)


def assert_quiet(capfd) -> None:
    err = capfd.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err


def test_a_one_pixel_high_picture_millions_wide_is_400(client, capfd):
    line = png_bytes(Image.new("L", (39_000_000, 1), 0))
    assert len(line) < app_module.MAX_UPLOAD_BYTES
    assert_error(client.post("/api/runs/photos/predict", content=line), 400, "39000000x1", "long and thin")
    assert_error(client.post("/api/runs/digits/predict", content=line), 400, "long and thin")
    assert_quiet(capfd)


def test_json_nested_fifty_thousand_deep_is_400(client, capfd):
    deep = b"[" * 50_000 + b"]" * 50_000
    headers = {"Content-Type": "application/json"}
    assert_error(client.post("/api/runs/digits/predict", content=deep, headers=headers), 400, "nested too deeply")
    assert_error(client.post("/api/runs/digits/predict", content=b'{"pixels": ' + b"[" * 5000 + b"]" * 5000 + b"}",
                             headers=headers), 400)
    assert_quiet(capfd)


def test_digit_pictures_get_a_far_smaller_pixel_budget_than_photos(client, capfd):
    from nophd.serve import inference

    big = png_bytes(Image.new("1", (6300, 6300), 0))  # A few kilobytes, 40 megapixels decoded.
    assert_error(client.post("/api/runs/digits/predict", content=big), 413, "6300x6300", "digit model")
    assert tasks.get("digits").max_upload_pixels < 6300 * 6300 <= tasks.get("photos").max_upload_pixels
    assert_quiet(capfd)


def test_large_jpegs_are_decoded_at_a_reduced_size():
    from nophd.serve import inference

    buffer = io.BytesIO()
    Image.new("L", (8000, 6000), 200).save(buffer, format="JPEG", quality=50)  # A 48-megapixel phone photo.
    photo = inference.decode_image(buffer.getvalue(), "big.jpg", "photos")
    digit = inference.decode_image(buffer.getvalue(), "big.jpg", "digits")
    assert photo.size == digit.size and inference.DRAFT_SIDE <= min(photo.size) and max(photo.size) <= 8000 // 2
    small = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 20, 30)).save(small, format="JPEG")
    assert inference.decode_image(small.getvalue(), "small.jpg", "photos").size == (640, 480)


# Host header, blank JSON digits, broken models (issue 11, defect 6)


@pytest.mark.parametrize("host", ["::1", "0:0:0:0:0:0:0:1", "127.0.0.1", "localhost"])
def test_loopback_servers_check_the_host_header_ipv6_included(served_runs, host):
    from nophd.serve import server

    allowed = server.allowed_hosts(host)
    assert allowed is not None
    with TestClient(app_module.create_app(served_runs, allowed_hosts=allowed)) as checked:
        assert checked.get("/api/runs", headers={"Host": "evil.example:8000"}).status_code == 400
        for good in ("localhost:8000", "127.0.0.1:8000") + (("[::1]:8000", "[::1]") if ":" in host else ()):
            assert checked.get("/api/runs", headers={"Host": good}).status_code == 200, good
    assert server.allowed_hosts("0.0.0.0") is None


@pytest.mark.parametrize("pixels", [[[0] * 28] * 28, [[0.01] * 28] * 28, [[3] * 28] * 28],
                         ids=["zeros", "faint-float", "faint-bytes"])
def test_a_blank_json_digit_is_refused_like_a_blank_picture(client, pixels):
    assert_error(client.post("/api/runs/digits/predict", json={"pixels": pixels}), 400, "no digit")


def test_a_truncated_model_is_reported_in_one_line_and_not_offered(served_runs, tmp_path, capfd):
    root = tmp_path / "runs"
    shutil.copytree(served_runs / "digits", root / "cut")
    model = root / "cut" / runs.MODEL
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    with TestClient(app_module.create_app(root)) as cut_client:
        detail = cut_client.get("/api/runs/cut").json()
        assert detail["has_model"] is True and detail["model_ok"] is False
        assert "model.keras" in detail["model_error"] and "\n" not in detail["model_error"]
        assert_error(cut_client.post("/api/runs/cut/predict", content=drawn_one()), 409, "model.keras")
        assert cut_client.get("/api/runs/cut").json()["model_ok"] is False
        good = cut_client.get("/api/runs/cut")  # Still a page, not an error.
        assert good.status_code == 200
    with TestClient(app_module.create_app(served_runs)) as fine:
        detail = fine.get("/api/runs/digits").json()
        assert detail["model_ok"] is True and detail["model_error"] is None
        assert fine.get("/api/runs/running").json()["model_ok"] is False
    assert_quiet(capfd)


# The model card (MODEL_CARD.md), rendered server-side.

HOSTILE_CARD = ("# Mine <script>alert(1)</script>\n\n| class | note |\n|---|---|\n| a\\|b | <img src=x onerror=alert(1)> |\n\n"
                "[click](javascript:alert(1)) ![pixel](http://example.com/p.png) <b onclick=x>bold</b>\n")


def test_run_detail_has_the_model_card_as_safe_html(client):
    body = client.get("/api/runs/digits").json()
    assert body["model_card"]["by_nophd"] is True
    html = body["model_card"]["html"]
    assert "<h1>Model card: dense-lrdecay on mnist</h1>" in html and "<table>" in html
    assert "nophd model card:" not in html  # nophd's first-line mark is dropped, not shown.
    assert "MODEL_CARD.md" in body["files"]
    served = client.get("/api/runs/digits/files/MODEL_CARD.md")
    assert served.status_code == 200 and served.text.startswith(runs.MODEL_CARD_MARK)
    assert client.get("/api/runs/photos").json()["model_card"] is None  # Written by hand, without a card.


def test_a_hand_written_card_is_shown_escaped(served_runs, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(served_runs / "digits", root / "digits")
    (root / "digits" / runs.MODEL_CARD).write_text(HOSTILE_CARD, encoding="utf-8")
    with TestClient(app_module.create_app(root)) as test_client:
        card = test_client.get("/api/runs/digits").json()["model_card"]
    assert card["by_nophd"] is False
    html = card["html"]
    for dangerous in ("<script", "<img", "<b ", "onclick=\"", "href=\"javascript", "example.com/p.png\" alt"):
        assert dangerous not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<td>a|b</td>" in html
