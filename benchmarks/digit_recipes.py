"""Choosing a digit recipe without the test set: candidates scored on a split held out of the training images.

Each candidate is a preset plus overrides (JSON). It trains through
`nophd.train` with `validation_split` (default 0.1: the last 6,000 of the
60,000 training images are held out, never trained on), and is scored on
those held-out digits twice:

- accuracy on them, with the final model (after precise batch norm), and
  beside it the last epoch's validation accuracy on the same digits with
  Keras' moving batch-norm averages (what precise batch norm changed), and
  its commonest errors (the JSON keeps the whole confusion matrix: what a
  transform like the flagged 1s costs, e.g. 7s read as 1s);
- the robustness suite (nophd.robustness.suite) built from them instead of
  from the MNIST test set, with suite seed 1 (`nophd evaluate --robustness`
  uses the test set and seed 0): their fifteen MNIST-C corruptions, the font
  digits, stroke-drawn digits of another seed; the mean over every set but
  clean.

Neither number looks at the 10,000 test images, so a recipe picked by them
can be reported on the test set once, at the end. (The font set is the same
fonts as in the reported suite; only its corruptions and strokes differ.)

A candidate may train another registered net with the preset's recipe
(`"net"`, as `nophd train --net` does), e.g.
`'codelab layers=conv-bn-fast:{"net": "conv-bn-norm"}'`.

Figures, not pass/fail; about 2-3 minutes per 3-epoch conv-bn-fast candidate
on 2 CPU cores. Example: some of the candidates conv-bn-fast was chosen from
(README, "Beyond the codelab"; run it with --seed 0, 1 and 2, as the last
round was):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/digit_recipes.py \\
        'shifts only=conv-bn-fast:{"rotate_degrees": 0, "scale_range": 0, "shear_degrees": 0, "thickness_pixels": 0, "contrast_range": 0, "noise_std": 0, "outline_share": 0, "clutter_share": 0, "band_share": 0}' \\
        'no clutter=conv-bn-fast:{"outline_share": 0, "clutter_share": 0, "band_share": 0}' \\
        'chosen=conv-bn-fast:{}' \\
        'with elastic=conv-bn-fast:{"elastic_alpha": 34, "elastic_sigma": 4}' --json local/recipes.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import candidates  # benchmarks/candidates.py, beside this script
from nophd import quiet

quiet.import_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

import nophd  # noqa: E402
from nophd import atomic, runs  # noqa: E402
from nophd.data import images, mnist  # noqa: E402
from nophd.errors import NophdError  # noqa: E402
from nophd.robustness import suite  # noqa: E402

SUITE_SEED = 1


def parse_candidate(text: str) -> tuple[str, str, dict]:
    """'NAME=PRESET:{json overrides}' -> (name, preset, overrides)."""
    name, separator, rest = text.partition("=")
    preset, _, overrides = rest.partition(":")
    if not separator or not name or not preset:
        raise argparse.ArgumentTypeError(f"expected NAME=PRESET:{{json}}, got {text!r}")
    return name, preset, candidates.overrides(name, overrides)


def score(name: str, preset: str, changes: dict, arguments, held_images, held_labels) -> dict:
    with tempfile.TemporaryDirectory(prefix="nophd-recipe-") as temporary:
        start = time.monotonic()
        result = nophd.train(preset, validation_split=arguments.validation_split, seed=arguments.seed,
                             data_dir=arguments.data_dir, out=Path(temporary) / "run", progress=False,
                             train_limit=arguments.train_limit, **changes)
        seconds = time.monotonic() - start
        history = runs.read_history(result.run_directory)
        model = keras.models.load_model(result.run_directory / runs.MODEL)

    def predict(digits):
        return model.predict(images.as_model_input(digits), batch_size=1000, verbose=0)

    predicted = np.argmax(predict(held_images), axis=1)
    accuracy = float((predicted == held_labels).mean())
    confusion = np.zeros((10, 10), dtype=int)  # rows: true digit, columns: predicted
    np.add.at(confusion, (held_labels.astype(int), predicted), 1)
    sets = suite.build_suite(held_images, held_labels, seed=SUITE_SEED, per_set=arguments.per_set)
    robustness = suite.evaluate(predict, sets)
    row = {
        "name": name, "preset": preset, "overrides": changes, "seconds": round(seconds, 1),
        "epoch_validation_accuracy": [row["val_accuracy"] for row in history],
        "held_out_accuracy": accuracy, "confusion": confusion.tolist(), "suite_mean": robustness["mean_accuracy"],
        "sets": {entry["name"]: entry["accuracy"] for entry in robustness["sets"]},
    }
    print(f"  {name}: held-out {100 * accuracy:.2f}%, suite mean {100 * row['suite_mean']:.2f}%, {seconds:.0f} s",
          file=sys.stderr, flush=True)
    return row


def most_confused(confusion, count: int = 3) -> str:
    """'7 as 1: 4, 9 as 4: 3, ...': the commonest held-out errors, from a confusion matrix (rows: true digit)."""
    if not confusion:
        return "—"
    errors = sorted(((-confusion[true][predicted], true, predicted) for true in range(len(confusion))
                     for predicted in range(len(confusion)) if true != predicted and confusion[true][predicted]))
    return ", ".join(f"{true} as {predicted}: {-negative}" for negative, true, predicted in errors[:count]) or "none"


def format_table(rows: list[dict], command: str) -> str:
    lines = [f"command: {command}", "",
             "| candidate | held-out accuracy | last epoch (moving averages) | suite mean | strokes | fonts "
             "| lowest sets | most held-out errors | seconds |",
             "|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for row in rows:
        lowest = sorted((value, name) for name, value in row["sets"].items() if name != "clean")[:3]
        epochs = row["epoch_validation_accuracy"]
        last = f"{100 * epochs[-1]:.2f}%" if epochs else "—"
        lines.append(f"| {row['name']} | {100 * row['held_out_accuracy']:.2f}% | {last} | {100 * row['suite_mean']:.2f}% | "
                     f"{100 * row['sets'].get('strokes', float('nan')):.1f}% | "
                     f"{100 * row['sets'].get('fonts', float('nan')):.1f}% | "
                     + ", ".join(f"{name} {100 * value:.1f}%" for value, name in lowest)
                     + f" | {most_confused(row.get('confusion'))} | {row['seconds']:.0f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", type=parse_candidate, nargs="+", help="NAME=PRESET:{json overrides}")
    parser.add_argument("--validation-split", type=float, default=0.1,
                        help="share of the training images held out (the last ones; default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: $NOPHD_DATA/mnist, then the cache)")
    parser.add_argument("--train-limit", type=int, help="use the first N training images only (smoke runs)")
    parser.add_argument("--per-set", type=int, default=suite.PER_SET,
                        help=f"held-out digits per corruption (default {suite.PER_SET})")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    arguments = parser.parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        data = mnist.load(arguments.data_dir)
        count = min(len(data.train_labels), arguments.train_limit or len(data.train_labels))
        held = int(round(count * arguments.validation_split))
        if not 0 < held < count:
            raise NophdError(f"--validation-split {arguments.validation_split} leaves nothing to hold out or train on")
        # The same held-out images nophd's validation split holds out: the last `held` of the first `count`.
        held_images, held_labels = data.train_images[count - held:count], data.train_labels[count - held:count]
        rows = [score(*candidate, arguments, held_images, held_labels) for candidate in arguments.candidates]
    except NophdError as error:
        print(f"digit_recipes: {error}", file=sys.stderr)
        return 2
    print(format_table(rows, command))
    if arguments.json:
        atomic.write_json(arguments.json, {"command": command, "suite_seed": SUITE_SEED, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
