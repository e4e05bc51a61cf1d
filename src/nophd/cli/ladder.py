"""`nophd ladder mnist`: train every rung of the ladder and compare them."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd import quiet
from nophd.cli import arguments

DATASETS = ("mnist",)


def add_parser(subparsers) -> None:
    """Adds the `ladder` subcommand to the nophd parser."""
    parser = subparsers.add_parser("ladder", help="train every rung of the ladder and compare them")
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("--epochs-scale", type=arguments.positive_float, default=1.0, help="multiply every recipe's epochs (default 1)")
    parser.add_argument("--models", help="comma-separated rungs (default: every rung but conv-gmp, conv-l2 and dense-binary; see nophd.presets)")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/ladder"), help="folder for the rungs' runs and ladder.html")
    arguments.add_data_dir(parser)
    arguments.add_limits(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.training.ladder import run_ladder

    # run_ladder resolves every rung's config before it trains any, so an
    # unknown name fails at once, with the list of valid names.
    models = [name.strip() for name in args.models.split(",")] if args.models else None
    path = run_ladder(
        args.out, epochs_scale=args.epochs_scale, models=models, data_dir=args.data_dir, seed=args.seed,
        train_limit=args.train_limit, test_limit=args.test_limit, progress=not args.quiet,
    )
    markdown = path.with_suffix(".md")
    if markdown.exists():
        print(markdown.read_text(encoding="utf-8"))
    print(f"report: {path}")
    return 0
