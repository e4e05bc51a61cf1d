"""`nophd card RUN`: (re)write a run's MODEL_CARD.md from its files."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd.cli import arguments
from nophd.errors import RunError


def add_parser(subparsers) -> None:
    """Adds the `card` subcommand to the nophd parser."""
    parser = subparsers.add_parser(
        "card", help="write a run's model card (MODEL_CARD.md) from its files",
        description="Write RUN/MODEL_CARD.md from the run folder's own files: data and split, recipe, metrics, "
                    "robustness and exports where measured, intended use and limits, versions and the command. "
                    "Runs write it when they finish; this writes it for older runs. A MODEL_CARD.md that nophd "
                    "did not write (its first line is not nophd's mark) is left alone.")
    parser.add_argument("run", type=Path, metavar="RUN", help="a run folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nophd.reports import model_card

    path = model_card.write_model_card(args.run)
    if path is None:
        raise RunError(f"{args.run / model_card.CARD}: not written by nophd (its first line is not nophd's mark), "
                       "so it is left as it is; move it away to have nophd write its card")
    print(f"wrote {arguments.printable_path(path)}")
    return 0
