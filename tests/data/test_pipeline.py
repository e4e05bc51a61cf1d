"""The tf.data pipeline: shapes, value range, labels, deterministic shuffling, skipping."""

import numpy as np
import pytest

from nophd.data import pipeline


@pytest.fixture
def records():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    labels = (np.arange(50) % 10).astype(np.uint8)
    return pipeline.mnist_arrays(images, labels), images, labels


def test_records_are_the_arrays_examples_in_order(records):
    dataset, images, labels = records
    decoded = list(dataset.as_numpy_iterator())
    assert len(decoded) == 50
    np.testing.assert_array_equal(np.stack([image for image, _ in decoded])[..., 0], images)
    np.testing.assert_array_equal([label for _, label in decoded], labels)


def test_training_batches_shapes_range_and_one_hot(records):
    dataset, _, _ = records
    images, labels = next(iter(pipeline.training_dataset(dataset, batch_size=8, one_hot=True, seed=1)))
    assert images.shape == (8, 28, 28, 1) and images.dtype.name == "float32"
    assert 0.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0
    assert labels.shape == (8, 10)
    np.testing.assert_allclose(np.sum(labels, axis=1), 1.0)


def test_sparse_labels_and_evaluation_order(records):
    dataset, images, labels = records
    batches = list(pipeline.evaluation_dataset(dataset, batch_size=20, one_hot=False).as_numpy_iterator())
    assert [len(batch_labels) for _, batch_labels in batches] == [20, 20, 10]  # Keeps the partial batch.
    np.testing.assert_array_equal(np.concatenate([batch_labels for _, batch_labels in batches]), labels)
    np.testing.assert_allclose(batches[0][0][..., 0], images[:20] / 255.0, rtol=1e-6)


def take_labels(dataset, count):
    return np.concatenate([batch_labels.argmax(axis=1) for _, batch_labels in dataset.take(count).as_numpy_iterator()])


def test_shuffle_is_seeded_reshuffles_each_epoch_and_skip_resumes_the_same_stream(records):
    dataset, _, _ = records
    stream = take_labels(pipeline.training_dataset(dataset, 10, True, seed=3), 15)  # 3 epochs of 5 batches.
    again = take_labels(pipeline.training_dataset(dataset, 10, True, seed=3), 15)
    np.testing.assert_array_equal(stream, again)
    assert not np.array_equal(stream[:50], stream[50:100])  # A new order every epoch.
    assert sorted(stream[:50]) == sorted(np.arange(50) % 10)  # Each epoch sees every example once.
    resumed = take_labels(pipeline.training_dataset(dataset, 10, True, seed=3, skip_batches=5), 10)
    np.testing.assert_array_equal(resumed, stream[50:])
    other_seed = take_labels(pipeline.training_dataset(dataset, 10, True, seed=4), 5)
    assert not np.array_equal(other_seed, stream[:50])
