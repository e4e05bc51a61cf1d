"""A folder of runs for the server tests, and a live server over it.

The folder holds one real digit run (trained through the CLI on tiny
generated digits, so it has every artifact), a ladder folder with a rung and
ladder.json, a photo run with a small untrained model, a run that is still
"running" (this test process is its pid), and broken and half-written folders.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nophd import atomic, cli, runs

PHOTO_CLASSES = ["daisy", "rose", "tulip"]
PHOTO_SIZE = 32


def write_running_run(folder: Path, epochs_done: int, epochs_total: int = 6) -> None:
    """A run that is still training: run.json "running" with this process's pid, epochs_done rows."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_json(folder / runs.CONFIG, {"model": "dense-lrdecay", "dataset": "mnist", "epochs": epochs_total,
                                             "learning_rate": 0.01, "lr_decay": 0.6, "optimizer": "adam", "batch_size": 128})
    write_epochs(folder, epochs_done, epochs_total)


def write_epochs(folder: Path, epochs_done: int, epochs_total: int = 6) -> None:
    """history.csv and run.json as nophd train writes them after `epochs_done` epochs."""
    rows = [{"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 1 - 0.5 / epoch, "val_loss": 1.1 / epoch,
             "val_accuracy": 1 - 0.55 / epoch, "learning_rate": 0.01 * 0.6 ** (epoch - 1), "seconds": 2.0,
             "elapsed": 2.0 * epoch} for epoch in range(1, epochs_done + 1)]
    runs.write_history(folder, rows)
    runs.write_state(folder, status="running", model="dense-lrdecay", dataset="mnist", pid=os.getpid(),
                     epochs_total=epochs_total, epochs_done=epochs_done, wall_seconds=2.0 * epochs_done,
                     started_at=runs.now())


@pytest.fixture(scope="session")
def served_runs(tmp_path_factory, tiny_mnist) -> Path:
    root = tmp_path_factory.mktemp("served") / "runs"
    digits = root / "digits"
    # dense-lrdecay: a decaying learning-rate schedule to draw, and a few seconds to train.
    code = cli.main(["train", "mnist", "--model", "dense-lrdecay", "--epochs", "4", "--learning-rate", "0.003",
                     "--data-dir", str(tiny_mnist), "--out", str(digits), "--quiet"])
    assert code == 0

    ladder = root / "ladder"
    shutil.copytree(digits, ladder / "dense-lrdecay")
    atomic.write_json(ladder / "ladder.json", [{
        "model": "dense-lrdecay", "description": "Dense 200-60 relu, Adam, lr decay", "parameters": 169670,
        "epochs": 4, "wall_seconds": 3.5, "test_accuracy": 0.9, "codelab_accuracy": 0.98, "codelab_text": "~98%",
        "run": "dense-lrdecay"}])

    write_photo_run(root / "photos")
    write_running_run(root / "running", epochs_done=2)

    broken = root / "broken"
    broken.mkdir()
    (broken / runs.STATE).write_text("{not json", encoding="utf-8")
    (broken / runs.HISTORY).write_text("epoch,loss\n1,0.5\n2,oops\n", encoding="utf-8")
    (broken / runs.CONFIG).write_text("[1, 2, 3]", encoding="utf-8")
    garbage = root / "garbage"
    garbage.mkdir()
    (garbage / runs.HISTORY).write_bytes(bytes(range(256)) * 4)
    (garbage / runs.STATE).write_text(json.dumps({"status": "running", "pid": "not-a-pid"}), encoding="utf-8")
    half = root / "half"
    half.mkdir()
    (half / runs.CONFIG).write_text(json.dumps({"model": "conv", "epochs": 3}), encoding="utf-8")
    (root / "notes").mkdir()  # Neither a run nor a ladder: not listed.
    (root / "notes" / "todo.txt").write_text("nothing", encoding="utf-8")
    (root / ".hidden").mkdir()
    (root / ".hidden" / runs.STATE).write_text("{}", encoding="utf-8")
    return root


def write_photo_run(folder: Path) -> None:
    """A finished photo run with a small untrained model taking (32, 32, 3) pixels 0..255."""
    import keras

    folder.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((PHOTO_SIZE, PHOTO_SIZE, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(PHOTO_CLASSES), activation="softmax")(features))
    model.save(folder / runs.MODEL)
    # Its validation mistakes, written as a finished photo run writes them.
    from nophd.reports import artifacts
    from nophd import scoring

    images = np.random.default_rng(0).integers(0, 256, (12, PHOTO_SIZE, PHOTO_SIZE, 3), dtype=np.uint8)
    labels = np.arange(12) % len(PHOTO_CLASSES)
    evaluation = scoring.score(model.predict(images.astype(np.float32), verbose=0), labels)
    artifacts.write_mistakes(folder, evaluation, images, PHOTO_CLASSES, "validation photos", "generated")
    atomic.write_json(folder / runs.CONFIG, {"task": "photos", "model": "mobilenet-tiny", "dataset": "flowers",
                                             "class_names": PHOTO_CLASSES, "image_size": PHOTO_SIZE, "epochs": 1})
    runs.write_history(folder, [{"epoch": 1, "loss": 1.0, "accuracy": 0.4, "val_loss": 1.1, "val_accuracy": 0.35,
                                 "learning_rate": 0.001, "seconds": 1.0, "elapsed": 1.0}])
    runs.write_state(folder, status="finished", model="mobilenet-tiny", dataset="flowers", pid=0,
                     epochs_total=1, epochs_done=1, wall_seconds=1.0, started_at=runs.now())


class LiveServer:
    """nophd's app served by uvicorn on a free localhost port, in a thread."""

    def __init__(self, runs_dir: Path, data_dir: Path | None):
        import uvicorn

        from nophd.serve import app as app_module, server

        self.listener = server.open_listener("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        application = app_module.create_app(runs_dir, data_dir=data_dir, allowed_hosts=["127.0.0.1", "localhost"])
        self.server = uvicorn.Server(uvicorn.Config(application, log_level="warning", access_log=False, lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.listener]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.listener.close()


@pytest.fixture(scope="session")
def live_server(served_runs, tiny_mnist):
    server = LiveServer(served_runs, tiny_mnist)
    yield server
    server.stop()
