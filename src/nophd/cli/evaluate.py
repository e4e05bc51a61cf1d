"""`nophd evaluate RUN`: a run's model on the test set."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd import quiet, scoring
from nophd.cli import arguments


def add_parser(subparsers) -> None:
    """Adds the `evaluate` subcommand to the nophd parser."""
    parser = subparsers.add_parser("evaluate", help="evaluate a run's model on the test set")
    parser.add_argument("run", type=Path)
    arguments.add_data_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    result = nophd.evaluate(args.run, args.data_dir)
    print(f"{args.run}: test accuracy {100 * result['test_accuracy']:.2f}%  loss {result['test_loss']:.4f}  "
          f"on {result['test_examples']:,} images")
    print("per class: " + "  ".join(f"{name}:{100 * value:.1f}%" for name, value in zip(result["class_names"], result["per_class_accuracy"])))
    warning = scoring.one_class_warning_of(result)
    if warning:
        print(f"warning: {warning}")
    return 0
