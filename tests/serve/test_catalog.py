"""Finding and reading run folders: nested ladders, broken files, ids that try to leave RUNS_DIR."""

from __future__ import annotations

import json
import math
import os

import pytest

from nophd import runs
from nophd.serve import catalog

from .conftest import write_running_run


def make_run(folder, status="finished", rows=3, **state):
    folder.mkdir(parents=True)
    runs.write_history(folder, [{"epoch": epoch, "loss": 1 / epoch, "val_accuracy": 0.5 + epoch / 10} for epoch in range(1, rows + 1)])
    runs.write_state(folder, status=status, pid=0, epochs_total=rows, epochs_done=rows, **state)
    return folder


def test_scan_finds_runs_and_ladder_rungs_newest_first(tmp_path):
    make_run(tmp_path / "old", started_at="2026-01-01T00:00:00+00:00")
    make_run(tmp_path / "ladder" / "conv", started_at="2026-02-01T00:00:00+00:00")
    (tmp_path / "ladder" / "ladder.json").write_text(json.dumps([{"model": "conv", "run": "conv", "test_accuracy": 0.99},
                                                                 {"model": "gone", "run": "gone"}, "junk"]))
    make_run(tmp_path / "ladder" / "conv" / "inner")  # Inside a run: part of it, not a run.
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    summaries, ladders = catalog.scan(tmp_path)
    assert [summary["id"] for summary in summaries] == ["ladder/conv", "old"]
    assert summaries[0]["best_val_accuracy"] == pytest.approx(0.8) and summaries[0]["final_val_accuracy"] == pytest.approx(0.8)
    (ladder,) = ladders
    assert [row["run_id"] for row in ladder["rows"]] == ["ladder/conv", None]


def test_scan_of_a_missing_folder_is_empty(tmp_path):
    assert catalog.scan(tmp_path / "nothing") == ([], [])


def test_statuses(tmp_path):
    assert catalog.summarize(make_run(tmp_path / "a", status="failed"), "a")["status"] == "failed"
    assert catalog.summarize(make_run(tmp_path / "b", status="interrupted"), "b")["status"] == "interrupted"
    # "running" but its process is gone (kill -9): interrupted.
    dead = make_run(tmp_path / "c", status="running")
    runs.write_state(dead, pid=2**22 + 12345)
    assert catalog.summarize(dead, "c")["status"] == "interrupted"
    write_running_run(tmp_path / "d", epochs_done=1)
    assert catalog.summarize(tmp_path / "d", "d")["status"] == "running"
    odd = make_run(tmp_path / "e", status="dancing")
    summary = catalog.summarize(odd, "e")
    assert summary["status"] == "corrupt" and "unknown status 'dancing'" in summary["problems"][0]


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"\xff\xfe\x00garbage", b'{"status": "running", "pid": "x"}',
                                     b'{"status": "running", "pid": 1e400}', b'{"epochs_total": "many", "status": "finished"}'])
def test_garbage_run_json_never_raises(tmp_path, content):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / runs.STATE).write_bytes(content)
    summary = catalog.summarize(folder, "run")
    assert summary["status"] in ("corrupt", "finished")
    json.dumps(catalog.plain(summary), allow_nan=False)


@pytest.mark.parametrize("content", [b"", b"epoch\n", b"epoch,loss\n1,nan\n2,inf\n", b"\x00\x01\x02\xff" * 50, b'epoch,"loss\n1,"2\n',
                                     b"loss,accuracy\n0.5,0.9\n", b"epoch,loss\n1.5,0.3\n"])
def test_garbage_history_never_raises(tmp_path, content):
    folder = make_run(tmp_path / "run")
    (folder / runs.HISTORY).write_bytes(content)
    history = catalog.run_history(tmp_path, "run")
    json.dumps(catalog.plain(history), allow_nan=False)
    for row in history["rows"]:
        assert isinstance(row["epoch"], int)


@pytest.mark.parametrize("run_id", ["", "/", "..", "../x", "a/../../b", ".hidden", "x/.y", "a/b/c", "a\\..\\b", "a\x00",
                                    "/etc", "//etc/passwd", "notes", "ladder", "run/inner", "missing"])
def test_ids_cannot_leave_runs_dir_or_name_non_runs(tmp_path, run_id):
    root = tmp_path / "runs"
    make_run(root / "run")
    make_run(root / "run" / "inner")
    make_run(root / "ladder" / "conv")
    make_run(root / ".hidden")
    (root / "notes").mkdir()
    make_run(tmp_path / "outside")
    with pytest.raises(catalog.UnknownRun):
        catalog.find_run(root, run_id)


def test_ids_that_name_runs(tmp_path):
    make_run(tmp_path / "run")
    make_run(tmp_path / "ladder" / "conv")
    assert catalog.find_run(tmp_path, "run") == tmp_path / "run"
    assert catalog.find_run(tmp_path, "ladder/conv") == tmp_path / "ladder" / "conv"


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_a_symlink_to_a_folder_outside_is_not_followed_by_dot_dot(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    make_run(tmp_path / "secret")
    with pytest.raises(catalog.UnknownRun):
        catalog.find_run(root, "../secret")


def test_run_files_are_a_fixed_list(tmp_path):
    folder = make_run(tmp_path / "run")
    (folder / "curves.png").write_bytes(b"png")
    (folder / runs.MODEL).write_bytes(b"zip")
    assert catalog.run_file(tmp_path, "run", "curves.png") == folder / "curves.png"
    for name in ("model.keras", "run.json", "../run/curves.png", "lr.png"):
        with pytest.raises(catalog.UnknownRun):
            catalog.run_file(tmp_path, "run", name)


def test_planned_learning_rates():
    assert catalog.planned_learning_rates({"learning_rate": 0.01, "lr_decay": 0.5}, 3) == pytest.approx([0.01, 0.005, 0.0025])
    assert catalog.planned_learning_rates({"learning_rate": 0.001, "lr_decay": None}, 2) == [0.001, 0.001]
    assert catalog.planned_learning_rates({"learning_rate": "fast"}, 2) == []
    assert catalog.planned_learning_rates({"learning_rate": 0.1, "lr_decay": "x"}, 2) == []
    assert catalog.planned_learning_rates({}, None) == []
    photos = {"task": "photos", "learning_rate": 0.001, "epochs": 2, "fine_tune_epochs": 2, "fine_tune_learning_rate": 1e-5}
    assert catalog.planned_learning_rates(photos, 4) == [0.001, 0.001, 1e-5, 1e-5]
    decaying = {**photos, "lr_decay": 0.5}  # photo runs' fine-tuning rate decays by default
    assert catalog.planned_learning_rates(decaying, 4) == pytest.approx([0.001, 0.001, 1e-5, 5e-6])
    assert catalog.task_of(photos).planned_epochs(photos) == 4 and catalog.task_of({"epochs": 3}).planned_epochs({"epochs": 3}) == 3


def test_plain_makes_strict_json():
    import numpy as np

    value = catalog.plain({"a": math.nan, 1: [math.inf, np.float32(0.5), (1, 2)], "b": np.int64(3)})
    assert value == {"a": None, "1": [None, 0.5, [1, 2]], "b": 3}
    json.dumps(value, allow_nan=False)
