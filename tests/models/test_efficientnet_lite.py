"""EfficientNet-Lite: the architecture's numbers, and PyTorch weights landing where PyTorch would use them.

The reference is a NumPy forward pass written from the PyTorch port
(efficientnet_lite_pytorch: NCHW, OIHW kernels, `Conv2dStaticSamePadding`,
BatchNorm2d in eval mode, ReLU6), run on the state dict as PyTorch would
hold it; the Keras model, after `load_torch_state_dict`, must agree.
"""

import math

import keras
import numpy as np
import pytest

from nophd.errors import ConfigError, DataError
from nophd.models import efficientnet_lite

from .conftest import random_lite_state_dict

# Output filters of each block, read from the real checkpoints' `_project_conv` shapes.
REAL_BLOCK_FILTERS = {
    "efficientnet_lite0": [16, 24, 24, 40, 40, 80, 80, 80, 112, 112, 112, 192, 192, 192, 192, 320],
    "efficientnet_lite1": [16, 24, 24, 24, 40, 40, 40, 80, 80, 80, 80, 112, 112, 112, 112, 192, 192, 192, 192, 192, 320],
    "efficientnet_lite2": [16, 24, 24, 24, 48, 48, 48, 88, 88, 88, 88, 120, 120, 120, 120, 208, 208, 208, 208, 208, 352],
}
# Every float in the real checkpoints (num_batches_tracked left out), classifier included.
REAL_PARAMETERS = {"efficientnet_lite0": 4_694_024, "efficientnet_lite1": 5_470_344, "efficientnet_lite2": 6_150_168}


@pytest.mark.parametrize("name", list(efficientnet_lite.VARIANTS))
def test_blocks_and_parameter_counts_match_the_real_checkpoints(name):
    variant = efficientnet_lite.VARIANTS[name]
    assert [block.filters_out for block in variant.blocks()] == REAL_BLOCK_FILTERS[name]
    shapes = efficientnet_lite.expected_torch_shapes(name)
    assert sum(math.prod(shape) for shape in shapes.values()) == REAL_PARAMETERS[name]
    # Keras counts the same floats (BN's moving statistics included).
    model = efficientnet_lite.build_efficientnet_lite(name, (64, 64, 3), include_top=True)
    assert model.count_params() == REAL_PARAMETERS[name]
    assert model.output.shape == (None, 1000)


def test_backbone_shapes_and_native_sizes():
    assert [variant.image_size for variant in efficientnet_lite.VARIANTS.values()] == [224, 240, 260]
    backbone = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0")
    assert backbone.input.shape == (None, 224, 224, 3)
    assert backbone.output.shape == (None, 7, 7, 1280)
    assert backbone.count_params() == REAL_PARAMETERS["efficientnet_lite0"] - 1280 * 1000 - 1000
    # Built-in layers only: nothing to register for load_model.
    assert {type(layer).__module__.split(".")[0] for layer in backbone.layers} == {"keras"}


def test_same_padding_is_tensorflows():
    assert efficientnet_lite.same_padding(224, 3, 2) == (0, 1)
    assert efficientnet_lite.same_padding(224, 5, 2) == (1, 2)
    assert efficientnet_lite.same_padding(225, 3, 2) == (1, 1)
    assert efficientnet_lite.same_padding(7, 5, 1) == (2, 2)


# --- A NumPy reference forward pass in PyTorch's conventions -----------------

def _conv(x, weight, stride, groups=1):
    """PyTorch Conv2dStaticSamePadding on NCHW `x` with an OIHW `weight` (no bias)."""
    _, _, height, width = x.shape
    _, _, kernel_h, kernel_w = weight.shape
    out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    pad_h = max((out_h - 1) * stride + kernel_h - height, 0)
    pad_w = max((out_w - 1) * stride + kernel_w - width, 0)
    x = np.pad(x, ((0, 0), (0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2)))
    out = np.zeros((x.shape[0], weight.shape[0], out_h, out_w), dtype="float64")
    for i in range(kernel_h):
        for j in range(kernel_w):
            patch = x[:, :, i:i + stride * out_h:stride, j:j + stride * out_w:stride]
            if groups == 1:
                out += np.einsum("nchw,oc->nohw", patch, weight[:, :, i, j])
            else:  # depthwise: weight (C, 1, kh, kw)
                out += patch * weight[:, 0, i, j][None, :, None, None]
    return out


def _bn(x, state, prefix):
    scale = state[f"{prefix}.weight"] / np.sqrt(state[f"{prefix}.running_var"] + efficientnet_lite.BATCH_NORM_EPSILON)
    shift = state[f"{prefix}.bias"] - state[f"{prefix}.running_mean"] * scale
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def _relu6(x):
    return np.clip(x, 0.0, 6.0)


def reference_forward(name, state, images_nhwc):
    """Logits of the PyTorch EfficientNet-Lite in eval mode, from its state dict (float64)."""
    x = images_nhwc.transpose(0, 3, 1, 2).astype("float64")
    x = _relu6(_bn(_conv(x, state["_conv_stem.weight"], 2), state, "_bn0"))
    for block in efficientnet_lite.VARIANTS[name].blocks():
        prefix = f"_blocks.{block.index}"
        inputs = x
        if block.expand != 1:
            x = _relu6(_bn(_conv(x, state[f"{prefix}._expand_conv.weight"], 1), state, f"{prefix}._bn0"))
        x = _conv(x, state[f"{prefix}._depthwise_conv.weight"], block.stride, groups=x.shape[1])
        x = _relu6(_bn(x, state, f"{prefix}._bn1"))
        x = _bn(_conv(x, state[f"{prefix}._project_conv.weight"], 1), state, f"{prefix}._bn2")
        if block.stride == 1 and block.filters_in == block.filters_out:
            x = x + inputs
    x = _relu6(_bn(_conv(x, state["_conv_head.weight"], 1), state, "_bn1"))
    pooled = x.mean(axis=(2, 3))
    return pooled @ state["_fc.weight"].T + state["_fc.bias"]


@pytest.mark.parametrize("size", [32, 37])
def test_converted_weights_give_the_pytorch_reference_logits(size):
    # An odd size exercises the asymmetric stride-2 padding on both parities.
    state = random_lite_state_dict("efficientnet_lite0", seed=size)
    model = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0", (size, size, 3), include_top=True)
    copied = efficientnet_lite.load_torch_state_dict(model, state)
    assert copied == len([name for name in state if not name.endswith("num_batches_tracked")])
    images = np.random.default_rng(1).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    expected = reference_forward("efficientnet_lite0", state, images)
    got = np.asarray(model.predict(images, verbose=0), dtype="float64")
    assert np.std(expected) > 0.1  # Not a degenerate, all-equal output.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-3 * np.abs(expected).max())


def test_each_layer_holds_its_tensor_in_keras_layout():
    state = random_lite_state_dict("efficientnet_lite0", seed=3)
    model = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0", (32, 32, 3), include_top=True)
    efficientnet_lite.load_torch_state_dict(model, state)
    np.testing.assert_array_equal(model.get_layer("stem_conv").kernel, state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("block5_depthwise_conv").kernel,
                                  state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1))
    np.testing.assert_array_equal(model.get_layer("predictions").kernel, state["_fc.weight"].T)
    bn = model.get_layer("block5_project_bn")
    for variable, suffix in zip(bn.weights, ("weight", "bias", "running_mean", "running_var")):
        np.testing.assert_array_equal(variable, state[f"_blocks.5._bn2.{suffix}"])


def _loaded(model):
    return [np.array(weight) for weight in model.weights]


@pytest.mark.parametrize("checkpoint, expected", [
    ("efficientnet_lite1", r"does not fit efficientnet_lite0: _blocks.3._depthwise_conv.weight has shape "
                           r"\(144, 1, 3, 3\), efficientnet_lite0 expects \(144, 1, 5, 5\) "
                           r"\(it is the checkpoint of efficientnet_lite1\)"),
    ("efficientnet_lite2", r"does not fit efficientnet_lite0: .* \(it is the checkpoint of efficientnet_lite2\)"),
])
def test_another_variants_checkpoint_is_named_and_nothing_is_copied(checkpoint, expected):
    model = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0", (32, 32, 3))
    before = _loaded(model)
    with pytest.raises(DataError, match=expected):
        efficientnet_lite.load_torch_state_dict(model, random_lite_state_dict(checkpoint))
    for old, new in zip(before, _loaded(model)):
        np.testing.assert_array_equal(old, new)


def test_missing_and_extra_tensors_are_data_errors():
    model = efficientnet_lite.build_efficientnet_lite("efficientnet_lite0", (32, 32, 3))
    state = random_lite_state_dict("efficientnet_lite0")
    missing = {name: value for name, value in state.items() if name != "_blocks.7._bn1.running_var"}
    with pytest.raises(DataError, match=r"has no _blocks.7._bn1.running_var \(is it an EfficientNet-Lite"):
        efficientnet_lite.load_torch_state_dict(model, missing)
    with pytest.raises(DataError, match="1 tensors efficientnet_lite0 lacks, e.g. _blocks.0._se_reduce.weight"):
        efficientnet_lite.load_torch_state_dict(model, {**state, "_blocks.0._se_reduce.weight": np.zeros((8, 32, 1, 1))})
    # A checkpoint without the classifier fits a backbone without top.
    no_top = {name: value for name, value in state.items() if not name.startswith("_fc.")}
    assert efficientnet_lite.load_torch_state_dict(model, no_top) > 0


def test_bad_names_and_shapes_are_config_errors():
    with pytest.raises(ConfigError, match="unknown EfficientNet-Lite variant 'efficientnet_lite9'"):
        efficientnet_lite.build_efficientnet_lite("efficientnet_lite9")
    with pytest.raises(ConfigError, match="fixed"):
        efficientnet_lite.build_efficientnet_lite("efficientnet_lite0", (None, None, 3))


def test_preprocess_input_is_the_official_lite_normalization():
    np.testing.assert_allclose(efficientnet_lite.preprocess_input(np.array([0.0, 127.0, 255.0])),
                               [-127 / 128, 0.0, 1.0])
    rescaling = keras.layers.Rescaling(efficientnet_lite.INPUT_SCALE, offset=efficientnet_lite.INPUT_OFFSET)
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(rescaling(pixels)), efficientnet_lite.preprocess_input(pixels), atol=1e-6)
