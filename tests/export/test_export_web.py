"""The web app export in headless Chromium with the network cut, against the Keras model and `nophd predict`.

The page is served by nophd.export.browser.OfflineFolder, which is also
Chromium's proxy for everything else and refuses it: a request leaving the
export folder fails and is recorded. Skipped, with the reason, where
Chromium, chromedriver or selenium is missing; NOPHD_REQUIRE_BROWSER=1
(as .ci/run sets it) makes that a failure.
"""

import base64
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nophd import cli, runs
from nophd.data import images as images_module
from nophd.data import mnist
from nophd.export import artifacts, browser, export, formats


LATENCY_RUNS = 10
TEST_SAMPLE = 300


@pytest.fixture(scope="module")
def web_export(digit_run):
    run, data = digit_run
    return export.export_run(run, "web", data_dir=data, latency_runs=LATENCY_RUNS)


@pytest.fixture(scope="module")
def keras_model(digit_run):
    import keras

    run, _ = digit_run
    return keras.models.load_model(run / runs.MODEL)


@pytest.fixture(scope="module")
def page(web_export):
    reason = browser.missing_browser()
    if reason:
        if os.environ.get("NOPHD_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required here, but {reason}")
        pytest.skip(reason)
    with browser.OfflineFolder(web_export["path"]) as opened:
        opened.wait_ready()
        yield opened


def test_the_folder_holds_the_page_the_model_and_the_runtime(web_export, digit_run):
    run, _ = digit_run
    folder = Path(web_export["path"])
    assert folder == run / "export" / "web" and web_export["artifact_path"] == str(folder)
    assert {"index.html", "app.js", "app.css", "model.tflite", "export.json", "vendor"} <= set(os.listdir(folder))
    vendor = folder / "vendor" / "litertjs"
    assert (vendor / "LICENSE").is_file() and (vendor / "VERSION").is_file()
    assert (vendor / "wasm" / "litert_wasm_internal.wasm").is_file()
    written = json.loads((folder / "export.json").read_text())
    assert written["format"] == "web" and written["exported"]["format"] == "web" and written["kind"] == "digits"
    assert written["input"]["shape"] == [1, 28, 28] and written["input"]["dtype"] == "uint8"
    assert written["exported"]["file_bytes"] == formats.folder_bytes(folder, leave_out=("export.json",))
    assert written["exported"]["file_bytes"] > 9e6  # The runtime is in it.
    assert "LiteRT.js" in written["web"]["runtime"]
    if browser.missing_browser() is None:
        # The page's own figures, measured by the export in headless Chromium with the network cut.
        measured = written["web"]["browser"]
        assert measured["examples"] == 300 and measured["top1_agreement_with_python"] == 1.0
        assert measured["accuracy"] == pytest.approx(written["exported"]["accuracy"])
        assert measured["max_abs_difference"] < 1e-5 and measured["latency_ms"] > 0
    assert written["files"] == sorted(os.listdir(folder))
    # nophd predict reads the folder too: the same model.tflite, fed one image at a time.
    assert artifacts.load(folder).predict(np.zeros((3, 28, 28), np.uint8)).shape == (3, 10)


def test_the_browser_matches_the_keras_model_on_test_images_offline(page, web_export, keras_model, digit_run):
    _, data = digit_run
    test = mnist.load(data)
    sample = test.test_images[:TEST_SAMPLE]
    in_browser = np.asarray(page.call("nophdPredictMany", base64.b64encode(sample.tobytes()).decode(), len(sample)),
                            dtype=np.float32)
    keras_probabilities = keras_model.predict(sample.astype(np.float32)[..., np.newaxis] / 255.0, verbose=0)
    assert in_browser.shape == (len(sample), 10)
    agreement = float((in_browser.argmax(axis=1) == keras_probabilities.argmax(axis=1)).mean())
    assert agreement >= 0.99, f"top classes agree on {agreement:.1%}"
    np.testing.assert_allclose(in_browser, keras_probabilities, atol=1e-4)
    # The same file in Python's LiteRT interpreter: the same numbers, to float32 rounding.
    np.testing.assert_allclose(in_browser, artifacts.load(web_export["path"]).predict(sample), atol=1e-5)
    assert not page.outside_requests(), page.outside_requests()


def test_a_digit_drawn_on_the_pad_is_classified_as_nophd_predict_does(page, web_export, keras_model):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = page.driver.find_element(By.ID, "draw-canvas")
    # A "7": a bar across the top and a stroke down to the lower left, in pad pixels from the centre.
    actions = ActionChains(page.driver)
    actions.move_to_element_with_offset(canvas, -60, -80).click_and_hold()
    for x, y in ((-20, -80), (20, -80), (60, -80), (40, -30), (20, 20), (0, 70), (-10, 100)):
        actions.move_to_element_with_offset(canvas, x, y)
    actions.release().perform()
    page.driver.implicitly_wait(0)
    top = _wait(page, lambda: page.driver.find_elements(By.CSS_SELECTOR, "#prediction-top li"))
    shown = [item.get_attribute("data-label") for item in top]
    assert len(shown) == 5 and set(shown) <= {str(digit) for digit in range(10)}

    # The pad's picture through nophd's own preprocessing and the Keras model.
    png = page.driver.execute_script("return document.getElementById('draw-canvas').toDataURL('image/png');")
    picture = Image.open(io.BytesIO(base64.b64decode(png.split(",", 1)[1])))
    frame = images_module.to_mnist(picture)
    expected = keras_model.predict(frame[np.newaxis, :, :, np.newaxis], verbose=0)[0]
    seen = np.asarray(page.driver.execute_script("return window.nophdLastInput;"), dtype=np.float32).reshape(28, 28)
    # The page's 28x28 is nophd's, rounded to uint8 (and float64 where Pillow is float32).
    assert np.abs(seen - np.round(frame * 255)).max() <= 2
    assert shown[0] == str(int(expected.argmax()))
    assert not page.outside_requests(), page.outside_requests()


def test_nothing_outside_the_folder_can_be_reached(page):
    outcome = page.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('http://example.com/').then((r) => done('status ' + r.status), (e) => done('failed: ' + e));")
    assert outcome.startswith("failed") or outcome == "status 403"
    assert any("example.com" in request for request in page.refused)
    assert page.outside_requests() == ["http://example.com/"]
    assert all(not path.startswith("/..") for path in page.served)
    assert "/vendor/litertjs/core/index.js" in page.served and "/model.tflite" in page.served


# LiteRT.js probes relaxed SIMD by instantiating a tiny module; failing that probe is what a
# browser without it (e.g. Safari) does, and makes LiteRT.js load its compatible build.
WITHOUT_RELAXED_SIMD = """
  const instantiate = WebAssembly.instantiate;
  WebAssembly.instantiate = function (bytes) {
    if (bytes && bytes.byteLength !== undefined && bytes.byteLength < 200) {
      return Promise.reject(new Error("pretending: no relaxed SIMD"));
    }
    return instantiate.apply(this, arguments);
  };
"""


def test_a_browser_without_relaxed_simd_gets_the_compatible_runtime_and_the_same_answers(page, web_export, digit_run):
    _, data = digit_run
    sample = mnist.load(data).test_images[:50]
    with browser.OfflineFolder(web_export["path"], before_page=WITHOUT_RELAXED_SIMD) as compatible:
        compatible.wait_ready()
        probabilities = compatible.call("nophdPredictMany", base64.b64encode(sample.tobytes()).decode(), len(sample))
        assert not compatible.outside_requests(), compatible.outside_requests()
        assert "/vendor/litertjs/wasm/litert_wasm_compat_internal.wasm" in compatible.served
        assert not any("litert_wasm_internal" in path for path in compatible.served)
    np.testing.assert_allclose(probabilities, artifacts.load(web_export["path"]).predict(sample), atol=1e-5)


def _wait(page, found, seconds: float = 30.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(page.driver, seconds, poll_frequency=0.1).until(lambda _: found(), message="no prediction")


def _run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_an_unfinished_run_is_refused_in_one_line_and_nothing_is_written(digit_run, tmp_path, capsys):
    import shutil

    run, data = digit_run
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run, unfinished, ignore=shutil.ignore_patterns("export"))
    runs.write_state(unfinished, status="running", model="conv")
    out = tmp_path / "web"
    code, stdout, stderr = _run_cli(capsys, "export", unfinished, "--format", "web", "--out", out, "--data-dir", data)
    assert code == 2 and stdout == "" and len(stderr.strip().splitlines()) == 1 and "not finished" in stderr
    assert not out.exists() and not any(path.name.startswith(".web") for path in tmp_path.iterdir())


def test_a_run_without_its_model_is_refused_in_one_line(digit_run, tmp_path, capsys):
    import shutil

    run, data = digit_run
    broken = tmp_path / "broken"
    shutil.copytree(run, broken, ignore=shutil.ignore_patterns("export"))
    (broken / runs.MODEL).unlink()
    code, stdout, stderr = _run_cli(capsys, "export", broken, "--format", "web", "--data-dir", data)
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and runs.MODEL in stderr
    assert not (broken / "export").exists()
