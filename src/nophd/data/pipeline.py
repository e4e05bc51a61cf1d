"""tf.data input pipelines, as in the codelab.

MNIST's examples come from the arrays nophd.data.mnist.load read (the
codelab reads the idx files as fixed-length records; the arrays give the
same examples in the same order), are decoded to floats in [0, 1],
cached in memory, shuffled through a 5,000-example buffer, repeated,
batched and prefetched. Every function returns a `tf.data.Dataset`.
"""

from __future__ import annotations

import tensorflow as tf

from nophd.data import augment

IMAGE_SIZE = 28
NUM_CLASSES = 10


def mnist_arrays(images, labels) -> tf.data.Dataset:
    """MNIST examples as (uint8 image (28, 28, 1), uint8 label) pairs, from arrays already in memory.

    nophd.data.mnist.load has read and checked the idx files, so a run
    streams its examples from those arrays instead of reading the files'
    fixed-length records again as the codelab does: the same examples in the
    same order, and a first epoch several seconds shorter on 2 cores.
    """
    import numpy as np

    return tf.data.Dataset.from_tensor_slices((np.asarray(images, dtype=np.uint8)[..., None],
                                               np.asarray(labels, dtype=np.uint8)))


def decode(image: tf.Tensor, label: tf.Tensor, one_hot: bool, num_classes: int = NUM_CLASSES):
    """uint8 pixels -> float32 in [0, 1]; the label one-hot or an int32 index."""
    image = tf.cast(image, tf.float32) / 255.0
    label = tf.cast(label, tf.int32)
    if one_hot:
        label = tf.one_hot(label, num_classes)
    return image, label


def random_shift(image: tf.Tensor, label: tf.Tensor, index: tf.Tensor, seed: int, pixels: int):
    """Moves the image by up to `pixels` in each direction (zeros enter at the edges).

    The randomness is stateless, keyed by (seed, position in the stream), so
    it is the same however the map is parallelised and after a resume.
    """
    size = tf.shape(image)[:2]
    padded = tf.pad(image, [[pixels, pixels], [pixels, pixels], [0, 0]])
    shifted = tf.image.stateless_random_crop(
        padded, tf.concat([size, tf.shape(image)[2:]], axis=0), seed=tf.stack([tf.cast(seed, tf.int64), index])
    )
    return shifted, label


def training_dataset(
    records: tf.data.Dataset,
    batch_size: int,
    one_hot: bool,
    seed: int,
    shuffle_buffer: int = 5000,
    skip_batches: int = 0,
    shift_pixels: int = 0,
    augmentation: augment.DigitAugmentation | None = None,
    num_classes: int = NUM_CLASSES,
) -> tf.data.Dataset:
    """An endless, shuffled, batched training stream.

    Args:
        records: (uint8 image, uint8 label) pairs, e.g. from mnist_arrays().
        batch_size: examples per batch; the last partial batch of each pass
            is dropped so every step has the same shape.
        one_hot: one-hot labels for categorical_crossentropy, integer labels
            for the sparse and binary losses.
        seed: shuffling seed; with the same seed the order is the same.
        skip_batches: batches to skip at the start. Resuming after k epochs
            skips k epochs' worth, so the resumed run sees exactly the
            batches an uninterrupted run would have seen.
        shift_pixels: when > 0, augment by random shifts of up to this many
            pixels (see random_shift).
        augmentation: a nophd.data.augment.DigitAugmentation applied to
            each batch (None or all strengths 0: none). Its randomness is
            keyed by (seed, the batch's position in the whole stream), so
            skipping stays exact.
    """
    dataset = (
        records.map(lambda image, label: decode(image, label, one_hot, num_classes),
                    num_parallel_calls=tf.data.AUTOTUNE)
        .cache()
        .shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        .repeat()
    )
    if shift_pixels:
        dataset = dataset.enumerate().map(
            lambda index, example: random_shift(*example, index, seed, shift_pixels),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if augmentation is not None and augmentation.enabled:
        # Numbered before the skip, so a resumed stream's batches keep the
        # positions (and so the random draws) an uninterrupted run gives them;
        # skipped batches are never augmented.
        dataset = dataset.enumerate()
        if skip_batches:
            dataset = dataset.skip(skip_batches)
        dataset = dataset.map(
            lambda index, batch: (augment.augment_batch(batch[0], seed, index, augmentation, labels=batch[1]), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    elif skip_batches:
        dataset = dataset.skip(skip_batches)
    return dataset.prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(records: tf.data.Dataset, batch_size: int, one_hot: bool,
                       num_classes: int = NUM_CLASSES) -> tf.data.Dataset:
    """Validation/test batches: decoded and cached, in file order, one pass (num_classes: of the one-hot labels)."""
    return (
        records.map(lambda image, label: decode(image, label, one_hot, num_classes),
                    num_parallel_calls=tf.data.AUTOTUNE)
        .cache()
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
