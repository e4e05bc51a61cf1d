"""The dashboard's warnings, per-class table and in-epoch progress (nophd.serve.insights)."""

from __future__ import annotations

import json

import pytest

from nophd import atomic, runs
from nophd.serve import catalog, insights

from .conftest import write_running_run

NAMES = ["0", "1", "2"]


def rows(*pairs):
    return [{"epoch": epoch, "accuracy": train, "val_accuracy": validation}
            for epoch, (train, validation) in enumerate(pairs, start=1)]


def kinds(found):
    return [warning["kind"] for warning in found]


def test_a_model_that_predicts_one_class_is_flagged_from_its_confusion_matrix():
    metrics = {"per_class_accuracy": [1.0, 0.0, 0.05], "class_names": ["cat", "dog", "fox"],
               "confusion": [[30, 0, 0], [29, 0, 1], [28, 0, 2]]}
    found = insights.warnings({}, metrics, [])
    assert kinds(found) == ["one-class"]
    assert "'cat'" in found[0]["message"] and "97%" in found[0]["message"]


def test_a_balanced_confusion_matrix_is_not_flagged():
    metrics = {"per_class_accuracy": [0.9, 0.8, 0.7], "class_names": NAMES,
               "confusion": [[27, 2, 1], [3, 24, 3], [4, 5, 21]]}
    assert insights.warnings({}, metrics, []) == []


def test_without_a_confusion_matrix_one_class_right_and_the_rest_wrong_is_flagged():
    found = insights.warnings({}, {"per_class_accuracy": [0.0, 1.0, 0.0], "class_names": NAMES}, [])
    assert kinds(found) == ["one-class"] and "'1'" in found[0]["message"]
    assert insights.warnings({}, {"per_class_accuracy": [0.5, 1.0, 0.0], "class_names": NAMES}, []) == []


def test_a_train_validation_gap_over_five_points_at_the_last_epoch_is_flagged():
    found = insights.warnings({}, {}, rows((0.80, 0.79), (0.99, 0.92)))
    assert kinds(found) == ["overfitting"]
    assert "7.0 points" in found[0]["message"] and "epoch 2" in found[0]["message"]
    # An early gap that closed, and a gap of exactly five points, are not.
    assert insights.warnings({}, {}, rows((0.99, 0.80), (0.95, 0.93))) == []
    assert insights.warnings({}, {}, rows((0.95, 0.90))) == []
    assert insights.warnings({}, {}, rows((0.40, 0.35))) == []  # 0.40 - 0.35 is a hair over 0.05 in floating point.


def test_fewer_than_ten_steps_per_epoch_is_flagged():
    found = insights.warnings({"batch_size": 128}, {"train_examples": 1000}, [])
    assert kinds(found) == ["little-data"]
    assert "Only 7 step(s)" in found[0]["message"] and "1,000 training examples" in found[0]["message"]
    assert insights.warnings({"batch_size": 100}, {"train_examples": 1000}, []) == []
    # While a run trains there is no metrics.json yet: its progress says how many steps an epoch has.
    assert kinds(insights.warnings({"batch_size": 64}, {}, [], {"steps_per_epoch": 3})) == ["little-data"]


def test_garbage_in_metrics_gives_no_warning_and_no_error():
    for metrics in ({"per_class_accuracy": "x"}, {"per_class_accuracy": [1, 0], "confusion": [[1, "a"], [0, 1]]},
                    {"train_examples": -5}, {"per_class_accuracy": [None, None]}):
        insights.warnings({"batch_size": "big"}, metrics, [{"epoch": 1, "accuracy": "high"}])


def test_the_per_class_table_counts_examples_and_predictions():
    table = insights.per_class({"per_class_accuracy": [0.5, 1.0], "class_names": ["a", "b"], "confusion": [[1, 1], [0, 3]]})
    assert table["rows"] == [{"label": "a", "accuracy": 0.5, "examples": 2, "predicted": 1, "precision": 1.0,
                              "f1": pytest.approx(2 / 3)},
                             {"label": "b", "accuracy": 1.0, "examples": 3, "predicted": 4, "precision": 0.75,
                              "f1": pytest.approx(6 / 7)}]
    assert table["macro_f1"] == pytest.approx((2 / 3 + 6 / 7) / 2)
    # Without a confusion matrix (older runs): accuracy only.
    assert insights.per_class({"per_class_accuracy": [0.5, 1.0]})["confusion"] is None
    assert insights.per_class({"per_class_accuracy": [0.5, 1.0]})["rows"][0]["precision"] is None
    assert insights.per_class({}) is None


def test_progress_of_a_running_run_is_in_its_json_and_history(tmp_path):
    folder = tmp_path / "live"
    write_running_run(folder, epochs_done=2)
    atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "epochs": 6, "step": 40, "steps_per_epoch": 160,
                                               "elapsed": 10.0, "eta_seconds": 30.0, "run_eta_seconds": 150.0,
                                               "loss": 0.25, "accuracy": 0.9, "updated_at": 1.0})
    history = catalog.run_history(tmp_path, "live")
    assert history["progress"]["step"] == 40 and history["progress"]["fraction"] == 0.25
    assert history["progress"]["eta_seconds"] == 30.0
    detail = catalog.run_detail(tmp_path, "live")
    assert detail["progress"]["epoch"] == 3
    before = history["version"]
    atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "step": 80, "steps_per_epoch": 160})
    assert catalog.run_history(tmp_path, "live")["version"] != before  # A poll sees the step move.


def test_stale_or_broken_progress_is_left_out(tmp_path):
    folder = tmp_path / "live"
    write_running_run(folder, epochs_done=2)
    atomic.write_json(folder / runs.PROGRESS, {"epoch": 2, "step": 160, "steps_per_epoch": 160})
    assert catalog.run_history(tmp_path, "live")["progress"] is None  # Epoch 2 is in history.csv already.
    for text in ("{not json", "[1, 2]", json.dumps({"epoch": 3, "step": "x", "steps_per_epoch": 0}), "x" * 40000):
        (folder / runs.PROGRESS).write_text(text, encoding="utf-8")
        assert catalog.run_history(tmp_path, "live")["progress"] is None
    atomic.write_json(folder / runs.PROGRESS, {"epoch": 3, "step": 5, "steps_per_epoch": 160})
    runs.write_state(folder, status="finished")
    assert catalog.run_history(tmp_path, "live")["progress"] is None  # Only while it trains.


def test_a_progress_file_linked_from_outside_the_run_is_not_read(tmp_path):
    folder = tmp_path / "runs" / "live"
    write_running_run(folder, epochs_done=2)
    outside = tmp_path / "elsewhere.json"
    atomic.write_json(outside, {"epoch": 3, "step": 5, "steps_per_epoch": 160})
    (folder / runs.PROGRESS).symlink_to(outside)
    assert catalog.run_history(tmp_path / "runs", "live")["progress"] is None
