"""Exporting a run: SavedModel and TFLite formats against the Keras model, export.json, bad input."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nophd import cli, runs
from nophd.errors import ConfigError, NophdError, RunError
from nophd.export import ExportError, artifacts, export, formats

from .conftest import run_cli

# Few timed calls: the tests check that latency is measured, not its value.
LATENCY_RUNS = 10


@pytest.fixture(scope="module")
def exports(digit_run):
    """Each format exported once into RUN/export/<format>: format -> export_run's result."""
    run, data = digit_run
    return {format: export.export_run(run, format, data_dir=data, latency_runs=LATENCY_RUNS)
            for format in ("savedmodel", "tflite", "tflite-int8")}


def test_savedmodel_signature_takes_uint8_images_of_any_batch_size(exports, keras_reference):
    import tensorflow as tf

    probabilities, images, _ = keras_reference
    folder = Path(exports["savedmodel"]["artifact_path"])
    signature = tf.saved_model.load(str(folder)).signatures["serving_default"]
    (name, spec), = signature.structured_input_signature[1].items()
    assert name == "images" and spec.dtype == tf.uint8 and spec.shape.as_list() == [None, 28, 28]
    assert list(signature.structured_outputs) == ["probabilities"]
    for count in (1, 7, 300):
        outputs = signature(images=tf.constant(images[:count]))["probabilities"].numpy()
        assert outputs.shape == (count, 10)
        np.testing.assert_allclose(outputs, probabilities[:count], atol=1e-5)


def test_tflite_float_matches_the_keras_model(exports, keras_reference):
    probabilities, images, _ = keras_reference
    artifact = artifacts.load(exports["tflite"]["artifact_path"])
    assert artifact.format == "tflite" and artifact.kind == "digits" and artifact.image_size == 28
    np.testing.assert_allclose(artifact.predict(images), probabilities, atol=1e-4)
    np.testing.assert_allclose(artifact.single(images[3:4])(), probabilities[3:4], atol=1e-4)


def test_int8_is_integer_only_takes_raw_pixels_and_stays_close_to_float(exports, keras_reference):
    from ai_edge_litert.interpreter import Interpreter

    probabilities, images, labels = keras_reference
    result = exports["tflite-int8"]
    interpreter = Interpreter(model_path=result["artifact_path"])
    (tensor_input,), (tensor_output,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert tensor_input["dtype"] == np.uint8 and tuple(tensor_input["shape_signature"]) == (-1, 28, 28)
    assert tensor_input["quantization"] == (1.0, 0)  # The raw pixels are the quantized input.
    assert tensor_output["dtype"] == np.uint8
    kinds = {np.dtype(tensor["dtype"]).kind for tensor in interpreter.get_tensor_details()}
    assert kinds <= {"i", "u"}, f"a float tensor in the full-integer model: {kinds}"

    quantized = artifacts.load(result["artifact_path"]).predict(images)
    float_accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    assert float_accuracy > 0.7  # Measured 0.89: enough signal for the comparison to mean something.
    int8_accuracy = float((quantized.argmax(axis=1) == labels).mean())
    assert abs(int8_accuracy - float_accuracy) <= 0.02  # 6 of 300 test images.
    assert (quantized.argmax(axis=1) == probabilities.argmax(axis=1)).mean() >= 0.95
    assert result["exported"]["file_bytes"] < 0.4 * exports["tflite"]["exported"]["file_bytes"]


def test_export_json_compares_the_export_with_the_original(exports, keras_reference, digit_run):
    run, _ = digit_run
    probabilities, _, labels = keras_reference
    keras_accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    for format, result in exports.items():
        folder = run / "export" / format
        written = json.loads((folder / "export.json").read_text())
        assert written["format"] == format and written["kind"] == "digits" and written["image_size"] == 28
        assert written["class_names"] == [str(digit) for digit in range(10)]
        assert written["input"]["dtype"] == "uint8" and written["input"]["shape"] == [None, 28, 28]
        assert written["test_examples"] == 300 and written["model"] == "conv"
        assert written["original"]["accuracy"] == pytest.approx(keras_accuracy)
        assert written["original"]["file_bytes"] == (run / runs.MODEL).stat().st_size
        for side in ("original", "exported"):
            assert written[side]["latency_ms"] > 0 and written[side]["latency"]["runs"] >= LATENCY_RUNS
            assert written[side]["file_bytes"] > 0
        assert written["accuracy_change_points"] == pytest.approx(
            100 * (written["exported"]["accuracy"] - written["original"]["accuracy"]))
        assert written["size_ratio"] == pytest.approx(written["exported"]["file_bytes"] / written["original"]["file_bytes"])
        assert "ai-edge-litert" in written["versions"]
        # Nothing left over beside the export from its temporary folders.
        assert sorted(path.name for path in folder.parent.iterdir()) == sorted(exports)
    assert exports["savedmodel"]["exported"]["accuracy"] == pytest.approx(keras_accuracy)
    assert exports["tflite"]["exported"]["accuracy"] == pytest.approx(keras_accuracy)
    assert exports["tflite-int8"]["calibration"]["representative_images"] == 500
    assert exports["tflite-int8"]["input"]["quantization"] == {"scale": 1.0, "zero_point": 0}
    assert exports["tflite-int8"]["output"]["quantization"] == {"scale": 1 / 256, "zero_point": 0}
    assert exports["tflite"]["output"] == {"dtype": "float32", "shape": [None, 10], "what": "probabilities"}
    assert (run / "export" / "savedmodel" / "saved_model.pb").exists()
    assert sorted(os.listdir(run / "export" / "tflite")) == ["export.json", "model.tflite"]
    # The run's model card lists every export with its accuracy.
    card = (run / runs.MODEL_CARD).read_text(encoding="utf-8")
    for format, result in exports.items():
        assert f"| `export/{format}` | {format} |" in card
        assert f"{100 * result['exported']['accuracy']:.2f}%" in card


def test_predictor_reads_exports_without_loading_the_keras_model(exports, keras_reference, monkeypatch):
    from nophd.inference import loading, predictor

    def no_keras(path):
        raise AssertionError(f"load_run_model called for {path}")

    monkeypatch.setattr(loading, "load_run_model", no_keras)
    probabilities, images, _ = keras_reference
    for format, result in exports.items():
        for path in {result["artifact_path"], result["path"]}:
            loaded = predictor.Predictor(path)
            assert loaded.kind == "digits" and loaded.image_size == 28 and loaded.model is None
            assert loaded.class_names == [str(digit) for digit in range(10)]
            tolerance = 0.05 if format == "tflite-int8" else 1e-4
            np.testing.assert_allclose(loaded.predict_digits(images[:20]), probabilities[:20], atol=tolerance)
            assert loaded.top(loaded.predict_digits(images[:1])[0], 2)[0][0] == str(probabilities[0].argmax())


def test_predict_command_takes_an_export(exports, keras_reference, capsys, tmp_path, monkeypatch):
    from nophd.inference import loading

    probabilities, images, _ = keras_reference
    # A test digit as a dark-on-light, blown-up picture, as a user would have it.
    picture = tmp_path / "digit.png"
    Image.fromarray(255 - images[0]).resize((140, 140)).save(picture)
    expected = cli.main(["predict", exports["savedmodel"]["run"], str(picture), "--top", "1"])
    run_line = capsys.readouterr().out.split(": ", 1)[1]
    monkeypatch.setattr(loading, "load_run_model", lambda path: pytest.fail(f"load_run_model({path})"))
    for format in ("savedmodel", "tflite"):
        code, out, err = run_cli(capsys, "predict", exports[format]["artifact_path"], picture, "--top", "1")
        assert (code, err) == (expected, "") and out == f"{picture}: {run_line}"
    code, out, _ = run_cli(capsys, "predict", exports["tflite-int8"]["path"], picture, tmp_path / "missing.png")
    assert code == 2 and out.startswith(f"{picture}: {run_line.split()[0]} ")


def test_export_command_prints_the_comparison(digit_run, capsys, tmp_path):
    run, data = digit_run
    code, out, err = run_cli(capsys, "export", run, "--format", "tflite", "--out", tmp_path / "phone", "--data-dir", data)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"tflite: {tmp_path / 'phone' / 'model.tflite'}"
    assert lines[3].split()[0] == "keras" and lines[4].split()[0] == "tflite"
    assert lines[-1] == f"report: {tmp_path / 'phone' / 'export.json'}"
    # Exporting again replaces the earlier export, whole.
    first = (tmp_path / "phone" / "export.json").read_text()
    assert run_cli(capsys, "export", run, "--format", "tflite", "--out", tmp_path / "phone", "--data-dir", data)[0] == 0
    assert (tmp_path / "phone" / "export.json").read_text() != first
    assert sorted(os.listdir(tmp_path)) == ["phone"]


def test_an_export_written_elsewhere_is_listed_in_the_model_card(digit_run, capsys, tmp_path):
    import shutil

    run, data = digit_run
    copy = Path(shutil.copytree(run, tmp_path / "run", ignore=shutil.ignore_patterns("export", "exports.json")))
    for _ in range(2):  # Exported twice to one folder: listed once.
        assert run_cli(capsys, "export", copy, "--format", "tflite", "--out", tmp_path / "phone", "--data-dir", data)[0] == 0
    listed = json.loads((copy / runs.EXPORTS).read_text())["exports"]
    assert [entry["path"] for entry in listed] == [str((tmp_path / "phone").resolve())]
    card = (copy / runs.MODEL_CARD).read_text(encoding="utf-8")
    assert f"| `{(tmp_path / 'phone').resolve()}` | tflite |" in card
    shutil.rmtree(tmp_path / "phone")
    assert run_cli(capsys, "card", copy)[0] == 0
    card = (copy / runs.MODEL_CARD).read_text(encoding="utf-8")
    assert f"`{(tmp_path / 'phone').resolve()}`: no export there any more (moved or deleted)" in card
    # Inside the run folder (not under export/), relative to it: still found after the run folder moves.
    assert run_cli(capsys, "export", copy, "--format", "tflite", "--out", copy / "mine", "--data-dir", data)[0] == 0
    moved = copy.rename(tmp_path / "moved")
    assert run_cli(capsys, "card", moved)[0] == 0
    assert "| `mine` | tflite |" in (moved / runs.MODEL_CARD).read_text(encoding="utf-8")


@pytest.mark.parametrize("arguments, message", [
    (["{missing}", "--format", "tflite"], "{missing}: no such run folder"),
    (["{run}", "--format", "coreml"],
     "unknown export format 'coreml'; valid formats: savedmodel, tflite, tflite-int8, onnx, web"),
    (["{run}", "--format", "tflite", "--out", "{file}/export"], "--out {file}/export: is inside {file}, which is a file"),
    (["{run}", "--format", "tflite", "--out", "{file}"], "--out {file}: is a file"),
    (["{run}", "--format", "tflite", "--out", "{tmp}/model.tflite"], "--out {tmp}/model.tflite: give a folder"),
    (["{run}", "--format", "savedmodel", "--out", "{busy}"], "--out {busy}: the folder holds other files"),
    (["{unfinished}", "--format", "tflite"], "{unfinished}: the run is interrupted, not finished; resume it"),
    (["{no_run}", "--format", "tflite"], "{no_run}: not a run folder"),
])
def test_bad_input_is_one_line_and_writes_nothing(digit_run, capsys, tmp_path, arguments, message):
    run, _ = digit_run
    places = {"run": run, "missing": tmp_path / "nothing-here", "file": tmp_path / "notes.txt", "tmp": tmp_path,
              "busy": tmp_path / "busy", "unfinished": tmp_path / "unfinished", "no_run": tmp_path / "no-run"}
    places["file"].write_text("not a folder")
    (places["busy"]).mkdir()
    (places["busy"] / "thesis.tex").write_text("mine")
    places["unfinished"].mkdir()
    runs.write_state(places["unfinished"], status="running", pid=2**22 + 12345)  # No such process: interrupted.
    places["no_run"].mkdir()
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    code, out, err = run_cli(capsys, "export", *[argument.format(**places) for argument in arguments])
    assert code == 2 and out == ""
    assert err.startswith(f"nophd: error: {message.format(**places)}") and err.count("\n") == 1, err
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before
    assert not (run / "export" / "coreml").exists()


def test_a_failed_conversion_leaves_no_artifact_and_keeps_an_earlier_export(digit_run, tmp_path, monkeypatch):
    run, data = digit_run
    out = tmp_path / "int8"
    with pytest.raises(ExportError, match="TFLite conversion failed"):
        _export_failing(monkeypatch, run, data, out)
    assert os.listdir(tmp_path) == []

    export.export_run(run, "tflite", out, data_dir=data, latency_runs=LATENCY_RUNS)
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    with pytest.raises(ExportError):
        _export_failing(monkeypatch, run, data, out)
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before
    assert os.listdir(tmp_path) == ["int8"]


def _export_failing(monkeypatch, run, data, out):
    def fail(saved_model, representative=None):
        raise ExportError(f"{saved_model}: TFLite conversion failed (simulated)")

    monkeypatch.setattr(formats, "tflite_bytes", fail)
    try:
        export.export_run(run, "tflite-int8", out, data_dir=data, latency_runs=LATENCY_RUNS)
    finally:
        monkeypatch.undo()


def test_errors_are_nophd_errors_for_the_python_api(digit_run, tmp_path):
    run, data = digit_run
    with pytest.raises(ConfigError):
        export.export_run(run, "coreml")
    with pytest.raises(RunError):
        export.export_run(tmp_path / "absent", "tflite")
    with pytest.raises(NophdError, match="not a .tflite or .onnx file"):
        artifacts.load(run / runs.CONFIG)
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(ExportError, match="cannot load the TFLite model"):
        artifacts.load(broken)


@pytest.mark.slow
@pytest.mark.realdata
def test_int8_conv_bn_stays_within_half_a_point_of_float_on_real_mnist(real_data, tmp_path):
    # Needs a conv-bn trained on the real MNIST: NOPHD_CONVBN_RUN, else the
    # README's local/export-convbn (`nophd train mnist --model conv-bn --out local/export-convbn`).
    run = Path(os.environ.get("NOPHD_CONVBN_RUN", Path(__file__).resolve().parents[2] / "local" / "export-convbn"))
    if runs.status(run) != "finished":
        pytest.skip(f"no finished conv-bn run in {run} (set NOPHD_CONVBN_RUN)")
    result = export.export_run(run, "tflite-int8", tmp_path / "int8", data_dir=real_data, latency_runs=LATENCY_RUNS)
    assert result["test_examples"] == 10000 and result["original"]["accuracy"] > 0.99
    assert abs(result["accuracy_change_points"]) <= 0.5


def test_an_export_folder_holding_a_users_files_is_refused_not_emptied(digit_run, tmp_path, capsys):
    run, data = digit_run
    deploy = tmp_path / "deploy"
    first = export.export_run(run, "tflite", deploy, data_dir=data, latency_runs=LATENCY_RUNS)
    assert first["files"] == ["export.json", "model.tflite"]
    (deploy / "README.md").write_text("notes")
    (deploy / "mine").mkdir()
    (deploy / "mine" / "labels.txt").write_text("x")
    code, out, err = run_cli(capsys, "export", run, "--format", "tflite-int8", "--out", deploy, "--data-dir", data)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert str(deploy) in err and "README.md" in err and "mine" in err
    assert (deploy / "README.md").read_text() == "notes" and (deploy / "mine" / "labels.txt").read_text() == "x"
    assert json.loads((deploy / "export.json").read_text())["format"] == "tflite"
    # A folder holding only the earlier export is still replaced whole.
    (deploy / "README.md").unlink()
    (deploy / "mine" / "labels.txt").unlink()
    (deploy / "mine").rmdir()
    second = export.export_run(run, "tflite-int8", deploy, data_dir=data, latency_runs=LATENCY_RUNS)
    assert second["format"] == "tflite-int8" and sorted(os.listdir(deploy)) == ["export.json", "model.tflite"]


def test_a_killed_exports_temporary_folder_is_swept_and_a_live_one_kept(digit_run, tmp_path):
    from nophd import atomic

    run, data = digit_run
    killed = tmp_path / ".tflite.tmp-k2j_9x0a"
    (killed / ".savedmodel-abc").mkdir(parents=True)
    (killed / "model.tflite").write_bytes(b"half")
    old = tmp_path / ".tflite.old-zz000000"
    (old / "export").mkdir(parents=True)
    live = tmp_path / ".tflite.tmp-live0000"
    live.mkdir()
    held = atomic.hold_folder(live)  # As a running export into the same folder holds its own.
    try:
        export.export_run(run, "tflite", tmp_path / "tflite", data_dir=data, latency_runs=LATENCY_RUNS)
    finally:
        os.close(held)
    assert sorted(os.listdir(tmp_path)) == [".tflite.tmp-live0000", "tflite"]
