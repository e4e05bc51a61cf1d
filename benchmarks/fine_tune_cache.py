"""What caching the frozen layers' outputs saves in fine-tuning: the same photo run with and without it.

With augment "off", nophd fine-tunes the top of the backbone on the frozen
layers' outputs, computed once (nophd.tasks.photos, transfer.frozen_bottom_split),
instead of running the whole model on every image in every epoch. The two
give the same history and weights (tests/training/test_photos.py); this
prints what the cache costs and saves: the fine-tuning phase's seconds (the
one-off pass through the frozen layers included), seconds per fine-tuning
epoch, the accuracy of each (equal up to float rounding) and the ratio.

Both runs are in one process, one after the other, on the tuning split of
the training photos (the validation split is not read), with nophd's
default recipe for the backbone apart from augment "off" and the epochs
given. `--repeats N` alternates the two N times; the table shows median,
min and max. Figures, not pass/fail.

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/fine_tune_cache.py --epochs 2 --fine-tune-epochs 3

A smoke run: `--dataset SMALL_FOLDER --base mobilenet_v1_025 --weights none --epochs 1 --fine-tune-epochs 1`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from nophd import quiet

quiet.import_tensorflow()

import nophd  # noqa: E402
from nophd.tasks import photos  # noqa: E402


def run_once(arguments, cached: bool, folder: Path) -> dict:
    photos.CACHE_FROZEN_LAYERS = cached
    result = nophd.train_photos(
        arguments.dataset, tuning_split=0.2, seed=arguments.seed, data_dir=arguments.data_dir, out=folder,
        progress=False, augment="off", epochs=arguments.epochs, fine_tune_epochs=arguments.fine_tune_epochs,
        **({"base": arguments.base} if arguments.base else {}),
        **({"weights": arguments.weights, "image_size": 64} if arguments.weights == "none" else {}))
    metrics = result.metrics
    fine_tune = metrics["phase_seconds"]["fine_tune"]
    one_off = metrics["phase_seconds"].get("frozen_layers", 0.0)  # The pass through the frozen layers, once.
    row = {"cached": cached, "fine_tune_seconds": fine_tune, "one_off_seconds": one_off,
           "per_epoch": (fine_tune - one_off) / arguments.fine_tune_epochs, "accuracy": metrics["test_accuracy"],
           "fine_tuned_on": metrics.get("fine_tuned_on") or "images", "base": metrics["base"],
           "image_size": metrics["image_size"], "layers": len(metrics["fine_tuned_layers"])}
    print(f"  {'cached' if cached else 'images'}: fine-tuning {fine_tune:.1f} s, tuning accuracy "
          f"{100 * row['accuracy']:.2f}% ({row['fine_tuned_on']})", file=sys.stderr, flush=True)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="flowers")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--base", help="backbone (default: nophd's default)")
    parser.add_argument("--weights", choices=("none",), help='"none": a smoke run with random weights at 64 px')
    parser.add_argument("--epochs", type=int, default=2, help="frozen-phase epochs (default 2)")
    parser.add_argument("--fine-tune-epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nophd-fine-tune-cache-") as temporary:
        for repeat in range(arguments.repeats):
            # Alternating which goes first, so that warming up (tracing, caches) does not always fall on one side.
            for cached in ((False, True) if repeat % 2 == 0 else (True, False)):
                rows.append(run_once(arguments, cached, Path(temporary) / f"{repeat}-{cached}"))
    first = rows[0]
    print(f"\n{first['base']} at {first['image_size']} px, {first['layers']} layers fine-tuned, "
          f"{arguments.fine_tune_epochs} fine-tuning epochs, {arguments.repeats} run(s) each, tuning split (seed "
          f"{arguments.seed})\n")
    print("| fine-tuned on | phase seconds, median (min-max) | of which the one-off pass | seconds per epoch "
          "| tuning accuracy |")
    print("|---|---:|---:|---:|---:|")
    medians = {}
    for cached in (False, True):
        own = [row for row in rows if row["cached"] == cached]
        seconds = [row["fine_tune_seconds"] for row in own]
        medians[cached] = statistics.median(seconds)
        print(f"| {own[0]['fine_tuned_on']} | {medians[cached]:.1f} ({min(seconds):.1f}-{max(seconds):.1f}) | "
              f"{statistics.median(row['one_off_seconds'] for row in own):.1f} | "
              f"{statistics.median(row['per_epoch'] for row in own):.1f} | "
              + ", ".join(f"{100 * row['accuracy']:.2f}%" for row in own) + " |")
    print(f"\ncached / images: {medians[True] / medians[False]:.2f}x the fine-tuning phase's time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
