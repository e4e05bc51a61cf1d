"""The run report's robustness section and the two robustness pictures."""

from __future__ import annotations

import json

import numpy as np

from nophd.reports import plots, report


def _result(**changes):
    result = {
        "sets": [
            {"name": "clean", "kind": "clean", "examples": 1000, "accuracy": 0.99},
            {"name": "fog", "kind": "corruption", "examples": 1000, "accuracy": 0.25,
             "misread": [{"label": 1, "predicted": 7, "count": 38}, {"label": 0, "predicted": 1, "count": 5}]},
            {"name": "<fonts>", "kind": "fonts", "examples": 4320, "accuracy": 0.9},
        ],
        "mean_accuracy": 0.575,
        "mean_over": ["fog", "<fonts>"],
        "seed": 0,
        "data": "MNIST test set in /data",
        "evaluated_at": "2026-12-02T10:00:00+00:00",
    }
    result.update(changes)
    return result


def test_the_report_shows_robustness_json_its_mean_highlighted_and_both_pictures(tmp_path):
    (tmp_path / "robustness.json").write_text(json.dumps(_result()))
    for name in ("robustness.png", "robustness_samples.png"):
        (tmp_path / name).write_bytes(b"png")
    page = report.write_run_report(tmp_path).read_text()
    section = page[page.index('<section id="robustness">'):]
    section = section[: section.index("</section>")]
    assert "25.00%" in section and "90.00%" in section and "4,320" in section
    assert '<tr class="mean"><td>mean</td><td>2 sets</td>' in section and "57.50%" in section
    assert "&lt;fonts&gt;" in section and "<fonts>" not in section  # Escaped.
    assert "<th>most often misread</th>" in section and "<td>1 as 7 (38), 0 as 1 (5)</td>" in section
    assert 'src="robustness.png"' in section and 'src="robustness_samples.png"' in section


def test_no_robustness_json_no_section_and_a_corrupt_one_is_said_so(tmp_path):
    assert 'id="robustness"' not in report.write_run_report(tmp_path).read_text()
    (tmp_path / "robustness.json").write_text("{not json")
    page = report.write_run_report(tmp_path).read_text()
    assert 'id="robustness"' in page and "unreadable" in page


def test_the_section_survives_odd_values(tmp_path):
    odd = _result(sets=[{"name": "fog"}, "not a row", {"name": "x", "accuracy": "high"}], mean_accuracy=None, mean_over=None)
    (tmp_path / "robustness.json").write_text(json.dumps(odd))
    page = report.write_run_report(tmp_path).read_text()
    assert 'id="robustness"' in page and "fog" in page


def test_the_bar_chart_has_a_bar_per_set_and_the_mean_and_draws_odd_values():
    figure = plots.robustness_figure(_result())
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == ["clean", "fog", "<fonts>", "mean"]
    assert len(figure.axes[0].patches) == 4
    empty = plots.robustness_figure({"sets": [{"name": "fog", "accuracy": None}], "mean_accuracy": "?"})
    assert len(empty.axes[0].patches) == 0


def test_the_samples_picture_is_one_mosaic_with_a_row_per_set(tmp_path):
    digits = np.full((10, 28, 28), 255, np.uint8)
    figure = plots.samples_figure([("clean", digits, np.arange(10)), ("fog", digits[:3], np.arange(3))])
    (axes,) = figure.axes
    assert [label.get_text() for label in axes.get_yticklabels()] == ["clean", "fog"]
    assert [label.get_text() for label in axes.get_xticklabels()] == [str(digit) for digit in range(10)]
    mosaic = axes.get_images()[0].get_array()
    assert mosaic.shape == (2 * 32 - 4, 10 * 32 - 4)
    plots.save_figure(figure, tmp_path / "samples.png")
    assert (tmp_path / "samples.png").stat().st_size > 1000
    assert plots.samples_figure([]).axes


def test_the_dashboard_serves_the_reports_robustness_pictures(tmp_path):
    from nophd import runs
    from nophd.serve import catalog

    run = tmp_path / "conv-bn"
    run.mkdir()
    (run / runs.METRICS).write_text(json.dumps({"status": "finished"}))
    for name in ("robustness.png", "robustness_samples.png"):
        (run / name).write_bytes(b"png")
        assert catalog.run_file(tmp_path, "conv-bn", name) == run / name


def test_a_killed_evaluations_temporary_files_are_swept(tmp_path):
    from nophd import runs

    left = [tmp_path / ".robustness.abcd_123.json", tmp_path / ".robustness_samples.k2j_9x0a.png"]
    for path in left:
        path.write_text("half")
    runs.sweep(tmp_path)
    assert not any(path.exists() for path in left)
