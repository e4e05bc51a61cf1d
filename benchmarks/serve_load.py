"""nophd serve under load: predictions per second and latency for 1, 50 and 200 clients.

Starts a real `nophd serve` (a subprocess, as a user runs it) over a folder
holding a conv-bn digit run and a MobileNetV2 photo run, then, for each
number of concurrent loopback clients, keeps every client sending one
prediction after another for `--seconds` and prints: predictions per
second, p50/p95/p99 latency, errors, and the p95 of `GET /api/runs` polled
meanwhile (the dashboard's page must stay responsive under load). Each is
measured through nophd's own API (`POST /api/runs/{id}/predict` with a PNG
drawn digit, as the canvas sends it, or a JPEG photo) and through the Open
Inference Protocol (`POST /v2/models/{id}/infer`, a binary UINT8 tensor, as
tritonclient sends it).

Next to it, the ceiling: the same models' compiled call (a `tf.function`
over the Keras model, batches of 64) timed in this benchmark's process.

Without run folders given, it makes them in a temporary folder: conv-bn
trained for one epoch on 2,000 digits (real MNIST from $NOPHD_DATA when
there, else generated digits; throughput does not depend on accuracy), and
a MobileNetV2 transfer model at 192 px saved untrained (its speed is that of
the trained one; no weights are needed).

The clients are asyncio coroutines speaking HTTP/1.1 keep-alive on raw
sockets (one connection each), in this process: no client library, and as
little of the shared CPU as a client can take.

Figures, not pass/fail. Example (about 4 minutes on 2 CPU cores):

    NOPHD_DATA=/work/shared/data nice .venv/bin/python benchmarks/serve_load.py
    .venv/bin/python benchmarks/serve_load.py --digits-run runs/conv-bn --photo-run runs/flowers --clients 1 50
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPOSITORY = Path(__file__).resolve().parents[1]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits-run", type=Path, help="a conv-bn run folder (default: train a tiny one)")
    parser.add_argument("--photo-run", type=Path, help="a photo run folder (default: an untrained MobileNetV2 at 192 px)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50, 200], help="concurrent clients (default 1 50 200)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per level (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each level (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="measure each level this many times (default 1)")
    parser.add_argument("--skip-photos", action="store_true", help="only the digit model")
    parser.add_argument("--skip-digits", action="store_true", help="only the photo model")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    return parser.parse_args(argv)


# Run folders


def make_runs(runs_dir: Path, digits: bool, photos: bool, scratch: Path) -> None:
    """RUNS_DIR/conv-bn (trained briefly) and RUNS_DIR/photos (an untrained MobileNetV2), as asked."""
    if digits:
        data = os.environ.get("NOPHD_DATA")
        data_dir = Path(data) / "mnist" if data and (Path(data) / "mnist").is_dir() else None
        if data_dir is None:
            from nophd.data import synthetic

            data_dir = synthetic.write_mnist_like(scratch / "mnist", train_count=2000, test_count=500, seed=0)
        print(f"training conv-bn for 1 epoch on 2,000 digits ({data_dir}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "nophd", "train", "mnist", "--model", "conv-bn", "--epochs", "1",
                        "--train-limit", "2000", "--test-limit", "500", "--data-dir", str(data_dir),
                        "--out", str(runs_dir / "conv-bn"), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    if not photos:
        return
    folder = runs_dir / "photos"
    print("saving an untrained MobileNetV2 photo model (192 px, 5 classes) ...", file=sys.stderr)
    from nophd import atomic, runs
    from nophd.models import transfer

    folder.mkdir(parents=True)
    model = transfer.build_transfer_model("mobilenet_v2", 5, image_size=192, head="gap", weights=None)
    model.save(folder / runs.MODEL)
    atomic.write_json(folder / runs.CONFIG, {"task": "photos", "model": "mobilenet_v2", "dataset": "flowers",
                                             "image_size": 192, "epochs": 1,
                                             "class_names": ["daisy", "dandelion", "roses", "sunflowers", "tulips"]})
    runs.write_state(folder, status="finished", model="mobilenet_v2", dataset="flowers", pid=0, epochs_total=1,
                     epochs_done=1, wall_seconds=0.0, started_at=runs.now())


# Payloads


def drawn_digit_png() -> bytes:
    """A "7" drawn as the dashboard's canvas draws it: white strokes on black, 280x280 PNG."""
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line([(70, 60), (210, 60), (120, 230)], fill=255, width=22)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_jpeg() -> bytes:
    """A real flower photo (320 px) when the data is there, else a generated 320x240 JPEG."""
    data = os.environ.get("NOPHD_DATA")
    if data:
        found = sorted((Path(data) / "tf_flowers" / "roses").glob("*.jpg"))[:1]
        if found:
            return found[0].read_bytes()
    pixels = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def v2_body(shape: list[int]) -> tuple[bytes, dict[str, str]]:
    """A binary-tensor v2 inference request for one UINT8 image of `shape` (as tritonclient sends it)."""
    raw = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8).tobytes()
    header = json.dumps({"inputs": [{"name": "images", "datatype": "UINT8", "shape": shape,
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}}).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header)),
                          "Content-Type": "application/octet-stream"}


# A minimal HTTP/1.1 keep-alive client


class Connection:
    """One keep-alive connection; `request` returns (status, body)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            payload = await self.reader.readexactly(int(match.group(1))) if match else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            self.close()
            raise
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load_level(host: str, port: int, path: str, body: bytes, headers: dict[str, str], clients: int,
                     warmup: float, seconds: float) -> dict:
    """`clients` clients sending predictions for warmup + seconds; /api/runs polled every 0.1 s meanwhile."""
    latencies: list[float] = []
    page_latencies: list[float] = []
    errors = completed = 0
    error_examples: list[str] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def client() -> None:
        nonlocal errors, completed
        connection = Connection(host, port)
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                break
            try:
                status, payload = await connection.request("POST", path, body, headers)
            except Exception as error:  # noqa: BLE001 - a benchmark counts every failure as an error.
                status, payload = 0, str(error).encode()
            done = time.perf_counter()
            completed += 1
            if sent >= measure_from:
                if status == 200:
                    latencies.append(done - sent)
                else:
                    errors += 1
                    if len(error_examples) < 3:
                        error_examples.append(f"{status}: {payload[:200].decode(errors='replace')}")
        connection.close()

    async def dashboard() -> None:
        connection = Connection(host, port)
        while time.perf_counter() < stop_at:
            sent = time.perf_counter()
            status, _ = await connection.request("GET", "/api/runs")
            if sent >= measure_from and status == 200:
                page_latencies.append(time.perf_counter() - sent)
            await asyncio.sleep(0.1)
        connection.close()

    await asyncio.gather(dashboard(), *(client() for _ in range(clients)))
    return {
        "clients": clients,
        "predictions_per_second": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "errors": errors,
        "error_examples": error_examples,
        "api_runs_p95_ms": percentile(page_latencies, 95),
        "completed": completed,  # Warm-up included: the server's CPU time covers it too.
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q) * 1000) if values else None


# The ceiling: the model's own compiled call


def compiled_throughput(run: Path, seconds: float = 3.0, batch: int = 64) -> float:
    """Images per second of a tf.function over the run's Keras model, batches of `batch`, in this process."""
    from nophd import quiet

    tf = quiet.import_tensorflow()
    import keras

    model = keras.models.load_model(run / "model.keras")
    function = tf.function(lambda inputs: model(inputs, training=False))
    inputs = tf.constant(np.random.default_rng(0).random((batch, *model.input_shape[1:])).astype(np.float32)
                         * (1 if model.input_shape[-1] == 1 else 255))
    function(inputs).numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function(inputs).numpy()
        count += batch
    return count / (time.perf_counter() - start)


# The server


def start_server(runs_dir: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, "-m", "nophd", "serve", str(runs_dir), "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    port = None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"nophd serve did not start: {process.stderr.read()}")
        if "dashboard" in line:
            port = int(line.rsplit(":", 1)[1].strip().rstrip("/"))
        if "Ctrl-C stops it" in line:
            return process, port


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    args.load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="nophd-serve-load-") as scratch:
        runs_dir = Path(scratch) / "runs"
        runs_dir.mkdir()
        # nophd serve reads nothing outside its folder: given runs are copied in.
        if args.digits_run:
            shutil.copytree(args.digits_run, runs_dir / "conv-bn")
        if args.photo_run and not args.skip_photos:
            shutil.copytree(args.photo_run, runs_dir / "photos")
        if not args.digits_run or (not args.photo_run and not args.skip_photos):
            make_runs(runs_dir, digits=not args.digits_run, photos=not args.photo_run and not args.skip_photos,
                      scratch=Path(scratch))
        digits = runs_dir / "conv-bn"
        photos = None if args.skip_photos else runs_dir / "photos"

        models = [("conv-bn", digits, drawn_digit_png(), "image/png", [1, 28, 28])]
        if photos is not None:
            size = int(json.loads((photos / "config.json").read_text())["image_size"])
            models.append(("photos", photos, photo_jpeg(), "image/jpeg", [1, size, size, 3]))
        ceilings = {name: compiled_throughput(folder) for name, folder, *_ in models}

        process, port = start_server(runs_dir)
        results = []
        try:
            for name, _, payload, content_type, shape in models:
                if name == "conv-bn" and args.skip_digits:
                    continue
                v2_payload, v2_headers = v2_body(shape)
                for protocol, path, body, headers in (
                    ("nophd API", f"/api/runs/{name}/predict", payload, {"Content-Type": content_type}),
                    ("v2 (binary)", f"/v2/models/{name}/infer", v2_payload, v2_headers),
                ):
                    # Untimed: the first request loads the model and traces its call (seconds for MobileNetV2).
                    asyncio.run(load_level("127.0.0.1", port, path, body, headers, 1, 0, 0.001))
                    for clients in args.clients:
                        repeats = []
                        for _ in range(args.repeats):
                            before = cpu_seconds(process.pid)
                            level = asyncio.run(load_level("127.0.0.1", port, path, body, headers, clients,
                                                           args.warmup, args.seconds))
                            used = cpu_seconds(process.pid) - before
                            level["server_cpu_ms"] = used / level["completed"] * 1000 if used and level["completed"] else None
                            repeats.append(level)
                        row = summarize(repeats)
                        row.update(model=name, protocol=protocol, ceiling=ceilings[name])
                        results.append(row)
                        print(f"  {name} {protocol} {clients} clients: {row['predictions_per_second']:.0f}/s "
                              f"p95 {row['p95_ms'] or 0:.0f} ms errors {row['errors']} {row['error_examples'][:1]}",
                              file=sys.stderr)
        finally:
            process.terminate()
            process.communicate(timeout=30)
    print_table(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def summarize(repeats: list[dict]) -> dict:
    """The median of each figure over the repeats, with min and max of the throughput."""
    row = {"clients": repeats[0]["clients"], "repeats": len(repeats),
           "errors": sum(repeat["errors"] for repeat in repeats),
           "error_examples": [example for repeat in repeats for example in repeat["error_examples"]][:3]}
    for key in ("predictions_per_second", "p50_ms", "p95_ms", "p99_ms", "api_runs_p95_ms", "server_cpu_ms"):
        values = [repeat[key] for repeat in repeats if repeat[key] is not None]
        row[key] = statistics.median(values) if values else None
    rates = [repeat["predictions_per_second"] for repeat in repeats]
    row["rate_min"], row["rate_max"] = min(rates), max(rates)
    return row


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    def ms(value):
        return "-" if value is None else f"{value:.0f}"

    print(f"nophd serve, {os.cpu_count()} CPUs (load average at the start: {args.load_average:.1f}), {args.seconds:g} s "
          f"per level after {args.warmup:g} s warm-up, {args.repeats} repeat(s) (median; min-max of predictions/s)")
    print()
    print("| model | protocol | clients | predictions/s | p50 ms | p95 ms | p99 ms | errors | GET /api/runs p95 ms "
          "| server CPU ms / prediction | compiled call, batch 64 (ceiling) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in results:
        rate = f"{row['predictions_per_second']:.0f}"
        if row["repeats"] > 1:
            rate += f" ({row['rate_min']:.0f}-{row['rate_max']:.0f})"
        print(f"| {row['model']} | {row['protocol']} | {row['clients']} | {rate} | {ms(row['p50_ms'])} | "
              f"{ms(row['p95_ms'])} | {ms(row['p99_ms'])} | {row['errors']} | {ms(row['api_runs_p95_ms'])} | "
              f"{'-' if row['server_cpu_ms'] is None else format(row['server_cpu_ms'], '.2f')} | "
              f"{row['ceiling']:.0f} images/s |")
    for row in results:
        for example in row["error_examples"]:
            print(f"error ({row['model']}, {row['protocol']}, {row['clients']} clients): {example}")


if __name__ == "__main__":
    sys.exit(main())
