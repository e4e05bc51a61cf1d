"""Photo runs (transfer learning) on tiny generated folders: both phases, resume, saving, bad input.

The backbone is MobileNet v1 alpha 0.25 at 48 px with random weights whose
batch-norm statistics are calibrated on the data once per session (random
weights alone give features of ~1e-16, which no head can learn from). The
real ImageNet weights and tf_flowers are used only by the realdata test.
"""

import json
import math

import keras
import numpy as np
import pytest
from PIL import Image

from nophd import cli, config, runs
from nophd.data import photos, synthetic, tfrecords
from nophd.errors import ConfigError, DataError, RunError
from nophd.models import transfer
from nophd.inference import evaluate, predictor
from nophd.training import callbacks
from nophd.tasks import photos as photo_training
from nophd.training.train import train_and_evaluate

BASE = "mobilenet_v1_025"
SIZE = 48


@pytest.fixture(scope="session")
def shapes(tmp_path_factory):
    """3 classes x 20 photo-like images of 48x48."""
    return synthetic.write_photo_folder(tmp_path_factory.mktemp("photos") / "shapes", per_class=20, size=SIZE)


@pytest.fixture(scope="session")
def calibrated_weights(tmp_path_factory, shapes):
    """A random MobileNet 0.25 whose batch-norm statistics are measured on the data, saved as a weights file."""
    backbone = transfer.build_backbone(BASE, SIZE, weights=None)
    files = sorted(path for path in shapes.rglob("*") if path.is_file())
    images = np.stack([np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) for path in files]) / 127.5 - 1
    for layer in backbone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            inputs = np.asarray(keras.Model(backbone.input, layer.input)(images))
            axes = tuple(range(inputs.ndim - 1))
            layer.moving_mean.assign(inputs.mean(axis=axes))
            layer.moving_variance.assign(inputs.var(axis=axes))
    path = tmp_path_factory.mktemp("weights") / "calibrated.weights.h5"
    backbone.save_weights(path)
    return path


def tiny_config(data, weights, **changes):
    # Not the flowers defaults: the lab's flatten head, no augmentation, a constant fine-tuning rate.
    options = dict(base=BASE, weights=str(weights), image_size=SIZE, epochs=5, fine_tune_epochs=2,
                   fine_tune_layers=6, batch_size=8, learning_rate=0.02, fine_tune_learning_rate=1e-4,
                   head="flatten", dropout=0.0, augment="off", lr_decay=1.0)
    options.update(changes)
    return config.photo_config(str(data), **options)


def resume_settings(shapes, calibrated_weights):
    """Both phases, with dropout (whose random masks a resume must continue)."""
    return tiny_config(shapes, calibrated_weights, dropout=0.3)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, shapes, calibrated_weights):
    """One finished run of resume_settings, shared by the tests that only read it (training is the slow part)."""
    return train_and_evaluate(resume_settings(shapes, calibrated_weights), tmp_path_factory.mktemp("whole") / "run",
                              progress=False)


def test_a_photo_run_trains_both_phases_and_writes_the_run_folder(uninterrupted):
    result = uninterrupted
    run = result.run_directory
    for name in ("config.json", "run.json", "history.csv", "model.keras", "metrics.json", "summary.txt",
                 "curves.png", "lr.png", "predictions.png", "confusion.png", "report.html", "mistakes.json"):
        assert (run / name).is_file(), name
    assert not (run / runs.CHECKPOINT).exists() and not (run / photo_training.FINE_TUNE_CHECKPOINT).exists()
    metrics = result.metrics
    assert metrics["class_names"] == ["circles", "squares", "triangles"]
    assert metrics["task"] == "photos" and metrics["test_examples"] == 12 and metrics["train_examples"] == 48
    history = runs.read_history(run)
    # The head alone fits the training shapes from calibrated random features
    # (whether that generalizes is for the real-data test: 12 images say little).
    assert history[4]["accuracy"] >= 0.8 and history[0]["loss"] > history[4]["loss"]
    assert metrics["frozen_accuracy"] == pytest.approx(history[4]["val_accuracy"], abs=1e-5)  # csv keeps 6 digits
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6, 7]
    assert [row["learning_rate"] for row in history] == pytest.approx([0.02] * 5 + [1e-4] * 2)
    assert runs.status(run) == "finished" and runs.read_state(run)["epochs_done"] == 7
    report = (run / "report.html").read_text(encoding="utf-8")
    assert "triangles" in report and "validation" in report
    # The model card, written when the run finished, from its files.
    card = (run / runs.MODEL_CARD).read_text(encoding="utf-8")
    assert card.startswith(runs.MODEL_CARD_MARK) and "status **finished**" in card
    assert "validation accuracy on 12 examples" in card and "only its 3 classes (circles, squares, triangles)" in card


def test_the_saved_model_reproduces_the_final_evaluation(uninterrupted):
    result = uninterrupted
    again = evaluate.evaluate_run(result.run_directory)
    assert again["test_accuracy"] == result.metrics["test_accuracy"]
    assert again["test_loss"] == pytest.approx(result.metrics["test_loss"], rel=1e-5)
    assert again["class_names"] == result.metrics["class_names"]
    # mistakes.json: the wrong validation photos, the most confident first, written again by evaluate.
    mistakes = runs.read_json(result.run_directory / runs.MISTAKES)
    assert mistakes["test_examples"] == 12 and mistakes["accuracy"] == result.metrics["test_accuracy"]
    assert mistakes["errors"] == round(12 * (1 - result.metrics["test_accuracy"])) == len(mistakes["examples"])
    confidences = [example["top"][0]["probability"] for example in mistakes["examples"]]
    assert confidences == sorted(confidences, reverse=True)
    for example in mistakes["examples"]:
        assert example["label"] != example["predicted"] == example["top"][0]["label"]
        assert example["image"].startswith("data:image/jpeg;base64,")


def test_save_and_load_keep_the_probabilities_and_the_trainable_layers(tmp_path, calibrated_weights):
    model = transfer.build_transfer_model(BASE, 3, SIZE, head="gap", dropout=0.2, weights=str(calibrated_weights))
    unfrozen = transfer.set_fine_tuning(model, 6)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (6, SIZE, SIZE, 3)).astype(np.float32)
    model.fit(images, np.array([0, 1, 2, 0, 1, 2]), epochs=1, verbose=0)
    before = model.predict(images, verbose=0)
    assert np.ptp(before, axis=0).max() > 1e-3, "the probabilities must differ between images for this check to mean anything"
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(images, verbose=0), before, rtol=1e-5, atol=1e-6)
    reloaded_backbone = transfer.backbone_of(loaded)
    assert [layer.name for layer in reloaded_backbone.layers if layer.trainable and layer.weights] == unfrozen


def test_fine_tuning_changes_only_the_layers_it_unfroze(uninterrupted, calibrated_weights):
    result = uninterrupted
    unfrozen = result.metrics["fine_tuned_layers"]
    start = transfer.build_backbone(BASE, SIZE, weights=str(calibrated_weights))
    final = transfer.backbone_of(keras.models.load_model(result.run_directory / runs.MODEL))
    top_six = [layer.name for layer in start.layers[-6:]]
    assert unfrozen and set(unfrozen) <= set(top_six)
    for before, after in zip(start.layers, final.layers):
        if not before.weights:
            continue
        changed = any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(before.weights, after.weights))
        assert changed == (before.name in unfrozen), before.name
        if isinstance(after, keras.layers.BatchNormalization):
            assert not after.trainable and not changed


def interrupt_after(monkeypatch, epochs_written):
    """Makes the run stop with Ctrl-C right after it has recorded `epochs_written` epochs."""
    original = callbacks.RunRecorder.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == epochs_written:
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.RunRecorder, "on_epoch_end", on_epoch_end)


@pytest.mark.parametrize("stop_after", [2, 5, 6], ids=["in-frozen-phase", "between-phases", "in-fine-tuning"])
def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch, shapes, calibrated_weights,
                                                                  uninterrupted, stop_after):
    settings = resume_settings(shapes, calibrated_weights)
    with monkeypatch.context() as patch:
        interrupt_after(patch, stop_after)
        with pytest.raises(KeyboardInterrupt):
            train_and_evaluate(settings, tmp_path / "cut", progress=False)
    assert runs.read_state(tmp_path / "cut")["status"] == "interrupted"
    assert len(runs.read_history(tmp_path / "cut")) == stop_after
    resumed = train_and_evaluate(settings, tmp_path / "cut", resume=True, progress=False)

    expected, got = runs.read_history(uninterrupted.run_directory), runs.read_history(resumed.run_directory)
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [row[column] for row in got] == pytest.approx([row[column] for row in expected], rel=1e-4, abs=1e-6)
    assert resumed.metrics["test_accuracy"] == uninterrupted.metrics["test_accuracy"]
    for a, b in zip(keras.models.load_model(uninterrupted.run_directory / runs.MODEL).weights,
                    keras.models.load_model(resumed.run_directory / runs.MODEL).weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_a_fine_tuning_checkpoint_of_the_whole_model_resumes_as_it_was_written(tmp_path, monkeypatch, shapes,
                                                                                  calibrated_weights, uninterrupted):
    """A run interrupted in fine-tuning on images (an older nophd, or no room for the cache) goes on on images."""
    settings = resume_settings(shapes, calibrated_weights)
    with monkeypatch.context() as patch:
        patch.setattr(photo_training, "CACHE_FROZEN_LAYERS", False)
        interrupt_after(patch, 6)
        with pytest.raises(KeyboardInterrupt):
            train_and_evaluate(settings, tmp_path / "cut", progress=False)
    assert not transfer.is_frozen_top(keras.models.load_model(tmp_path / "cut" / photo_training.FINE_TUNE_CHECKPOINT))
    resumed = train_and_evaluate(settings, tmp_path / "cut", resume=True, progress=False)
    assert resumed.metrics["fine_tuned_on"] is None
    expected, got = runs.read_history(uninterrupted.run_directory), runs.read_history(resumed.run_directory)
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [row[column] for row in got] == pytest.approx([row[column] for row in expected], rel=1e-4, abs=1e-6)


def test_resume_refuses_another_dataset(tmp_path, monkeypatch, shapes, calibrated_weights):
    interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(tiny_config(shapes, calibrated_weights), tmp_path / "run", progress=False)
    other = synthetic.write_photo_folder(tmp_path / "other", per_class=8, size=SIZE)
    with pytest.raises(RunError, match="dataset"):
        train_and_evaluate(tiny_config(other, calibrated_weights), tmp_path / "run", resume=True, progress=False)


def test_augmented_runs_train_the_whole_model_on_images(tmp_path, shapes, calibrated_weights):
    result = train_and_evaluate(tiny_config(shapes, calibrated_weights, augment="all", epochs=2, fine_tune_epochs=1,
                                            augmentations=("rotate", "vflip")),
                                tmp_path / "run", progress=False)
    assert "features" not in result.metrics["phase_seconds"]
    assert result.metrics["augment"] == "all" and result.metrics["augmentations"] == ["rotate", "vflip"]
    assert json.loads((result.run_directory / "config.json").read_text())["augmentations"] == ["rotate", "vflip"]
    assert "rotate, vflip: both phases" in (result.run_directory / "report.html").read_text(encoding="utf-8")
    assert len(runs.read_history(result.run_directory)) == 3


def test_shards_and_folders_give_the_same_examples_and_both_train(tmp_path, shapes, calibrated_weights):
    tfrecords.write_shards(shapes, tmp_path / "shards", size=SIZE, shards=3)
    from_folder = photos.open_photos(shapes, image_size=SIZE, validation_split=0.2, seed=3)
    from_shards = photos.open_photos(tmp_path / "shards", image_size=SIZE, validation_split=0.2, seed=3)
    assert from_shards.kind == "tfrecords" and from_folder.kind == "folder"
    assert from_shards.class_names == from_folder.class_names
    assert from_shards.training == from_folder.training and from_shards.validation == from_folder.validation
    labels = sorted(int(label) for _, label in from_shards.validation_dataset().as_numpy_iterator())
    assert labels == sorted(example.label for example in from_folder.validation)
    result = train_and_evaluate(tiny_config(tmp_path / "shards", calibrated_weights, epochs=1, fine_tune_epochs=0),
                                tmp_path / "run", progress=False)
    assert result.metrics["data_format"] == "tfrecords" and result.metrics["test_examples"] == 12


def test_shards_stored_at_another_size_are_resized(tmp_path, shapes):
    tfrecords.write_shards(shapes, tmp_path / "shards", size=40, shards=2)
    data = photos.open_photos(tmp_path / "shards", image_size=SIZE, validation_split=0.2, seed=0)
    image, _ = next(data.training_dataset().as_numpy_iterator())
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8


def test_bad_files_are_skipped_and_counted_in_the_metrics(tmp_path, calibrated_weights):
    data = synthetic.write_photo_folder(tmp_path / "data", per_class=10, size=SIZE)
    (data / "circles" / "truncated.jpg").write_bytes((data / "circles" / "circles-000.jpg").read_bytes()[:200])
    (data / "squares" / "notes.jpg").write_text("not a picture")
    Image.new("CMYK", (SIZE, SIZE), (0, 200, 200, 0)).save(data / "triangles" / "cmyk.jpg")
    Image.new("LA", (SIZE, SIZE), (90, 128)).save(data / "triangles" / "grey-alpha.png")
    result = train_and_evaluate(tiny_config(data, calibrated_weights, fine_tune_epochs=0, epochs=1),
                                tmp_path / "run", progress=False)
    skipped = dict(map(tuple, result.metrics["skipped_files"]))
    assert set(skipped) == {"circles/truncated.jpg", "squares/notes.jpg"}
    assert result.metrics["train_examples"] + result.metrics["test_examples"] == 32
    report = (result.run_directory / "report.html").read_text(encoding="utf-8")
    assert "2 file(s) skipped" in report and "squares/notes.jpg" in report


@pytest.mark.parametrize("layout, words", [
    ({}, "not found"),
    ({"only": 3}, "at least 2 classes"),
    ({"cats": 3, "dogs": 0}, "dogs"),
])
def test_unusable_datasets_are_one_line_errors(tmp_path, layout, words):
    root = tmp_path / "data"
    for name, count in layout.items():
        (root / name).mkdir(parents=True)
        for number in range(count):
            Image.new("RGB", (8, 8), (number * 40, 0, 0)).save(root / name / f"{number}.jpg")
    with pytest.raises(DataError) as caught:
        photos.open_photos(root, image_size=SIZE, validation_split=0.2, seed=0)
    message = str(caught.value)
    assert "\n" not in message and words in message


def test_augmenting_only_the_fine_tuning_keeps_the_cached_frozen_phase(tmp_path, shapes, calibrated_weights):
    result = train_and_evaluate(tiny_config(shapes, calibrated_weights, augment="fine-tune", epochs=1, fine_tune_epochs=1),
                                tmp_path / "run", progress=False)
    assert "features" in result.metrics["phase_seconds"] and result.metrics["augment"] == "fine-tune"


def test_photo_config_rejects_bad_values():
    with pytest.raises(ConfigError, match="head"):
        config.photo_config("flowers", head="mean")
    with pytest.raises(ConfigError, match="validation_split"):
        config.photo_config("flowers", validation_split=0)
    with pytest.raises(ConfigError, match="image_size"):
        config.photo_config("flowers", image_size=16)
    with pytest.raises(ConfigError, match="augment"):
        config.photo_config("flowers", augment="sometimes")
    with pytest.raises(ConfigError, match="unknown transform 'spin'"):
        config.photo_config("flowers", augmentations=("flip", "spin"))
    saved = config.photo_config("flowers", fine_tune_epochs=3, augment="fine-tune", augmentations=["zoom"]).to_dict()
    assert config.from_dict(json.loads(json.dumps(saved))) == config.photo_config(
        "flowers", fine_tune_epochs=3, augment="fine-tune", augmentations=("zoom",))
    # A config.json from before the list reads as the transforms photo runs had then.
    del saved["augmentations"]
    assert config.from_dict(saved).augmentations == ("flip", "rotate", "zoom", "contrast")


def test_balanced_class_weights():
    weights = photo_training.balanced_class_weights(np.array([0, 0, 0, 1, 2, 2]), 3)
    assert weights == pytest.approx({0: 6 / 9, 1: 2.0, 2: 1.0})


def test_cli_trains_predicts_and_evaluates_a_photo_run(tmp_path, shapes, calibrated_weights, capsys):
    run = tmp_path / "run"
    code = cli.main(["train", str(shapes), "--base", BASE, "--weights", str(calibrated_weights), "--image-size", str(SIZE),
                     "--epochs", "3", "--fine-tune-epochs", "0", "--batch-size", "8", "--learning-rate", "0.02", "--class-weight", "balanced",
                     "--out", str(run), "--quiet"])
    assert code == 0
    assert "validation accuracy" in capsys.readouterr().out
    picture = shapes / "triangles" / "triangles-000.jpg"
    assert cli.main(["predict", str(run), str(picture), "--top", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(str(picture)) and any(name in line for name in ("circles", "squares", "triangles"))
    assert cli.main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert any(line.startswith("triangles ") and line.count("%") == 3 for line in out.splitlines())  # Precision, recall, F1.
    assert "warning: Only 12 examples were evaluated" in out  # 3 classes x 20 photos: a rough validation figure.
    run_predictor = predictor.Predictor(run)
    assert run_predictor.kind == "photos" and run_predictor.image_size == SIZE
    probabilities = run_predictor.predict_images([Image.open(picture)])
    assert probabilities.shape == (1, 3) and probabilities.sum() == pytest.approx(1, rel=1e-5)


def test_cli_describes_a_photo_dataset(tmp_path, capsys):
    data = synthetic.write_photo_folder(tmp_path / "data", per_class=10, size=SIZE)
    (data / "squares" / "notes.jpg").write_text("not a picture")
    assert cli.main(["data", "photos", str(data)]) == 0
    out = capsys.readouterr().out
    assert "30 images of 3 classes" in out and "squares/notes.jpg: not an image" in out
    assert any(line.split()[:3] == ["circles", "8", "2"] for line in out.splitlines())


@pytest.mark.parametrize("argv, words", [
    (["train", "mnist", "--model", "dense1", "--base", "mobilenet_v2"], "--base: only for photo datasets"),
    (["train", "{shapes}", "--model", "dense1"], "--model: only for mnist"),
    (["train", "mnist"], "--model: required"),
    (["train", "{missing}"], "dataset not found"),
    (["train", "{shapes}", "--weights", "{missing}"], "weights file not found"),
])
def test_cli_bad_photo_input_is_one_line(tmp_path, shapes, capsys, argv, words):
    argv = [part.format(shapes=shapes, missing=tmp_path / "missing") for part in argv]
    assert cli.main(argv + ["--quiet", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and words in error
    assert not (tmp_path / "run" / runs.MODEL).exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_frozen_mobilenet_v2_learns_real_flowers(tmp_path, real_data):
    result = train_and_evaluate(config.photo_config("flowers", epochs=2, fine_tune_epochs=0), tmp_path / "run", data_dir=real_data,
                                progress=False)
    assert result.metrics["test_examples"] == 641
    assert result.metrics["test_accuracy"] >= 0.8


def test_a_run_whose_class_folders_changed_is_refused(tmp_path, shapes, calibrated_weights):
    data = synthetic.write_photo_folder(tmp_path / "data", per_class=10, size=SIZE)
    result = train_and_evaluate(tiny_config(data, calibrated_weights, epochs=1, fine_tune_epochs=0), tmp_path / "run",
                                progress=False)
    (data / "circles").rename(data / "ovals")
    with pytest.raises(DataError, match="dataset changed since the run started"):
        evaluate.evaluate_run(result.run_directory)


def test_a_photo_run_that_fails_at_start_up_does_not_block_its_folder(tmp_path, shapes, calibrated_weights, capsys):
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not an HDF5 file")
    arguments = ["train", str(shapes), "--base", BASE, "--image-size", str(SIZE), "--epochs", "1", "--fine-tune-epochs",
                 "0", "--batch-size", "8", "--out", str(tmp_path / "run"), "--quiet"]
    code = cli.main(arguments + ["--weights", str(broken)])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and str(broken) in error, error
    assert not (tmp_path / "run" / runs.CONFIG).exists()
    assert cli.main(arguments + ["--weights", str(calibrated_weights), "--resume"]) == 0, capsys.readouterr().err
    assert runs.status(tmp_path / "run") == "finished"


def test_a_photo_resume_on_changed_files_is_refused(tmp_path, monkeypatch, calibrated_weights):
    data = synthetic.write_photo_folder(tmp_path / "data", per_class=8, size=SIZE)
    interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(tiny_config(data, calibrated_weights), tmp_path / "run", progress=False)
    recorded = runs.read_json(tmp_path / "run" / runs.CONFIG)[runs.DATA_IDENTITY]
    assert set(recorded) == {"photos_index_sha256"}
    first = sorted((data / "circles").iterdir())[0]
    (data / "circles" / "extra.jpg").write_bytes(first.read_bytes())
    with pytest.raises(RunError, match="not the data this run started on"):
        train_and_evaluate(tiny_config(data, calibrated_weights), tmp_path / "run", resume=True, progress=False)


def test_a_photo_run_trains_with_its_own_optimizer_loss_and_clipnorm(tmp_path, shapes, calibrated_weights):
    # config.json saved optimizer, loss and clipnorm, and photo runs used to
    # ignore all three (always Adam with sparse cross-entropy): every phase
    # now compiles with them.
    settings = tiny_config(shapes, calibrated_weights, epochs=1, fine_tune_epochs=1, optimizer="sgd",
                           loss="categorical_crossentropy", clipnorm=0.5, learning_rate=0.05)
    result = train_and_evaluate(settings, tmp_path / "run", progress=False)
    model = keras.models.load_model(result.run_directory / runs.MODEL)
    assert type(model.optimizer).__name__ == "SGD" and model.optimizer.clipnorm == 0.5
    assert model.loss == "categorical_crossentropy"
    saved = json.loads((result.run_directory / runs.CONFIG).read_text(encoding="utf-8"))
    assert (saved["optimizer"], saved["loss"], saved["clipnorm"]) == ("sgd", "categorical_crossentropy", 0.5)
    rows = runs.read_history(result.run_directory)
    assert len(rows) == 2 and all(math.isfinite(row["loss"]) for row in rows)
    assert 0.0 <= result.metrics["test_accuracy"] <= 1.0


@pytest.mark.parametrize("photos_count, batch", [(2, 2), (24, 4), (60, 4), (200, 16), (400, 32), (2560, 32)])
def test_small_folders_train_at_a_smaller_batch(photos_count, batch):
    assert photo_training.small_folder_batch(photos_count, 32) == batch
    assert photo_training.small_folder_batch(photos_count, 8) == min(batch, 8)


def test_a_teachable_machine_size_folder_trains_with_defaults_and_warns_that_its_figure_is_rough(
        tmp_path, calibrated_weights, capsys):
    import nophd

    folder = synthetic.write_photo_folder(tmp_path / "small", per_class=10, size=SIZE)
    options = dict(base=BASE, weights=str(calibrated_weights), image_size=SIZE, epochs=1, fine_tune_epochs=0,
                   out=tmp_path / "run", progress=True)
    result = nophd.train_photos(folder, **options)  # No batch size: 24 training photos would not fill batch 32.
    assert json.loads((result.run_directory / "config.json").read_text())["batch_size"] == 4
    assert "24 training photos: batch size 4 instead of 32" in capsys.readouterr().err
    assert result.metrics["test_examples"] == 6
    page = (result.run_directory / "report.html").read_text(encoding="utf-8")
    assert 'id="few-examples"' in page and "Only 6 examples were evaluated" in page
    # A batch the user asks for is kept, and one larger than the folder is a one-line error saying what to do.
    with pytest.raises(ConfigError, match="lower --batch-size to 24 or less"):
        nophd.train_photos(folder, **dict(options, out=tmp_path / "other", batch_size=32))


def test_a_tuning_split_comes_out_of_the_training_photos_and_never_touches_the_validation_split(shapes):
    plain = photos.open_photos(shapes, image_size=SIZE, validation_split=0.2, seed=0)
    tuned = photos.open_photos(shapes, image_size=SIZE, validation_split=0.2, seed=0, tuning_split=0.25)
    assert plain.held_out == "validation" and tuned.held_out == "tuning"
    validation, training = set(plain.validation), set(plain.training)
    assert set(tuned.training) | set(tuned.validation) == training  # Both from the training photos...
    assert not (set(tuned.training) | set(tuned.validation)) & validation  # ...none from the validation split.
    assert not set(tuned.training) & set(tuned.validation)
    assert sorted(example.label for example in tuned.validation) == [0] * 4 + [1] * 4 + [2] * 4  # Stratified.


def test_a_run_with_a_tuning_split_says_it_was_scored_on_it(tmp_path, shapes, calibrated_weights, capsys):
    run = tmp_path / "run"
    code = cli.main(["train", str(shapes), "--base", BASE, "--weights", str(calibrated_weights), "--image-size",
                     str(SIZE), "--epochs", "1", "--fine-tune-epochs", "0", "--tuning-split", "0.25",
                     "--out", str(run), "--quiet"])
    assert code == 0 and "tuning accuracy" in capsys.readouterr().out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["tuning_split"] == 0.25 and metrics["test_examples"] == 12 and metrics["train_examples"] == 36
    assert "tuning split" in metrics["evaluated_on"] and "validation split was not read" in metrics["evaluated_on"]
    assert "tuning accuracy" in (run / "report.html").read_text(encoding="utf-8")
    # Evaluating the run again scores the same tuning photos.
    assert evaluate.evaluate_run(run)["test_accuracy"] == pytest.approx(metrics["test_accuracy"])


def test_tta_views_are_the_photo_its_central_crop_and_their_mirror_images():
    from nophd.inference import tta

    images = np.random.default_rng(0).uniform(0, 255, size=(3, 16, 16, 3)).astype(np.float32)
    views = tta.views(images, flip=True)
    assert len(views) == 4 and all(view.shape == images.shape for view in views)
    np.testing.assert_array_equal(views[0], images)
    np.testing.assert_array_equal(views[2], images[:, :, ::-1])
    np.testing.assert_array_equal(views[3], views[1][:, :, ::-1])
    # The crop scales up the middle 14 of 16 pixels: its centre matches the photo's centre, its edges do not.
    assert np.abs(views[1][:, 7:9, 7:9] - images[:, 7:9, 7:9]).mean() < np.abs(views[1] - images).mean()
    assert len(tta.views(images, flip=False)) == 2
    flipped = tta.views(images, flip=True, crop=False)
    assert len(flipped) == 2
    np.testing.assert_array_equal(flipped[1], images[:, :, ::-1])


def test_tta_views_are_read_from_names():
    from nophd.inference import tta

    assert tta.chosen_views(False) == () and tta.chosen_views(True) == tta.DEFAULT_VIEWS
    assert tta.chosen_views("flip") == ("flip",) and tta.chosen_views(" flip, crop") == ("crop", "flip")
    for bad in ("mirror", "", "flip,zoom"):
        with pytest.raises(ConfigError, match="--tta-views"):
            tta.chosen_views(bad)


def test_evaluating_with_tta_averages_views_and_keeps_the_plain_figures(uninterrupted):
    run = uninterrupted.run_directory
    plain = evaluate.evaluate_run(run)
    averaged = evaluate.evaluate_run(run, tta=True)
    assert averaged["tta"] == ["crop", "flip"] and plain["tta"] is False
    assert averaged["test_examples"] == plain["test_examples"] and 0 <= averaged["test_accuracy"] <= 1
    assert json.loads((run / "evaluation-tta.json").read_text())["test_accuracy"] == averaged["test_accuracy"]
    assert json.loads((run / "evaluation.json").read_text())["tta"] is False
    mirrored = evaluate.evaluate_run(run, tta="flip")
    assert mirrored["tta"] == ["flip"]
    assert json.loads((run / "evaluation-tta.json").read_text())["tta"] == ["flip"]


def test_a_run_without_flips_gets_no_mirrored_views(uninterrupted, tmp_path):
    import shutil

    run = tmp_path / "no-flips"
    shutil.copytree(uninterrupted.run_directory, run)
    values = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**values, "augmentations": ["rotate", "zoom"]}))
    assert evaluate.evaluate_run(run, tta=True)["tta"] == ["crop"]  # The default views, less the mirror.
    with pytest.raises(ConfigError, match="--tta-views flip: .* trained without flips"):
        evaluate.evaluate_run(run, tta="flip")


def test_a_two_class_folder_trains_one_sigmoid_and_is_scored_as_two_probabilities(tmp_path, calibrated_weights, capsys):
    from nophd.inference import loading

    folder = synthetic.write_photo_folder(tmp_path / "two", per_class=16, size=SIZE, classes=2)
    settings = tiny_config(folder, calibrated_weights, epochs=2, fine_tune_epochs=1, loss="binary_crossentropy")
    result = train_and_evaluate(settings, tmp_path / "run", progress=False)
    saved = json.loads((result.run_directory / runs.CONFIG).read_text(encoding="utf-8"))
    assert saved["loss"] == "binary_crossentropy" and len(saved["class_names"]) == 2
    model = loading.load_run_model(result.run_directory)
    assert model.output.shape == (None, 2) and model.get_layer("probabilities").units == 1
    assert model.get_layer("probabilities").get_config()["activation"] == "sigmoid"
    metrics = result.metrics
    assert np.asarray(metrics["confusion"]).shape == (2, 2) and len(metrics["per_class_f1"]) == 2
    code = cli.main(["evaluate", str(result.run_directory)])
    assert code == 0
    evaluation = json.loads((result.run_directory / "evaluation.json").read_text())
    assert evaluation["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert evaluation["class_names"] == saved["class_names"]
    # Three classes cannot share one sigmoid: refused in one line before training.
    capsys.readouterr()
    code = cli.main(["train", str(synthetic.write_photo_folder(tmp_path / "three", per_class=4, size=SIZE)),
                     "--loss", "binary_crossentropy", "--weights", "none", "--image-size", str(SIZE), "--base", BASE,
                     "--out", str(tmp_path / "refused"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "has 3" in err and len(err.strip().splitlines()) == 1, err


def test_fine_tuning_without_augmentation_trains_on_cached_frozen_layer_outputs_as_on_images(
        tmp_path, monkeypatch, shapes, calibrated_weights):
    settings = tiny_config(shapes, calibrated_weights, epochs=2, fine_tune_epochs=2)
    cached = train_and_evaluate(settings, tmp_path / "cached", progress=False)
    assert cached.metrics["fine_tuned_on"].startswith("cached outputs of the frozen layers up to ")
    assert "frozen_layers" in cached.metrics["phase_seconds"]
    assert ", trained on cached outputs of the frozen layers up to " in (cached.run_directory / "report.html").read_text()
    monkeypatch.setattr(photo_training, "CACHE_FROZEN_LAYERS", False)
    on_images = train_and_evaluate(settings, tmp_path / "images", progress=False)
    assert on_images.metrics["fine_tuned_on"] is None
    for column in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [row[column] for row in runs.read_history(cached.run_directory)] == pytest.approx(
            [row[column] for row in runs.read_history(on_images.run_directory)], rel=1e-4, abs=1e-6)
    for a, b in zip(keras.models.load_model(cached.run_directory / runs.MODEL).weights,
                    keras.models.load_model(on_images.run_directory / runs.MODEL).weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_the_frozen_bottom_split_equals_the_model_and_shares_its_weights():
    model = transfer.build_transfer_model(BASE, 3, image_size=SIZE, head="gap", dropout=0.0, weights=None)
    assert transfer.frozen_bottom_split(model) is None  # Nothing unfrozen: the frozen phase's cache applies.
    transfer.set_fine_tuning(model, 6)
    bottom, top = transfer.frozen_bottom_split(model)
    images = np.random.default_rng(0).uniform(0, 255, size=(4, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(top.predict(bottom.predict(images, verbose=0), verbose=0),
                               model.predict(images, verbose=0), rtol=1e-5, atol=1e-6)
    assert {id(weight) for weight in top.trainable_weights} == {id(weight) for weight in model.trainable_weights}
    assert not bottom.trainable_weights
    transfer.set_fine_tuning(model, 10_000)  # The whole backbone trains: nothing to cache.
    assert transfer.frozen_bottom_split(model) is None
