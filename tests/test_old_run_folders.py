"""Run folders written by an earlier nophd still evaluate, predict, serve, export and resume.

tests/fixtures/old_runs/ holds four run folders written by commit e12e415
(before issue 12 restructured the package) with tests/fixtures/make_old_runs.py:
a finished and an interrupted digit run (dense1), a finished and an
interrupted photo run (MobileNet v1 0.25, random weights, 32 px). Their data
are generated again here from the seeds recorded in fixture.json, into one
data root passed as --data-dir (DATA/mnist, DATA/tf_flowers for "flowers").
Every test works on a copy of the folders; the fixture is never written.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from nophd import cli, runs
from nophd.data import images, mnist, synthetic

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "old_runs"
RECORD = json.loads((FIXTURE / "fixture.json").read_text(encoding="utf-8"))
FINISHED = {"digits": "digits-finished", "photos": "photos-finished"}
INTERRUPTED = {"digits": "digits-interrupted", "photos": "photos-interrupted"}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """The runs' data, made again from fixture.json's recipes: DATA/mnist and DATA/tf_flowers."""
    root = tmp_path_factory.mktemp("old-run-data")
    digits, photos = RECORD["data"]["digits"], RECORD["data"]["photos"]
    synthetic.write_mnist_like(root / digits["folder"], **digits["arguments"])
    synthetic.write_photo_folder(root / photos["folder"], **photos["arguments"])
    return root


@pytest.fixture
def old_runs(tmp_path) -> Path:
    """A copy of the fixture's run folders, for a test to use and change."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "runs"))


def run_cli(capsys, *arguments) -> tuple[int, str, str]:
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def an_image(kind: str, data_root: Path) -> Image.Image:
    """A picture a user might give each kind of run: a dark-on-light "3", or one of the training photos."""
    if kind == "digits":
        rendered = images.render_digit(3, images.font_paths()[0])
        return Image.fromarray(255 - (rendered * 255).astype(np.uint8)).resize((140, 140))
    (first,) = sorted((data_root / RECORD["data"]["photos"]["folder"] / "circles").glob("*.jpg"))[:1]
    return Image.open(first).convert("RGB")


def test_the_data_are_made_again_byte_for_byte(data_root):
    # Resume checks the digits' SHA-256 in config.json; evaluation and export
    # read the photos' pixels. A difference here means the generator (or
    # Pillow, or matplotlib's fonts) changed, not the run folders' reader.
    made = {path.relative_to(data_root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(data_root.rglob("*")) if path.is_file()}
    assert made == RECORD["sha256"]
    # The same record as nophd train's (training/train.py): SHA-256 of each uncompressed MNIST file.
    digits = mnist.load(data_root / RECORD["data"]["digits"]["folder"])
    identity = {f"{key}_sha256": digest for key, digest in digits.sha256.items()}
    for name in INTERRUPTED["digits"], FINISHED["digits"]:
        assert read_json(FIXTURE / name / runs.CONFIG)[runs.DATA_IDENTITY] == identity


@pytest.mark.parametrize("kind", ["digits", "photos"])
def test_evaluate_gives_the_figures_of_metrics_json(kind, old_runs, data_root, capsys):
    run = old_runs / FINISHED[kind]
    metrics = read_json(run / runs.METRICS)
    code, out, err = run_cli(capsys, "evaluate", run, "--data-dir", data_root)
    assert code == 0, err
    assert f"test accuracy {100 * metrics['test_accuracy']:.2f}%" in out
    evaluation = read_json(run / "evaluation.json")
    assert evaluation["test_accuracy"] == metrics["test_accuracy"]
    assert evaluation["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)
    assert evaluation["test_examples"] == metrics["test_examples"]
    assert evaluation["class_names"] == metrics["class_names"]
    assert evaluation["confusion"] == metrics["confusion"]
    assert evaluation["per_class_accuracy"] == pytest.approx(metrics["per_class_accuracy"])


@pytest.mark.parametrize("kind", ["digits", "photos"])
def test_predict_names_one_of_the_runs_classes(kind, old_runs, data_root, tmp_path, capsys):
    run = old_runs / FINISHED[kind]
    class_names = read_json(run / runs.METRICS)["class_names"]
    picture = tmp_path / "picture.png"
    an_image(kind, data_root).save(picture)
    code, out, err = run_cli(capsys, "predict", run, picture, "--top", "2")
    assert code == 0, err
    (line,) = out.splitlines()
    # "PATH: label  97.1%  label   2.0%"
    ranked = line.split(": ", 1)[1].split("%")[0].split()
    assert ranked[0] in class_names and 0 <= float(ranked[1]) <= 100


def test_the_server_lists_describes_and_predicts_with_old_runs(old_runs, data_root):
    from nophd.serve import app as app_module

    with TestClient(app_module.create_app(old_runs, data_dir=data_root)) as client:
        listing = client.get("/api/runs")
        assert listing.status_code == 200, listing.text
        by_id = {run["id"]: run for run in listing.json()["runs"]}
        expected = {name: (kind, "finished") for kind, name in FINISHED.items()}
        expected |= {name: (kind, "interrupted") for kind, name in INTERRUPTED.items()}
        assert {name: (by_id[name]["kind"], by_id[name]["status"]) for name in expected} == expected
        for name in expected:
            assert by_id[name]["problems"] == [], (name, by_id[name]["problems"])
        for kind, name in FINISHED.items():
            metrics = read_json(old_runs / name / runs.METRICS)
            detail = client.get(f"/api/runs/{name}")
            assert detail.status_code == 200, detail.text
            body = detail.json()
            assert body["model_ok"] and body["metrics"]["test_accuracy"] == metrics["test_accuracy"]
            assert body["config"]["model"] == metrics["model"] and "report.html" in body["files"]
            response = client.post(f"/api/runs/{name}/predict",
                                   files={"image": ("picture.png", png_bytes(an_image(kind, data_root)), "image/png")})
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["kind"] == kind and answer["top"][0]["label"] in metrics["class_names"]
            assert client.get(f"/api/runs/{name}/misclassified").status_code == 200
        for name in INTERRUPTED.values():
            detail = client.get(f"/api/runs/{name}")
            assert detail.status_code == 200, detail.text
            assert not detail.json()["has_model"]


def check_export(run: Path, kind: str) -> None:
    """RUN/export/tflite holds the model and an export.json that measured it on the run's own test data."""
    metrics = read_json(run / runs.METRICS)
    written = read_json(run / "export" / "tflite" / "export.json")
    assert written["kind"] == kind and written["class_names"] == metrics["class_names"]
    assert written["original"]["accuracy"] == metrics["test_accuracy"]
    assert written["test_examples"] == metrics["test_examples"]
    assert written["agreement_with_original"]["max_abs_difference"] < 1e-4
    assert (run / "export" / "tflite" / written["artifact"]).is_file()


def test_export_command_exports_an_old_digit_run(old_runs, data_root, capsys):
    run = old_runs / FINISHED["digits"]
    code, out, err = run_cli(capsys, "export", run, "--format", "tflite", "--data-dir", data_root)
    assert code == 0, err
    assert "tflite:" in out
    check_export(run, "digits")


def test_export_of_an_old_photo_run(old_runs, data_root):
    # The library function `nophd export` calls, with 5 timed single-image
    # calls instead of the command's 200: MobileNet's take a minute on 2 cores,
    # and this checks the export, not its latency.
    from nophd.export import export

    run = old_runs / FINISHED["photos"]
    export.export_run(run, "tflite", data_dir=data_root, latency_runs=5)
    check_export(run, "photos")


@pytest.mark.parametrize("kind", ["digits", "photos"])
def test_resume_continues_an_interrupted_run_to_where_an_uninterrupted_one_ended(kind, old_runs, data_root, capsys):
    run = old_runs / INTERRUPTED[kind]
    before = runs.read_history(run)
    done = RECORD["interrupted_after_epoch"][INTERRUPTED[kind]]
    assert len(before) == done and runs.status(run) == "interrupted"
    command = [*RECORD["commands"][kind], "--data-dir", data_root]
    code, _, err = run_cli(capsys, *command, "--out", run, "--resume")
    assert code == 0, err
    finished = old_runs / FINISHED[kind]
    reference = read_json(finished / runs.METRICS)
    state = runs.read_state(run)
    assert runs.status(run) == "finished" and state["epochs_done"] == state["epochs_total"] == done + 1
    after = runs.read_history(run)
    assert after[:done] == before and [row["epoch"] for row in after] == list(range(1, done + 2))
    assert not list(run.glob("checkpoint*")) and (run / runs.MODEL).is_file()
    metrics = read_json(run / runs.METRICS)
    # Seeded, and resumed where it stopped: it ends as the uninterrupted run of the same command did.
    assert metrics["test_accuracy"] == reference["test_accuracy"]
    assert metrics["test_loss"] == pytest.approx(reference["test_loss"], rel=1e-4)
    assert [row["loss"] for row in after] == pytest.approx([row["loss"] for row in runs.read_history(finished)],
                                                           rel=1e-4)
    # A finished run is not resumed: the same command says so in one line.
    code, _, err = run_cli(capsys, *command, "--out", finished, "--resume")
    assert code == 2 and "already finished" in err and len(err.strip().splitlines()) == 1
