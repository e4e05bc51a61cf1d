"""Named functions that nophd's models call through `keras.layers.Lambda`, registered with Keras.

The tutorial on Keras' advanced layers writes
`Lambda(lambda x: tf.math.l2_normalize(x, axis=1))`. Keras 3 saves a Python
lambda as its bytecode, and `keras.models.load_model` refuses to run that
unless `safe_mode=False`, which would let any model.keras run any code.
nophd keeps the tutorial's Lambda layer but gives it a named function
registered here: Keras then saves only its registered name
("nophd>l2_normalize") and, with safe_mode on, loads it back by that name
from this module, provided this module has been imported (nophd's loading
does: nophd.inference.loading). A model whose Lambda carries bytecode, or
names a function nobody registered, is still refused; nophd never turns
safe_mode off.

A leaf module: it imports Keras and TensorFlow, nothing of nophd.

Example:
    embedding = keras.layers.Lambda(functions.l2_normalize, name="l2_normalize")(features)
"""

from __future__ import annotations

import keras
import tensorflow as tf

PACKAGE = "nophd"


@keras.saving.register_keras_serializable(package=PACKAGE, name="l2_normalize")
def l2_normalize(features):
    """Each row of `features` (N, D) divided by its L2 norm: unit vectors, as the tutorial's Lambda does.

    tf.math.l2_normalize divides by sqrt(max(sum of squares, 1e-12)), so an
    all-zero row stays zero instead of becoming NaN.
    """
    return tf.math.l2_normalize(features, axis=1)


def registered_names() -> list[str]:
    """The names this module registers, as a saved model's config.json spells them."""
    return [f"{PACKAGE}>l2_normalize"]
