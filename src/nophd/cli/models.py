"""`nophd models`: the ladder's models with their recipes and the codelab's figures, then the photo backbones."""

from __future__ import annotations

import argparse

from nophd import quiet


def add_parser(subparsers) -> None:
    """Adds the `models` subcommand to the nophd parser."""
    parser = subparsers.add_parser("models", help="list the models with their recipes and the codelab's figures")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd import presets
    from nophd.models import registry

    print(f"{'model':14s} {'parameters':>10s}  {'epochs':>6s}  {'batch':>5s}  {'optimizer':18s} {'codelab':>8s}  description")
    for name in presets.names():
        spec = presets.get(name)
        recipe = spec.recipe
        optimizer = f"{recipe.optimizer} {recipe.learning_rate:g}" + (f"*{recipe.lr_decay:g}^e" if recipe.lr_decay else "")
        optimizer += " cosine" if recipe.lr_schedule == "cosine" else ""
        codelab = spec.codelab_text if spec.codelab_accuracy else "—"
        # A two-class rung (dense-binary) builds its model with one sigmoid output.
        parameters = registry.build(spec.model, num_classes=presets.preset(name).output_units).count_params()
        print(f"{name:14s} {parameters:>10,d}  {recipe.epochs:>6d}  {recipe.batch_size:>5d}  {optimizer:18s} {codelab:>8s}  {spec.description}")
    _spare_nets()
    _backbones()
    return 0


def _spare_nets() -> None:
    """The registered nets no rung trains: they train with another rung's recipe (--net)."""
    from nophd import presets
    from nophd.models import registry

    trained = {presets.get(name).model for name in presets.names()}
    spare = [name for name in registry.names() if name not in trained]
    if not spare:
        return
    print("\nnets no model trains by default (nophd train mnist --model MODEL --net NAME trains one with MODEL's recipe):")
    print(f"{'net':14s} {'parameters':>10s}  description")
    for name in spare:
        print(f"{name:14s} {registry.build(name).count_params():>10,d}  {registry.get(name).description}")


def _backbones() -> None:
    """The photo backbones (`nophd train DATASET --base NAME`): size, default image size, where their weights are."""
    from nophd import config
    from nophd.errors import NophdError
    from nophd.models import transfer

    print("\nphoto backbones (nophd train DATASET --base NAME):")
    print(f"{'base':18s} {'parameters':>10s}  {'size':>4s}  weights")
    for name, backbone in transfer.BACKBONES.items():
        size = config.photo_config("flowers", base=name).image_size
        parameters = transfer.build_backbone(name, size, weights=None).count_params()
        try:
            weights = transfer.resolve_weights(name, "auto")
        except NophdError as error:
            weights = str(error)
        if weights == transfer.IMAGENET:
            weights = "none here: downloaded on first use" + (
                " (or `nophd weights import`)" if backbone.imagenet is not None else "")
        print(f"{name:18s} {parameters:>10,d}  {size:>4d}  {weights}")
