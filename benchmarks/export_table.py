"""The export table: each export format of one run next to its Keras model.

Exports a finished run as a SavedModel, a float TFLite, a full-integer
int8 TFLite and an ONNX model (`nophd.export.export_run`, which also
evaluates each on the test set), then times a single-image prediction of
every model again in this one process, interleaved
(`nophd.export.measure.latencies`): the Keras model called directly
(`model(x, training=False)`, the reference of the ratios), the same call
compiled with tf.function (to show how much of the Keras figure is Python's
eager overhead), the SavedModel's serving signature, the two TFLite models
in the LiteRT interpreter, and the ONNX model in ONNX Runtime. The ONNX row
is left out, saying so, where the `onnx` extra is not installed.

The web row is the web app export in headless Chromium with the network
cut (nophd.export.browser.OfflineFolder): its accuracy is the page's own,
every evaluation image fed through window.nophdPredictMany; its latency is
the page's window.nophdTime (median over rounds of 20 calls, each a Tensor
made from the pixels, LiteRT.js's run and the output read back), so it is
timed in the browser, apart from the interleaved Python timings. Left out,
saying so, where Chromium or selenium is missing.

Prints a Markdown table: format, file size, test accuracy, median
single-image latency (10th-90th percentile), and the ratios of size and
latency to the Keras model's. On a conv-bn trained on the real MNIST it is
the source of the README's export figures.

Figures, not pass/fail. Example (about a minute on 2 CPU cores, after
`nophd train mnist --model conv-bn --out local/export-convbn`):

    NOPHD_DATA=/work/shared/data .venv/bin/python benchmarks/export_table.py local/export-convbn \\
        --json local/export-table.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nophd import atomic, quiet

tf = quiet.import_tensorflow()

from nophd import runs, tasks  # noqa: E402  (after TensorFlow's quiet import)
from nophd.errors import NophdError  # noqa: E402
from nophd.export import FORMATS, artifacts, export, measure  # noqa: E402


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (e.g. a conv-bn trained on the real MNIST)")
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: $NOPHD_DATA/mnist, then the cache)")
    parser.add_argument("--out", type=Path, help="folder for the exports, one per format (default RUN/export)")
    parser.add_argument("--runs", type=int, default=500, help="timed single-image predictions per model (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed predictions per model first (default 50)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    out = args.out or args.run / export.EXPORT_FOLDER
    results = {}
    for format in FORMATS:
        try:
            export.check_converter(format)
        except NophdError as error:
            print(f"skipping {format}: {error}", file=sys.stderr)
            continue
        print(f"exporting {format} ...", file=sys.stderr)
        results[format] = export.export_run(args.run, format, out / format, data_dir=args.data_dir, latency_runs=50)

    import keras

    model = keras.models.load_model(args.run / runs.MODEL)
    data = export.export_data(runs.read_json(args.run / runs.CONFIG) or {}, args.data_dir, 1)
    task = tasks.get(results["tflite"]["kind"])
    image = data.images[:1]
    prepared = task.inputs_from_raw(image)
    compiled = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(prepared.shape)])
    keras_tensor = tf.constant(prepared)
    calls = {
        "keras": measure.keras_single(model, prepared),
        "keras (tf.function)": lambda: compiled(keras_tensor).numpy(),
    }
    for format in results:
        if format != "web":  # Timed in the browser below.
            calls[format] = artifacts.load(results[format]["artifact_path"]).single(image)
    print(f"timing {len(calls)} models, {args.runs} single-image predictions each ...", file=sys.stderr)
    timings = measure.latencies(calls, runs=args.runs, warmup=args.warmup)

    if "web" in results:
        timings["web"], results["web"]["exported"]["accuracy"] = browser_figures(results["web"]["path"], data, image)

    original = results["tflite"]["original"]
    rows = [{"format": "keras", "file": original["file"], "file_bytes": original["file_bytes"],
             "accuracy": original["accuracy"], **_latency(timings["keras"])},
            {"format": "keras (tf.function)", "file": original["file"], "file_bytes": original["file_bytes"],
             "accuracy": original["accuracy"], **_latency(timings["keras (tf.function)"])}]
    for format in results:
        exported = results[format]["exported"]
        rows.append({"format": format, "file": results[format]["artifact_path"], "file_bytes": exported["file_bytes"],
                     "accuracy": exported["accuracy"], **_latency(timings[format])})
    reference = rows[0]
    for row in rows:
        row["size_ratio"] = row["file_bytes"] / reference["file_bytes"]
        row["latency_ratio"] = row["latency_ms"] / reference["latency_ms"]
        row["accuracy_change_points"] = 100 * (row["accuracy"] - reference["accuracy"])

    print(table(rows, results["tflite"]))
    if args.json:
        atomic.write_json(args.json, {
            "run": str(args.run), "model": results["tflite"]["model"], "evaluated_on": results["tflite"]["evaluated_on"],
            "rows": rows, "latency_method": (
                f"median of {args.runs} single-image predictions per model after {args.warmup} warm-up calls, "
                f"interleaved in 5 rounds, one process; TFLite with {artifacts.threads()} threads, "
                f"ONNX Runtime (CPU provider) with {artifacts.threads()} intra-op threads; web: in headless Chromium, "
                "LiteRT.js WebAssembly (one thread), median over 100 rounds of 20 calls after 20 warm-up calls, "
                "accuracy from the page on every evaluation image"),
            "cpus": os.cpu_count(), "versions": results["tflite"]["versions"], "measured_at": runs.now(),
        })
        print(f"json: {args.json}", file=sys.stderr)
    return 0


def browser_figures(folder: str, data, image) -> tuple[dict, float]:
    """The web export's latency (median ms per image, p10, p90) and accuracy, both measured in Chromium.

    Args:
        folder: the web export.
        data: the run's ExportData (its evaluation images and labels).
        image: the one image (1, *input_shape) uint8 the other models are timed on.
    """
    import base64

    import numpy as np

    from nophd.export import browser

    reason = browser.missing_browser()
    if reason:
        raise NophdError(f"cannot measure the web export: {reason}")
    print("timing the web export in headless Chromium ...", file=sys.stderr)
    with browser.OfflineFolder(folder, script_timeout=600) as page:
        page.wait_ready()
        timing = page.call("nophdTime", image[0].ravel().tolist(), 100, 20)
        probabilities = []
        for start in range(0, len(data.images), 1000):
            chunk = data.images[start:start + 1000]
            probabilities += page.call("nophdPredictMany", base64.b64encode(chunk.tobytes()).decode(), len(chunk))
        outside = page.outside_requests()
    if outside:
        raise NophdError(f"the web export asked for files outside its folder: {outside[:3]}")
    accuracy = measure.accuracy(np.asarray(probabilities, dtype=np.float32), data.labels)
    return {"median_ms": timing["median_ms"], "p10_ms": timing["p10_ms"], "p90_ms": timing["p90_ms"]}, accuracy


def _latency(timing: dict) -> dict:
    return {"latency_ms": timing["median_ms"], "latency_p10_ms": timing["p10_ms"], "latency_p90_ms": timing["p90_ms"]}


def table(rows: list[dict], result: dict) -> str:
    """The rows as a Markdown table with a one-line heading."""
    lines = [f"{result['model']} ({result['run']}), evaluated on the {result['evaluated_on']}", "",
             "| format | file size | test accuracy | latency, 1 image (p10-p90) | size vs Keras | latency vs Keras |",
             "|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        change = "" if row is rows[0] else f" ({row['accuracy_change_points']:+.2f})"
        lines.append(
            f"| {row['format']} | {_size(row['file_bytes'])} | {100 * row['accuracy']:.2f}%{change} | "
            f"{row['latency_ms']:.3f} ms ({row['latency_p10_ms']:.3f}-{row['latency_p90_ms']:.3f}) | "
            f"{row['size_ratio']:.2f}x | {row['latency_ratio']:.3f}x |")
    return "\n".join(lines)


def _size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.0f} KB"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except NophdError as error:
        print(f"export_table: error: {error}", file=sys.stderr)
        sys.exit(2)
