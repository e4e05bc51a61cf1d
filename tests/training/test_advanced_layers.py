"""The advanced-layers tour's rungs end to end on tiny generated digits: conv-gmp, conv-l2 (a Lambda layer).

conv-l2's Lambda layer calls a registered named function, so its model
loads with Keras' safe_mode on: evaluate, predict, export and the dashboard
all load it, while a model.keras whose Lambda holds Python code is refused
without running it.
"""

import json
import zipfile

import keras
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from nophd import cli, runs
from nophd.data import images
from nophd.inference import loading
from nophd.serve import app as app_module


def run_cli(capsys, *arguments):
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def train(capsys, tiny_mnist, folder, model, *flags):
    code, _, err = run_cli(capsys, "train", "mnist", "--model", model, "--epochs", "1", "--train-limit", "256",
                           "--test-limit", "64", "--learning-rate", "0.003", "--data-dir", tiny_mnist, "--out", folder,
                           "--quiet", *flags)
    assert code == 0, err
    return folder


def digit_png(path, digit):
    rendered = images.render_digit(digit, images.font_paths()[0])
    Image.fromarray(255 - (rendered * 255).astype(np.uint8)).resize((140, 140)).save(path)
    return path


def _test_digits(folder):
    from nophd.data import mnist

    data = mnist.load(folder)
    return data.test_images, data.test_labels


@pytest.fixture(scope="module")
def l2_run(tmp_path_factory, tiny_mnist):
    folder = tmp_path_factory.mktemp("advanced") / "conv-l2"
    code = cli.main(["train", "mnist", "--model", "conv-l2", "--epochs", "1", "--train-limit", "256", "--test-limit",
                     "64", "--learning-rate", "0.003", "--data-dir", str(tiny_mnist), "--out", str(folder), "--quiet"])
    assert code == 0
    return folder


def test_conv_gmp_trains_and_evaluates(tiny_mnist, tmp_path, capsys):
    run = train(capsys, tiny_mnist, tmp_path / "conv-gmp", "conv-gmp")
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["model"] == "conv-gmp" and metrics["parameters"] == 41_218 and len(metrics["per_class_f1"]) == 10
    code, out, _ = run_cli(capsys, "evaluate", run, "--data-dir", tiny_mnist)  # On all 300 test digits.
    assert code == 0 and "test accuracy" in out


def test_the_l2_runs_model_holds_a_named_lambda_not_code(l2_run):
    with zipfile.ZipFile(l2_run / runs.MODEL) as archive:
        saved = json.loads(archive.read("config.json"))
    lambdas = [layer for layer in saved["config"]["layers"] if layer["class_name"] == "Lambda"]
    assert len(lambdas) == 1
    assert lambdas[0]["config"]["function"]["config"] == "nophd>l2_normalize"
    assert "__lambda__" not in json.dumps(saved)


def test_evaluate_predict_export_and_the_dashboard_load_the_l2_run(l2_run, tiny_mnist, tmp_path, capsys):
    metrics = json.loads((l2_run / runs.METRICS).read_text())
    code, out, err = run_cli(capsys, "evaluate", l2_run, "--data-dir", tiny_mnist)
    assert code == 0, err
    # Trained with --test-limit 64; evaluate scores all 300 test digits, the first 64 of them as training did.
    assert len(json.loads((l2_run / "evaluation.json").read_text())["per_class_f1"]) == 10
    model = loading.load_run_model(l2_run)
    first = np.asarray(model.predict(images.as_model_input(_test_digits(tiny_mnist)[0][:64]), verbose=0))
    assert float(np.mean(first.argmax(axis=1) == _test_digits(tiny_mnist)[1][:64])) == pytest.approx(
        metrics["test_accuracy"])
    seven = digit_png(tmp_path / "seven.png", 7)
    code, out, err = run_cli(capsys, "predict", l2_run, seven)
    assert code == 0 and out.startswith(f"{seven}: "), err
    code, out, err = run_cli(capsys, "export", l2_run, "--format", "tflite", "--out", tmp_path / "phone",
                             "--data-dir", tiny_mnist)
    assert code == 0, err
    exported = json.loads((tmp_path / "phone" / "export.json").read_text())
    assert exported["exported"]["accuracy"] == pytest.approx(exported["original"]["accuracy"], abs=0.02)
    with TestClient(app_module.create_app(l2_run.parent, data_dir=tiny_mnist)) as client:
        response = client.post(f"/api/runs/{l2_run.name}/predict", content=seven.read_bytes(),
                               headers={"Content-Type": "image/png"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-4


def test_a_model_whose_lambda_holds_code_is_refused_without_running_it(l2_run, tmp_path, capsys):
    marker = tmp_path / "ran"

    def sneaky(tensor):  # Saved as bytecode: a loader running it would write the marker.
        import pathlib

        pathlib.Path(str(marker)).write_text("ran")
        return tensor

    inputs = keras.Input((28, 28, 1), name="image")
    features = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Lambda(lambda x: sneaky(x))(features))
    untrusted = tmp_path / "untrusted"
    untrusted.mkdir()
    for name in (runs.CONFIG, runs.METRICS, runs.STATE):
        (untrusted / name).write_bytes((l2_run / name).read_bytes())
    keras.Model(inputs, outputs).save(untrusted / runs.MODEL)
    marker.unlink()  # Building the model above called it once.
    code, _, err = run_cli(capsys, "predict", untrusted, digit_png(tmp_path / "seven.png", 7))
    assert code == 2 and "Lambda layer saved as Python code" in err and "safe_mode" in err, err
    assert not marker.exists()
    with pytest.raises(Exception, match="Lambda layer saved as Python code"):
        loading.load_run_model(untrusted)
    assert not marker.exists()


# Two classes, one sigmoid output: dense-binary tells even digits from odd ones.


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory, tiny_mnist):
    folder = tmp_path_factory.mktemp("advanced") / "dense-binary"
    code = cli.main(["train", "mnist", "--model", "dense-binary", "--epochs", "2", "--train-limit", "512",
                     "--data-dir", str(tiny_mnist), "--out", str(folder), "--quiet"])
    assert code == 0
    return folder


def test_dense_binary_trains_one_sigmoid_with_binary_cross_entropy(binary_run, tiny_mnist):
    saved = json.loads((binary_run / runs.CONFIG).read_text())
    assert (saved["loss"], saved["classes"]) == ("binary_crossentropy", "even-odd")
    metrics = json.loads((binary_run / runs.METRICS).read_text())
    assert metrics["class_names"] == ["even", "odd"]
    assert np.asarray(metrics["confusion"]).shape == (2, 2) and np.sum(metrics["confusion"]) == 300
    for name in ("per_class_accuracy", "per_class_precision", "per_class_recall", "per_class_f1"):
        assert len(metrics[name]) == 2, name
    # The saved model keeps the sigmoid unit and gives the two classes' probabilities [1 - p, p].
    model = loading.load_run_model(binary_run)
    assert model.output.shape == (None, 2)
    sigmoid = keras.Model(model.input, model.get_layer("class_0_probability").input)
    digits, labels = _test_digits(tiny_mnist)
    inputs = images.as_model_input(digits)
    p = np.asarray(sigmoid.predict(inputs, verbose=0))
    assert p.shape == (300, 1)
    np.testing.assert_allclose(np.asarray(model.predict(inputs, verbose=0)), np.concatenate([1 - p, p], axis=1),
                               atol=1e-6)
    # Test accuracy is binary accuracy (p > 0.5 means odd), as Keras' BinaryAccuracy counts it.
    odd = labels % 2
    assert metrics["test_accuracy"] == pytest.approx(float(np.mean((p[:, 0] > 0.5) == odd)))
    binary = keras.metrics.BinaryAccuracy()
    binary.update_state(odd[:, None].astype(np.float32), p)
    assert metrics["test_accuracy"] == pytest.approx(float(binary.result()), abs=1 / 300)
    assert metrics["test_loss"] == pytest.approx(float(keras.losses.binary_crossentropy(
        odd[:, None].astype(np.float32), p).numpy().mean()), rel=1e-3)
    history = runs.read_history(binary_run)
    assert history[-1]["val_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1 / 300)
    report = (binary_run / "report.html").read_text()
    assert "even" in report and "odd" in report


def test_evaluate_predict_export_and_the_dashboard_answer_even_or_odd(binary_run, tiny_mnist, tmp_path, capsys):
    metrics = json.loads((binary_run / runs.METRICS).read_text())
    code, out, err = run_cli(capsys, "evaluate", binary_run, "--data-dir", tiny_mnist)
    assert code == 0, err
    evaluation = json.loads((binary_run / "evaluation.json").read_text())
    assert evaluation["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert evaluation["class_names"] == ["even", "odd"] and evaluation["confusion"] == metrics["confusion"]
    assert "even" in out and "odd" in out
    seven = digit_png(tmp_path / "seven.png", 7)
    code, out, err = run_cli(capsys, "predict", binary_run, seven, "--top", "2")
    assert code == 0, err
    words = out.split()
    assert words[0] == f"{seven}:" and {words[1], words[3]} == {"even", "odd"}
    code, _, err = run_cli(capsys, "export", binary_run, "--format", "tflite", "--out", tmp_path / "phone",
                           "--data-dir", tiny_mnist)
    assert code == 0, err
    exported = json.loads((tmp_path / "phone" / "export.json").read_text())
    assert exported["class_names"] == ["even", "odd"]
    assert exported["exported"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=0.01)
    with TestClient(app_module.create_app(binary_run.parent, data_dir=tiny_mnist)) as client:
        body = client.post(f"/api/runs/{binary_run.name}/predict", content=seven.read_bytes(),
                           headers={"Content-Type": "image/png"}).json()
        assert len(body["probabilities"]) == 2 and {row["label"] for row in body["top"]} == {"even", "odd"}
    code, _, err = run_cli(capsys, "evaluate", binary_run, "--robustness", "--data-dir", tiny_mnist)
    assert code == 2 and "ten-digit runs only" in err


def test_even_odd_also_trains_with_a_softmax_of_two(tiny_mnist, tmp_path, capsys):
    run = train(capsys, tiny_mnist, tmp_path / "dense-even-odd", "dense", "--classes", "even-odd")
    metrics = json.loads((run / runs.METRICS).read_text())
    assert metrics["class_names"] == ["even", "odd"]
    assert loading.load_run_model(run).get_layer(index=-1).units == 2  # Dense(2, softmax), one-hot labels.


def test_a_resumed_two_class_run_ends_as_an_uninterrupted_one(tiny_mnist, tmp_path, interrupted_after_first_epoch):
    import nophd

    options = dict(epochs=2, train_limit=256, test_limit=64, data_dir=tiny_mnist, progress=False)
    whole = nophd.train("dense-binary", out=tmp_path / "whole", **options)
    interrupted_after_first_epoch(nophd.train, "dense-binary", out=tmp_path / "cut", **options)
    resumed = nophd.train("dense-binary", out=tmp_path / "cut", resume=True, **options)
    assert resumed.metrics["test_accuracy"] == pytest.approx(whole.metrics["test_accuracy"])
    expected, got = loading.load_run_model(whole.run_directory), loading.load_run_model(resumed.run_directory)
    assert got.output.shape == (None, 2)
    for a, b in zip(expected.weights, got.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
