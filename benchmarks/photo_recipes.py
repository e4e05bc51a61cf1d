"""Choosing a photo recipe without the validation split: candidates scored on a tuning split of the training photos.

Each candidate is a set of PhotoConfig overrides (JSON) on nophd's defaults.
It trains through `nophd.train_photos` with `tuning_split` (default 0.2): the
dataset is split 80/20 into training and validation as every run splits it
(same seed), then a fifth of each class's *training* photos is held out
again as the tuning split. The candidate trains on the rest and is scored on
the tuning photos; the validation split is dropped before anything reads it
(nophd.data.photos.open_photos). A recipe picked by these figures can then
be trained on the whole training split and scored on the validation split
once, at the end (`nophd train flowers ...`, or benchmarks/flowers_transfer.py).

Figures, not pass/fail: tuning accuracy after the frozen phase and after
fine-tuning (and with test-time augmentation over the views each --tta VIEWS names), wall
seconds, parameters. One run per candidate and seed; with --seeds 0,1 each
candidate is trained once per seed (a different training/tuning split and
initialisation) and the mean is shown too.

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/photo_recipes.py \\
        'defaults={}' 'no flips={"augmentations": ["rotate", "zoom", "contrast"]}' --json local/photo-recipes.json

A smoke run: add `--dataset PATH_TO_SMALL_FOLDER` and '{"epochs": 1, "fine_tune_epochs": 1}'.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import candidates  # benchmarks/candidates.py, beside this script
from nophd import quiet

quiet.import_tensorflow()

import nophd  # noqa: E402
from nophd import atomic  # noqa: E402
from nophd.errors import NophdError  # noqa: E402


def parse_candidate(text: str) -> tuple[str, dict]:
    """'NAME={json overrides}' -> (name, overrides)."""
    name, separator, overrides = text.partition("=")
    if not separator or not name:
        raise argparse.ArgumentTypeError(f"expected NAME={{json}}, got {text!r}")
    return name, candidates.overrides(name, overrides)


def score(name: str, changes: dict, seed: int, arguments) -> dict:
    with tempfile.TemporaryDirectory(prefix="nophd-photo-recipe-") as temporary:
        start = time.monotonic()
        result = nophd.train_photos(arguments.dataset, tuning_split=arguments.tuning_split, seed=seed,
                                    data_dir=arguments.data_dir, out=Path(temporary) / "run", progress=False,
                                    **changes)
        seconds = time.monotonic() - start
        metrics = result.metrics
        row = {
            "name": name, "overrides": changes, "seed": seed, "seconds": round(seconds, 1),
            "frozen_accuracy": metrics.get("frozen_accuracy"), "tuning_accuracy": metrics["test_accuracy"],
            "tuning_examples": metrics["test_examples"], "train_examples": metrics["train_examples"],
            "parameters": metrics.get("parameters"), "macro_f1": metrics.get("macro_f1"),
            "phase_seconds": metrics.get("phase_seconds"), "fine_tuned_on": metrics.get("fine_tuned_on"),
        }
        # Accuracy with each set of test-time views asked for ("crop,flip", "flip", ...), on the same model.
        row["tta"] = {views: nophd.evaluate(result.run_directory, arguments.data_dir, tta=views)["test_accuracy"]
                      for views in arguments.tta}
    tta = "".join(f", with TTA {views} {100 * accuracy:.2f}%" for views, accuracy in row["tta"].items())
    print(f"  {name} (seed {seed}): tuning {100 * row['tuning_accuracy']:.2f}%{tta}, frozen "
          f"{100 * (row['frozen_accuracy'] or 0):.2f}%, {seconds:.0f} s", file=sys.stderr, flush=True)
    return row


def format_table(rows: list[dict], command: str, tta: list[str]) -> str:
    lines = [f"command: {command}", "",
             "| candidate | seed | frozen (tuning split) | fine-tuned (tuning split) |"
             + "".join(f" TTA {views} |" for views in tta) + " seconds |",
             "|---|---:|---:|---:|" + "---:|" * len(tta) + "---:|"]
    for row in rows:
        lines.append(f"| {row['name']} | {row['seed']} | {100 * (row['frozen_accuracy'] or 0):.2f}% | "
                     f"{100 * row['tuning_accuracy']:.2f}% |"
                     + "".join(f" {100 * row['tta'][views]:.2f}% |" for views in tta) + f" {row['seconds']:.0f} |")
    names = list(dict.fromkeys(row["name"] for row in rows))
    if len({row["seed"] for row in rows}) > 1:
        lines += ["", "| candidate | mean frozen | mean fine-tuned (tuning split) |"
                  + "".join(f" mean TTA {views} |" for views in tta),
                  "|---|---:|---:|" + "---:|" * len(tta)]
        for name in names:
            own = [row for row in rows if row["name"] == name]
            lines.append(f"| {name} | {100 * statistics.mean(row['frozen_accuracy'] or 0 for row in own):.2f}% | "
                         f"{100 * statistics.mean(row['tuning_accuracy'] for row in own):.2f}% |"
                         + "".join(f" {100 * statistics.mean(row['tta'][views] for row in own):.2f}% |"
                                   for views in tta))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", type=parse_candidate, nargs="+", help="NAME={json PhotoConfig overrides}")
    parser.add_argument("--dataset", default="flowers", help="flowers (default), an image folder or TFRecord shards")
    parser.add_argument("--tuning-split", type=float, default=0.2,
                        help="share of each class's training photos held out for scoring (default 0.2)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--data-dir", type=Path, help="where tf_flowers is (default: $NOPHD_DATA, then the cache)")
    parser.add_argument("--tta", action="append", default=[], metavar="VIEWS",
                        help="also score each candidate with test-time augmentation over these views (as "
                             "`nophd evaluate --tta-views`: flip, crop or crop,flip); repeat for several")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    arguments = parser.parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    try:
        seeds = [int(seed) for seed in arguments.seeds.split(",") if seed.strip()]
    except ValueError:
        parser.error(f"--seeds: expected whole numbers separated by commas, got {arguments.seeds!r}")
    rows = []
    try:
        for name, changes in arguments.candidates:
            for seed in seeds:
                rows.append(score(name, changes, seed, arguments))
                if arguments.json:  # After every candidate: a long comparison keeps what it measured.
                    atomic.write_json(arguments.json, {"command": command, "rows": rows})
    except NophdError as error:
        print(f"photo_recipes: {error}", file=sys.stderr)
        return 2
    print(format_table(rows, command, arguments.tta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
