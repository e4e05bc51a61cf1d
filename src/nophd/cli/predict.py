"""`nophd predict RUN IMAGE...`: the top classes of each image file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nophd import quiet
from nophd.cli import arguments


def add_parser(subparsers) -> None:
    """Adds the `predict` subcommand to the nophd parser."""
    parser = subparsers.add_parser("predict", help="classify image files with a run's model")
    parser.add_argument("run", type=Path)
    parser.add_argument("images", nargs="+", type=Path)
    parser.add_argument("--top", type=arguments.positive_int, default=3)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    failures = 0
    for result in nophd.predict(args.run, args.images, top=args.top):
        if result.error:
            # One unreadable image does not stop the others: its line here,
            # and exit status 2 at the end.
            failures += 1
            print(f"nophd: error: {arguments.printable_path(result.error)}", file=sys.stderr)
            continue
        ranked = "  ".join(f"{name} {100 * probability:5.1f}%" for name, probability in result.top)
        warning = f"  (warning: {result.warning})" if result.warning else ""
        print(f"{arguments.printable_path(result.path)}: {ranked}{warning}")
    return 2 if failures else 0
