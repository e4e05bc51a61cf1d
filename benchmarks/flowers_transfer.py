"""Transfer learning on tf_flowers: nophd's photo run against the lab's plain Keras, same split.

Trains MobileNetV2 (ImageNet weights, alpha 1.0, 192 px) on the 3,201
tf_flowers photos with a fixed 80/20 stratified split (seed 0), twice in one
process, on the same machine and the same files:

1. through `nophd.train_photos("flowers", ...)`: frozen backbone on cached
   features, then fine-tuning of the top layers (batch norm frozen) on
   augmented images with a decaying learning rate (nophd's defaults);
2. as a plain-Keras + tf.data program written the way the Keras Flowers lab
   does it (the reference the ratio is taken against): images decoded and
   resized by tf.data, cached, shuffled, batched; the frozen backbone runs on
   every image in every epoch; then the same fine-tuning, augmentation and
   schedule. It uses no nophd
   code except the list of files of each side of the split, so that both
   are scored on the same 641 validation photos.

Both use the same head, optimizer, learning rates, epochs and seed. Prints
validation accuracy after the frozen phase and after fine-tuning, wall time
of each phase, and the ratio of wall times. Figures, not pass/fail.

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/flowers_transfer.py

A quick smoke run: `--epochs 1 --fine-tune-epochs 1 --skip-reference`.

With `--bases mobilenet_v2,efficientnet_lite0,...` it instead trains each
backbone with nophd's defaults for it (nophd.config.PHOTO_RECIPES: image
size, fine-tuning; chosen on a tuning split of the training photos, see
benchmarks/photo_recipes.py), on the same split, one after the other, and
exports each run to TFLite int8 (`nophd export --format tflite-int8`,
scored on the same 641 validation photos). It prints, per backbone:
parameters, frozen and fine-tuned validation accuracy, wall time, and the
int8 file's size and accuracy.

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/flowers_transfer.py \
        --bases mobilenet_v2,efficientnet_lite0,efficientnet_lite1,efficientnet_lite2 --json local/backbones.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def _import_tensorflow_quietly():
    from nophd import quiet

    tensorflow = quiet.import_tensorflow()
    import keras

    return keras, tensorflow


keras, tf = _import_tensorflow_quietly()

IMAGE_SIZE = 192
VALIDATION_SPLIT = 0.2


# --------------------------------------------------------------------------
# The plain-Keras reference, the lab's way.
# --------------------------------------------------------------------------


def augmentation(seed: int):
    """The Keras guide's augmentation, as nophd's --augment uses it."""
    return keras.Sequential([
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomContrast(0.1, seed=seed + 3),
    ])


def reference_dataset(root: Path, examples, batch_size: int, training: bool, seed: int):
    paths = [str(root / example.relative_path) for example in examples]
    labels = [example.label for example in examples]

    def load(path, label):
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        image = tf.image.resize(image, (IMAGE_SIZE, IMAGE_SIZE))
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels)).map(load, num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def reference_model(weights: str, classes: int, head: str, dropout: float):
    backbone = keras.applications.MobileNetV2(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3), include_top=False, weights=None)
    backbone.load_weights(weights)
    backbone.trainable = False
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = backbone(x, training=False)
    x = keras.layers.Flatten()(x) if head == "flatten" else keras.layers.GlobalAveragePooling2D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(classes, activation="softmax")(x)
    return keras.Model(inputs, outputs), backbone


def run_reference(root: Path, training, validation, classes: int, weights: str, args) -> dict:
    keras.utils.set_random_seed(args.seed)
    train_data = reference_dataset(root, training, args.batch_size, True, args.seed)
    validation_data = reference_dataset(root, validation, 64, False, args.seed)
    model, backbone = reference_model(weights, classes, args.head, args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.monotonic()
    frozen = model.fit(train_data, validation_data=validation_data, epochs=args.epochs, verbose=2)
    frozen_seconds = time.monotonic() - start
    result = {"frozen_accuracy": frozen.history["val_accuracy"][-1], "frozen_seconds": frozen_seconds}
    if args.fine_tune_epochs:
        backbone.trainable = True
        for layer in backbone.layers[:-args.fine_tune_layers]:
            layer.trainable = False
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        model.compile(optimizer=keras.optimizers.Adam(args.fine_tune_learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        augment = augmentation(args.seed)
        augmented = train_data.map(lambda x, y: (augment(x, training=True), y)).prefetch(tf.data.AUTOTUNE)
        schedule = keras.callbacks.LearningRateScheduler(
            lambda epoch: args.fine_tune_learning_rate * args.lr_decay ** (epoch - args.epochs))
        start = time.monotonic()
        tuned = model.fit(augmented, validation_data=validation_data, epochs=args.epochs + args.fine_tune_epochs,
                          initial_epoch=args.epochs, verbose=2, callbacks=[schedule])
        result["fine_tune_seconds"] = time.monotonic() - start
        result["final_accuracy"] = tuned.history["val_accuracy"][-1]
    else:
        result["fine_tune_seconds"] = 0.0
        result["final_accuracy"] = result["frozen_accuracy"]
    result["wall_seconds"] = result["frozen_seconds"] + result["fine_tune_seconds"]
    return result


# --------------------------------------------------------------------------
# nophd.
# --------------------------------------------------------------------------


def run_nophd(args, out: Path) -> dict:
    import nophd

    result = nophd.train_photos(
        "flowers", out=out, data_dir=args.data_dir, progress=True, seed=args.seed, base="mobilenet_v2",
        head=args.head, dropout=args.dropout, image_size=IMAGE_SIZE, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_layers=args.fine_tune_layers, fine_tune_learning_rate=args.fine_tune_learning_rate,
        lr_decay=args.lr_decay, augment="fine-tune", validation_split=VALIDATION_SPLIT,
    )
    metrics = result.metrics
    phases = metrics["phase_seconds"]
    return {
        "frozen_accuracy": metrics["frozen_accuracy"],
        "final_accuracy": metrics["test_accuracy"],
        "frozen_seconds": phases.get("reading", 0) + phases.get("frozen", 0),
        "fine_tune_seconds": phases.get("fine_tune", 0.0),
        "wall_seconds": metrics["wall_seconds"],
        "validation_images": metrics["test_examples"],
        "run": str(out),
    }


def run_backbone(base: str, args, out: Path) -> dict:
    """One backbone with nophd's defaults for it, then its TFLite int8 export, scored on the validation split."""
    import nophd
    from nophd.export.export import export_run

    result = nophd.train_photos("flowers", out=out, data_dir=args.data_dir, progress=True, seed=args.seed, base=base,
                                validation_split=VALIDATION_SPLIT)
    metrics = result.metrics
    exported = export_run(out, "tflite-int8", data_dir=args.data_dir, latency_runs=50)
    return {
        "base": base, "image_size": metrics["image_size"], "parameters": metrics["parameters"],
        "frozen_accuracy": metrics["frozen_accuracy"], "final_accuracy": metrics["test_accuracy"],
        "wall_seconds": metrics["wall_seconds"], "phase_seconds": metrics["phase_seconds"],
        "int8_bytes": exported["exported"]["file_bytes"], "int8_accuracy": exported["exported"]["accuracy"],
        "int8_latency_ms": exported["exported"]["latency_ms"], "keras_bytes": exported["original"]["file_bytes"],
        "config": json.loads((out / "config.json").read_text()),
    }


def compare_backbones(args) -> int:
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for base in [name.strip() for name in args.bases.split(",") if name.strip()]:
            rows.append(run_backbone(base, args, (args.out or Path(temporary)) / f"run-{base}"))
            if args.json:
                args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print("\n| backbone | image size | parameters | frozen val. accuracy | fine-tuned val. accuracy | wall time "
          "| int8 size | int8 val. accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['base']} | {row['image_size']} | {row['parameters']:,} | {100 * row['frozen_accuracy']:.2f}% | "
              f"{100 * row['final_accuracy']:.2f}% | {row['wall_seconds']:.0f} s | "
              f"{row['int8_bytes'] / 1e6:.2f} MB | {100 * row['int8_accuracy']:.2f}% |")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="the flowers folder (default: $NOPHD_DATA/tf_flowers)")
    parser.add_argument("--weights", help="MobileNetV2 no-top weights (default: $NOPHD_DATA/weights/...)")
    parser.add_argument("--head", default="gap", choices=("flatten", "gap"))
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--fine-tune-epochs", type=int, default=8)
    parser.add_argument("--fine-tune-layers", type=int, default=60)
    parser.add_argument("--fine-tune-learning-rate", type=float, default=5e-5)
    parser.add_argument("--lr-decay", type=float, default=0.75, help="per fine-tuning epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-reference", action="store_true", help="only the nophd run")
    parser.add_argument("--out", type=Path, help="nophd's run folder (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--bases", help="comma-separated backbones to compare with nophd's defaults for each "
                                        "(and their int8 exports) instead of the nophd/plain-Keras comparison")
    args = parser.parse_args(argv)
    if args.bases:
        return compare_backbones(args)

    from nophd.data import folders, photos
    from nophd.models import transfer

    root, _ = photos.resolve("flowers", args.data_dir)
    scan = folders.scan_folder(root)
    training, validation = folders.split(scan.examples, VALIDATION_SPLIT, args.seed)
    weights = args.weights or transfer.resolve_weights("mobilenet_v2", "auto")
    print(f"tf_flowers in {root}: {len(training)} training, {len(validation)} validation photos; "
          f"weights {weights}", file=sys.stderr)

    with tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary) / "nophd-run"
        ours = run_nophd(args, out)
        reference = None if args.skip_reference else run_reference(
            root, training, validation, len(scan.class_names), weights, args)

    recipe = (f"MobileNetV2 192 px, {args.head} head, dropout {args.dropout}, Adam {args.learning_rate:g} for "
              f"{args.epochs} frozen epochs, then top {args.fine_tune_layers} layers at {args.fine_tune_learning_rate:g} "
              f"x {args.lr_decay:g}/epoch for {args.fine_tune_epochs} epochs on augmented images, "
              f"batch {args.batch_size}, seed {args.seed}")
    print(f"\n{recipe}\n")
    print("| program | frozen val. accuracy | fine-tuned val. accuracy | frozen phase | fine-tuning | wall time | vs reference |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = [("nophd", ours)] + ([("plain Keras (the lab's way)", reference)] if reference else [])
    for name, figures in rows:
        ratio = f"{figures['wall_seconds'] / reference['wall_seconds']:.2f}x" if reference else "—"
        print(f"| {name} | {100 * figures['frozen_accuracy']:.2f}% | {100 * figures['final_accuracy']:.2f}% | "
              f"{figures['frozen_seconds']:.0f} s | {figures['fine_tune_seconds']:.0f} s | "
              f"{figures['wall_seconds']:.0f} s | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps({"recipe": recipe, "nophd": ours, "reference": reference}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
