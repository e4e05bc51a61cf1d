"""`nophd export RUN --format savedmodel|tflite|tflite-int8|onnx|web [--out DIR]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nophd.export import FORMATS


def add_parser(subparsers) -> None:
    """Adds the `export` subcommand to the `nophd` parser."""
    parser = subparsers.add_parser(
        "export", help="export a run's model as a SavedModel, TFLite or ONNX file or a web app, measured against the original")
    parser.add_argument("run", type=Path, metavar="RUN", help="a finished run folder")
    # Checked by export_run rather than by argparse `choices`, so a bad value
    # gets nophd's one-line error (argparse would print its usage too).
    parser.add_argument("--format", required=True, metavar="FORMAT",
                        help=f"{', '.join(FORMATS)} (TFLite float, or full-integer int8; "
                             "onnx needs `pip install 'nophd[onnx]'`; web: a page running the TFLite model in the browser)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="export folder (default RUN/export/FORMAT); an earlier export there is replaced")
    parser.add_argument("--data-dir", type=Path, metavar="D",
                        help="where the run's data is, for calibration and the test set (default: as `nophd train`)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nophd import quiet

    quiet.import_tensorflow()
    from nophd.export.export import export_run

    result = export_run(args.run, args.format, args.out, data_dir=args.data_dir)
    for line in summary_lines(result):
        print(line)
    if result.get("model_card_not_written"):
        print(f"nophd: warning: model card not written ({result['model_card_not_written']})", file=sys.stderr)
    return 0


def summary_lines(result: dict) -> list[str]:
    """The export next to the original: accuracy, size, latency, and the ratios."""
    original, exported = result["original"], result["exported"]
    lines = [f"{result['format']}: {result['artifact_path']}",
             f"evaluated on the {result['evaluated_on']}",
             f"  {'':12s} {'accuracy':>9s} {'size':>10s} {'latency (1 image)':>18s}"]
    for name, entry in (("keras", original), (result["format"], exported)):
        lines.append(f"  {name:12s} {100 * entry['accuracy']:8.2f}% {human_size(entry['file_bytes']):>10s} "
                     f"{entry['latency_ms']:15.3f} ms")
    latency_ratio = result.get("latency_ratio")
    lines.append(f"  {result['accuracy_change_points']:+.2f} points, {result['size_ratio']:.2g}x the size, "
                 + (f"{latency_ratio:.2g}x the latency" if latency_ratio else "latency ratio n/a"))
    if result["format"] == "web":
        measured = result.get("web", {}).get("browser", {})
        lines.append("  (web: its model.tflite in Python's LiteRT; the page runs it in LiteRT.js)")
        if "accuracy" in measured:
            lines.append(f"  in headless Chromium, offline: {100 * measured['accuracy']:.2f}% on the first "
                         f"{measured['examples']:,} images, {measured['latency_ms']:.3f} ms per image")
        else:
            lines.append(f"  not measured in a browser here: {measured.get('not_measured', 'no figures')}")
        lines.append(f"open it: cd {result['path']} && python -m http.server, then http://localhost:8000/")
    lines.append(f"report: {Path(result['path']) / 'export.json'}")
    return lines


def human_size(size: int) -> str:
    """Bytes as B, KB, MB (powers of 1,000, as file managers show them)."""
    for unit, factor in (("MB", 1e6), ("KB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"
