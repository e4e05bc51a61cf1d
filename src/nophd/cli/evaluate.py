"""`nophd evaluate RUN`: a run's model on the test set, or on the robustness suite (--robustness)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nophd import quiet, scoring
from nophd.cli import arguments
from nophd.inference import tta
from nophd.errors import ConfigError


def add_parser(subparsers) -> None:
    """Adds the `evaluate` subcommand to the nophd parser."""
    parser = subparsers.add_parser("evaluate", help="evaluate a run's model on the test set")
    parser.add_argument("run", type=Path)
    arguments.add_data_dir(parser)
    parser.add_argument("--tta", action="store_true",
                        help="photo runs: test-time augmentation, the softmax averaged over the photo and its views "
                             f"(by default {' and '.join(tta.DEFAULT_VIEWS)}; mirrored views only when the run trained "
                             "with flips); writes RUN/evaluation-tta.json")
    parser.add_argument("--tta-views", metavar="VIEWS",
                        help=f"with --tta (implied): which views besides the photo, comma-separated from "
                             f"{', '.join(tta.VIEWS)} (crop: its central {tta.CROP:.1%}; flip: the mirror image of "
                             "each)")
    parser.add_argument("--robustness", action="store_true",
                        help="score the model on the robustness suite instead (digit runs: MNIST-C corruptions, "
                             "font digits, stroke-drawn digits), with each set's commonest misreadings; writes "
                             "RUN/robustness.json")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    if args.robustness:
        if args.tta or args.tta_views:
            raise ConfigError("--tta: the robustness suite scores digits as they are; drop --tta or --robustness")
        return _robustness(args)
    chosen = args.tta_views if args.tta_views is not None else args.tta
    result = nophd.evaluate(args.run, args.data_dir, tta=chosen)
    views = result["tta"]
    print(f"{args.run}: test accuracy {100 * result['test_accuracy']:.2f}%  loss {result['test_loss']:.4f}  "
          f"on {result['test_examples']:,} images"
          + (f" (test-time augmentation: the photo{''.join(', ' + view for view in views)})" if views is not False else ""))
    print(scoring.class_table(result))
    for warning in (scoring.one_class_warning_of(result), scoring.few_examples_warning_of(result)):
        if warning:
            print(f"warning: {warning}")
    if result.get("model_card_not_written"):
        print(f"nophd: warning: model card not written ({result['model_card_not_written']})", file=sys.stderr)
    return 0


def _robustness(args: argparse.Namespace) -> int:
    import nophd
    from nophd.inference import robustness

    result = nophd.evaluate_robustness(args.run, args.data_dir)
    print(f"{args.run}: robustness suite (seed {result['seed']}), {result['data']}, {len(result['fonts'])} fonts")
    print(robustness.table(result))
    if result.get("not_written"):
        print(f"nophd: warning: figures not saved ({result['not_written']})", file=sys.stderr)
    elif Path(args.run).is_dir():
        print(f"wrote {Path(args.run) / robustness.ROBUSTNESS}")
    return 0
