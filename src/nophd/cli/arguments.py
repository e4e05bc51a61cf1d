"""Flag value types and flags shared by several subcommands.

A bad value raises argparse.ArgumentTypeError, which the parser turns into
nophd's one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# What NumPy and TensorFlow accept as a seed.
MAX_SEED = 2**32 - 1


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")


def seed(text: str) -> int:
    """A seed: a whole number 0..2**32-1."""
    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED}, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST files or the flower photos "
                                                      "(default: $NOPHD_DATA/mnist or tf_flowers, then the cache)")


def add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-limit", type=positive_int, help="train on the first N training images only")
    parser.add_argument("--test-limit", type=positive_int, help="evaluate on the first N test images only")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def printable_path(path) -> str:
    """A path as one line: a name with a newline or another control character is quoted, escaped."""
    text = str(path)
    if any(ord(character) < 32 or ord(character) == 127 for character in text):
        return repr(text)
    return text
