"""`nophd serve [RUNS_DIR] [--host 127.0.0.1] [--port 8000]`: the dashboard and prediction API."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd.errors import ConfigError
from nophd.serve.defaults import DEFAULT_HOST, DEFAULT_PORT

def add_parser(subparsers) -> None:
    """Adds the `serve` subcommand to the nophd parser."""
    parser = subparsers.add_parser(
        "serve", help="a local web dashboard and prediction API over a folder of runs",
        description="Watch runs train, compare them, draw digits for a model to read, "
                    "and predict over a REST API. Binds to 127.0.0.1 unless --host says otherwise.",
    )
    parser.add_argument("runs_dir", nargs="?", type=Path, default=Path("runs"), metavar="RUNS_DIR",
                        help="folder of run folders (default runs); ladders one level down are found too")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free one)")
    parser.add_argument("--data-dir", type=Path,
                        help="folder with the MNIST files, for the misclassified examples (default: $NOPHD_DATA/mnist, then the cache)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        from nophd.serve import server
    except ImportError as error:
        raise ConfigError(f"nophd serve needs {error.name or 'its web packages'}, which is not installed: "
                          "pip install -e . installs starlette, uvicorn and python-multipart") from None

    server.serve(args.runs_dir, host=args.host, port=args.port, data_dir=args.data_dir)
    return 0


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, got {text!r}")
    return int(text)
