"""The dashboard's API on runs of a user's own Keras model, recorded with nophd.RunFolder."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import nophd
from nophd.serve import app as app_module, catalog

from .test_api import assert_error


def record_run(folder, epochs: int = 2, **options) -> None:
    """A 16x16 random-picture Conv model nophd does not define, 4 classes, fit with RunFolder."""
    rng = np.random.default_rng(0)
    x = rng.random((48, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 4, 48)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4, activation="softmax")],
                             name="tiny-conv")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    with nophd.RunFolder(folder, dataset="noise", **options) as run_folder:
        model.fit(x, y, validation_split=0.25, epochs=epochs, batch_size=12, callbacks=[run_folder], verbose=0)


@pytest.fixture(scope="module")
def own_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("own") / "runs"
    record_run(root / "conv", class_names=["a", "b", "c", "d"],
               evaluation_data=(np.random.default_rng(1).random((20, 16, 16, 3), dtype=np.float32), np.arange(20) % 4))
    record_run(root / "conv-again", epochs=3)
    return root


@pytest.fixture(scope="module")
def client(own_runs):
    with TestClient(app_module.create_app(own_runs)) as test_client:
        yield test_client


def test_the_runs_page_lists_them_as_custom_runs(client):
    by_id = {run["id"]: run for run in client.get("/api/runs").json()["runs"]}
    assert set(by_id) == {"conv", "conv-again"}
    conv = by_id["conv"]
    assert conv["kind"] == "custom" and conv["status"] == "finished" and conv["model"] == "tiny-conv"
    assert conv["dataset"] == "noise" and conv["epochs_done"] == conv["epochs_total"] == 2 and conv["has_model"]
    assert conv["has_tensorboard"] and 0 <= conv["best_val_accuracy"] <= 1 and conv["problems"] == []
    assert 0 <= conv["test_accuracy"] <= 1  # On the evaluation data.
    again = by_id["conv-again"]  # Scored by its last epoch's validation (history.csv keeps 6 digits).
    assert again["test_accuracy"] == pytest.approx(again["final_val_accuracy"], rel=1e-5)


def test_run_detail_history_and_files(client):
    detail = client.get("/api/runs/conv").json()
    assert detail["takes_inputs"] is False and detail["model_ok"] is True
    assert {"curves.png", "lr.png", "confusion.png", "report.html", "summary.txt"} <= set(detail["files"])
    assert detail["planned_learning_rates"] == [] and detail["config"]["optimizer"] == "sgd"
    assert [row["label"] for row in detail["per_class"]["rows"]] == ["a", "b", "c", "d"]
    history = client.get("/api/runs/conv/history").json()
    assert [row["epoch"] for row in history["rows"]] == [1, 2] and "val_top2" in history["rows"][0]
    assert client.get("/api/runs/conv/files/confusion.png").content.startswith(b"\x89PNG")
    assert b"tiny-conv on noise" in client.get("/api/runs/conv/files/report.html").content


def test_predicting_with_it_is_refused_in_one_line(client):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG")
    assert_error(client.post("/api/runs/conv/predict", content=buffer.getvalue()), 409,
                 "not supported for runs of your own models")
    assert_error(client.get("/api/runs/conv/misclassified"), 409, "not supported for runs of your own models")


def test_the_catalog_reads_a_running_recording(tmp_path):
    # Half-way: the first epoch is written, the second not yet.
    class Check(keras.callbacks.Callback):
        seen = []

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                summaries, _ = catalog.scan(tmp_path)
                Check.seen.append(summaries[0])

    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")], name="tiny")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(rng.random((16, 4)), rng.integers(0, 2, 16), epochs=2,
              callbacks=[nophd.RunFolder(tmp_path / "live"), Check()], verbose=0)
    (summary,) = Check.seen
    assert summary["status"] == "running" and summary["kind"] == "custom" and summary["epochs_done"] == 1
    assert summary["epochs_total"] == 2
