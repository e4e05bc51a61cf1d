"""Scaling benchmark: one device against mirrored replicas (and XLA / mixed precision), same model and data.

Each configuration is a separate `nophd train` process (logical CPU devices
must be set before TensorFlow starts), run one after the other on the same
machine with the same seed. For each it prints training images per second
(the median epoch after the first, which also traces and compiles),
validation accuracy, and the wall time until validation accuracy first
reaches the target (the codelab validates on the test set), then each
one's speed and time-to-target against the first configuration.

The mirrored run keeps the recipe's batch per replica, so its global batch
is N times larger and its learning rate N times higher (linear scaling, the
nophd default); --same-global-batch divides the per-replica batch
by N instead, so both runs do the same arithmetic.

Full figures (about 6+ minutes a run on 2 CPU cores):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/scaling.py

Quick form:

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/scaling.py --epochs 2 --train-limit 6000 --target 0.95

On a GPU machine the configurations are one GPU and mirrored over all GPUs.

`--onednn` adds one device with TensorFlow's oneDNN CPU kernels off and on
(TF_ENABLE_ONEDNN_OPTS=0 / 1: TensorFlow picks by itself only on some CPUs,
and `nophd doctor` says which way it went), and `--rounds N` runs every
configuration N times in a rotated order, giving images/s as the median
(min-max). A comparison of the fast rung's kernels on a CPU (a smoke run of
it, 1,280 images and 2 epochs, 2 rounds, took about 2 minutes on 2 cores):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/scaling.py --model conv-bn-fast --epochs 3 \
        --train-limit 12800 --test-limit 2000 --target 0.97 --no-mirrored --onednn --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]


def gpu_count() -> int:
    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    return int(result.stdout.strip() or 0)


def configurations(args) -> list[tuple[str, list[str], int, dict[str, str]]]:
    """(label, extra nophd train flags, replicas, extra environment) for every run, the reference first."""
    gpus = gpu_count()
    if gpus:
        runs = [("1 GPU", ["--strategy", "one"], 1, {})]
        if gpus > 1:
            runs.append((f"mirrored, {gpus} GPUs", ["--strategy", "mirrored"], gpus, {}))
    else:
        runs = [("1 CPU device", ["--strategy", "one"], 1, {})]
        if not args.no_mirrored:
            runs.append((f"mirrored, {args.devices} CPU devices",
                         ["--strategy", "mirrored", "--cpu-devices", str(args.devices)], args.devices, {}))
    if args.precision:
        runs += [("1 device, --jit", ["--strategy", "one", "--jit"], 1, {}),
                 ("1 device, --mixed-precision", ["--strategy", "one", "--mixed-precision"], 1, {})]
    if args.onednn:
        # TensorFlow turns its oneDNN CPU kernels on by itself only on some CPUs (`nophd doctor` says which
        # way it went here); the variable decides either way.
        runs += [(f"1 device, oneDNN {state}", ["--strategy", "one"], 1, {"TF_ENABLE_ONEDNN_OPTS": value})
                 for state, value in (("off", "0"), ("on", "1"))]
    return runs


def run_one(label: str, flags: list[str], replicas: int, environment: dict[str, str], args, root: Path,
            round_index: int = 0) -> dict:
    out = root / f"{label.replace(' ', '-').replace(',', '')}-{round_index}"
    command = [sys.executable, "-m", "nophd", "train", "mnist", "--model", args.model, "--epochs", str(args.epochs),
               "--seed", str(args.seed), "--out", str(out), "--quiet", *flags]
    batch = args.batch_size
    if args.same_global_batch and replicas > 1:
        if batch is None:
            from nophd import presets

            batch = presets.preset(args.model).batch_size
        command += ["--batch-size", str(max(1, batch // replicas)), "--lr-scaling", "none"]
    elif batch is not None:
        command += ["--batch-size", str(batch)]
    for flag in ("train_limit", "test_limit", "data_dir"):
        if getattr(args, flag) is not None:
            command += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    print(f"# {label}: {' '.join(command[2:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **environment}, cwd=REPOSITORY)
    wall = time.monotonic() - started
    history = list(csv_rows(out / "history.csv"))
    metrics = json.loads((out / "metrics.json").read_text())
    saved = json.loads((out / "config.json").read_text())
    timed = [row["seconds"] for row in history[1:]] or [history[0]["seconds"]]
    reached = next((row for row in history if row["val_accuracy"] >= args.target), None)
    return {
        "label": label,
        "replicas": replicas,
        "global_batch": saved["batch_size"],
        "learning_rate": saved["learning_rate"],
        "images_per_second": metrics["train_examples"] / statistics.median(timed),
        "first_epoch_seconds": history[0]["seconds"],
        "test_accuracy": metrics["test_accuracy"],
        "time_to_target": reached["elapsed"] if reached else None,
        "epoch_to_target": int(reached["epoch"]) if reached else None,
        "process_seconds": wall,
    }


def summarise(label: str, rounds: list[dict]) -> dict:
    """One configuration's rounds as one row: medians of speed and time to target, every round's figures kept."""
    reached = [row["time_to_target"] for row in rounds if row["time_to_target"] is not None]
    middle = sorted(rounds, key=lambda row: row["images_per_second"])[(len(rounds) - 1) // 2]
    return {
        **middle,
        "label": label,
        "images_per_second": statistics.median(row["images_per_second"] for row in rounds),
        "images_per_second_each": [row["images_per_second"] for row in rounds],
        "test_accuracy_each": [row["test_accuracy"] for row in rounds],
        # Reached by every round, else reported as not reached.
        "time_to_target": statistics.median(reached) if len(reached) == len(rounds) else None,
        "rounds": rounds,
    }


def csv_rows(path: Path):
    import csv

    with open(path, newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            yield {key: float(value) for key, value in row.items() if value not in ("", None)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="conv-bn")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.995)
    parser.add_argument("--devices", type=int, default=2, help="logical CPU devices of the mirrored run (no GPU)")
    parser.add_argument("--batch-size", type=int, help="per-replica batch (default: the recipe's)")
    parser.add_argument("--same-global-batch", action="store_true",
                        help="divide the per-replica batch by the replicas and do not scale the learning rate")
    parser.add_argument("--precision", action="store_true", help="also time --jit and --mixed-precision on one device")
    parser.add_argument("--onednn", action="store_true",
                        help="also time one device with TensorFlow's oneDNN CPU kernels off and on (TF_ENABLE_ONEDNN_OPTS)")
    parser.add_argument("--no-mirrored", action="store_true", help="CPU only: leave out the mirrored run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every configuration this many times, in a rotated order each round (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-limit", type=int)
    parser.add_argument("--test-limit", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds: expected a whole number >= 1, got {args.rounds}")

    plan = configurations(args)
    runs: dict[str, list[dict]] = {label: [] for label, *_ in plan}
    with tempfile.TemporaryDirectory(prefix="nophd-scaling-") as temporary:
        for round_index in range(args.rounds):
            # Rotated, so that a slow stretch of a shared machine does not always fall on the same configuration.
            shift = round_index % len(plan)
            for label, flags, replicas, environment in plan[shift:] + plan[:shift]:
                runs[label].append(run_one(label, flags, replicas, environment, args, Path(temporary), round_index))
    results = [summarise(label, runs[label]) for label, *_ in plan]
    reference = results[0]
    print(f"{args.model}, {args.epochs} epochs, seed {args.seed}, target {100 * args.target:.2f}%"
          + (f", first {args.train_limit:,} training images" if args.train_limit else "")
          + (f"; {args.rounds} rounds: images/s as median (min-max), time to target the median" if args.rounds > 1 else ""))
    print("| run | global batch | lr | images/s | vs first | 1st epoch s | test accuracy | time to target | vs first |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for result in results:
        speed = result["images_per_second"] / reference["images_per_second"]
        if result["time_to_target"] is None:
            target_text, target_ratio = "not reached", "—"
        else:
            target_text = f"{result['time_to_target']:.1f} s (epoch {result['epoch_to_target']})"
            target_ratio = (f"{result['time_to_target'] / reference['time_to_target']:.2f}x"
                            if reference["time_to_target"] else "—")
        rates = result["images_per_second_each"]
        rate_text = f"{result['images_per_second']:,.0f}" + (
            f" ({min(rates):,.0f}-{max(rates):,.0f})" if len(rates) > 1 else "")
        accuracies = " / ".join(dict.fromkeys(f"{100 * value:.2f}%" for value in result["test_accuracy_each"]))
        print(f"| {result['label']} | {result['global_batch']} | {result['learning_rate']:g} | "
              f"{rate_text} | {speed:.2f}x | {result['first_epoch_seconds']:.1f} | "
              f"{accuracies} | {target_text} | {target_ratio} |")
    if args.json:
        args.json.write_text(json.dumps({"arguments": vars(args) | {"json": str(args.json)}, "results": results},
                                        indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
