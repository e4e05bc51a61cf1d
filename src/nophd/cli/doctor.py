"""`nophd doctor`: the TensorFlow build, its devices, and where data and weights are."""

from __future__ import annotations

import argparse
import json

from nophd.cli import arguments
from nophd.errors import NophdError


def add_parser(subparsers) -> None:
    """Adds the `doctor` subcommand to the nophd parser."""
    parser = subparsers.add_parser(
        "doctor", help="the TensorFlow build, devices (is the GPU used?), and where data and weights are")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    arguments.add_data_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nophd import doctor

    report = doctor.collect(data_dir=args.data_dir)
    print(json.dumps(report, indent=2) if args.json else doctor.format_report(report))
    if report["tensorflow"]["error"]:
        raise NophdError(report["tensorflow"]["error"])
    return 0
