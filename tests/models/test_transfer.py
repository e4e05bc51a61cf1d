"""Transfer models: topology, preprocessing inside, freezing, fine-tuning, weights files.

Most tests use random weights (weights=None) and 96x96 images, where only
shapes and wiring matter; the realdata ones load the real ImageNet files.
"""

import h5py
import keras
import numpy as np
import pytest

from nophd.errors import ConfigError, DataError
from nophd.models import transfer

V2_FILE = "mobilenet_v2_1.0_224_no_top.weights.h5"
V1_FILE = "mobilenet_2_5_224_tf_no_top.h5"


def raw_pixels(count=2, size=96, seed=0):
    """A batch of uint8-valued float32 images, as the input pipeline hands them over."""
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3)).astype("float32")


def trainable_paths(model):
    return sorted(weight.path for weight in model.trainable_weights)


def backbone_weight_paths(layers):
    return sorted(weight.path for layer in layers for weight in layer.weights)


@pytest.fixture(scope="module")
def v2_model():
    # Shared by read-only tests; tests that change `trainable` build their own.
    return transfer.build_transfer_model("mobilenet_v2", 5, image_size=96, head="gap", dropout=0.5, weights=None)


@pytest.mark.parametrize("base", list(transfer.BACKBONES))
@pytest.mark.parametrize("head", transfer.HEADS)
def test_each_base_and_head_builds_a_frozen_probability_model(base, head):
    model = transfer.build_transfer_model(base, 3, image_size=96, head=head, weights=None)
    assert model.input.shape == (None, 96, 96, 3)
    assert model.output.shape == (None, 3)
    probabilities = np.asarray(model.predict(raw_pixels(), verbose=0))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)

    kinds = [type(layer).__name__ for layer in model.layers]
    head_layer = {"flatten": "Flatten", "gap": "GlobalAveragePooling2D", "gmp": "GlobalMaxPooling2D"}[head]
    assert kinds == ["InputLayer", "Rescaling", "Functional", head_layer, "Dense"]
    backbone = transfer.backbone_of(model)
    assert backbone.name == base
    assert backbone.trainable is False
    # Frozen on return: only the head's Dense trains.
    assert trainable_paths(model) == ["probabilities/bias", "probabilities/kernel"]


def test_parameter_counts_match_keras_applications():
    # A convnet's weights do not depend on the image size.
    assert transfer.build_backbone("mobilenet_v2", 96, weights=None).count_params() == 2_257_984
    assert transfer.build_backbone("mobilenet_v1_025", 96, weights=None).count_params() == 218_544
    model = transfer.build_transfer_model("mobilenet_v2", 5, image_size=96, head="flatten", weights=None)
    # The lab's Flatten head on 3x3x1280 features: 11,520 * 5 + 5.
    assert model.count_params() == 2_257_984 + 3 * 3 * 1280 * 5 + 5


def test_the_max_pooling_head_keeps_each_feature_maps_largest_value():
    model = transfer.build_transfer_model("mobilenet_v1_025", 3, image_size=96, head="gmp", weights=None)
    gap = transfer.build_transfer_model("mobilenet_v1_025", 3, image_size=96, head="gap", weights=None)
    assert model.count_params() == gap.count_params()  # Both pool to one number per map: 256 * 3 + 3.
    feature_extractor, head = transfer.head_features_model(model)
    features = np.asarray(feature_extractor.predict(raw_pixels(), verbose=0))
    pooled = model.get_layer("global_max_pooling")(features)
    np.testing.assert_allclose(np.asarray(pooled), features.max(axis=(1, 2)), rtol=1e-6)


def test_preprocessing_is_inside_the_model_and_matches_preprocess_input(v2_model):
    rescaling = v2_model.layers[1]
    assert isinstance(rescaling, keras.layers.Rescaling)
    ends = np.asarray(rescaling(np.array([[0.0, 255.0]], dtype="float32")))
    np.testing.assert_allclose(ends, [[-1.0, 1.0]], atol=1e-6)
    pixels = raw_pixels(size=8)
    for backbone in transfer.BACKBONES.values():
        # Each backbone's Rescaling reproduces its own preprocess_input.
        own = keras.layers.Rescaling(backbone.input_scale, offset=backbone.input_offset)
        expected = backbone.preprocess(pixels.copy())
        np.testing.assert_allclose(np.asarray(own(pixels)), expected, atol=1e-6)
    np.testing.assert_allclose(np.asarray(rescaling(pixels)), transfer.BACKBONES["mobilenet_v2"].preprocess(pixels.copy()),
                               atol=1e-6)
    lite = transfer.build_transfer_model("efficientnet_lite0", 2, image_size=32, weights=None).layers[1]
    np.testing.assert_allclose(np.asarray(lite(np.array([[0.0, 127.0, 255.0]], dtype="float32"))),
                               [[-127 / 128, 0.0, 1.0]], atol=1e-6)


def test_batch_norm_stays_in_inference_mode_while_fine_tuning():
    model = transfer.build_transfer_model("mobilenet_v1_025", 4, image_size=96, weights=None)
    backbone = transfer.backbone_of(model)
    pixels = raw_pixels(count=4)
    scaled = pixels / 127.5 - 1
    # Control: a trainable BatchNormalization called with training=True
    # normalizes by the batch's statistics, so the output changes.
    backbone.trainable = True
    assert not np.allclose(
        np.asarray(backbone(scaled, training=True)), np.asarray(backbone(scaled, training=False)), rtol=1e-3, atol=0)
    # Fine-tuned the house way, even the whole backbone: with no dropout,
    # training=True (as in fit) gives the inference output.
    transfer.set_fine_tuning(model, 10_000)
    np.testing.assert_allclose(
        np.asarray(model(pixels, training=True)), np.asarray(model(pixels, training=False)), rtol=1e-5, atol=1e-7)


def test_set_fine_tuning_unfreezes_the_top_layers_except_batch_norm():
    model = transfer.build_transfer_model("mobilenet_v2", 5, image_size=96, weights=None)
    backbone = transfer.backbone_of(model)
    top, below = backbone.layers[-20:], backbone.layers[:-20]

    names = transfer.set_fine_tuning(model, 20)
    expected = [layer.name for layer in top
                if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)]
    assert names == expected
    assert names[-1] == "Conv_1" and "block_15_expand" in names
    for layer in top:
        assert layer.trainable is not isinstance(layer, keras.layers.BatchNormalization), layer.name
    assert not any(layer.trainable for layer in below)
    head = ["probabilities/bias", "probabilities/kernel"]
    unfrozen = [layer for layer in top if layer.name in names]
    assert trainable_paths(model) == sorted(head + backbone_weight_paths(unfrozen))

    assert transfer.set_fine_tuning(model, 0) == []
    assert trainable_paths(model) == head

    names = transfer.set_fine_tuning(model, 10_000)
    not_batch_norm = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.BatchNormalization)]
    assert names == [layer.name for layer in not_batch_norm if layer.weights]
    assert trainable_paths(model) == sorted(head + backbone_weight_paths(not_batch_norm))
    assert not any(weight.trainable for layer in backbone.layers
                   if isinstance(layer, keras.layers.BatchNormalization) for weight in layer.weights)

    with pytest.raises(ConfigError, match="fine-tuning layers"):
        transfer.set_fine_tuning(model, -1)


def fit_and_compare(model, fine_tune_layers):
    """Fits one epoch after set_fine_tuning; returns (names unfrozen, paths of weights that changed)."""
    names = transfer.set_fine_tuning(model, fine_tune_layers)
    before = {weight.path: np.array(weight) for weight in model.weights}
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(raw_pixels(count=8), np.array([0, 0, 0, 1] * 2), epochs=1, batch_size=4, verbose=0)
    changed = {weight.path for weight in model.weights if not np.array_equal(np.array(weight), before[weight.path])}
    return names, changed


def test_fit_changes_no_frozen_weight():
    model = transfer.build_transfer_model("mobilenet_v1_025", 2, image_size=96, weights=None)
    head = {"probabilities/kernel", "probabilities/bias"}
    names, changed = fit_and_compare(model, 0)
    assert "probabilities/bias" in changed and changed <= head
    names, changed = fit_and_compare(model, 3)
    assert names == ["conv_pw_13"]
    # Not even batch norm's moving statistics: it ran in inference mode. (A
    # random backbone's features are too small to move every weight; the
    # realdata test below checks that the unfrozen ones do move.)
    assert "probabilities/bias" in changed
    assert changed <= head | {transfer.backbone_of(model).get_layer("conv_pw_13").kernel.path}


def test_head_features_model_composes_to_the_full_model(v2_model):
    feature_extractor, head = transfer.head_features_model(v2_model)
    pixels = raw_pixels(count=3)
    features = feature_extractor.predict(pixels, verbose=0)
    assert features.shape == (3, 3, 3, 1280)
    np.testing.assert_allclose(
        head.predict(features, verbose=0), v2_model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6)
    # The same layer objects, so training the head trains the model.
    assert head.get_layer("probabilities") is v2_model.get_layer("probabilities")
    assert transfer.backbone_of(feature_extractor) is transfer.backbone_of(v2_model)


def test_save_and_load_keeps_predictions_and_raw_pixel_input(tmp_path, v2_model):
    path = tmp_path / "m.keras"
    v2_model.save(path)
    loaded = keras.models.load_model(path)
    pixels = raw_pixels(count=3, seed=1)
    np.testing.assert_allclose(
        loaded.predict(pixels, verbose=0), v2_model.predict(pixels, verbose=0), rtol=1e-5, atol=1e-5)
    assert isinstance(loaded.layers[1], keras.layers.Rescaling)
    assert transfer.backbone_of(loaded).trainable is False
    feature_extractor, head = transfer.head_features_model(loaded)
    np.testing.assert_allclose(
        head.predict(feature_extractor.predict(pixels, verbose=0), verbose=0),
        loaded.predict(pixels, verbose=0), rtol=1e-5, atol=1e-6)


def test_resolve_weights_order(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "weights").mkdir(parents=True)
    local = data / "weights" / V2_FILE
    local.write_bytes(b"fake")

    # Not given: --data-dir's file, then NOPHD_DATA's, when it exists, else Keras' download.
    monkeypatch.delenv("NOPHD_DATA", raising=False)
    assert transfer.resolve_weights("mobilenet_v2") == "imagenet"
    assert transfer.resolve_weights("mobilenet_v2", "auto", data_dir=data) == str(local)
    (data / "tf_flowers").mkdir()  # --data-dir naming the photos inside the data root.
    assert transfer.resolve_weights("mobilenet_v2", "auto", data_dir=data / "tf_flowers") == str(local)
    assert transfer.resolve_weights("mobilenet_v2", "auto", data_dir=tmp_path / "elsewhere" / "photos") == "imagenet"
    monkeypatch.setenv("NOPHD_DATA", str(data))
    assert transfer.resolve_weights("mobilenet_v2") == str(local)
    assert transfer.resolve_weights("mobilenet_v2", "auto") == str(local)
    assert transfer.resolve_weights("mobilenet_v1_025") == "imagenet"

    # Given: the word or the path wins over NOPHD_DATA.
    assert transfer.resolve_weights("mobilenet_v2", "imagenet") == "imagenet"
    assert transfer.resolve_weights("mobilenet_v2", None) is None
    assert transfer.resolve_weights("mobilenet_v2", "None") is None
    other = tmp_path / "other.weights.h5"
    other.write_bytes(b"fake")
    assert transfer.resolve_weights("mobilenet_v2", other) == str(other)
    assert transfer.resolve_weights("mobilenet_v2", data / "weights") == str(local)


def test_missing_weights_are_one_line_data_errors(tmp_path):
    missing = tmp_path / "nowhere" / "w.weights.h5"
    with pytest.raises(DataError) as caught:
        transfer.resolve_weights("mobilenet_v2", missing)
    assert str(missing) in str(caught.value) and "\n" not in str(caught.value)

    with pytest.raises(DataError) as caught:
        transfer.build_transfer_model("mobilenet_v1_025", 5, image_size=96, weights=tmp_path)
    assert V1_FILE in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("name", ["bad.h5", "bad.weights.h5", "bad.bin"])
def test_a_garbage_weights_file_is_a_one_line_data_error(tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(DataError) as caught:
        transfer.build_backbone("mobilenet_v2", 96, weights=bad)
    message = str(caught.value)
    assert str(bad) in message and "mobilenet_v2" in message and "\n" not in message


def test_weights_of_another_backbone_are_a_data_error(tmp_path):
    # A Keras 3 weights file of the wrong architecture: no download needed.
    other = tmp_path / "v1.weights.h5"
    transfer.build_backbone("mobilenet_v1_025", 96, weights=None).save_weights(other)
    with pytest.raises(DataError) as caught:
        transfer.build_backbone("mobilenet_v2", 96, weights=other)
    message = str(caught.value)
    assert str(other) in message and "MobileNetV2(alpha=1.0" in message and "\n" not in message


def test_a_failed_imagenet_download_is_a_data_error(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: no network")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(DataError) as caught:
        transfer.build_backbone("mobilenet_v2", 96, weights="imagenet")
    message = str(caught.value)
    assert "URL fetch failure" in message and V2_FILE in message and "\n" not in message


@pytest.mark.parametrize("arguments, field", [
    (dict(base="resnet"), "mobilenet_v2, mobilenet_v1_025"),
    (dict(head="dense"), "flatten, gap"),
    (dict(num_classes=0), "num_classes"),  # 1 is a two-class model with one sigmoid output.
    (dict(image_size=16), "image_size must be an integer from 32 to 512"),
    (dict(image_size=513), "image_size"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_configuration_is_a_config_error(arguments, field):
    values = dict(base="mobilenet_v2", num_classes=5, image_size=96, weights=None) | arguments
    with pytest.raises(ConfigError, match=field):
        transfer.build_transfer_model(**values)


def real_weights(real_data, name):
    path = real_data / "weights" / name
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path


@pytest.mark.realdata
def test_real_mobilenet_v2_weights_load_at_192(real_data, monkeypatch):
    path = real_weights(real_data, V2_FILE)
    monkeypatch.setenv("NOPHD_DATA", str(real_data))
    assert transfer.resolve_weights("mobilenet_v2") == str(path)
    model = transfer.build_transfer_model("mobilenet_v2", 5, image_size=192)
    assert transfer.backbone_of(model).output.shape == (None, 6, 6, 1280)
    with h5py.File(path, "r") as weights:
        first_kernel = weights["layers/conv2d/vars/0"][()]
    np.testing.assert_array_equal(np.asarray(transfer.backbone_of(model).get_layer("Conv1").kernel), first_kernel)


@pytest.mark.realdata
def test_real_mobilenet_v1_weights_load_at_192(real_data):
    path = real_weights(real_data, V1_FILE)
    model = transfer.build_transfer_model("mobilenet_v1_025", 5, image_size=192, weights=path)
    backbone = transfer.backbone_of(model)
    assert backbone.output.shape == (None, 6, 6, 256)
    with h5py.File(path, "r") as weights:
        first_kernel = weights["conv1/conv1/kernel:0"][()]
    np.testing.assert_array_equal(np.asarray(backbone.get_layer("conv1").kernel), first_kernel)


@pytest.mark.realdata
def test_real_weights_of_the_wrong_backbone_are_a_data_error(real_data):
    v1, v2 = real_weights(real_data, V1_FILE), real_weights(real_data, V2_FILE)
    for base, path in (("mobilenet_v2", v1), ("mobilenet_v1_025", v2)):
        with pytest.raises(DataError) as caught:
            transfer.build_backbone(base, 192, weights=path)
        message = str(caught.value)
        assert str(path) in message and f"weights of {base}" in message and "\n" not in message


@pytest.mark.realdata
def test_real_weights_fit_trains_the_head_then_the_unfrozen_layers(real_data):
    model = transfer.build_transfer_model(
        "mobilenet_v1_025", 2, image_size=96, weights=real_weights(real_data, V1_FILE))
    head = {"probabilities/kernel", "probabilities/bias"}
    assert fit_and_compare(model, 0) == ([], head)
    top = transfer.backbone_of(model).get_layer("conv_pw_13").kernel.path
    assert fit_and_compare(model, 3) == (["conv_pw_13"], head | {top})
