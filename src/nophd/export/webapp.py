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
