"""Every rung builds with the codelab's topology."""

import keras
import numpy as np
import pytest

import tensorflow as tf

from nophd import models, presets
from nophd.models import functions, ladder


def layer_kinds(model):
    return [type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("tiny", [False, True])
def test_every_model_builds_and_outputs_ten_probabilities(tiny):
    batch = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    for name in models.names():
        model = models.build(name, tiny=tiny)
        probabilities = np.asarray(model(batch, training=False))
        assert probabilities.shape == (3, 10), name
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("tiny", [False, True])
def test_every_model_asked_for_one_class_ends_in_one_sigmoid_probability(tiny):
    batch = np.random.default_rng(0).random((3, 28, 28, 1), dtype=np.float32)
    for name in models.names():
        model = models.build(name, num_classes=1, tiny=tiny)
        probability = np.asarray(model(batch, training=False))
        assert probability.shape == (3, 1), name
        assert ((probability > 0) & (probability < 1)).all(), name
        assert model.layers[-1].get_config()["activation"] == "sigmoid", name


def test_tiny_variants_keep_the_layers_with_far_fewer_weights():
    for name in models.names():
        full, tiny = models.build(name), models.build(name, tiny=True)
        assert [type(layer) for layer in tiny.layers] == [type(layer) for layer in full.layers], name
        if name != "dense1":  # one Dense layer: nothing to narrow
            assert tiny.count_params() < full.count_params() / 10, name


def test_ladder_order_and_codelab_figures():
    assert presets.names()[:8] == [
        "dense1", "dense-sigmoid", "dense", "dense-lrdecay", "dense-dropout", "conv", "conv-dropout", "conv-bn"]
    assert presets.get("conv-bn").codelab_accuracy == 0.995
    assert presets.get("dense1").codelab_accuracy == 0.90
    # Every preset names a registered builder; two share one (the recipe is what differs). One builder has no
    # preset: conv-bn-norm, the fast rung's net before conv-bn-pool, kept so its comparisons can be built again.
    assert {preset.model for preset in presets.PRESETS.values()} == set(models.names()) - {"conv-bn-norm"}
    assert presets.get("dense-lrdecay").model == "dense"


def test_dense_rungs():
    assert models.build("dense1").count_params() == 784 * 10 + 10
    for name, activation in (("dense-sigmoid", "sigmoid"), ("dense", "relu")):
        dense_layers = [layer for layer in models.build(name).layers if isinstance(layer, keras.layers.Dense)]
        assert [layer.units for layer in dense_layers] == [200, 60, 10]
        assert [layer.activation.__name__ for layer in dense_layers] == [activation, activation, "softmax"]
    dropout = [layer.rate for layer in models.build("dense-dropout").layers if isinstance(layer, keras.layers.Dropout)]
    assert dropout == [0.25, 0.25]


def conv_layers(model):
    return [(layer.filters, layer.kernel_size, layer.strides, layer.use_bias)
            for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def test_convnet_topology():
    model = models.build("conv")
    assert conv_layers(model) == [(12, (3, 3), (1, 1), True), (24, (6, 6), (2, 2), True), (32, (6, 6), (2, 2), True)]
    assert model.layers[-3].output.shape == (None, 7 * 7 * 32)  # Flatten
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [200, 10]
    assert [layer.rate for layer in models.build("conv-dropout").layers if isinstance(layer, keras.layers.Dropout)] == [0.5]


def test_batch_norm_convnet_has_no_bias_before_batch_norm_and_no_scale():
    model = models.build("conv-bn")
    assert [use_bias for *_, use_bias in conv_layers(model)] == [False, False, False]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 4 and all(not layer.scale and layer.center for layer in norms)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [(layer.units, layer.use_bias) for layer in dense] == [(200, False), (10, True)]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3]


def codelab_batch_norm_reference():
    """The codelab's keras_05 model, written out as plain Keras (the trusted reference)."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(12, 3, padding="same", use_bias=False), layers.BatchNormalization(scale=False, center=True),
        layers.Activation("relu"),
        layers.Conv2D(24, 6, padding="same", use_bias=False, strides=2), layers.BatchNormalization(scale=False, center=True),
        layers.Activation("relu"),
        layers.Conv2D(32, 6, padding="same", use_bias=False, strides=2), layers.BatchNormalization(scale=False, center=True),
        layers.Activation("relu"),
        layers.Flatten(),
        layers.Dense(200, use_bias=False), layers.BatchNormalization(scale=False, center=True), layers.Activation("relu"),
        layers.Dropout(0.3),
        layers.Dense(10, activation="softmax"),
    ])


def test_batch_norm_convnet_matches_the_plain_keras_reference():
    ours, reference = models.build("conv-bn"), codelab_batch_norm_reference()
    assert ours.count_params() == reference.count_params()
    assert [weight.shape for weight in ours.weights] == [weight.shape for weight in reference.weights]
    reference.set_weights(ours.get_weights())
    batch = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(ours(batch, training=False), reference(batch, training=False), rtol=1e-5, atol=1e-6)


def test_advanced_layer_models():
    gap = models.build("conv-gap")
    assert "GlobalAveragePooling2D" in layer_kinds(gap) and "Flatten" not in layer_kinds(gap)
    assert "Dense" not in layer_kinds(gap)  # The head after pooling has no weights.
    rnn = models.build("rnn-bigru")
    assert "Reshape" in layer_kinds(rnn) and "Bidirectional" in layer_kinds(rnn)
    bidirectional = next(layer for layer in rnn.layers if isinstance(layer, keras.layers.Bidirectional))
    assert isinstance(bidirectional.forward_layer, keras.layers.GRU)
    assert presets.get("rnn-bigru").recipe.loss == "sparse_categorical_crossentropy"
    assert presets.get("rnn-bigru").recipe.clipnorm == 1.0


def test_conv_gmp_is_conv_gap_with_a_global_max_pooling():
    gap, gmp = models.build("conv-gap"), models.build("conv-gmp")
    assert "GlobalMaxPooling2D" in layer_kinds(gmp) and "GlobalAveragePooling2D" not in layer_kinds(gmp)
    assert [kind for kind in layer_kinds(gap) if kind != "GlobalAveragePooling2D"] == [
        kind for kind in layer_kinds(gmp) if kind != "GlobalMaxPooling2D"]
    assert gmp.count_params() == gap.count_params() == 41_218
    # Reference: the same weights, and the softmax of each class map's largest value.
    gmp.set_weights(gap.get_weights())
    batch = np.random.default_rng(2).random((3, 28, 28, 1), dtype=np.float32)
    maps = keras.Model(gap.input, gap.layers[-3].output)(batch, training=False)
    expected = keras.ops.softmax(keras.ops.max(maps, axis=(1, 2)))
    np.testing.assert_allclose(gmp(batch, training=False), expected, rtol=1e-5, atol=1e-6)
    recipe = presets.get("conv-gmp").recipe
    assert recipe == presets.get("conv-gap").recipe and presets.get("conv-gmp").family == "advanced"


def test_conv_l2_normalises_its_embedding_then_scales_cosine_logits():
    model = models.build("conv-l2")
    lambdas = [layer for layer in model.layers if isinstance(layer, keras.layers.Lambda)]
    assert len(lambdas) == 1 and lambdas[0].function is functions.l2_normalize
    batch = np.random.default_rng(3).random((4, 28, 28, 1), dtype=np.float32)
    unit = keras.Model(model.input, model.get_layer("l2_normalize").output)(batch, training=False)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(unit), axis=1), 1.0, rtol=1e-5)
    cosine = model.get_layer("cosine")
    assert not cosine.use_bias and isinstance(cosine.kernel_constraint, keras.constraints.UnitNorm)
    assert model.get_layer("scale").scale == ladder.COSINE_SCALE
    # Reference: the tutorial's own Lambda and a plain cosine similarity, scaled, through softmax.
    embedding = keras.Model(model.input, model.get_layer("embedding").output)(batch, training=False)
    tutorial = keras.layers.Lambda(lambda x: tf.math.l2_normalize(x, axis=1))(embedding)
    kernel = np.asarray(cosine.kernel)
    kernel = kernel / np.linalg.norm(kernel, axis=0)
    cosine.kernel.assign(kernel)
    expected = keras.ops.softmax(ladder.COSINE_SCALE * (np.asarray(tutorial) @ kernel))
    np.testing.assert_allclose(model(batch, training=False), expected, rtol=1e-4, atol=1e-6)


def test_the_new_advanced_rungs_stay_out_of_the_default_ladder():
    default = presets.default_ladder_names()
    assert default == [name for name in presets.names() if name not in ("conv-gmp", "conv-l2", "dense-binary")]
    assert {"conv-gap", "rnn-bigru", "conv-bn-best"} <= set(default)


def test_unknown_model():
    with pytest.raises(Exception, match="valid models: dense1"):
        models.build("vgg16")


def test_conv_bn_norm_sees_a_picture_the_same_whatever_its_brightness_and_contrast():
    # Its first layer standardises each picture, so a grey background or a faint stroke changes nothing.
    model = models.build("conv-bn-norm")
    assert isinstance(model.layers[1], keras.layers.LayerNormalization) and not model.layers[1].weights
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    digits = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    plain = np.asarray(model(digits, training=False))
    washed_out = np.asarray(model(0.4 * digits + 0.5, training=False))
    # Up to LayerNormalization's epsilon (1e-3, against a variance of 0.013 here).
    np.testing.assert_allclose(washed_out, plain, atol=2e-3)
    assert conv_layers(model) == [(12, (3, 3), (1, 1), False), (24, (6, 6), (2, 2), False),
                                  (32, (6, 6), (2, 2), False)]


def test_conv_bn_pool_is_three_3x3_convolutions_with_max_pooling_after_the_standardisation():
    model = models.build("conv-bn-pool")
    assert isinstance(model.layers[1], keras.layers.LayerNormalization) and not model.layers[1].weights
    assert conv_layers(model) == [(16, (3, 3), (1, 1), False), (32, (3, 3), (1, 1), False),
                                  (64, (3, 3), (1, 1), False)]
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [pool.output.shape[1:3] for pool in pools] == [(14, 14), (7, 7)]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [128, 10]
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert model.count_params() == 426_602  # As printed by `nophd models`.
    # The fast rung trains it.
    assert presets.get("conv-bn-fast").model == "conv-bn-pool"


def test_conv_bn_wide_is_conv_bn_norm_widened_with_dropout():
    model = models.build("conv-bn-wide")
    assert isinstance(model.layers[1], keras.layers.LayerNormalization) and not model.layers[1].weights
    assert conv_layers(model) == [(32, (3, 3), (1, 1), False), (64, (6, 6), (2, 2), False),
                                  (96, (6, 6), (2, 2), False)]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3]
    assert model.count_params() == 1_503_338  # As printed by `nophd models`.
