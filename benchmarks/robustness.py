"""The robustness table: finished digit runs side by side on the robustness suite.

For every finished digit run folder given, or found one level under a runs
folder given, scores its model on the robustness suite
(`nophd.inference.robustness.evaluate_run`, the same as `nophd evaluate RUN
--robustness`, but nothing is written into the run folders) and prints one
plain table: a row per set (clean, the fifteen MNIST-C corruptions, fonts,
strokes), a column per run, then the mean over every set but clean. The
command line comes first, so a pasted table says how it was made. Photo runs
and unfinished runs are listed as skipped.

Figures, not pass/fail. Example (about 40 s per conv-bn run on 2 CPU cores):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/robustness.py runs/ --json local/robustness.json
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from nophd import atomic, quiet

quiet.import_tensorflow()

from nophd import runs, tasks  # noqa: E402  (after TensorFlow's quiet import)
from nophd.errors import NophdError  # noqa: E402
from nophd.inference import robustness  # noqa: E402
from nophd.robustness import suite  # noqa: E402


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+", help="run folders, or folders holding run folders")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: $NOPHD_DATA/mnist, then the cache)")
    parser.add_argument("--seed", type=int, default=0, help="the suite's seed (default 0, as nophd evaluate uses)")
    parser.add_argument("--per-set", type=int, default=suite.PER_SET,
                        help=f"MNIST test digits per corruption (default {suite.PER_SET})")
    parser.add_argument("--strokes", type=int, default=suite.STROKES,
                        help=f"stroke-drawn digits (default {suite.STROKES})")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this JSON file")
    return parser.parse_args(argv)


def find_runs(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """(finished digit run folders in the order given, sorted within a folder; "path: why" for each skipped)."""
    found, skipped = [], []
    for path in paths:
        candidates = [path] if (path / runs.MODEL).exists() else sorted(child for child in path.iterdir() if child.is_dir()) \
            if path.is_dir() else []
        if not candidates:
            skipped.append(f"{path}: no run folder here")
        for candidate in candidates:
            if not (candidate / runs.MODEL).exists():
                continue
            config = runs.read_json(candidate / runs.CONFIG) or {}
            try:
                task = tasks.of_run(config)
            except NophdError as error:
                skipped.append(f"{candidate}: {error}")
                continue
            if not task.supports_robustness:
                skipped.append(f"{candidate}: a {task.noun} run (the suite is for digit runs)")
            elif runs.status(candidate) != "finished" and (runs.read_json(candidate / runs.METRICS) or {}).get("status") != "finished":
                skipped.append(f"{candidate}: not finished")
            else:
                found.append(candidate)
    return found, skipped


def table(results: dict[str, dict]) -> str:
    """Rows: sets, then the mean; columns: runs (accuracy in percent)."""
    names = list(results)
    first = next(iter(results.values()))
    set_names = [row["name"] for row in first["sets"]]
    width = max(len(name) for name in set_names + ["mean"])
    columns = [max(len(name), 7) for name in names]
    lines = [f"{'set':<{width}}  " + "  ".join(f"{name:>{column}}" for name, column in zip(names, columns))]
    for index, set_name in enumerate(set_names):
        cells = [f"{100 * results[name]['sets'][index]['accuracy']:.2f}%" for name in names]
        lines.append(f"{set_name:<{width}}  " + "  ".join(f"{cell:>{column}}" for cell, column in zip(cells, columns)))
    cells = [f"{100 * results[name]['mean_accuracy']:.2f}%" for name in names]
    lines.append(f"{'mean':<{width}}  " + "  ".join(f"{cell:>{column}}" for cell, column in zip(cells, columns)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    command = "python " + " ".join(shlex.quote(part) for part in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    found, skipped = find_runs(args.paths)
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not found:
        print("no finished digit run found", file=sys.stderr)
        return 2
    results, seconds = {}, {}
    for run in found:
        print(f"evaluating {run} ...", file=sys.stderr)
        start = time.perf_counter()
        results[run.name if run.name not in results else str(run)] = robustness.evaluate_run(
            run, args.data_dir, seed=args.seed, per_set=args.per_set, stroke_count=args.strokes, write=False)
        seconds[str(run)] = round(time.perf_counter() - start, 1)
    first = next(iter(results.values()))
    print(f"command: {command}")
    print(f"robustness suite, seed {args.seed}: {first['data']}; {len(first['fonts'])} fonts; mean over every set but clean")
    print(table(results))
    print("seconds per run (suite built and scored): " + ", ".join(f"{run} {value}" for run, value in seconds.items()))
    if args.json:
        atomic.write_json(args.json, {"command": command, "seed": args.seed, "seconds": seconds, "runs": results})
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
