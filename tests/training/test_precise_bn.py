"""Precise batch norm (nophd.training.precise_bn): on a tiny model and random inputs, and at the end of a digit run."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import nophd
from nophd import runs
from nophd.training import precise_bn


def tiny_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 2))
    features = keras.layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    features = keras.layers.BatchNormalization(scale=False, name="first")(features)
    features = keras.layers.Activation("relu")(features)
    features = keras.layers.Flatten()(features)
    features = keras.layers.Dense(5)(features)
    features = keras.layers.BatchNormalization(name="second")(features)
    frozen = keras.layers.BatchNormalization(name="frozen")
    frozen.trainable = False
    features = frozen(features)
    outputs = keras.layers.Dense(3, activation="softmax")(features)
    return keras.Model(inputs, outputs)


def inputs_of(model, name, images):
    return np.asarray(keras.Model(model.input, model.get_layer(name).input)(images, training=False), dtype=np.float64)


def images(count=50, seed=0):
    # Offset and scaled so that the true statistics are far from the initial (0, 1).
    return (np.random.default_rng(seed).normal(size=(count, 6, 6, 2)) * 3 + 2).astype(np.float32)


def test_moving_statistics_become_the_exact_statistics_of_each_layers_inputs_layer_after_layer():
    model, data = tiny_model(), images()
    frozen_before = [np.asarray(weight) for weight in model.get_layer("frozen").weights]
    used = precise_bn.recompute_batch_norm(model, data, batch_size=16)  # 50 images: batches of 16, 16, 16 and 2
    assert used == 50

    first = inputs_of(model, "first", data)
    np.testing.assert_allclose(model.get_layer("first").moving_mean, first.mean(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("first").moving_variance, first.var(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)
    # The second layer's inputs are computed with the first layer's new statistics (read back now).
    second = inputs_of(model, "second", data)
    np.testing.assert_allclose(model.get_layer("second").moving_mean, second.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.get_layer("second").moving_variance, second.var(axis=0), rtol=1e-5, atol=1e-6)
    assert np.abs(second.mean(axis=0)).max() > 0.1  # Not trivially the initial statistics.
    # In inference mode the first layer now normalises its inputs over the set: mean 0, variance 1 per channel.
    normalised = np.asarray(keras.Model(model.input, model.get_layer("first").output)(data, training=False))
    np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2)), model.get_layer("first").beta, atol=1e-4)
    for before, after in zip(frozen_before, model.get_layer("frozen").weights):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_a_dataset_of_pairs_and_a_cap_give_the_statistics_of_the_first_images_only():
    data = images(80)
    from_array = tiny_model()
    assert precise_bn.recompute_batch_norm(from_array, data[:30]) == 30
    from_dataset = tiny_model()
    pairs = tf.data.Dataset.from_tensor_slices((data, np.zeros(80))).batch(16)
    assert precise_bn.recompute_batch_norm(from_dataset, pairs, max_images=30) == 30
    for a, b in zip(from_array.weights, from_dataset.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


def test_a_model_without_trainable_batch_norm_is_left_alone_and_reads_nothing():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert precise_bn.recompute_batch_norm(model, iter(())) == 0
    with pytest.raises(ValueError, match="no images"):
        precise_bn.recompute_batch_norm(tiny_model(), np.zeros((0, 6, 6, 2), np.float32))


# A whole digit run: conv-bn, 2 epochs on the 1,200 tiny digits (36 steps).
# Without precise BN its moving statistics lag: measured 85.7% training
# accuracy and 62.3% test accuracy; with it, 99.0% test accuracy.


def short_conv_bn(data, out, **options):
    return nophd.train("conv-bn", epochs=2, data_dir=data, out=out, progress=False, **options)


@pytest.fixture(scope="module")
def short_run(tiny_mnist, tmp_path_factory):
    return short_conv_bn(tiny_mnist, tmp_path_factory.mktemp("short") / "run")


def test_a_short_conv_bn_run_tests_within_three_points_of_its_training_accuracy(short_run):
    training_accuracy = runs.read_history(short_run.run_directory)[-1]["accuracy"]
    print(f"conv-bn 2 epochs on 1,200 tiny digits: training {training_accuracy:.2%}, test {short_run.test_accuracy:.2%}")
    assert short_run.test_accuracy >= training_accuracy - 0.03
    metrics = json.loads((short_run.run_directory / runs.METRICS).read_text())
    assert metrics["precise_bn"] == {"images": 1200}


def test_the_saved_model_holds_the_recomputed_statistics(short_run, tiny_mnist):
    from nophd.data import mnist

    model = keras.models.load_model(short_run.run_directory / runs.MODEL)
    first = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    train_images = mnist.load(tiny_mnist).train_images[..., None].astype(np.float32) / 255.0  # As the pipeline decodes.
    inputs = np.asarray(keras.Model(model.input, first.input)(train_images, training=False), dtype=np.float64)
    np.testing.assert_allclose(first.moving_mean, inputs.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance, inputs.var(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)


def test_a_resumed_run_ends_with_the_weights_and_statistics_of_an_uninterrupted_one(short_run, tiny_mnist, tmp_path,
                                                                                      interrupted_after_first_epoch):
    interrupted_after_first_epoch(short_conv_bn, tiny_mnist, tmp_path / "cut")
    assert runs.read_state(tmp_path / "cut")["status"] == "interrupted"
    resumed = short_conv_bn(tiny_mnist, tmp_path / "cut", resume=True)
    assert resumed.metrics["precise_bn"] == short_run.metrics["precise_bn"]
    assert resumed.test_accuracy == short_run.test_accuracy
    expected = keras.models.load_model(short_run.run_directory / runs.MODEL)
    got = keras.models.load_model(resumed.run_directory / runs.MODEL)
    for a, b in zip(expected.weights, got.weights):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=a.path)


@pytest.mark.slow
@pytest.mark.realdata
def test_conv_bn_for_two_epochs_on_3000_real_digits_tests_within_three_points_of_its_training_accuracy(real_data,
                                                                                                      tmp_path):
    # Issue 13's check: `nophd train mnist --model conv-bn --epochs 2 --train-limit 3000`. Measured before precise
    # BN: training 93.21%, test 11.35% (every digit called "1"); with it, test 95.97%.
    result = nophd.train("conv-bn", epochs=2, train_limit=3000, data_dir=real_data / "mnist", out=tmp_path / "run",
                         progress=False)
    training_accuracy = runs.read_history(result.run_directory)[-1]["accuracy"]
    print(f"conv-bn 2 epochs on 3,000 MNIST digits: training {training_accuracy:.2%}, test {result.test_accuracy:.2%}")
    assert result.test_accuracy >= training_accuracy - 0.03
