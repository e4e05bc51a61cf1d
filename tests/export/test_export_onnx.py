"""The ONNX export: raw uint8 in, the Keras model's answers out in ONNX Runtime, export.json, bad input.

The tests that convert need the `onnx` extra (tf2onnx, onnx, onnxruntime):
they skip, saying so, where it is not installed. The bad-input tests run
everywhere: a missing converter is one of them (simulated).
"""

import json
import os

import numpy as np
import pytest
from PIL import Image

from nophd import atomic, cli, runs
from nophd.export import ExportError, artifacts, export, formats

from .conftest import run_cli

LATENCY_RUNS = 10
needs_onnx = pytest.mark.skipif(bool(formats.onnx_missing()),
                                reason=f"{', '.join(formats.onnx_missing())} not installed: {formats.ONNX_EXTRA}")


@pytest.fixture(scope="module")
def onnx_export(digit_run):
    """The run exported once into RUN/export/onnx: export_run's result."""
    run, data = digit_run
    return export.export_run(run, "onnx", data_dir=data, latency_runs=LATENCY_RUNS)


@needs_onnx
def test_onnx_model_takes_uint8_images_of_any_batch_size_and_matches_keras(onnx_export, keras_reference):
    import onnxruntime

    probabilities, images, _ = keras_reference
    session = onnxruntime.InferenceSession(onnx_export["artifact_path"], providers=["CPUExecutionProvider"])
    (tensor_input,), (tensor_output,) = session.get_inputs(), session.get_outputs()
    assert (tensor_input.name, tensor_input.type) == ("images", "tensor(uint8)")
    assert not isinstance(tensor_input.shape[0], int) and tensor_input.shape[1:] == [28, 28]
    assert (tensor_output.name, tensor_output.type, tensor_output.shape[1]) == ("probabilities", "tensor(float)", 10)
    for count in (1, 7, 300):
        outputs = session.run(None, {"images": images[:count]})[0]
        assert outputs.shape == (count, 10)
        np.testing.assert_allclose(outputs, probabilities[:count], atol=1e-5)
    outputs = session.run(None, {"images": images})[0]
    assert (outputs.argmax(axis=1) == probabilities.argmax(axis=1)).mean() >= 0.99


@needs_onnx
def test_export_json_has_the_onnx_entry_beside_the_keras_models(onnx_export, keras_reference, digit_run):
    run, _ = digit_run
    probabilities, _, labels = keras_reference
    folder = run / "export" / "onnx"
    written = json.loads((folder / "export.json").read_text())
    assert written["format"] == "onnx" and written["artifact"] == "model.onnx" and written["kind"] == "digits"
    assert written["files"] == ["export.json", "model.onnx"] and sorted(os.listdir(folder)) == written["files"]
    assert written["input"] == {"dtype": "uint8", "shape": [None, 28, 28], "what": written["input"]["what"]}
    assert written["output"] == {"dtype": "float32", "shape": [None, 10], "what": "probabilities"}
    assert written["test_examples"] == 300 and written["exported"]["format"] == "onnx"
    keras_accuracy = float((probabilities.argmax(axis=1) == labels).mean())
    assert written["original"]["accuracy"] == pytest.approx(keras_accuracy)
    assert written["exported"]["accuracy"] == pytest.approx(keras_accuracy)
    assert written["exported"]["file_bytes"] == (folder / "model.onnx").stat().st_size
    assert written["agreement_with_original"]["top1_agreement"] >= 0.99
    assert written["agreement_with_original"]["max_abs_difference"] < 1e-4
    assert written["exported"]["latency_ms"] > 0 and written["exported"]["latency"]["runs"] >= LATENCY_RUNS
    assert {"tf2onnx", "onnx", "onnxruntime"} <= set(written["versions"]) and "ONNX" in written["latency_method"]
    assert "| `export/onnx` | onnx |" in (run / runs.MODEL_CARD).read_text(encoding="utf-8")
    # Nothing left over beside the export from its temporary folders.
    assert os.listdir(folder.parent) == ["onnx"]


@needs_onnx
def test_predictor_and_predict_command_take_the_onnx_file_and_its_folder(onnx_export, keras_reference, capsys,
                                                                        tmp_path, monkeypatch):
    from nophd.inference import loading, predictor

    probabilities, images, _ = keras_reference
    picture = tmp_path / "digit.png"
    Image.fromarray(255 - images[0]).resize((140, 140)).save(picture)
    expected = cli.main(["predict", onnx_export["run"], str(picture), "--top", "1"])
    run_line = capsys.readouterr().out.split(": ", 1)[1]
    monkeypatch.setattr(loading, "load_run_model", lambda path: pytest.fail(f"load_run_model({path})"))
    for path in (onnx_export["artifact_path"], onnx_export["path"]):
        loaded = predictor.Predictor(path)
        assert (loaded.kind, loaded.image_size, loaded.model) == ("digits", 28, None)
        assert loaded.exported.format == "onnx"
        np.testing.assert_allclose(loaded.predict_digits(images[:20]), probabilities[:20], atol=1e-5)
        code, out, err = run_cli(capsys, "predict", path, picture, "--top", "1")
        assert (code, err) == (expected, "") and out == f"{picture}: {run_line}"


@needs_onnx
def test_export_command_prints_the_comparison(digit_run, capsys, tmp_path):
    run, data = digit_run
    code, out, err = run_cli(capsys, "export", run, "--format", "onnx", "--out", tmp_path / "onnx", "--data-dir", data)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"onnx: {tmp_path / 'onnx' / 'model.onnx'}"
    assert lines[3].split()[0] == "keras" and lines[4].split()[0] == "onnx"
    assert sorted(os.listdir(tmp_path)) == ["onnx"]


@needs_onnx
def test_a_failed_conversion_leaves_nothing(digit_run, tmp_path, monkeypatch):
    run, data = digit_run

    def fail(serving, file):
        raise ExportError(f"{file}: ONNX conversion failed (simulated)")

    monkeypatch.setattr(formats, "write_onnx", fail)
    with pytest.raises(ExportError, match="ONNX conversion failed"):
        export.export_run(run, "onnx", tmp_path / "onnx", data_dir=data, latency_runs=LATENCY_RUNS)
    assert os.listdir(tmp_path) == []


@needs_onnx
def test_a_damaged_onnx_file_is_a_one_line_error(tmp_path, capsys):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(ExportError, match="cannot load the ONNX model"):
        artifacts.load(broken)
    picture = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(picture)
    code, out, err = run_cli(capsys, "predict", broken, picture)
    assert code == 2 and out == "" and err.count("\n") == 1 and "cannot load the ONNX model" in err


@pytest.fixture
def bad_runs(tmp_path):
    """An unfinished run, and a finished run whose model.keras is gone."""
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    runs.write_state(unfinished, status="running", pid=2**22 + 12345)  # No such process: interrupted.
    no_model = tmp_path / "no-model"
    no_model.mkdir()
    atomic.write_json(no_model / runs.CONFIG, {"task": "digits", "model": "conv"})
    runs.write_state(no_model, status="finished", model="conv")
    return {"unfinished": unfinished, "no_model": no_model, "tmp": tmp_path}


@pytest.mark.parametrize("run_name, message", [
    ("unfinished", "{unfinished}: the run is interrupted, not finished; resume it"),
    ("no_model", "{no_model}: no model.keras in this run folder"),
])
def test_unusable_runs_are_one_line_and_write_nothing(bad_runs, capsys, run_name, message):
    tmp_path = bad_runs["tmp"]
    before = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*"))
    code, out, err = run_cli(capsys, "export", bad_runs[run_name], "--format", "onnx")
    assert code == 2 and out == ""
    assert err.startswith(f"nophd: error: {message.format(**bad_runs)}") and err.count("\n") == 1, err
    assert sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("missing", [["tf2onnx"], ["onnxruntime"], ["tf2onnx", "onnx", "onnxruntime"]])
def test_a_missing_converter_or_runtime_names_the_extra_and_writes_nothing(digit_run, capsys, tmp_path,
                                                                          monkeypatch, missing):
    run, data = digit_run
    monkeypatch.setattr(formats, "onnx_missing", lambda packages=(): [name for name in missing if name in packages])
    code, out, err = run_cli(capsys, "export", run, "--format", "onnx", "--out", tmp_path / "onnx", "--data-dir", data)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err == (f"nophd: error: --format onnx needs {', '.join(missing)}, not installed here: "
                   "pip install 'nophd[onnx]'\n")
    assert os.listdir(tmp_path) == []


def test_an_onnx_file_name_as_out_is_refused(digit_run, capsys, tmp_path):
    run, data = digit_run
    code, out, err = run_cli(capsys, "export", run, "--format", "onnx", "--out", tmp_path / "model.onnx")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"nophd: error: --out {tmp_path / 'model.onnx'}: give a folder for the export")
    assert os.listdir(tmp_path) == []


def test_predicting_an_onnx_file_without_onnxruntime_names_the_extra(tmp_path, capsys, monkeypatch):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"whatever")
    picture = tmp_path / "digit.png"
    Image.new("L", (28, 28)).save(picture)
    monkeypatch.setattr(formats, "onnx_missing", lambda packages=(): list(packages))
    code, out, err = run_cli(capsys, "predict", model, picture)
    assert code == 2 and out == ""
    assert err == (f"nophd: error: {model}: reading an ONNX model needs onnxruntime, not installed here: "
                   "pip install 'nophd[onnx]'\n")


@needs_onnx
def test_a_photo_run_exports_to_onnx_taking_raw_rgb(tmp_path):
    import keras

    from nophd.data import synthetic
    from nophd.models import transfer

    pytest.importorskip("nophd.data.photos")
    size = 32
    data = synthetic.write_photo_folder(tmp_path / "shapes", per_class=8, size=40)
    class_names = sorted(path.name for path in data.iterdir())
    run = tmp_path / "photos"
    run.mkdir()
    keras.utils.set_random_seed(0)
    model = transfer.build_transfer_model("mobilenet_v1_025", len(class_names), image_size=size, head="gap",
                                          weights="none")
    model.save(run / runs.MODEL)
    atomic.write_json(run / runs.CONFIG, {
        "task": "photos", "model": "mobilenet_v1_025-gap", "dataset": str(data), "image_size": size,
        "validation_split": 0.25, "seed": 0, "class_names": class_names,
    })
    runs.write_state(run, status="finished", model="mobilenet_v1_025-gap")
    result = export.export_run(run, "onnx", latency_runs=5)
    assert result["kind"] == "photos" and result["class_names"] == class_names
    assert result["input"]["dtype"] == "uint8" and result["input"]["shape"] == [None, size, size, 3]
    assert result["agreement_with_original"]["max_abs_difference"] < 1e-4
    images = np.random.default_rng(0).integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    onnx = artifacts.load(result["artifact_path"]).predict(images)
    reference = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_allclose(onnx, reference, atol=1e-4)
    assert (onnx.argmax(axis=1) == reference.argmax(axis=1)).all()
