"""The cosine learning-rate schedule and label smoothing: what config.json plans is what the optimizer does."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import nophd
from nophd import config, presets, runs
from nophd.errors import ConfigError
from nophd.training import loop


def cosine(**changes):
    recipe = dataclasses.replace(presets.preset("conv-bn"), lr_decay=None)
    return config.override(recipe, **{**dict(lr_schedule="cosine", learning_rate=0.02, epochs=4, warmup_epochs=1.0),
                                      **changes})


def test_the_cosine_schedule_warms_up_linearly_then_decays_to_zero():
    plan = cosine()
    assert plan.cosine_learning_rate(0.0) == 0.0
    assert plan.cosine_learning_rate(0.5) == pytest.approx(0.01)
    assert plan.cosine_learning_rate(1.0) == pytest.approx(0.02)
    assert plan.cosine_learning_rate(2.5) == pytest.approx(0.01)  # Half-way through the decay.
    assert plan.cosine_learning_rate(4.0) == pytest.approx(0.0, abs=1e-12)
    # One value per epoch for the plots: the epoch's middle.
    assert plan.schedule() == pytest.approx([0.01, 0.02 * 0.5 * (1 + np.cos(np.pi / 6)), 0.01,
                                             0.02 * 0.5 * (1 + np.cos(5 * np.pi / 6))])


@pytest.mark.parametrize("warmup", [0.0, 0.5])
def test_the_optimizer_follows_the_planned_schedule_step_by_step(warmup):
    plan = cosine(warmup_epochs=warmup)
    steps_per_epoch = 10
    optimizer = loop.make_optimizer(plan, steps_per_epoch)
    learning_rate = optimizer._learning_rate  # The schedule object Keras calls with the step count.
    for step in (0, 3, 5, 7, 10, 21, 39, 40):
        planned = plan.cosine_learning_rate(step / steps_per_epoch)
        assert float(learning_rate(step)) == pytest.approx(planned, abs=1e-7), step


@pytest.mark.parametrize("changes, field", [
    ({"lr_decay": 0.5}, "lr_decay"),
    ({"lr_schedule": "linear"}, "lr_schedule"),
    ({"warmup_epochs": 4.0}, "warmup_epochs"),
    ({"warmup_epochs": -1.0}, "warmup_epochs"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
    ({"label_smoothing": float("nan")}, "label_smoothing"),
    ({"label_smoothing": 0.1, "loss": "sparse_categorical_crossentropy"}, "label_smoothing"),
])
def test_bad_schedule_and_smoothing_settings_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        cosine(**changes)


def test_warm_up_without_the_cosine_schedule_is_refused():
    with pytest.raises(ConfigError, match="warmup_epochs"):
        config.override(presets.preset("conv-bn"), warmup_epochs=0.5)


def test_photo_runs_refuse_the_cosine_schedule_with_one_line():
    with pytest.raises(ConfigError, match="lr_schedule: expected one of exponential for a photos run"):
        config.photo_config("flowers", lr_schedule="cosine")


def test_the_cosine_schedule_replaces_the_recipes_decay_from_the_api(tiny_mnist, tmp_path):
    result = nophd.train("conv-bn", epochs=2, train_limit=256, test_limit=64, lr_schedule="cosine",
                         warmup_epochs=0.5, label_smoothing=0.1, data_dir=tiny_mnist, out=tmp_path / "run",
                         progress=False)
    saved = json.loads((result.run_directory / runs.CONFIG).read_text())
    assert (saved["lr_schedule"], saved["lr_decay"], saved["warmup_epochs"], saved["label_smoothing"]) == (
        "cosine", None, 0.5, 0.1)
    plan = config.from_dict(saved)
    rows = runs.read_history(result.run_directory)
    # history.csv's learning rate is the optimizer's after each epoch's last step: the schedule at that point.
    assert [row["learning_rate"] for row in rows] == pytest.approx(
        [plan.cosine_learning_rate(1.0), plan.cosine_learning_rate(2.0)], abs=1e-6)
    model = keras.models.load_model(result.run_directory / runs.MODEL)
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)


def test_a_resumed_cosine_run_continues_its_schedule_exactly(tiny_mnist, tmp_path, interrupted_after_first_epoch):
    options = dict(epochs=2, train_limit=256, test_limit=64, lr_schedule="cosine", warmup_epochs=0.5,
                   label_smoothing=0.1, data_dir=tiny_mnist, progress=False)
    whole = nophd.train("conv-bn", out=tmp_path / "whole", **options)
    interrupted_after_first_epoch(nophd.train, "conv-bn", out=tmp_path / "cut", **options)
    resumed = nophd.train("conv-bn", out=tmp_path / "cut", resume=True, **options)
    assert [row["learning_rate"] for row in runs.read_history(resumed.run_directory)] == pytest.approx(
        [row["learning_rate"] for row in runs.read_history(whole.run_directory)], abs=1e-9)
    expected = keras.models.load_model(whole.run_directory / runs.MODEL)
    got = keras.models.load_model(resumed.run_directory / runs.MODEL)
    for a, b in zip(expected.weights, got.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)


def test_weight_averaging_ends_with_the_average_of_the_weights():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=loop.make_optimizer(config.override(presets.preset("dense"), weight_average=0.5)),
                  loss="sparse_categorical_crossentropy")
    inputs = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    labels = np.arange(32) % 3
    kernel = model.layers[-1].kernel
    # Keras' first step copies the weights into the average, every later one makes it
    # 0.5 * average + 0.5 * weights; track that by hand from the weights after each of the 4 steps.
    after_steps = []
    keep = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: after_steps.append(
        np.asarray(kernel).copy()))
    model.fit(inputs, labels, batch_size=8, epochs=1, verbose=0, shuffle=False, callbacks=[keep])
    expected = after_steps[0]
    for weights in after_steps[1:]:
        expected = 0.5 * expected + 0.5 * weights
    averaged = np.asarray(kernel).copy()  # fit ends by swapping in the average...
    np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(averaged, after_steps[-1])
    assert loop.use_average_weights(model)  # ...and doing it again changes nothing.
    np.testing.assert_allclose(np.asarray(kernel), averaged)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    plain.compile(optimizer="adam", loss="mse")
    assert not loop.use_average_weights(plain)


def test_a_resumed_run_with_weight_averaging_ends_with_the_uninterrupted_runs_weights(
        tiny_mnist, tmp_path, interrupted_after_first_epoch):
    options = dict(epochs=2, train_limit=256, test_limit=64, weight_average=0.9, data_dir=tiny_mnist, progress=False)
    whole = nophd.train("conv", out=tmp_path / "whole", **options)
    plain = nophd.train("conv", out=tmp_path / "plain", **dict(options, weight_average=None))
    interrupted_after_first_epoch(nophd.train, "conv", out=tmp_path / "cut", **options)
    resumed = nophd.train("conv", out=tmp_path / "cut", resume=True, **options)
    assert json.loads((whole.run_directory / "config.json").read_text())["weight_average"] == 0.9
    expected = keras.models.load_model(whole.run_directory / runs.MODEL)
    got = keras.models.load_model(resumed.run_directory / runs.MODEL)
    for a, b in zip(expected.weights, got.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)
    # The same steps without the average end elsewhere: the average is what was saved.
    other = keras.models.load_model(plain.run_directory / runs.MODEL)
    assert not np.allclose(np.asarray(other.weights[0]), np.asarray(expected.weights[0]))


def test_weight_average_must_be_a_decay_between_0_and_1():
    with pytest.raises(ConfigError, match="weight_average: expected a decay in"):
        config.override(presets.preset("dense"), weight_average=1.0)
