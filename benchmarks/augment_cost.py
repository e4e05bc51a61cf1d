"""The cost of digit augmentation per batch, next to a training step of the model it feeds.

Times `nophd.data.augment.augment_batch` on one batch of MNIST training
digits (default 128), compiled with tf.function as the tf.data map runs it:
each transform alone at a typical strength, then all of them together; and
one training step (`train_on_batch`) of a ladder model (default conv-bn) on
a batch of the same size, in the same process. The rounds alternate the
measurements so that load on a shared machine falls on all of them.

Prints a Markdown table: median, min and max milliseconds per batch over the
rounds, and the median as a share of the training step. Figures, not
pass/fail. Example (about a minute on 2 CPU cores):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/augment_cost.py --rounds 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from nophd import quiet

tf = quiet.import_tensorflow()

import numpy as np  # noqa: E402

from nophd.data import augment, mnist  # noqa: E402

# Each transform alone at augment.EXAMPLE's strength (the preview's default).
TRANSFORMS = {
    "affine (rotate 10, scale 0.1, shear 10, translate 2)": (
        "rotate_degrees", "scale_range", "shear_degrees", "translate_pixels"),
    "elastic (alpha 34, sigma 4)": ("elastic_alpha", "elastic_sigma"),
    "thickness (1 px)": ("thickness_pixels",),
    "blur (sigma up to 1)": ("blur_sigma",),
    "resolution loss (0.5)": ("resolution_loss",),
    "contrast (0.3)": ("contrast_range",),
    "noise (0.1)": ("noise_std",),
    "outlines (10%)": ("outline_share",),
    "stray lines (10%)": ("clutter_share",),
    "haze (up to 2)": ("haze_strength",),
    "inverted margins (10%)": ("band_share",),
    "flags (30% of the 1s)": ("flag_share",),
}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model", default="conv-bn", help="ladder rung whose training step is the reference")
    parser.add_argument("--rounds", type=int, default=30, help="timed calls of each, alternating (default 30)")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: $NOPHD_DATA/mnist, then the cache)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    import keras

    from nophd import presets
    from nophd.models import registry

    data = mnist.load(args.data_dir)
    images = tf.constant(data.train_images[: args.batch_size, :, :, None].astype(np.float32) / 255.0)
    labels = tf.one_hot(data.train_labels[: args.batch_size].astype(np.int32), 10)

    settings = {name: augment.DigitAugmentation(**{field: getattr(augment.EXAMPLE, field) for field in fields})
                for name, fields in TRANSFORMS.items()}
    settings["all of them (augment.EXAMPLE)"] = augment.EXAMPLE
    functions = {name: tf.function(lambda batch, index, params=params: augment.augment_batch(
                     batch, 0, index, params, labels=labels)) for name, params in settings.items()}

    model = registry.build(presets.get(args.model).model)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="categorical_crossentropy")

    def train_step(index):
        model.train_on_batch(images, labels)

    calls = {name: (lambda index, function=function: function(images, index).numpy()) for name, function in functions.items()}
    calls[f"{args.model} training step"] = train_step
    for name, call in calls.items():  # Trace and warm up.
        for index in range(3):
            call(tf.constant(index, tf.int64))
    seconds = {name: [] for name in calls}
    for round_index in range(args.rounds):
        index = tf.constant(1000 + round_index, tf.int64)
        for name, call in calls.items():
            start = time.perf_counter()
            call(index)
            seconds[name].append(time.perf_counter() - start)

    reference = statistics.median(seconds[f"{args.model} training step"])
    print(f"batch of {args.batch_size} MNIST digits, {args.rounds} rounds, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'all'} intra-op threads\n")
    print("| what | median ms | min ms | max ms | median vs the training step |")
    print("|---|---:|---:|---:|---:|")
    for name, timings in seconds.items():
        median = statistics.median(timings)
        print(f"| {name} | {1000 * median:.2f} | {1000 * min(timings):.2f} | {1000 * max(timings):.2f} | "
              f"{100 * median / reference:.0f}% |")


if __name__ == "__main__":
    main()
