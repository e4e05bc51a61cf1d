"""`nophd data mnist|photos|tfrecords|augment-preview`: find, verify, describe, convert and preview datasets."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nophd import quiet
from nophd.cli import arguments


def add_parser(subparsers) -> None:
    """Adds the `data` subcommand, its three datasets and the augmentation preview to the nophd parser."""
    data = subparsers.add_parser("data", help="find, verify, describe, convert and preview datasets")
    data_commands = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    data_mnist = data_commands.add_parser("mnist", help="where MNIST is, its checksums, counts and label histogram")
    arguments.add_data_dir(data_mnist)
    data_mnist.set_defaults(handler=run_mnist)
    data_photos = data_commands.add_parser(
        "photos", help="a photo dataset's classes, counts per side of the split, and skipped files")
    data_photos.add_argument("source", help="flowers, an image folder ROOT/<class>/*.jpg, or a TFRecord shard folder")
    data_photos.add_argument("--validation-split", "--val-split", type=float, default=0.2)
    data_photos.add_argument("--seed", type=arguments.seed, default=0)
    arguments.add_data_dir(data_photos)
    data_photos.set_defaults(handler=run_photos)
    data_tfrecords = data_commands.add_parser(
        "tfrecords", help="write an image folder ROOT/<class>/*.jpg as TFRecord shards with an index.json")
    data_tfrecords.add_argument("root", type=Path, help="image folder: one sub-folder of images per class")
    data_tfrecords.add_argument("out_dir", type=Path, help="folder for the shards and index.json")
    data_tfrecords.add_argument("--size", type=arguments.positive_int, default=192, help="side of the stored images (default 192)")
    data_tfrecords.add_argument("--shards", type=arguments.positive_int, default=16, help="number of shard files (default 16)")
    data_tfrecords.add_argument("--quiet", action="store_true", help="no progress lines")
    data_tfrecords.set_defaults(handler=run_tfrecords)
    preview = data_commands.add_parser(
        "augment-preview", help="a PNG of MNIST training digits and augmented versions of them",
        description="Draw MNIST training digits (top row) and augmented versions of them, one row per draw, with "
                    "the strengths of `nophd train mnist`'s digit augmentation flags (none given: a moderate "
                    "setting of every transform).")
    preview.add_argument("--out", type=Path, default=Path("augment-preview.png"),
                         help="the PNG to write (default augment-preview.png)")
    preview.add_argument("--digits", type=arguments.positive_int, default=10, help="digits per row (default 10)")
    preview.add_argument("--draws", type=arguments.positive_int, default=4, help="augmented rows (default 4)")
    preview.add_argument("--seed", type=arguments.seed, default=0)
    arguments.add_data_dir(preview)
    arguments.add_digit_augmentation(preview)
    preview.set_defaults(handler=run_augment_preview)


def run_augment_preview(args: argparse.Namespace) -> int:
    quiet.import_tensorflow()
    from nophd.data import augment
    from nophd.reports import augmentation

    strengths = {name: value for name, value in arguments.digit_augmentation(args).items() if value is not None}
    params = augment.DigitAugmentation(**strengths) if strengths else augment.EXAMPLE
    preview = augmentation.write_preview(args.out, params, data_dir=args.data_dir, count=args.digits,
                                         draws=args.draws, seed=args.seed)
    print(f"{preview.count} MNIST training digits from {arguments.printable_path(preview.data_directory)} and "
          f"{preview.draws} augmented versions of each ({augment.describe(preview.params)})")
    print(f"picture: {arguments.printable_path(preview.path)}")
    return 0


def run_tfrecords(args: argparse.Namespace) -> int:
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


def run_photos(args: argparse.Namespace) -> int:
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


def run_mnist(args: argparse.Namespace) -> int:
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
