"""The `nophd` command: subcommands that parse flags and call one library function each.

Every NophdError becomes one line on stderr and exit status 2 here, in one
place (main); nothing below prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import faulthandler
import importlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from nophd import quiet
from nophd import errors
from nophd.errors import NophdError

DATASETS = ("mnist",)

# Subcommands that live beside the code they drive: each module has
# add_command(subparsers), which adds its parser and a handler(args) -> int.
COMMAND_MODULES = ("nophd.serve.command", "nophd.export.command")


def cmd_data_tfrecords(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.data import tfrecords

    index_path = tfrecords.write_shards(
        args.root, args.out_dir, size=args.size, shards=args.shards,
        report=None if args.quiet else lambda line: print(line, file=sys.stderr),
    )
    # Just written and checked as it was written: read it back without
    # re-hashing every shard as read_index would.
    index = json.loads(index_path.read_text(encoding="utf-8"))
    print(f"{index['count']:,} images of {len(index['class_names'])} classes "
          f"({', '.join(index['class_names'])}) in {len(index['shards'])} shards of {index['size']}x{index['size']}")
    if index["skipped"]:
        print(f"skipped {len(index['skipped'])} file(s):")
        for path, reason in index["skipped"]:
            print(f"  {path}: {reason}")
    print(f"index: {index_path}")
    return 0


def cmd_data_photos(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import numpy as np

    from nophd.data import photos

    data = photos.open_photos(args.source, image_size=192, validation_split=args.validation_split, seed=args.seed,
                              data_dir=args.data_dir)
    print(f"{len(data.training) + len(data.validation):,} images of {len(data.class_names)} classes in {data.source} ({data.kind})")
    train_counts = np.bincount(data.training_labels, minlength=len(data.class_names))
    validation_counts = np.bincount(data.validation_labels, minlength=len(data.class_names))
    widest = max(int(max(train_counts + validation_counts)), 1)
    width = max(len(name) for name in data.class_names)
    print(f"  {'class':{width}s}  {'train':>6s}  {'val':>5s}   (split {args.validation_split:g}, seed {args.seed})")
    for name, train, validation in zip(data.class_names, train_counts, validation_counts):
        print(f"  {name:{width}s}  {train:6,d}  {validation:5,d}   {'#' * round(40 * (train + validation) / widest)}")
    if data.skipped:
        print(f"skipped {len(data.skipped)} file(s):")
        for path, reason in data.skipped:
            print(f"  {path}: {reason}")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from nophd.data import mnist

    data = mnist.load(args.data_dir)
    print(f"MNIST found in {data.directory}")
    for check in mnist.file_checks(data):
        verdict = "matches the official MNIST file" if check.official else "DOES NOT match the official MNIST file"
        print(f"  {check.path.name:28s} sha256 {check.sha256[:16]}…  {verdict}")
    for split, labels in (("train", data.train_labels), ("test", data.test_labels)):
        print(f"{split}: {len(labels):,} images of 28x28")
        counts = [int((labels == digit).sum()) for digit in range(10)]
        widest = max(counts) or 1
        for digit, count in enumerate(counts):
            print(f"  {digit}  {count:6,d}  {'#' * round(40 * count / widest)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.models import registry

    print(f"{'model':14s} {'parameters':>10s}  {'epochs':>6s}  {'batch':>5s}  {'optimizer':18s} {'codelab':>8s}  description")
    for name in registry.names():
        spec = registry.get(name)
        recipe = spec.recipe
        optimizer = f"{recipe.optimizer} {recipe.learning_rate:g}" + (f"*{recipe.lr_decay:g}^e" if recipe.lr_decay else "")
        codelab = spec.codelab_text if spec.codelab_accuracy else "—"
        parameters = spec.build((28, 28, 1), 10).count_params()
        print(f"{name:14s} {parameters:>10,d}  {recipe.epochs:>6d}  {recipe.batch_size:>5d}  {optimizer:18s} {codelab:>8s}  {spec.description}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    if args.dataset == "mnist":
        photo_flags = [flag for flag, value in _photo_options(args).items() if value is not None]
        if photo_flags:
            raise NophdError(f"--{photo_flags[0].replace('_', '-')}: only for photo datasets, not mnist")
        if not args.model:
            raise NophdError("--model: required for mnist (see `nophd models`)")
        result = nophd.train(
            args.model, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, out=args.out,
            resume=args.resume, data_dir=args.data_dir, runs_root=args.runs_root, progress=not args.quiet,
            learning_rate=args.learning_rate, validation_split=args.validation_split, shift_pixels=args.shift_pixels,
            train_limit=args.train_limit, test_limit=args.test_limit, **_scale_options(args),
        )
    else:
        for flag in ("model", "shift_pixels", "train_limit", "test_limit"):
            if getattr(args, flag) is not None:
                raise NophdError(f"--{flag.replace('_', '-')}: only for mnist; photo runs use --base and --head")
        if args.workers:
            raise NophdError("--workers: photo runs do not support multi-worker training yet")
        result = nophd.train_photos(
            args.dataset, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, out=args.out,
            resume=args.resume, data_dir=args.data_dir, runs_root=args.runs_root, progress=not args.quiet,
            learning_rate=args.learning_rate, validation_split=args.validation_split, **_photo_options(args),
            **{key: value for key, value in _scale_options(args).items() if key not in ("workers", "worker_index", "worker_timeout")},
        )
    metrics = result.metrics
    what = "validation" if metrics.get("task") == "photos" else "test"
    print(f"{metrics['model']}: {what} accuracy {100 * metrics['test_accuracy']:.2f}%  loss {metrics['test_loss']:.4f}  "
          f"{metrics['epochs'] + metrics.get('fine_tune_epochs', 0)} epochs  {metrics['wall_seconds']:.0f} s")
    print(f"report: {result.run_directory / 'report.html'}")
    return 0


def _scale_options(args: argparse.Namespace) -> dict:
    return {
        "strategy": args.strategy, "cpu_devices": args.cpu_devices, "workers": args.workers,
        "worker_index": args.worker_index, "worker_timeout": args.worker_timeout, "lr_scaling": args.lr_scaling,
        "mixed_precision": True if args.mixed_precision else None, "jit": True if args.jit else None,
    }


def _photo_options(args: argparse.Namespace) -> dict:
    return {
        "base": args.base, "head": args.head, "dropout": args.dropout, "image_size": args.image_size,
        "weights": args.weights, "fine_tune_epochs": args.fine_tune_epochs, "fine_tune_layers": args.fine_tune_layers,
        "fine_tune_learning_rate": args.fine_tune_learning_rate, "lr_decay": args.lr_decay, "augment": args.augment,
        "class_weight": args.class_weight,
    }


def cmd_ladder(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.training.ladder import run_ladder

    models = [name.strip() for name in args.models.split(",")] if args.models else None
    if models:
        from nophd.models import registry

        for name in models:
            registry.get(name)  # Fails early, with the list of valid names.
    path = run_ladder(
        args.out, epochs_scale=args.epochs_scale, models=models, data_dir=args.data_dir, seed=args.seed,
        train_limit=args.train_limit, test_limit=args.test_limit, progress=not args.quiet,
    )
    markdown = path.with_suffix(".md")
    if markdown.exists():
        print(markdown.read_text(encoding="utf-8"))
    print(f"report: {path}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    result = nophd.evaluate(args.run, args.data_dir)
    print(f"{args.run}: test accuracy {100 * result['test_accuracy']:.2f}%  loss {result['test_loss']:.4f}  "
          f"on {result['test_examples']:,} images")
    print("per class: " + "  ".join(f"{name}:{100 * value:.1f}%" for name, value in zip(result["class_names"], result["per_class_accuracy"])))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    import nophd

    failures = 0
    for result in nophd.predict(args.run, args.images, top=args.top):
        if result.error:
            failures += 1
            print(f"nophd: error: {_printable_path(result.error)}", file=sys.stderr)
            continue
        ranked = "  ".join(f"{name} {100 * probability:5.1f}%" for name, probability in result.top)
        warning = f"  (warning: {result.warning})" if result.warning else ""
        print(f"{_printable_path(result.path)}: {ranked}{warning}")
    return 2 if failures else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from nophd import doctor

    report = doctor.collect(data_dir=args.data_dir)
    print(json.dumps(report, indent=2) if args.json else doctor.format_report(report))
    if report["tensorflow"]["error"]:
        raise NophdError(report["tensorflow"]["error"])
    return 0


def _printable_path(path) -> str:
    """A path as one line: a name with a newline or another control character is quoted, escaped."""
    text = str(path)
    if any(ord(character) < 32 or ord(character) == 127 for character in text):
        return repr(text)
    return text


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")


MAX_SEED = 2**32 - 1


def _seed(text: str) -> int:
    """A seed: a whole number 0..2**32-1 (what NumPy and TensorFlow accept)."""
    value = _non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST files or the flower photos "
                                                      "(default: $NOPHD_DATA/mnist or tf_flowers, then the cache)")


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-limit", type=_positive_int, help="train on the first N training images only")
    parser.add_argument("--test-limit", type=_positive_int, help="evaluate on the first N test images only")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


class _Parser(argparse.ArgumentParser):
    """argparse with nophd's one-line errors (a bad flag value prints no usage block); exit status 2."""

    def error(self, message: str):
        self.exit(2, f"nophd: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    from nophd import __version__

    parser = _Parser(
        prog="nophd", description="Train, understand and use the Keras codelab image classifiers.",
    )
    parser.add_argument("--version", action="version", version=f"nophd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="find, verify, describe and convert datasets")
    data_commands = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    data_mnist = data_commands.add_parser("mnist", help="where MNIST is, its checksums, counts and label histogram")
    _add_data_dir(data_mnist)
    data_mnist.set_defaults(handler=cmd_data)
    data_photos = data_commands.add_parser(
        "photos", help="a photo dataset's classes, counts per side of the split, and skipped files")
    data_photos.add_argument("source", help="flowers, an image folder ROOT/<class>/*.jpg, or a TFRecord shard folder")
    data_photos.add_argument("--validation-split", "--val-split", type=float, default=0.2)
    data_photos.add_argument("--seed", type=_seed, default=0)
    _add_data_dir(data_photos)
    data_photos.set_defaults(handler=cmd_data_photos)
    data_tfrecords = data_commands.add_parser(
        "tfrecords", help="write an image folder ROOT/<class>/*.jpg as TFRecord shards with an index.json")
    data_tfrecords.add_argument("root", type=Path, help="image folder: one sub-folder of images per class")
    data_tfrecords.add_argument("out_dir", type=Path, help="folder for the shards and index.json")
    data_tfrecords.add_argument("--size", type=_positive_int, default=192, help="side of the stored images (default 192)")
    data_tfrecords.add_argument("--shards", type=_positive_int, default=16, help="number of shard files (default 16)")
    data_tfrecords.add_argument("--quiet", action="store_true", help="no progress lines")
    data_tfrecords.set_defaults(handler=cmd_data_tfrecords)

    models = commands.add_parser("models", help="list the models with their recipes and the codelab's figures")
    models.set_defaults(handler=cmd_models)

    train = commands.add_parser(
        "train", help="train one model and write its run folder",
        description="Train a ladder model on MNIST, or a transfer-learning photo classifier on tf_flowers, "
                    "an image folder ROOT/<class>/*.jpg, or TFRecord shards from `nophd data tfrecords`.")
    train.add_argument("dataset", help="mnist, flowers, or the path of an image folder or a TFRecord shard folder")
    train.add_argument("--model", help="mnist: a name from `nophd models` (required)")
    train.add_argument("--epochs", type=_positive_int)
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--learning-rate", type=_positive_float, help="initial learning rate")
    train.add_argument("--seed", type=_seed, help="seed for repeatable runs (default 0)")
    train.add_argument("--shift-pixels", type=_non_negative_int,
                       help="augment with random shifts of up to N pixels (default: the model's recipe)")
    train.add_argument("--validation-split", "--val-split", type=float,
                       help="hold out this share of the training set for validation (mnist default 0: validate on "
                            "the test set, as the codelab does; photos default 0.2 of each class)")
    train.add_argument("--out", type=Path, help="run folder (default runs/<time>-<model>)")
    train.add_argument("--runs-root", type=Path, default=Path("runs"), help="where new run folders go (default runs)")
    train.add_argument("--resume", action="store_true", help="continue an interrupted run (in --out, or the newest of this model)")
    _add_data_dir(train)
    _add_limits(train)
    photos = train.add_argument_group("photo datasets (transfer learning)")
    photos.add_argument("--base", choices=("mobilenet_v2", "mobilenet_v1_025"), help="backbone (default mobilenet_v2)")
    photos.add_argument("--head", choices=("flatten", "gap"), help="flatten (the lab's) or global average pooling (default)")
    photos.add_argument("--dropout", type=float, help="dropout before the last layer (default 0.2)")
    photos.add_argument("--image-size", type=_positive_int, help="side of the square input in pixels (default 192)")
    photos.add_argument("--weights", help="backbone weights: a .h5 file, imagenet, none, or auto (default: "
                                          "weights/ in --data-dir or beside it, $NOPHD_DATA/weights, the Keras cache, then download)")
    photos.add_argument("--fine-tune-epochs", type=_non_negative_int,
                        help="epochs of fine-tuning after the frozen ones (default 8; 0 for none)")
    photos.add_argument("--fine-tune-layers", type=_non_negative_int,
                        help="top backbone layers to unfreeze (default 60; batch norm stays frozen)")
    photos.add_argument("--fine-tune-learning-rate", type=_positive_float,
                        help="first learning rate of fine-tuning (default 5e-5)")
    photos.add_argument("--lr-decay", type=_positive_float,
                        help="multiply the fine-tuning learning rate by this after each epoch (default 0.75; 1 keeps it)")
    photos.add_argument("--augment", nargs="?", const="all", choices=("off", "all", "fine-tune"),
                        help="random flips, rotations, zooms and contrast: in both phases (--augment), only while "
                             "fine-tuning (--augment fine-tune, the default: keeps the fast cached frozen phase), or off")
    photos.add_argument("--class-weight", choices=("none", "balanced"), help="balanced: weigh classes by inverse frequency")
    scale = train.add_argument_group("scaling out (see the README's Scaling out)")
    scale.add_argument("--strategy", choices=("auto", "one", "mirrored", "multiworker", "tpu"), default="auto",
                       help="tf.distribute strategy (default auto: multiworker with --workers or TF_CONFIG, mirrored "
                            "with several GPUs or --cpu-devices N, else one device)")
    scale.add_argument("--cpu-devices", type=_positive_int,
                       help="split the CPU into N logical devices (to try mirrored training without GPUs)")
    scale.add_argument("--workers", help="HOST:PORT,HOST:PORT,...: every worker of a multi-worker run, in order "
                                         "(instead of TF_CONFIG)")
    scale.add_argument("--worker-index", type=_non_negative_int, default=0,
                       help="this worker's position in --workers (0, the chief, writes the run folder)")
    scale.add_argument("--worker-timeout", type=_positive_int,
                       help="seconds a worker waits for its peers to start or answer before it stops (default 60)")
    scale.add_argument("--lr-scaling", choices=("linear", "sqrt", "none"),
                       help="how the learning rate grows with the replica count (default linear); "
                            "--batch-size is per replica")
    scale.add_argument("--mixed-precision", action="store_true",
                       help="mixed_float16 on GPU, mixed_bfloat16 on CPU/TPU (measured no faster on a 2-core CPU; see README)")
    scale.add_argument("--jit", action="store_true",
                       help="compile the training step with XLA (measured 2x slower on a 2-core CPU; see README)")
    train.set_defaults(handler=cmd_train)

    ladder = commands.add_parser("ladder", help="train every rung of the ladder and compare them")
    ladder.add_argument("dataset", choices=DATASETS)
    ladder.add_argument("--epochs-scale", type=_positive_float, default=1.0, help="multiply every recipe's epochs (default 1)")
    ladder.add_argument("--models", help="comma-separated subset of rungs (default: all)")
    ladder.add_argument("--seed", type=_seed, default=0)
    ladder.add_argument("--out", type=Path, default=Path("runs/ladder"), help="folder for the rungs' runs and ladder.html")
    _add_data_dir(ladder)
    _add_limits(ladder)
    ladder.set_defaults(handler=cmd_ladder)

    evaluate = commands.add_parser("evaluate", help="evaluate a run's model on the test set")
    evaluate.add_argument("run", type=Path)
    _add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    predict = commands.add_parser("predict", help="classify image files with a run's model")
    predict.add_argument("run", type=Path)
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--top", type=_positive_int, default=3)
    predict.set_defaults(handler=cmd_predict)

    doctor = commands.add_parser("doctor", help="the TensorFlow build, devices (is the GPU used?), and where data and weights are")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_data_dir(doctor)
    doctor.set_defaults(handler=cmd_doctor)

    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name not in (module_name, module_name.rpartition(".")[0]):
                raise
            continue
        module.add_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    # `kill -USR1 PID` prints every thread's stack to stderr: how to see where
    # a run that will not stop is stuck, without stopping it.
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        try:
            faulthandler.register(signal.SIGUSR1, all_threads=True)
        except (OSError, ValueError):  # stderr is no real file (captured in a test, a notebook): no dumps.
            pass
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except NophdError as error:
        print(f"nophd: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`nophd data mnist | head`): not an error of ours.
        # Point stdout at /dev/null so Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as error:
        # A full disk, a read-only folder, a missing permission, a file in
        # the way: the user's to fix, so one line naming the path.
        line = errors.os_error_line(error)
        if line is None:
            return _internal_error(error)
        print(f"nophd: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = " (continue with the same command and --resume)" if args.command in ("train", "ladder") else ""
        print(f"\nnophd: interrupted{hint}", file=sys.stderr)
        return 130
    except Exception as error:
        return _internal_error(error)


def _internal_error(error: Exception) -> int:
    if os.environ.get("NOPHD_DEBUG"):
        raise error
    first_line = (str(error).splitlines() or [""])[0]
    print(f"nophd: internal error: {type(error).__name__}: {first_line} (set NOPHD_DEBUG=1 for the traceback)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
