"""Tests of the HTML reports: a complete run, a half-finished or corrupt run, and the ladder."""

import json
import os
import re

import numpy as np
import PIL.Image
import pytest

from nophd import atomic, runs
from nophd.errors import RunError
from nophd.reports import plots, report

HISTORY_CSV = (
    "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds\n"
    "1,0.31,0.912,0.21,0.9501,0.01,12.5\n"
    "2,0.12,0.965,0.10,0.9788,0.00666,11.9\n"
)

METRICS = {
    "model": "conv-bn", "dataset": "mnist", "status": "finished", "test_accuracy": 0.99512, "test_loss": 0.0181,
    "epochs": 2, "wall_seconds": 252.4, "parameters": 1234567, "seed": 0, "codelab_accuracy": 0.995,
    "per_class_accuracy": [0.99, 0.98], "class_names": ["zero", "one"],
    "versions": {"python": "3.11.9", "tensorflow": "2.21.0", "keras": "3.15.1", "nophd": "0.1.0"},
    "finished_at": "2026-01-31T14:05:09+00:00",
}

CONFIG = {"model": "conv-bn", "dataset": "mnist", "epochs": 2, "batch_size": 64, "optimizer": "adam",
          "learning_rate": 0.01, "lr_decay": 0.666, "seed": 0, "augment": False}


@pytest.fixture
def complete_run(tmp_path):
    """A run folder as the trainer leaves it, with small real pictures."""
    run = tmp_path / "conv-bn"
    atomic.write_json(run / "config.json", CONFIG)
    atomic.write_json(run / "metrics.json", METRICS)
    atomic.write_text(run / "history.csv", HISTORY_CSV)
    atomic.write_text(run / "summary.txt", 'Model: "conv-bn"\nLayer <b>dense</b> & co\n')
    history = {"epoch": [1, 2], "loss": [0.31, 0.12], "accuracy": [0.912, 0.965],
               "val_loss": [0.21, 0.10], "val_accuracy": [0.9501, 0.9788]}
    digits = np.random.default_rng(0).random((4, 28, 28))
    figures = {
        "curves.png": plots.curves_figure(history),
        "lr.png": plots.learning_rate_figure([0.01, 0.00666], epochs_done=2),
        "predictions.png": plots.predictions_figure(digits[:2], [0, 1], [0, 1], digits[2:], [1, 0], [1, 1]),
        "confusion.png": plots.confusion_figure(np.array([[9, 1], [0, 10]]), ["zero", "one"]),
    }
    for name, figure in figures.items():
        plots.save_figure(figure, run / name, dpi=30)
    return run


def test_run_report_of_a_complete_run(complete_run):
    path = report.write_run_report(complete_run)
    assert path == complete_run / "report.html"
    page = path.read_text(encoding="utf-8")
    assert "99.51%" in page  # Test accuracy, two decimals.
    assert "99.50%" in page  # The codelab's figure.
    assert "1,234,567" in page
    assert "4 min 12 s" in page
    assert "&lt;b&gt;dense&lt;/b&gt; &amp; co" in page
    assert "<b>dense</b>" not in page
    for name in ("curves.png", "lr.png", "predictions.png", "confusion.png"):
        assert f'<img src="{name}"' in page
    assert "97.88%" in page and "0.00666" in page  # The history table.
    assert "batch_size" in page and "adam" in page  # The configuration.
    assert "2.21.0" in page  # Versions.
    assert "zero" in page  # Per-class accuracy.
    assert "not written yet" not in page and 'class="unreadable"' not in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "ladder.html" not in page  # No ladder page beside the run.
    assert not [item.name for item in complete_run.iterdir() if item.name.startswith(".")]


def test_run_report_shows_precision_recall_and_f1_from_the_confusion_matrix(complete_run):
    metrics = dict(METRICS, per_class_accuracy=[0.75, 1.0], confusion=[[3, 1], [0, 4]])
    atomic.write_json(complete_run / "metrics.json", metrics)
    page = report.write_run_report(complete_run).read_text(encoding="utf-8")
    section = page[page.index("<h2>Precision, recall and F1 per class</h2>"):]
    section = section[:section.index("</section>")]
    # zero: precision 3/3, recall 3/4, F1 6/7; one: precision 4/5, recall 4/4, F1 8/9.
    assert re.findall(r"<td class=number>([\d.]+%)</td>", section) == [
        "100.00%", "75.00%", "85.71%", "80.00%", "100.00%", "88.89%"]
    assert "Macro F1 87.30%" in section


def test_run_report_links_back_to_an_existing_ladder(complete_run):
    (complete_run.parent / "ladder.html").write_text("<html></html>")
    page = report.write_run_report(complete_run).read_text(encoding="utf-8")
    assert 'href="../ladder.html"' in page


def test_run_report_of_an_empty_folder(tmp_path):
    page = report.write_run_report(tmp_path).read_text(encoding="utf-8")
    for name in ("config.json", "metrics.json", "history.csv", "summary.txt", "curves.png", "confusion.png"):
        assert re.search(rf"{re.escape(name)}</code>: not written yet", page), name
    assert "<img" not in page


def test_run_report_of_corrupt_files(complete_run):
    (complete_run / "metrics.json").write_text('{"model": "conv-bn", "test_accura')
    (complete_run / "config.json").write_text("[1, 2]")
    (complete_run / "history.csv").write_bytes(b"\xff\xfe\x00garbage")
    page = report.write_run_report(complete_run).read_text(encoding="utf-8")
    assert "metrics.json</code>: unreadable (not valid JSON" in page
    assert "config.json</code>: unreadable (expected a JSON object, found list)" in page
    assert "history.csv</code>: unreadable" in page
    assert '<img src="curves.png"' in page  # What is readable is still shown.


def test_run_report_of_a_running_run_with_odd_values(tmp_path):
    metrics = {"status": "running", "test_accuracy": "n/a", "epochs": None, "per_class_accuracy": [None, 0.5],
               "class_names": ["a"], "versions": "3.11"}
    atomic.write_json(tmp_path / "metrics.json", metrics)
    atomic.write_text(tmp_path / "history.csv", HISTORY_CSV + "3,0.1,0.97\n")  # A malformed last row.
    page = report.write_run_report(tmp_path).read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' in page
    assert "1 malformed row(s)" in page
    assert "running" in page


def test_run_report_status_comes_from_run_json(tmp_path):
    runs.write_state(tmp_path, status="running", pid=os.getpid(), epochs_done=2)
    page = report.write_run_report(tmp_path).read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' in page and ">running<" in page
    runs.write_state(tmp_path, pid=2**22 + 12345)  # The training process is gone: killed.
    page = report.write_run_report(tmp_path).read_text(encoding="utf-8")
    assert 'http-equiv="refresh"' not in page and ">interrupted<" in page


def test_run_report_of_a_missing_folder(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        report.write_run_report(tmp_path / "nope")


def test_ladder_report_writes_all_four_files(tmp_path):
    rows = [
        {"model": "dense", "description": "one <softmax> layer", "parameters": 7850, "epochs": 10,
         "wall_seconds": 31.2, "test_accuracy": 0.9231, "codelab_accuracy": 0.92, "run": "dense"},
        {"model": "conv-bn", "description": "batch norm", "parameters": 300000, "epochs": 10,
         "wall_seconds": 252.0, "test_accuracy": 0.9951, "codelab_accuracy": None, "run": "runs/conv bn"},
        {"model": "conv", "description": "", "parameters": 354002, "epochs": 10, "wall_seconds": 183.2,
         "test_accuracy": 0.9882, "codelab_accuracy": 0.99, "codelab_text": ">99%", "run": "conv"},
        {"model": "a|b", "description": "", "parameters": None, "epochs": None, "wall_seconds": None,
         "test_accuracy": None, "codelab_accuracy": None, "run": ""},
    ]
    path = report.write_ladder_report(tmp_path, rows)
    assert path == tmp_path / "ladder.html"
    assert sorted(item.name for item in tmp_path.iterdir()) == ["ladder.html", "ladder.json", "ladder.md", "ladder.png"]
    with PIL.Image.open(tmp_path / "ladder.png") as image:
        assert image.format == "PNG"
    assert json.loads((tmp_path / "ladder.json").read_text()) == rows

    markdown = (tmp_path / "ladder.md").read_text().splitlines()
    assert markdown[0] == "| model | parameters | epochs | wall time | test accuracy | codelab |"
    assert len([line for line in markdown[2:] if line.startswith("|")]) == len(rows)
    assert markdown[2] == "| dense | 7,850 | 10 | 31 s | 92.31% | 92.00% |"
    assert markdown[4] == "| conv | 354,002 | 10 | 3 min 3 s | 98.82% | >99% |"
    assert markdown[5].startswith("| a\\|b |")

    page = path.read_text(encoding="utf-8")
    assert '<a href="dense/report.html">dense</a>' in page
    assert 'href="runs/conv%20bn/report.html"' in page
    assert "one &lt;softmax&gt; layer" in page
    assert '<img src="ladder.png"' in page


def test_ladder_report_with_no_rows(tmp_path):
    page = report.write_ladder_report(tmp_path / "out", []).read_text(encoding="utf-8")
    assert "No models trained yet" in page
    assert (tmp_path / "out" / "ladder.md").read_text().count("\n") == 2


def test_the_last_report_of_a_finishing_run_says_finished_and_does_not_reload(tmp_path):
    # Issue 11, defect 5: the last report is written after metrics.json, while run.json still says running.
    run = tmp_path / "run"
    with runs.lock(run):  # The training process, still alive.
        runs.write_state(run, status="running", pid=os.getpid(), epochs_done=2)
        atomic.write_json(run / "metrics.json", {"status": "finished", "test_accuracy": 0.9})
        page = report.write_run_report(run).read_text(encoding="utf-8")
        assert 'http-equiv="refresh"' not in page and ">finished<" in page
    # Killed between metrics.json and run.json: not finished.
    page = report.write_run_report(run).read_text(encoding="utf-8")
    assert ">interrupted<" in page and ">finished<" not in page


HOSTILE = "<img src=x onerror=alert(1)>"


def test_hostile_values_come_out_escaped_in_the_run_report_and_the_ladder(complete_run):
    atomic.write_json(complete_run / "config.json", dict(CONFIG, note=HOSTILE, **{HOSTILE: HOSTILE}))
    atomic.write_json(complete_run / "metrics.json", dict(METRICS, model=HOSTILE, class_names=["<script>", HOSTILE],
                                                          seed=HOSTILE, versions={HOSTILE: HOSTILE}))
    atomic.write_text(complete_run / "history.csv", HISTORY_CSV.replace("seconds\n", f"seconds,{HOSTILE}\n", 1))
    page = report.write_run_report(complete_run).read_text(encoding="utf-8")
    assert "<img src=x" not in page and "<script" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 6  # Title, heading, facts, classes, config, versions.
    assert "<td>&lt;script&gt;</td>" in page

    path = report.write_ladder_report(complete_run.parent, [
        {"model": HOSTILE, "description": HOSTILE, "test_accuracy": 0.9, "codelab_text": HOSTILE,
         "codelab_accuracy": 0.9, "run": 'a"b<c'}])
    ladder = path.read_text(encoding="utf-8")
    assert "<img src=x" not in ladder and ladder.count("&lt;img src=x onerror=alert(1)&gt;") == 3
    assert 'href="a%22b%3Cc/report.html"' in ladder  # The link is URL-quoted, so it cannot end its attribute.


def test_run_report_html_is_the_page_and_a_fragment_for_a_notebook(complete_run):
    metrics = dict(METRICS, class_names=["<script>", "one"])
    atomic.write_json(complete_run / "metrics.json", metrics)
    (complete_run.parent / "ladder.html").write_text("<html></html>")
    page = report.run_report_html(complete_run)
    written = report.write_run_report(complete_run).read_text(encoding="utf-8")
    # The same page but for the time in its footer.
    stamp = re.compile(r"at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
    assert stamp.sub("", page) == stamp.sub("", written)

    fragment = report.run_report_html(complete_run, fragment=True)
    assert fragment.startswith('<div class="nophd-report">') and fragment.rstrip().endswith("</div>")
    for tag in ("<html", "<head>", "<body", "<main", "http-equiv", "ladder.html", "<script"):
        assert tag not in fragment, tag
    assert "<td>&lt;script&gt;</td>" in fragment
    sources = re.findall(r'<img src="([^"]*)"', fragment)
    assert len(sources) == 4 and all(source.startswith("data:image/png;base64,") for source in sources)
    # Every rule of its style sheet is scoped to the fragment's div, so the notebook keeps its own look.
    style = fragment[fragment.index("<style>") + len("<style>"):fragment.index("</style>")]
    selectors = re.findall(r"([^{}]+)\{[^{}]*\}", style)
    assert len(selectors) > 30
    for selector in selectors:
        assert all(part.strip().startswith(".nophd-report") for part in selector.split(",")), selector
    for section in ("Result", "Pictures", "Accuracy per class", "History", "Configuration", "Model",
                    "Versions"):
        assert f"<h2>{section}</h2>" in fragment, section
    assert len(fragment) < 3 * sum(path.stat().st_size for path in complete_run.glob("*.png")) + 20_000


def test_run_report_html_of_a_missing_folder(tmp_path):
    with pytest.raises(RunError, match="no such run folder"):
        report.run_report_html(tmp_path / "nope", fragment=True)
