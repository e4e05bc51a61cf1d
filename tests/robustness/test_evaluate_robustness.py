"""`nophd evaluate RUN --robustness` end to end on a tiny run: the table, robustness.json, the report, refusals."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import nophd
from nophd import cli, runs
from nophd.robustness import corruptions, suite

SET_NAMES = ["clean", *corruptions.CORRUPTIONS, "fonts", "strokes"]


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def fewer_stroke_digits(monkeypatch):
    """200 stroke digits instead of 2,000: the same code, a tenth of the drawing time."""
    monkeypatch.setattr(suite, "STROKES", 200)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_mnist):
    """A dense model trained one epoch on the tiny generated MNIST, through the CLI."""
    run = tmp_path_factory.mktemp("runs") / "dense"
    code = cli.main(["train", "mnist", "--model", "dense", "--epochs", "1", "--data-dir", str(tiny_mnist),
                     "--out", str(run), "--seed", "1", "--quiet"])
    assert code == 0
    return run


def test_the_cli_prints_every_set_and_the_mean_and_writes_robustness_json(tiny_run, tiny_mnist, capsys):
    code, out, err = run_cli(capsys, "evaluate", tiny_run, "--robustness", "--data-dir", tiny_mnist)
    assert code == 0, err
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith(f"{tiny_run}: robustness suite (seed 0)")
    table = {line.split()[0]: line for line in lines[2:-1]}
    assert list(table) == SET_NAMES + ["mean"]
    result = json.loads((tiny_run / "robustness.json").read_text())
    assert [row["name"] for row in result["sets"]] == SET_NAMES
    for row in result["sets"]:
        assert f"{100 * row['accuracy']:.2f}%" in table[row["name"]]
        assert 0.0 <= row["accuracy"] <= 1.0
        # The commonest mistakes, also in words on the set's line.
        assert sum(pair["count"] for pair in row["misread"]) <= round((1 - row["accuracy"]) * row["examples"])
        for pair in row["misread"]:
            assert f"{pair['label']} as {pair['predicted']} ({pair['count']:,})" in table[row["name"]]
    assert "most often misread" in lines[1]
    assert result["mean_accuracy"] == pytest.approx(np.mean([row["accuracy"] for row in result["sets"][1:]]))
    assert f"{100 * result['mean_accuracy']:.2f}%" in table["mean"]
    # The tiny test set has 300 digits: every corruption uses all of them.
    assert {row["name"]: row["examples"] for row in result["sets"]}["fog"] == 300
    assert result["fonts"] and result["seed"] == 0
    assert lines[-1] == f"wrote {tiny_run / 'robustness.json'}"
    # The report shows the table, the mean and both pictures.
    report = (tiny_run / "report.html").read_text()
    assert 'id="robustness"' in report and 'class="mean"' in report
    for picture in ("robustness.png", "robustness_samples.png"):
        assert (tiny_run / picture).stat().st_size > 1000
        assert f'src="{picture}"' in report
    assert not list(tiny_run.glob(".robustness*"))  # No temporary files left.
    # The model card now shows the suite too.
    card = (tiny_run / runs.MODEL_CARD).read_text(encoding="utf-8")
    assert f"Mean accuracy **{100 * result['mean_accuracy']:.2f}%**" in card and "| fog |" in card


def test_the_python_api_gives_the_same_figures_again(tiny_run, tiny_mnist):
    first = json.loads((tiny_run / "robustness.json").read_text()) if (tiny_run / "robustness.json").exists() else None
    result = nophd.evaluate_robustness(tiny_run, tiny_mnist)
    again = json.loads((tiny_run / "robustness.json").read_text())
    assert [row["accuracy"] for row in result["sets"]] == [row["accuracy"] for row in again["sets"]]
    if first is not None:
        assert [row["accuracy"] for row in first["sets"]] == [row["accuracy"] for row in result["sets"]]


def test_a_photo_run_is_refused_in_one_line_before_its_model_is_loaded(tmp_path, capsys):
    run = tmp_path / "photos"
    run.mkdir()
    (run / runs.CONFIG).write_text(json.dumps({"task": "photos", "dataset": "flowers"}))
    code, out, err = run_cli(capsys, "evaluate", run, "--robustness")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "robustness suite: digit runs only" in err and str(run) in err, err


def test_a_folder_with_no_model_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "evaluate", tmp_path / "nope", "--robustness")
    assert code == 2 and err.count("\n") == 1 and "nope" in err, err


def _copy_run(run: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for name in ("model.keras", runs.CONFIG, runs.METRICS):
        shutil.copy2(run / name, to / name)
    return to


def test_a_read_only_run_folder_still_prints_and_warns_in_one_line(tiny_run, tiny_mnist, tmp_path, capsys):
    folder = tmp_path / "mount"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        run = _copy_run(tiny_run, folder / "run")
        before = sorted(path.name for path in run.iterdir())
        remounted = subprocess.run(["mount", "-o", "remount,ro", str(folder)], capture_output=True)
        assert remounted.returncode == 0, remounted.stderr
        code, out, err = run_cli(capsys, "evaluate", run, "--robustness", "--data-dir", tiny_mnist)
        assert code == 0, err
        assert [line.split()[0] for line in out.splitlines()[2:]] == SET_NAMES + ["mean"]
        assert err.count("\n") == 1 and "warning" in err and "read-only file system" in err and str(run) in err, err
        assert sorted(path.name for path in run.iterdir()) == before
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_run_folder_that_cannot_be_written_is_a_warning_not_an_error(tiny_run, tiny_mnist, tmp_path, monkeypatch,
                                                                      capsys):
    """The same without a mount: every atomic write in the folder fails as on a read-only disk."""
    import errno
    import tempfile

    run = _copy_run(tiny_run, tmp_path / "run")
    real = tempfile.mkstemp

    def refuse(*args, **kwargs):
        if Path(kwargs.get("dir", "")) == run:
            raise OSError(errno.EROFS, "Read-only file system", str(run))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, out, err = run_cli(capsys, "evaluate", run, "--robustness", "--data-dir", tiny_mnist)
    assert code == 0 and "mean" in out.splitlines()[-1]
    assert err.count("\n") == 1 and "read-only file system" in err, err
    assert not (run / "robustness.json").exists()


def test_a_photo_model_without_its_config_json_is_one_line_not_an_internal_error(tmp_path, capsys):
    import keras

    run = tmp_path / "photos"
    run.mkdir()
    inputs = keras.Input((16, 16, 3))
    keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(inputs))).save(run / runs.MODEL)
    code, out, err = run_cli(capsys, "evaluate", run, "--robustness")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(run / runs.CONFIG) in err and "not a digit model" in err, err
