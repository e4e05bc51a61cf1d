"""progress.json: where the epoch in progress is, written while a run trains."""

from __future__ import annotations

import json

import keras
import numpy as np

from nophd import runs
from nophd.training import callbacks


def _fit(folder, interval):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    seen = []

    class Watch(keras.callbacks.Callback):  # What a dashboard polling the file would read after each step.
        def on_train_batch_end(self, batch, logs=None):
            seen.append(json.loads((folder / runs.PROGRESS).read_text()))

    images, labels = np.random.default_rng(0).random((40, 4)), np.arange(40) % 2
    model.fit(images, labels, batch_size=8, epochs=2, verbose=0,
              callbacks=[callbacks.ProgressFile(folder, epochs=2, steps_per_epoch=5, interval=interval), Watch()])
    return seen


def test_progress_file_says_the_step_eta_and_batch_metrics(tmp_path):
    seen = _fit(tmp_path, interval=0)
    assert [(record["epoch"], record["step"]) for record in seen] == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5),
                                                                      (2, 1), (2, 2), (2, 3), (2, 4), (2, 5)]
    last = seen[-1]
    assert last["epochs"] == 2 and last["steps_per_epoch"] == 5
    assert 0 <= last["loss"] and 0 <= last["accuracy"] <= 1
    assert last["eta_seconds"] == 0 and last["run_eta_seconds"] == 0
    assert seen[0]["run_eta_seconds"] >= seen[0]["eta_seconds"] >= 0
    assert not list(tmp_path.glob(".progress*"))  # Written atomically: no temporary file left.


def test_progress_file_is_written_at_most_once_an_interval(tmp_path):
    seen = _fit(tmp_path, interval=3600)
    # Only the start of each epoch (step 0), never a step in between.
    assert {(record["epoch"], record["step"]) for record in seen} == {(1, 0), (2, 0)}


def test_a_training_run_writes_progress_while_it_trains_and_removes_it_at_the_end(tiny_mnist, tmp_path, monkeypatch):
    from nophd import atomic, cli

    written = []
    write_json = atomic.write_json

    def recording(path, value):
        if str(path).endswith(runs.PROGRESS):
            written.append(value)
        write_json(path, value)

    monkeypatch.setattr(atomic, "write_json", recording)
    folder = tmp_path / "run"
    assert cli.main(["train", "mnist", "--model", "dense", "--epochs", "2", "--batch-size", "100",
                     "--data-dir", str(tiny_mnist), "--out", str(folder), "--quiet"]) == 0
    # At least the start of each epoch, with the run's real number of steps (1,200 examples, batches of 100).
    assert {record["epoch"] for record in written} == {1, 2}
    assert {record["steps_per_epoch"] for record in written} == {12} and {record["epochs"] for record in written} == {2}
    assert not (folder / runs.PROGRESS).exists()  # A finished run has no epoch in progress.
    assert "Param #" in (folder / runs.SUMMARY).read_text()  # And its summary keeps every column.
    assert len(json.loads((folder / runs.METRICS).read_text())["confusion"]) == 10
