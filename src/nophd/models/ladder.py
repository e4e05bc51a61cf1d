"""The MNIST ladder of "TensorFlow, Keras and deep learning, without a PhD".

Each rung is a small `build_*` function returning a Functional model whose
input is a batch of 28x28x1 images with values in [0, 1] (the pipeline's
output) and whose output is 10 softmax probabilities. The rung's recipe is
registered beside it, with the accuracy the codelab reports.

Two more models come from the tutorial on Keras' advanced layers: a
convnet whose head is a weight-free global average pooling, and a
bidirectional GRU that reads the image one row at a time.
"""

from __future__ import annotations

import keras
from keras import layers

from nophd.config import Recipe
from nophd.models.spec import ModelSpec, register


def _inputs(input_shape: tuple[int, ...]) -> keras.KerasTensor:
    return keras.Input(shape=input_shape, name="image")


def build_dense1(input_shape, num_classes):
    """One layer: 784 pixels -> 10 softmax neurons (7,850 weights)."""
    inputs = _inputs(input_shape)
    features = layers.Flatten()(inputs)
    outputs = layers.Dense(num_classes, activation="softmax")(features)
    return keras.Model(inputs, outputs, name="dense1")


def _build_dense(input_shape, num_classes, activation, dropout, name):
    # The codelab's two hidden layers: 200 then 60 neurons.
    inputs = _inputs(input_shape)
    features = layers.Flatten()(inputs)
    for width in (200, 60):
        features = layers.Dense(width, activation=activation)(features)
        if dropout:
            features = layers.Dropout(dropout)(features)
    outputs = layers.Dense(num_classes, activation="softmax")(features)
    return keras.Model(inputs, outputs, name=name)


def build_dense_sigmoid(input_shape, num_classes):
    """Dense 200 and 60 with sigmoid, trained by plain SGD: depth alone does not help."""
    return _build_dense(input_shape, num_classes, "sigmoid", 0.0, "dense_sigmoid")


def build_dense(input_shape, num_classes):
    """Dense 200 and 60 with relu (trained with Adam)."""
    return _build_dense(input_shape, num_classes, "relu", 0.0, "dense")


def build_dense_dropout(input_shape, num_classes):
    """Dense 200 and 60 with relu and dropout 0.25 after each."""
    return _build_dense(input_shape, num_classes, "relu", 0.25, "dense_dropout")


def _convolutions(features, batch_norm: bool):
    # 28x28x1 -> 28x28x12 (3x3) -> 14x14x24 (6x6, stride 2) -> 7x7x32 (6x6, stride 2).
    for filters, kernel, stride in ((12, 3, 1), (24, 6, 2), (32, 6, 2)):
        if batch_norm:
            # No bias before batch norm (its offset does that job) and no scale
            # before a relu (the next layer can scale), as in the codelab.
            features = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False)(features)
            features = layers.BatchNormalization(scale=False)(features)
            features = layers.Activation("relu")(features)
        else:
            features = layers.Conv2D(filters, kernel, strides=stride, padding="same", activation="relu")(features)
    return features


def _build_conv(input_shape, num_classes, dropout, batch_norm, name):
    inputs = _inputs(input_shape)
    features = _convolutions(inputs, batch_norm)
    features = layers.Flatten()(features)
    if batch_norm:
        features = layers.Dense(200, use_bias=False)(features)
        features = layers.BatchNormalization(scale=False)(features)
        features = layers.Activation("relu")(features)
    else:
        features = layers.Dense(200, activation="relu")(features)
    if dropout:
        features = layers.Dropout(dropout)(features)
    outputs = layers.Dense(num_classes, activation="softmax")(features)
    return keras.Model(inputs, outputs, name=name)


def build_conv(input_shape, num_classes):
    """Conv 12@3x3, 24@6x6/2, 32@6x6/2, dense 200, softmax."""
    return _build_conv(input_shape, num_classes, 0.0, False, "conv")


def build_conv_dropout(input_shape, num_classes):
    """The convnet with dropout 0.5 on the dense layer."""
    return _build_conv(input_shape, num_classes, 0.5, False, "conv_dropout")


def build_conv_bn(input_shape, num_classes):
    """The convnet with batch norm after every layer (no bias, scale=False) and dropout 0.3."""
    return _build_conv(input_shape, num_classes, 0.3, True, "conv_bn")


def build_conv_gap(input_shape, num_classes):
    """The batch-norm convnet with a weight-free head.

    A last 3x3 convolution makes one 7x7 feature map per class;
    GlobalAveragePooling2D averages each map to one number, and softmax turns
    the ten numbers into probabilities. The head after the pooling has no
    weights, where conv-bn's Flatten + Dense(200) + Dense(10) has 315,800.
    """
    inputs = _inputs(input_shape)
    features = _convolutions(inputs, batch_norm=True)
    # No batch norm here: with scale=False it would pin the class maps near
    # unit variance, so the averaged logits could never grow confident (a
    # first run gave 98.82% test accuracy with a test loss of 0.43).
    features = layers.Conv2D(num_classes, 3, padding="same")(features)
    features = layers.GlobalAveragePooling2D()(features)
    outputs = layers.Activation("softmax")(features)
    return keras.Model(inputs, outputs, name="conv_gap")


def build_rnn_bigru(input_shape, num_classes):
    """Image rows as a sequence: 28 steps of 28 pixels through Bidirectional(GRU(64))."""
    inputs = _inputs(input_shape)
    rows = layers.Reshape((input_shape[0], input_shape[1] * input_shape[2]))(inputs)
    features = layers.Bidirectional(layers.GRU(64))(rows)
    outputs = layers.Dense(num_classes, activation="softmax")(features)
    return keras.Model(inputs, outputs, name="rnn_bigru")


# Recipes from the codelab's notebooks: SGD's and Adam's Keras defaults for
# the first rungs, then Adam with the exponential decay 0.01 * 0.6**epoch,
# and for batch norm BATCH_SIZE=64 with decay 0.666.
_DECAY = dict(optimizer="adam", learning_rate=0.01, lr_decay=0.6)

register(ModelSpec(
    "dense1", build_dense1, Recipe(optimizer="sgd", learning_rate=0.01, batch_size=128, epochs=10),
    "Dense 10 softmax, SGD", codelab_accuracy=0.90, codelab_text="~90%",
))
register(ModelSpec(
    "dense-sigmoid", build_dense_sigmoid, Recipe(optimizer="sgd", learning_rate=0.01, batch_size=128, epochs=10),
    "Dense 200-60 sigmoid, SGD: more layers alone do not help", codelab_accuracy=None,
    codelab_text="no better than dense1",
))
register(ModelSpec(
    "dense", build_dense, Recipe(optimizer="adam", learning_rate=0.001, batch_size=128, epochs=10),
    "Dense 200-60 relu, Adam", codelab_accuracy=0.97, codelab_text="~97%",
))
register(ModelSpec(
    "dense-lrdecay", build_dense, Recipe(batch_size=128, epochs=10, **_DECAY),
    "Dense 200-60 relu, Adam, lr 0.01*0.6^epoch", codelab_accuracy=0.98, codelab_text="~98%",
))
register(ModelSpec(
    "dense-dropout", build_dense_dropout, Recipe(batch_size=128, epochs=10, **_DECAY),
    "Dense 200-60 relu + dropout 0.25, lr decay", codelab_accuracy=0.98, codelab_text="~98%",
))
register(ModelSpec(
    "conv", build_conv, Recipe(batch_size=128, epochs=10, **_DECAY),
    "Conv 12@3x3, 24@6x6/2, 32@6x6/2, dense 200", codelab_accuracy=0.99, codelab_text="~99%",
))
register(ModelSpec(
    "conv-dropout", build_conv_dropout, Recipe(batch_size=128, epochs=10, **_DECAY),
    "The convnet + dropout 0.5 on dense 200", codelab_accuracy=0.99, codelab_text=">99%",
))
# The codelab's batch-norm recipe alone measured 99.49% here (seed 0, 10
# epochs): it sits right at the 99.5% the codelab reports. Random shifts of up
# to 2 pixels, the one addition, measured 99.54% with the same seed; run
# with shift_pixels=0 (--shift-pixels 0) for the codelab's exact recipe.
register(ModelSpec(
    "conv-bn", build_conv_bn,
    Recipe(optimizer="adam", learning_rate=0.01, lr_decay=0.666, batch_size=64, epochs=10, shift_pixels=2),
    "The convnet + batch norm (no bias, scale=False) + dropout 0.3, ±2 px shifts", codelab_accuracy=0.995,
    codelab_text="99.5%",
))
register(ModelSpec(
    "conv-gap", build_conv_gap,
    Recipe(optimizer="adam", learning_rate=0.01, lr_decay=0.666, batch_size=64, epochs=10,
           loss="sparse_categorical_crossentropy"),
    "Batch-norm convnet, weight-free GlobalAveragePooling2D head, sparse labels", family="advanced",
))
register(ModelSpec(
    "rnn-bigru", build_rnn_bigru,
    Recipe(optimizer="adam", learning_rate=0.005, lr_decay=0.7, batch_size=128, epochs=8,
           loss="sparse_categorical_crossentropy", clipnorm=1.0),
    "Rows as a sequence through Bidirectional(GRU(64)), clipnorm 1.0, sparse labels", family="advanced",
))
