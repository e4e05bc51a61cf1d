"""nophd.RunFolder: a Keras model nophd does not define, recorded as a nophd run folder by its own fit."""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import pytest

import nophd
from nophd import cli, config, runs
from nophd.errors import RunError

CLASS_NAMES = ["red", "green", "blue"]


def random_data(count: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8 random features and one of 3 classes per example: nothing nophd knows."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 8)).astype("float32"), rng.integers(0, 3, count)


def small_model(metrics=("accuracy",)) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")], name="two-dense")
    model.compile(optimizer=keras.optimizers.RMSprop(0.01), loss="sparse_categorical_crossentropy", metrics=list(metrics))
    return model


class InterruptAfter(keras.callbacks.Callback):
    """Ctrl-C as a user's callback sees it: KeyboardInterrupt once `epochs` epochs have ended."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    """3 epochs of a two-layer Dense model with a top-2 metric, scored on evaluation data; (folder, History)."""
    folder = tmp_path_factory.mktemp("runs") / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("my own file", encoding="utf-8")  # Never touched.
    x, y = random_data()
    model = small_model(metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")])
    with nophd.RunFolder(folder, name="first try", dataset="random features", config={"hidden": 16},
                         batch_size=16, class_names=CLASS_NAMES, evaluation_data=(x[:30], y[:30])) as run_folder:
        history = model.fit(x, y, validation_split=0.25, epochs=3, batch_size=16, callbacks=[run_folder], verbose=0)
    return folder, history


def test_the_folder_holds_what_nophd_train_writes(recorded_run):
    folder, history = recorded_run
    for name in ("config.json", "run.json", "history.csv", "summary.txt", "curves.png", "lr.png", "confusion.png",
                 "report.html", "model.keras", "metrics.json"):
        assert (folder / name).is_file(), name
    assert any((folder / runs.TENSORBOARD).rglob("events.out.tfevents.*"))
    assert not (folder / runs.PROGRESS).exists()  # Only while an epoch runs.
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "my own file"
    assert not [name for name in os.listdir(folder) if name.startswith(".") and name != runs.LOCK]  # No temporary files.
    assert runs.is_locked(folder) is False


def test_history_rows_are_fits_history(recorded_run):
    folder, history = recorded_run
    rows = runs.read_history(folder)
    assert [row["epoch"] for row in rows] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "top2", "val_top2"):
        np.testing.assert_allclose([row[key] for row in rows], history.history[key], rtol=1e-5, err_msg=key)
    assert all(row["learning_rate"] == pytest.approx(0.01) and row["seconds"] > 0 for row in rows)
    assert rows[-1]["elapsed"] >= sum(row["seconds"] for row in rows) * 0.99


def test_run_json_config_json_and_metrics_json(recorded_run):
    folder, history = recorded_run
    state = runs.read_state(folder)
    assert runs.status(folder) == "finished" and state["epochs_done"] == 3 and state["wall_seconds"] > 0
    saved = runs.read_json(folder / runs.CONFIG)
    assert saved["task"] == "custom" and saved["model"] == "two-dense" and saved["optimizer"] == "rmsprop"
    assert saved["learning_rate"] == 0.01 and saved["loss"] == "sparse_categorical_crossentropy"
    assert saved["epochs"] == 3 and saved["batch_size"] == 16 and saved["user_config"] == {"hidden": 16}
    assert config.from_dict(saved).name == "first try"  # config.json reads back.
    metrics = runs.read_json(folder / runs.METRICS)
    assert metrics["status"] == "finished" and metrics["task"] == "custom" and metrics["epochs"] == 3
    assert metrics["evaluated_on"] == "evaluation_data" and metrics["test_examples"] == 30
    assert metrics["class_names"] == CLASS_NAMES and len(metrics["confusion"]) == 3
    assert np.asarray(metrics["confusion"]).sum() == 30 and 0 <= metrics["test_accuracy"] <= 1
    assert metrics["final"]["val_top2"] == pytest.approx(history.history["val_top2"][-1])
    assert metrics["parameters"] == 8 * 16 + 16 + 16 * 3 + 3


def test_the_report_shows_the_run(recorded_run):
    folder, _ = recorded_run
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "two-dense on random features" in page and "finished" in page
    assert "validation accuracy" in page and "Precision, recall and F1 per class" in page
    assert all(name in page for name in CLASS_NAMES) and "val_top2" in page
    assert 'http-equiv="refresh"' not in page  # A finished run's report stops reloading itself.


def test_an_interrupted_fit_says_so_and_leaves_complete_files(tmp_path):
    x, y = random_data()
    # A metric object logs under its own name; the curves still get "accuracy".
    model = small_model(metrics=[keras.metrics.SparseCategoricalAccuracy()])
    folder = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        with nophd.RunFolder(folder) as run_folder:
            model.fit(x, y, validation_split=0.25, epochs=4, batch_size=32, callbacks=[run_folder, InterruptAfter(2)],
                      verbose=0)
    state = runs.read_state(folder)
    assert state["status"] == "interrupted" and runs.status(folder) == "interrupted" and state["epochs_done"] == 2
    rows = runs.read_history(folder)
    assert [row["epoch"] for row in rows] == [1, 2]
    assert rows[1]["accuracy"] == rows[1]["sparse_categorical_accuracy"] and "val_accuracy" in rows[1]
    assert "interrupted" in (folder / "report.html").read_text(encoding="utf-8")
    for name in ("curves.png", "lr.png", "summary.txt", "config.json"):
        assert (folder / name).is_file(), name
    assert not (folder / runs.MODEL).exists() and not (folder / runs.METRICS).exists()
    assert not (folder / runs.PROGRESS).exists() and runs.is_locked(folder) is False


def test_without_with_close_ends_the_recording(tmp_path):
    x, y = random_data(48)
    model = small_model()
    run_folder = nophd.RunFolder(tmp_path / "bare")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, batch_size=16, callbacks=[run_folder, InterruptAfter(1)], verbose=0)
    assert runs.read_state(run_folder.directory)["status"] == "running"  # Keras told no callback.
    run_folder.close()
    assert runs.status(run_folder.directory) == "interrupted" and not run_folder.is_open
    run_folder.close()  # Twice changes nothing.


def test_a_folder_holding_another_run_is_refused(recorded_run):
    folder, _ = recorded_run
    x, y = random_data(32)
    with pytest.raises(RunError, match="already holds a run \\(finished\\); choose another folder"):
        small_model().fit(x, y, epochs=1, callbacks=[nophd.RunFolder(folder)], verbose=0)
    assert runs.status(folder) == "finished"


def test_a_new_folder_under_runs_root_is_named_after_the_model(tmp_path):
    x, y = random_data(32)
    run_folder = nophd.RunFolder(runs_root=tmp_path)
    small_model().fit(x, y, epochs=1, callbacks=[run_folder], verbose=0)
    assert run_folder.directory.parent == tmp_path and run_folder.directory.name.endswith("-two-dense")
    metrics = runs.read_json(run_folder.directory / runs.METRICS)
    assert metrics["test_accuracy"] is None and "confusion" not in metrics  # No validation, no evaluation data.


@pytest.mark.parametrize("command", [("evaluate",), ("export", "--format", "tflite"), ("predict", "picture.png")])
def test_nophd_refuses_to_feed_your_own_model_in_one_line(recorded_run, capsys, tmp_path, command):
    from PIL import Image

    folder, _ = recorded_run
    extra = [str(tmp_path / name) if name.endswith(".png") else name for name in command[1:]]
    for path in extra:
        if path.endswith(".png"):
            Image.new("RGB", (8, 8)).save(path)
    code = cli.main([command[0], str(folder), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("nophd: error: "), err
    assert "not supported for runs of your own models" in err
    assert not (folder / "evaluation.json").exists() and not (folder / "export").exists()


def test_bad_arguments_are_one_line_config_errors():
    with pytest.raises(nophd.errors.ConfigError, match="^batch_size: expected a whole number >= 1, got 0$"):
        nophd.RunFolder("runs/x", batch_size=0)
    with pytest.raises(nophd.errors.ConfigError, match="^class_names: "):
        nophd.RunFolder("runs/x", class_names="abc")
    assert json.loads(json.dumps(nophd.RunFolder("runs/x", config={"when": object}).user_config))


SCRIPT = """
import sys, numpy as np, keras, nophd
x = np.random.default_rng(0).normal(size=(32, 8)).astype("float32"); y = np.arange(32) % 3
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
class Stop(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt
model.fit(x, y, epochs=3, callbacks=[nophd.RunFolder(sys.argv[1]), Stop()], verbose=0)
"""


def test_a_script_that_dies_of_ctrl_c_leaves_its_run_interrupted(tmp_path):
    # No `with`: Keras tells no callback, so the callback's exit handler says it when Python ends.
    import subprocess
    import sys

    folder = tmp_path / "script-run"
    completed = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], capture_output=True, timeout=300)
    assert completed.returncode != 0 and b"KeyboardInterrupt" in completed.stderr
    state = runs.read_state(folder)
    assert state["status"] == "interrupted" and state["epochs_done"] == 1
    assert (folder / "report.html").is_file() and runs.read_history(folder)[0]["epoch"] == 1


def test_your_own_models_run_gets_a_model_card_saying_how_it_was_made(recorded_run, capsys):
    folder, _ = recorded_run
    card = (folder / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "# Model card: two-dense on random features" in card and "nophd.RunFolder" in card
    assert "```" not in card.split("## How it was produced")[1]  # No command to retrain it.
    assert cli.main(["card", str(folder)]) == 0 and "wrote" in capsys.readouterr().out
