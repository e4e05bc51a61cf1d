"""The web app export's files: a page that runs the run's TFLite model in the browser.

`nophd export RUN --format web` writes, next to a batch-1 float model.tflite
and export.json, the files of the web/ folder beside this module:

    index.html   the page: a drawing pad (digits) or a photo picker (photos), the top classes
    app.js       preprocessing as nophd does it, LiteRT.js calls, test and timing hooks
    app.css      its looks
    vendor/litertjs/   LiteRT.js 2.5.3 (Apache-2.0): its ES modules and WebAssembly runtimes

The page reads export.json for the kind, image size and class names, and
loads everything from its own folder: opened from any local web server
(`python -m http.server` in the folder) it needs no network. Browsers do
not run ES modules or fetch model files from file:// pages, so it does
need a server.

Example:
    copy_app(Path("runs/x/export/web"))
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

APP_FOLDER = Path(__file__).with_name("web")
# The files and folders of APP_FOLDER an export copies (the page's own files and the vendored runtime).
APP_NAMES = ("index.html", "app.js", "app.css", "vendor")
RUNTIME = "LiteRT.js 2.5.3 (@litertjs/core), WebAssembly CPU (XNNPACK), single-threaded"


def copy_app(folder: str | os.PathLike) -> list[str]:
    """Copies the page and its runtime into `folder` (an export's temporary folder); returns the names copied.

    Raises:
        OSError: a file could not be copied (the caller names --out), or the
            package is missing its web files (a broken install).
    """
    folder = Path(folder)
    for name in APP_NAMES:
        source = APP_FOLDER / name
        if source.is_dir():
            shutil.copytree(source, folder / name)
        else:
            shutil.copyfile(source, folder / name)
    return list(APP_NAMES)


# How many evaluation images the export feeds through the page: the first
# 2,000 (all 10,000 MNIST test digits added about 30 s to a 10 s export;
# benchmarks/export_table.py feeds them all), up to about 32 MB of pixels
# for photos (some 280 at 192 px).
BROWSER_SAMPLE = 2_000
BROWSER_SAMPLE_BYTES = 32 * 2**20
BROWSER_CHUNK_BYTES = 4 * 2**20


def measure_in_browser(folder: str | os.PathLike, images, labels, exported_probabilities) -> dict:
    """The page's own figures in headless Chromium with the network cut, or why there are none.

    Feeds the first evaluation images through window.nophdPredictMany and
    times window.nophdTime, when Chromium, chromedriver and selenium are
    installed here (nophd.export.browser); never fails the export.

    Args:
        folder: the export folder, with its export.json already written.
        images: the evaluation images, uint8 (N, *input_shape).
        labels: their classes (N,).
        exported_probabilities: model.tflite's probabilities on them in Python.

    Returns:
        {"accuracy", "examples", "top1_agreement_with_python", "max_abs_difference",
        "latency_ms", "latency", "browser", "latency_method"}, or {"not_measured": reason}.
    """
    import base64

    import numpy as np

    from nophd.export import browser, formats, measure

    reason = browser.missing_browser()
    if reason:
        return {"not_measured": reason}
    per_image = max(1, int(np.prod(images.shape[1:])))
    count = min(len(images), BROWSER_SAMPLE, max(1, BROWSER_SAMPLE_BYTES // per_image))
    chunk = max(1, BROWSER_CHUNK_BYTES // per_image)
    sample = np.ascontiguousarray(images[:count])
    try:
        with browser.OfflineFolder(folder, script_timeout=600) as page:
            page.wait_ready()
            probabilities = []
            for start in range(0, count, chunk):
                part = sample[start:start + chunk]
                probabilities += page.call("nophdPredictMany", base64.b64encode(part.tobytes()).decode(), len(part))
            timing = page.call("nophdTime", sample[0].ravel().tolist(), 30, 20)
            outside = page.outside_requests()
            version = page.driver.capabilities.get("browserVersion", "")
    except Exception as error:  # Selenium and Chromium raise many types; the export stands without these figures.
        return {"not_measured": f"headless Chromium failed ({formats.first_line(error)})"}
    if outside:
        return {"not_measured": f"the page asked for files outside its folder: {', '.join(outside[:3])}"}
    probabilities = np.asarray(probabilities, dtype=np.float32)
    reference = np.asarray(exported_probabilities[:count], dtype=np.float32)
    return {
        "accuracy": measure.accuracy(probabilities, np.asarray(labels[:count])),
        "examples": int(count),
        "top1_agreement_with_python": float((probabilities.argmax(axis=1) == reference.argmax(axis=1)).mean()),
        "max_abs_difference": float(np.abs(probabilities - reference).max()),
        "latency_ms": timing["median_ms"],
        "latency": {"median_ms": timing["median_ms"], "p10_ms": timing["p10_ms"], "p90_ms": timing["p90_ms"],
                    "rounds": timing["rounds"], "calls": timing["calls"]},
        "browser": f"headless Chromium {version}, network cut (every request outside the folder refused)",
        "latency_method": "median over 30 rounds of 20 single-image calls in the page (Tensor from the pixels, "
                          "LiteRT.js run, output read back) after 20 warm-up calls: browsers coarsen "
                          "performance.now() to 0.1 ms",
    }
