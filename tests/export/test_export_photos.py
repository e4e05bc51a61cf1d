"""Exporting a photo run: raw uint8 RGB in, calibrated on its training split, evaluated on its validation split."""

import json

import numpy as np
import pytest

from nophd import atomic, runs, tasks
from nophd.export import artifacts, export

pytest.importorskip("nophd.data.photos")

IMAGE_SIZE = 32


@pytest.fixture(scope="module")
def photo_run(tmp_path_factory):
    """A fake finished photo run: MobileNet 0.25 with random weights on three classes of drawn shapes."""
    import keras

    from nophd.data import synthetic
    from nophd.models import transfer

    data = synthetic.write_photo_folder(tmp_path_factory.mktemp("photos") / "shapes", per_class=12, size=48)
    class_names = sorted(path.name for path in data.iterdir())
    run = tmp_path_factory.mktemp("runs") / "photos"
    run.mkdir()
    keras.utils.set_random_seed(0)
    model = transfer.build_transfer_model("mobilenet_v1_025", len(class_names), image_size=IMAGE_SIZE, head="gap",
                                          weights="none")
    model.save(run / runs.MODEL)
    atomic.write_json(run / runs.CONFIG, {
        "task": "photos", "model": "mobilenet_v1_025-gap", "dataset": str(data), "image_size": IMAGE_SIZE,
        "validation_split": 0.25, "seed": 0, "class_names": class_names,
    })
    runs.write_state(run, status="finished", model="mobilenet_v1_025-gap")
    return run, model, class_names


@pytest.fixture(scope="module")
def photo_tflite(photo_run):
    """The photo run exported once as a float TFLite model: export_run's result."""
    run, _, _ = photo_run
    return export.export_run(run, "tflite", latency_runs=5)


def test_photo_export_takes_raw_rgb_and_matches_the_keras_model(photo_run, photo_tflite):
    _, model, class_names = photo_run
    result = photo_tflite
    assert result["kind"] == "photos" and result["class_names"] == class_names
    assert result["input"]["shape"] == [None, IMAGE_SIZE, IMAGE_SIZE, 3] and result["image_size"] == IMAGE_SIZE
    assert result["test_examples"] == 9  # A quarter of each class's 12 images is held out.
    assert "held-out validation split" in result["evaluated_on"]
    assert result["agreement_with_original"]["max_abs_difference"] < 1e-4
    artifact = artifacts.load(result["artifact_path"])
    images = np.random.default_rng(0).integers(0, 256, (4, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    np.testing.assert_allclose(artifact.predict(images), model.predict(images.astype(np.float32), verbose=0), atol=1e-4)


def test_photo_int8_export_is_calibrated_on_the_training_split(photo_run):
    run, _, _ = photo_run
    result = export.export_run(run, "tflite-int8", latency_runs=5)
    assert result["calibration"]["representative_images"] == 27  # The training side of 36 images.
    written = json.loads((run / "export" / "tflite-int8" / "export.json").read_text())
    assert written["input"]["dtype"] == "uint8" and written["output"]["dtype"] == "uint8"


def test_predictor_reads_a_photo_export(photo_run, photo_tflite):
    from PIL import Image

    from nophd.inference.predictor import Predictor

    run, _, class_names = photo_run
    predictor = Predictor(photo_tflite["path"])
    assert (predictor.kind, predictor.image_size, predictor.class_names) == ("photos", IMAGE_SIZE, class_names)
    from_run = Predictor(run)
    picture = Image.fromarray(np.random.default_rng(1).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    np.testing.assert_allclose(predictor.predict_images([picture]), from_run.predict_images([picture]), atol=1e-4)


def test_photo_web_export_classifies_a_chosen_file_as_nophd_predict_does(photo_run, tmp_path):
    """The web app's file picker, in headless Chromium with the network cut, against nophd's Predictor."""
    import os

    from PIL import Image
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from nophd.export import browser
    from nophd.inference.predictor import Predictor

    run, _, class_names = photo_run
    result = export.export_run(run, "web", latency_runs=5)
    assert result["input"]["shape"] == [1, IMAGE_SIZE, IMAGE_SIZE, 3] and result["exported"]["format"] == "web"
    reason = browser.missing_browser()
    if reason:
        if os.environ.get("NOPHD_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required here, but {reason}")
        pytest.skip(reason)
    # A smooth picture of another size and shape than the model's, so the resize matters.
    rows, columns = np.mgrid[0:50, 0:70]
    pixels = np.stack([rows * 5, columns * 3, 255 - rows * 2 - columns], axis=-1).clip(0, 255).astype(np.uint8)
    pixels[10:30, 20:45] = (250, 30, 40)
    file = tmp_path / "picture.png"
    Image.fromarray(pixels).save(file)
    expected = Predictor(run).predict_images([Image.open(file)])[0]
    prepared = tasks.get("photos").prepare(Image.open(file), IMAGE_SIZE)

    with browser.OfflineFolder(result["path"]) as page:
        assert page.wait_ready()["classNames"] == class_names
        page.driver.find_element(By.ID, "photo-file").send_keys(str(file))
        top = WebDriverWait(page.driver, 30, poll_frequency=0.1).until(
            lambda driver: driver.find_elements(By.CSS_SELECTOR, "#prediction-top li"), message="no prediction")
        shown = {item.get_attribute("data-label"): float(item.get_attribute("data-probability")) for item in top}
        seen = np.asarray(page.driver.execute_script("return window.nophdLastInput;"), dtype=np.float32)
        assert not page.outside_requests(), page.outside_requests()
    # The page's resize is nophd's (TensorFlow's antialiased bilinear), to rounding.
    assert np.abs(seen.reshape(prepared.shape) - prepared).max() <= 2
    assert next(iter(shown)) == class_names[int(expected.argmax())]
    for name, probability in shown.items():
        assert probability == pytest.approx(float(expected[class_names.index(name)]), abs=0.02)
