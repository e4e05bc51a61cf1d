"""Precise batch norm (nophd.training.precise_bn) on a tiny model and random inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

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
