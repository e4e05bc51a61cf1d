"""The dashboard in a real headless Chromium (Debian's chromium and chromium-driver, via Selenium).

Skipped, with the reason, only where Chromium or chromedriver is not
installed; with NOPHD_REQUIRE_BROWSER=1 (as .ci/run sets it) a missing
browser fails instead. NOPHD_SCREENSHOT_DIR=docs/images also copies the run
page's screenshot there (that is how the README's picture is made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from nophd import atomic, runs

from .conftest import PHOTO_CLASSES, write_epochs, write_running_run

CHROMIUM = Path("/usr/bin/chromium")
WAIT_SECONDS = 30


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (apt-get install chromium chromium-driver)"
    if not (shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists()):
        return "chromedriver is not installed (apt-get install chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _missing_browser()
    if reason:
        if os.environ.get("NOPHD_REQUIRE_BROWSER"):
            pytest.fail(f"browser tests required here, but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,1000", "--hide-scrollbars", "--force-device-scale-factor=1",
                     # A camera that needs no permission prompt and shows Chromium's moving test pattern.
                     "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options,
                              service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    yield driver
    driver.quit()


def wait_for(driver, condition, what: str, seconds: float = WAIT_SECONDS):
    """Polls `condition` until it is truthy. An element the page redrew between
    finding and reading it (stale) counts as "not yet": the run page rebuilds
    its header and charts when a poll brings news."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda _: condition(), message=f"waiting for {what}")


def find(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def chart_points(driver, name: str) -> int:
    charts = find(driver, f"#chart-{name} .chart")
    return int(charts[0].get_attribute("data-points")) if charts else -1


def chart_series(driver, name: str) -> list[str]:
    """The names of the lines a chart draws (charts.js keeps them in data-series)."""
    charts = find(driver, f"#chart-{name} .chart")
    return json.loads(charts[0].get_attribute("data-series") or "[]") if charts else []


def assert_no_console_errors(driver) -> None:
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors


def prediction(driver) -> list[tuple[str, str]] | None:
    """[(label, shown text), ...] of the ranking, once no drawing is on its way (else None)."""
    return driver.execute_script(
        "const answer = document.getElementById('prediction');"
        "if (!answer || answer.dataset.state !== 'idle') return null;"
        "const items = [...answer.querySelectorAll('#prediction-top li')];"
        "return items.length ? items.map((item) => [item.dataset.label, item.innerText.trim()]) : null;")


def draw_one(driver) -> None:
    """A "1": one vertical stroke down the middle of the canvas."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = find(driver, "#draw-canvas")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    actions = ActionChains(driver).move_to_element_with_offset(canvas, 4, -95).click_and_hold()
    for _ in range(8):
        actions.move_by_offset(-1, 24)
    actions.release().perform()


def test_runs_page_run_page_curves_and_drawing_a_one(browser, live_server, tmp_path):
    browser.get(live_server.url + "/")
    wait_for(browser, lambda: find(browser, 'tr[data-run-id="digits"]'), "the runs table")
    rows = {row.get_attribute("data-run-id"): row for row in find(browser, "#runs-table tbody tr")}
    assert {"digits", "ladder/dense-lrdecay", "photos", "running", "broken", "garbage", "half"} <= set(rows)
    assert rows["digits"].get_attribute("data-status") == "finished"
    assert rows["running"].get_attribute("data-status") == "running"
    assert rows["broken"].get_attribute("data-status") == "corrupt"
    assert "has-problems" in rows["broken"].get_attribute("class")
    assert find(browser, 'section.ladder[data-ladder="ladder"]')
    assert "tensorboard --logdir" in find(browser, "#tensorboard")[0].text

    find(browser, 'tr[data-run-id="digits"] a')[0].click()
    wait_for(browser, lambda: chart_points(browser, "accuracy") == 4, "the accuracy curve's four epochs")
    assert chart_series(browser, "accuracy") == ["training", "validation"]
    assert chart_series(browser, "loss") == ["training", "validation"]
    assert find(browser, "#chart-lr .chart")[0].get_attribute("data-dashed") == "1"  # The planned schedule.
    assert find(browser, "#chart-accuracy .uplot canvas")  # Drawn by the vendored uPlot.
    assert "dense-lrdecay" in find(browser, "h1")[0].text

    draw_one(browser)
    top = wait_for(browser, lambda: prediction(browser), "the prediction of the whole drawing")
    assert len(top) == 3
    assert top[0][0] == "1", top
    assert top[0][1].endswith("%")
    # What the model saw (the drawing centred as MNIST) is drawn beside it.
    lit = browser.execute_script(
        "const data = document.getElementById('model-sees').getContext('2d').getImageData(0, 0, 28, 28).data;"
        "let lit = 0; for (let i = 0; i < data.length; i += 4) if (data[i] > 128) lit++; return lit;")
    assert 20 < lit < 200

    wait_for(browser, lambda: find(browser, "#mistakes .mistake") or "No mistakes" in find(browser, "#misclassified")[0].text,
             "the misclassified examples")
    assert "test digits wrong" in find(browser, "#misclassified")[0].text
    assert find(browser, "#picture-predictions")
    # The confusion matrix as a table (metrics.json keeps it), with the per-class accuracy beside it.
    assert len(find(browser, "#confusion-matrix tbody tr")) == 10
    assert len(find(browser, "#per-class-table tbody tr")) == 10

    browser.execute_script("window.scrollTo(0, 0)")
    browser.set_window_size(1280, 1320)
    time.sleep(0.5)  # The charts redraw at the new width.
    screenshot = tmp_path / "serve-run.png"
    assert browser.save_screenshot(str(screenshot))
    with Image.open(screenshot) as image:
        assert image.size[0] >= 1200 and image.size[1] >= 900
    if os.environ.get("NOPHD_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(os.environ["NOPHD_SCREENSHOT_DIR"]) / "serve-run.png")
    browser.set_window_size(1280, 1000)
    assert_no_console_errors(browser)


def test_the_runs_list_shows_the_step_progress_of_a_training_run(browser, live_server, served_runs):
    folder = served_runs / "stepping"
    write_running_run(folder, epochs_done=2)
    try:
        # Inside epoch 3 of 6: the bar covers 2 + 40/160 epochs and the ETA is shown.
        atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "epochs": 6, "step": 40, "steps_per_epoch": 160,
                                                   "elapsed": 5.0, "eta_seconds": 75.0, "run_eta_seconds": 400.0,
                                                   "updated_at": time.time()})
        browser.get(live_server.url + "/")
        row = wait_for(browser, lambda: next((row for row in find(browser, "#runs-table tbody tr")
                                             if row.get_attribute("data-run-id") == "stepping"), None), "the running run's row")
        bar = row.find_elements("css selector", ".progress")[0]
        assert float(bar.get_attribute("aria-valuenow")) == 2.25
        assert "step 40/160" in bar.get_attribute("title") and "run ETA 6:40" in bar.get_attribute("title")
        assert "ETA 6:40" in row.text
    finally:
        shutil.rmtree(folder)
    assert_no_console_errors(browser)


def test_live_curves_grow_while_a_run_trains(browser, live_server, served_runs):
    folder = served_runs / "live"
    write_running_run(folder, epochs_done=2)
    try:
        browser.get(live_server.url + "/runs/live")
        wait_for(browser, lambda: chart_points(browser, "loss") == 2, "two epochs on the loss curve")
        assert "epoch 2/6" in find(browser, "#live")[0].text and "live" in find(browser, "#live")[0].get_attribute("class")
        browser.execute_script("window.nophdNotReloaded = true")

        # Inside epoch 3: the step, the ETA and a bar, as training's progress.json says (about once a second).
        atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "epochs": 6, "step": 40, "steps_per_epoch": 160,
                                                   "elapsed": 5.0, "eta_seconds": 75.0, "run_eta_seconds": 400.0,
                                                   "loss": 0.3, "accuracy": 0.91, "updated_at": time.time()})
        text = wait_for(browser, lambda: find(browser, "#step-text") and find(browser, "#step-text")[0].text, "the step progress")
        assert "step 40/160" in text and "epoch ETA 1:15" in text and "run ETA 6:40" in text, text
        assert find(browser, "#epoch-progress .step-bar")[0].get_attribute("aria-valuenow") == "40"
        atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "epochs": 6, "step": 120, "steps_per_epoch": 160})
        wait_for(browser, lambda: "step 120/160" in find(browser, "#step-text")[0].text, "the next step", seconds=15)

        write_epochs(folder, 3)  # What nophd train writes after its third epoch.
        wait_for(browser, lambda: chart_points(browser, "loss") == 3, "the third epoch to appear", seconds=15)
        wait_for(browser, lambda: not find(browser, "#step-text"), "the finished epoch's progress gone")
        assert "epoch 3/6" in find(browser, "#live")[0].text
        assert chart_points(browser, "accuracy") == 3 and chart_points(browser, "lr") == 6  # 3 done + 6 planned.
        assert browser.execute_script("return window.nophdNotReloaded") is True  # Updated in place, no reload.

        runs.write_state(folder, status="finished")
        wait_for(browser, lambda: "finished" in find(browser, "#run-header .status")[0].text, "the finished status", seconds=15)
    finally:
        shutil.rmtree(folder)
    assert_no_console_errors(browser)


def test_sorting_and_comparing_runs(browser, live_server):
    browser.get(live_server.url + "/")
    wait_for(browser, lambda: find(browser, 'tr[data-run-id="digits"]'), "the runs table")
    heading = next(cell for cell in find(browser, "#runs-table th") if cell.text == "run")
    heading.click()
    ids = [row.get_attribute("data-run-id") for row in find(browser, "#runs-table tbody tr")]
    assert ids == sorted(ids)
    next(cell for cell in find(browser, "#runs-table th") if cell.text.startswith("run")).click()
    ids = [row.get_attribute("data-run-id") for row in find(browser, "#runs-table tbody tr")]
    assert ids == sorted(ids, reverse=True)

    for run_id in ("digits", "running"):
        find(browser, f'tr[data-run-id="{run_id}"] input[type=checkbox]')[0].click()
    find(browser, "#compare-button")[0].click()
    wait_for(browser, lambda: len(chart_series(browser, "val_accuracy")) == 2, "two runs' curves overlaid")
    assert set(chart_series(browser, "val_accuracy")) == {"digits", "running"}
    assert len(find(browser, "#compare-table tbody tr")) == 2
    # Their configurations side by side: "digits" trained 4 epochs at 0.003, "running" plans 6 at 0.01.
    wait_for(browser, lambda: find(browser, '#config-table tr[data-field="epochs"]'), "the configurations")
    fields = {row.get_attribute("data-field"): row for row in find(browser, "#config-table tbody tr")}
    assert "differs" in fields["epochs"].get_attribute("class")
    assert "differs" in fields["learning_rate"].get_attribute("class")
    assert "differs" not in fields["model"].get_attribute("class")  # Both dense-lrdecay.
    assert [cell.text for cell in fields["epochs"].find_elements("css selector", "td")] == ["4", "6"]
    find(browser, "#only-differences")[0].click()
    wait_for(browser, lambda: all("differs" in row.get_attribute("class") for row in find(browser, "#config-table tbody tr")),
             "only the fields that differ")
    assert not find(browser, '#config-table tr[data-field="model"]')
    assert_no_console_errors(browser)


def test_uploading_a_photo_to_a_photo_model(browser, live_server, tmp_path):
    photo = tmp_path / "flower.jpg"
    Image.new("RGB", (200, 150), (220, 40, 60)).save(photo)
    browser.get(live_server.url + "/runs/photos")
    wait_for(browser, lambda: find(browser, "#photo-input"), "the upload field")
    find(browser, "#photo-input")[0].send_keys(str(photo))
    top = wait_for(browser, lambda: prediction(browser), "the photo's prediction")
    assert sorted(label for label, _ in top) == sorted(PHOTO_CLASSES)
    # Class names are shown whole (they were cut to one letter by a column sized for digits).
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#prediction-top .label')].map((label) =>"
        " [label.textContent, label.scrollWidth <= label.clientWidth + 1, label.getBoundingClientRect().width])")
    assert sorted(text for text, _, _ in shown) == sorted(PHOTO_CLASSES)
    assert all(whole for _, whole, _ in shown), shown
    # Its wrong validation photos, as thumbnails with their probabilities.
    mistakes = wait_for(browser, lambda: find(browser, "#mistakes .mistake.photo img"), "the misclassified photos")
    assert all(image.get_attribute("naturalWidth") not in (None, "0") for image in mistakes)
    assert "validation photos wrong" in find(browser, "#misclassified")[0].text
    assert_no_console_errors(browser)


def test_charts_hover_zoom_and_log_scale(browser, live_server):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(live_server.url + "/runs/digits")
    wait_for(browser, lambda: chart_points(browser, "loss") == 4, "the loss curve's four epochs")
    over = find(browser, "#chart-loss .u-over")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", over)
    legend = lambda: [cell.text for cell in find(browser, "#chart-loss .u-legend .u-value")]  # noqa: E731

    # Hover: the legend shows the epoch and both losses under the pointer.
    ActionChains(browser).move_to_element_with_offset(over, over.size["width"] // 2 - 2, 0).perform()
    values = wait_for(browser, lambda: (lambda shown: shown if shown and shown[0] in {"1", "2", "3", "4"} else None)(legend()),
                      "hover values in the legend")
    assert all(value.replace(".", "").isdigit() for value in values[1:]), values

    # Zoom: drag over the left half; double-click: every epoch again.
    scale = lambda: browser.execute_script(  # noqa: E731
        "const u = document.querySelector('#chart-loss .chart'); const s = window.nophdChartOf(u).scales.x; return [s.min, s.max];")
    full = scale()
    ActionChains(browser).move_to_element_with_offset(over, -over.size["width"] // 2 + 5, 0).click_and_hold() \
        .move_by_offset(over.size["width"] // 2, 0).release().perform()
    zoomed = wait_for(browser, lambda: (lambda now: now if now[1] - now[0] < full[1] - full[0] - 0.5 else None)(scale()), "the zoom")
    assert zoomed[0] >= full[0]
    ActionChains(browser).double_click(over).perform()
    wait_for(browser, lambda: scale() == full, "the zoom reset by a double-click")

    # Log scale: the loss chart's y axis becomes logarithmic, and back.
    box = find(browser, "#chart-loss .log-toggle input")[0]
    box.click()
    wait_for(browser, lambda: browser.execute_script(
        "return window.nophdChartOf(document.querySelector('#chart-loss .chart')).scales.y.distr") == 3, "a log y axis")
    assert chart_points(browser, "loss") == 4
    assert find(browser, "#chart-accuracy .log-toggle")[0].is_displayed() is False  # Accuracy stays linear.
    assert_no_console_errors(browser)


def test_clicking_a_confusion_cell_shows_its_examples(browser, live_server):
    browser.get(live_server.url + "/runs/digits")
    wait_for(browser, lambda: find(browser, "#mistakes .mistake"), "the misclassified digits")
    # The cell with the most mistakes (off the diagonal).
    cell = max((cell for cell in find(browser, "#confusion-matrix td.cell")
                if cell.get_attribute("data-label") != cell.get_attribute("data-predicted")), key=lambda cell: int(cell.text))
    label, predicted, count = cell.get_attribute("data-label"), cell.get_attribute("data-predicted"), int(cell.text)
    assert count > 0
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    wait_for(browser, lambda: find(browser, "#mistake-filter"), "the filtered mistakes")
    shown = [(card.get_attribute("data-label"), card.get_attribute("data-predicted")) for card in find(browser, "#mistakes .mistake")]
    assert shown and set(shown) == {(label, predicted)}
    assert len(shown) <= count
    assert "chosen" in cell.get_attribute("class")
    find(browser, "#show-all-mistakes")[0].click()
    wait_for(browser, lambda: not find(browser, "#mistake-filter"), "every mistake again")
    assert len({card.get_attribute("data-label") for card in find(browser, "#mistakes .mistake")}) > 1
    # The per-class table agrees with the matrix's diagonal.
    rows = {row.get_attribute("data-label"): row for row in find(browser, "#per-class-table tbody tr")}
    assert set(rows) == {str(digit) for digit in range(10)}
    assert all(row.text.rstrip().endswith("%") for row in rows.values())
    # Precision, recall and F1 beside each class, the macro F1 under the table.
    assert find(browser, "#per-class-table thead")[0].text.split()[-4:] == ["precision", "recall", "(accuracy)", "F1"]
    assert all(len(re.findall(r"\d+\.\d\d%", row.text)) == 3 for row in rows.values())
    assert "Macro F1" in find(browser, "#per-class")[0].text
    assert_no_console_errors(browser)


def test_warnings_on_the_run_page(browser, live_server, served_runs):
    folder = served_runs / "overfit"
    write_running_run(folder, epochs_done=0)
    runs.write_history(folder, [{"epoch": 1, "loss": 0.1, "accuracy": 0.99, "val_loss": 0.6, "val_accuracy": 0.80}])
    atomic.write_json(folder / runs.METRICS, {"train_examples": 500, "per_class_accuracy": [1.0, 0.0],
                                              "class_names": ["0", "1"], "confusion": [[50, 0], [50, 0]]})
    runs.write_state(folder, status="finished", epochs_done=1)
    try:
        browser.get(live_server.url + "/runs/overfit")
        wait_for(browser, lambda: find(browser, "#warnings .warning"), "the warnings")
        kinds = [warning.get_attribute("data-kind") for warning in find(browser, "#warnings .warning")]
        assert kinds == ["one-class", "overfitting", "little-data"]
        assert "19.0 points" in find(browser, '#warnings .warning[data-kind="overfitting"]')[0].text
    finally:
        shutil.rmtree(folder)
    assert_no_console_errors(browser)


def test_download_and_export_from_the_run_page(browser, live_server, served_runs):
    folder = served_runs / "exportable"
    shutil.copytree(served_runs / "digits", folder)
    fetch = ("const done = arguments[arguments.length - 1];"
             "fetch(arguments[0]).then(async (r) => done([r.status, r.headers.get('content-disposition'), (await r.blob()).size]))")
    try:
        browser.get(live_server.url + "/runs/exportable")
        link = wait_for(browser, lambda: find(browser, "#download-model"), "the model's download button")[0]
        status, disposition, size = browser.execute_async_script(fetch, link.get_attribute("href"))
        assert status == 200 and disposition.startswith("attachment") and size == (folder / runs.MODEL).stat().st_size
        assert not find(browser, '#exports-table tr[data-format="tflite"] a.download')  # Not exported yet.

        button = find(browser, '#exports-table button[data-format="tflite"]')[0]
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
        button.click()
        download = wait_for(browser, lambda: find(browser, '#exports-table tr[data-format="tflite"] a.download'),
                            "the finished export's download link", seconds=240)[0]
        assert find(browser, '#export-state [data-state="finished"]')
        assert find(browser, '#exports-table tr[data-format="tflite"] td.number')[0].text.endswith("%")
        status, disposition, size = browser.execute_async_script(fetch, download.get_attribute("href"))
        assert status == 200 and "tflite" in disposition
        assert size == (folder / "export" / "tflite" / "model.tflite").stat().st_size
    finally:
        shutil.rmtree(folder)
    assert_no_console_errors(browser)


def test_camera_and_paste_on_a_photo_run(browser, live_server):
    browser.get(live_server.url + "/runs/photos")
    start = wait_for(browser, lambda: find(browser, "#camera-start"), "the camera button")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", start)
    start.click()
    wait_for(browser, lambda: browser.execute_script(
        "const video = document.getElementById('camera-video'); return video.readyState >= 2 && video.videoWidth > 0"),
        "the fake camera's picture")
    find(browser, "#camera-capture")[0].click()
    top = wait_for(browser, lambda: prediction(browser), "the captured frame's prediction")
    assert sorted(label for label, _ in top) == sorted(PHOTO_CLASSES)
    assert find(browser, '#photo-preview img[alt="camera.jpg"]')
    find(browser, "#camera-stop")[0].click()
    assert not find(browser, "#camera-video")[0].is_displayed()

    # Ctrl-V of an image: a paste event carrying a PNG, as the clipboard gives one.
    browser.execute_script(
        "const canvas = document.createElement('canvas'); canvas.width = canvas.height = 40;"
        "const context = canvas.getContext('2d'); context.fillStyle = '#3a5'; context.fillRect(0, 0, 40, 40);"
        "document.getElementById('prediction').dataset.state = 'busy';"
        "canvas.toBlob((blob) => { const data = new DataTransfer();"
        "  data.items.add(new File([blob], 'clip.png', {type: 'image/png'}));"
        "  document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data})); }, 'image/png');")
    wait_for(browser, lambda: find(browser, '#photo-preview img[alt="pasted image"]'), "the pasted image")
    top = wait_for(browser, lambda: prediction(browser), "the pasted image's prediction")
    assert sorted(label for label, _ in top) == sorted(PHOTO_CLASSES)
    assert_no_console_errors(browser)


def test_the_run_page_shows_the_model_card(browser, live_server, served_runs):
    browser.get(live_server.url + "/runs/digits")
    wait_for(browser, lambda: find(browser, "#model-card .model-card h1"), "the model card")
    assert find(browser, "#model-card h1")[0].text == "Model card: dense-lrdecay on mnist"
    headings = [heading.text for heading in find(browser, "#model-card h2")]
    assert headings[:3] == ["Data and split", "Recipe", "Metrics"] and "How it was produced" in headings
    assert len(find(browser, "#model-card table")) >= 4 and "nophd train mnist" in find(browser, "#model-card pre")[0].text
    assert_no_console_errors(browser)

    # A hand-written card with HTML in it: shown as text, nothing of it runs or loads.
    folder = served_runs / "carded"
    shutil.copytree(served_runs / "digits", folder)
    (folder / runs.MODEL_CARD).write_text(
        "# Mine <script>window.injected = 1</script>\n\n| a | b |\n|---|---|\n| x\\|y | <img src=x onerror=\"window.injected = 2\"> |\n",
        encoding="utf-8")
    try:
        browser.get(live_server.url + "/runs/carded")
        wait_for(browser, lambda: find(browser, "#model-card .model-card h1"), "the hand-written card")
        assert find(browser, "#model-card h1")[0].text == "Mine <script>window.injected = 1</script>"
        assert "nophd leaves this MODEL_CARD.md as it is" in find(browser, "#model-card")[0].text
        assert not find(browser, "#model-card script") and not find(browser, "#model-card img")
        assert [cell.text for cell in find(browser, "#model-card td")] == ["x|y", '<img src=x onerror="window.injected = 2">']
        assert browser.execute_script("return window.injected === undefined")
    finally:
        shutil.rmtree(folder)
    assert_no_console_errors(browser)


def test_live_curves_of_your_own_model_while_its_fit_runs(browser, tmp_path):
    """A user's own Keras model, fit in a thread with nophd.RunFolder; a gate holds it between epochs."""
    import threading

    import keras
    import numpy as np

    import nophd

    from .conftest import LiveServer

    class Gate(keras.callbacks.Callback):
        """Waits for the test after each epoch's files are written (it comes after RunFolder)."""

        def __init__(self):
            super().__init__()
            self.proceed = threading.Semaphore(0)

        def on_epoch_end(self, epoch, logs=None):
            if not self.proceed.acquire(timeout=120):
                raise RuntimeError("the test never let the fit go on")

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")], name="my-dense")
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    root = tmp_path / "runs"
    gate, failures = Gate(), []

    def fit():
        try:
            with nophd.RunFolder(root / "mine", dataset="random features") as run_folder:
                model.fit(x, y, validation_split=0.25, epochs=3, batch_size=16, callbacks=[run_folder, gate], verbose=0)
        except BaseException as error:  # Reported by the test, not lost in the thread.
            failures.append(error)

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    server = LiveServer(root, None)
    try:
        wait_for(browser, lambda: len(runs.read_history(root / "mine")) == 1, "the first epoch on disk", seconds=60)
        browser.get(server.url + "/")
        row = wait_for(browser, lambda: next((row for row in find(browser, "#runs-table tbody tr")
                                             if row.get_attribute("data-run-id") == "mine"), None), "the run's row")
        assert "my-dense" in row.text and "running" in row.text
        browser.get(server.url + "/runs/mine")
        wait_for(browser, lambda: chart_points(browser, "loss") == 1, "the first epoch on the curves")
        assert "epoch 1/3" in find(browser, "#live")[0].text and "live" in find(browser, "#live")[0].get_attribute("class")
        assert "not-tryable" in [element.get_attribute("id") for element in find(browser, "#tryit p")]
        browser.execute_script("window.nophdNotReloaded = true")

        gate.proceed.release()  # Epoch 2.
        wait_for(browser, lambda: chart_points(browser, "loss") == 2, "the second epoch on the curves", seconds=30)
        assert chart_points(browser, "accuracy") == 2 and "epoch 2/3" in find(browser, "#live")[0].text
        assert chart_points(browser, "lr") == 2  # The rates used; nothing planned.

        gate.proceed.release(2)  # Epoch 3 and past its end: model.keras, metrics.json, finished.
        wait_for(browser, lambda: "finished" in find(browser, "#run-header .status")[0].text, "the finished status",
                 seconds=60)
        wait_for(browser, lambda: chart_points(browser, "loss") == 3, "the third epoch on the curves")
        assert browser.execute_script("return window.nophdNotReloaded") is True  # Updated in place, no reload.

        # Compared with another run of the same kind: curves overlaid, configurations side by side.
        thread.join(timeout=120)
        shutil.copytree(root / "mine", root / "mine-copy")
        browser.get(server.url + "/")
        wait_for(browser, lambda: find(browser, 'tr[data-run-id="mine-copy"]'), "both runs listed")
        for run_id in ("mine", "mine-copy"):
            find(browser, f'tr[data-run-id="{run_id}"] input[type=checkbox]')[0].click()
        find(browser, "#compare-button")[0].click()
        wait_for(browser, lambda: set(chart_series(browser, "val_accuracy")) == {"mine", "mine-copy"}, "two runs overlaid")
        wait_for(browser, lambda: find(browser, '#config-table tr[data-field="optimizer"]'), "the configurations")
    finally:
        gate.proceed.release(3)  # Whatever happened, the fit must not wait for the test any more.
        thread.join(timeout=120)
        server.stop()
    assert not failures
    assert_no_console_errors(browser)
