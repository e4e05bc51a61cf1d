"""The one-class warning where users look: `nophd train`, `nophd evaluate` and the run report (scoring.one_class_warning)."""

from __future__ import annotations

import numpy as np
import pytest

from nophd import cli, runs
from nophd.training import loop


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train(capsys, data, out):
    return run_cli(capsys, "train", "mnist", "--model", "dense", "--epochs", "3", "--data-dir", data,
                   "--out", out, "--quiet")


def test_a_model_that_calls_every_digit_a_seven_is_warned_about_in_train_evaluate_and_the_report(
        tiny_mnist, tmp_path, capsys, monkeypatch):
    original = loop.save_final_model

    def save_a_model_that_always_says_seven(run_directory, model):
        # A bias far larger than anything the inputs add: the softmax picks 7 for every digit.
        last = model.layers[-1]
        bias = np.zeros(10, dtype=np.float32)
        bias[7] = 1000.0
        last.bias.assign(bias)
        original(run_directory, model)

    monkeypatch.setattr(loop, "save_final_model", save_a_model_that_always_says_seven)
    code, out, err = train(capsys, tiny_mnist, tmp_path / "run")
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "100% of the 300 evaluated examples are called '7'" in line

    report = (tmp_path / "run" / "report.html").read_text()
    assert 'id="one-class"' in report and "are called &#x27;7&#x27;" in report

    code, out, err = run_cli(capsys, "evaluate", tmp_path / "run", "--data-dir", tiny_mnist)
    assert code == 0, err
    (line,) = [line for line in out.splitlines() if line.startswith("warning:")]
    assert "100% of the 300 evaluated examples are called '7'" in line


def test_a_model_that_tells_digits_apart_gets_no_warning(tiny_mnist, tmp_path, capsys):
    code, out, err = train(capsys, tiny_mnist, tmp_path / "run")
    assert code == 0, err
    assert runs.read_json(tmp_path / "run" / runs.METRICS)["test_accuracy"] > 0.5
    assert "warning:" not in out
    assert 'id="one-class"' not in (tmp_path / "run" / "report.html").read_text()
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "run", "--data-dir", tiny_mnist)
    assert code == 0 and "warning:" not in out
