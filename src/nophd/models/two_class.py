"""A two-class model's one sigmoid output as two probabilities, the form the rest of nophd reads.

A two-class digit run (dense-binary) trains one sigmoid unit with binary
cross-entropy: its output p (N, 1) is the probability of class 1. Scoring,
predictions, confusion matrices, exports and the dashboard all read (N, K)
probabilities, one column per class. Rather than teach each of them about
a second shape, the run saves its final model with two standard layers
after the sigmoid: Rescaling(-1, offset=1) makes 1 - p, and Concatenate
puts [1 - p, p] side by side (N, 2). The sigmoid unit and every weight are
unchanged; the two columns sum to 1 exactly as a softmax's do, and their
cross-entropy equals the binary cross-entropy of p. No custom object is
needed to load it.

Example:
    saved = two_class.two_class_model(trained)  # (None, 1) sigmoid -> (None, 2) probabilities
"""

from __future__ import annotations

import keras
from keras import layers


def is_single_sigmoid(model: keras.Model) -> bool:
    """Whether `model` ends in one probability per example (output shape (None, 1))."""
    return tuple(model.output.shape[1:]) == (1,)


def two_class_model(model: keras.Model) -> keras.Model:
    """`model` with its (N, 1) sigmoid output p turned into (N, 2) probabilities [1 - p, p].

    The returned model shares `model`'s layers and weights. When `model` is
    compiled, so is the result, with the same optimizer (its state is saved
    with the model) and sparse categorical cross-entropy, which on
    [1 - p, p] and integer labels 0/1 is the binary cross-entropy of p: the
    saved model can go on training. A model that does not end in one
    output is returned as it is.
    """
    if not is_single_sigmoid(model):
        return model
    probability = model.output
    complement = layers.Rescaling(-1.0, offset=1.0, name="class_0_probability")(probability)
    both = layers.Concatenate(name="two_class_probabilities")([complement, probability])
    wrapped = keras.Model(model.input, both, name=model.name)
    if getattr(model, "optimizer", None) is not None:
        wrapped.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return wrapped
