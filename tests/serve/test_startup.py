"""`nophd serve` answers its first predictions: TensorFlow is imported before requests are accepted."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .test_api import drawn_one


def start_server(runs_dir, *extra: str) -> tuple[subprocess.Popen, str]:
    """A real `nophd serve` on a free port; returns the process and its base URL (once it printed its start-up lines)."""
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "nophd", "serve", str(runs_dir), "--port", "0", *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment)
    lines = []
    deadline = time.monotonic() + 120
    while True:
        assert time.monotonic() < deadline, lines
        line = process.stdout.readline()
        assert line, (lines, process.stderr.read())
        lines.append(line)
        if "Ctrl-C stops it" in line:  # Its last start-up line.
            process.lines = lines
            url = next(line for line in lines if "dashboard" in line).split()[-1]
            return process, url.replace("localhost", "127.0.0.1").rstrip("/")


def stop_server(process: subprocess.Popen) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    return out, err


def test_predictions_sent_as_soon_as_the_api_answers_succeed(served_runs):
    process, url = start_server(served_runs)
    try:
        deadline = time.monotonic() + 120
        while True:  # As the dashboard does: the first stroke comes as soon as the page has loaded.
            try:
                with urllib.request.urlopen(url + "/api/runs", timeout=60) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.02)

        def predict(_):
            request = urllib.request.Request(url + "/api/runs/digits/predict", data=drawn_one(),
                                             headers={"Content-Type": "image/png"}, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            first = list(pool.map(predict, range(4)))
        later = [predict(index) for index in range(3)]
    finally:
        out, err = stop_server(process)
    for status, body in first + later:
        assert status == 200, (body, err)
        assert body["top"][0]["label"] == "1"
    assert "loading TensorFlow" in out + "".join(process.lines)
    assert "Traceback" not in err and "internal error" not in err
