"""Flag value types and flags shared by several subcommands.

A bad value raises argparse.ArgumentTypeError, which the parser turns into
nophd's one-line error with exit status 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nophd.data import augment, photo_augment
from nophd.errors import ConfigError

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


def photo_augmentation(text: str) -> tuple[str | None, tuple[str, ...] | None]:
    """--augment's value: (phase or None, transform names or None); see nophd.data.photo_augment.parse."""
    try:
        return photo_augment.parse(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--augment: ")) from None


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


# What each digit-augmentation flag does, and its value's name (nophd.data.augment checks the ranges).
_AUGMENTATION_HELP = {
    "rotate_degrees": ("DEGREES", "rotate by up to this many degrees either way (0 to 90)"),
    "scale_range": ("FRACTION", "scale by 1 - F to 1 + F (0 to 0.5)"),
    "shear_degrees": ("DEGREES", "shear by up to this many degrees either way (0 to 45)"),
    "translate_pixels": ("PIXELS", "move by up to this many pixels along each axis, fractions too (0 to 8)"),
    "elastic_alpha": ("ALPHA", "elastic distortion: scale of the displacement field (0 to 100; Simard's 34, "
                               "with --elastic-sigma 4)"),
    "elastic_sigma": ("SIGMA", "elastic distortion: pixels of the smoothing Gaussian (1 to 10; needed with "
                               "--elastic-alpha)"),
    "thickness_pixels": ("N", f"dilate or erode {100 * augment.THICKNESS_SHARE:.0f}%% of the digits' strokes "
                              "by up to N pixels (0 to 3)"),
    "blur_sigma": ("SIGMA", f"blur {100 * augment.BLUR_SHARE:.0f}%% of the digits by a Gaussian of up to this sigma in "
                            "pixels (0 to 3)"),
    "resolution_loss": ("FRACTION", f"shrink {100 * augment.RESOLUTION_SHARE:.0f}%% of the digits by up to "
                                    "this share of the side, then scale back (0 to 0.75)"),
    "contrast_range": ("FRACTION", "vary ink intensity and gamma by up to this much (0 to 0.9)"),
    "noise_std": ("STD", f"add Gaussian noise of up to this standard deviation to "
                         f"{100 * augment.NOISE_SHARE:.0f}%% of the digits (0 to 0.5)"),
    "outline_share": ("FRACTION", "draw this share of the digits as their outlines (0 to 0.5)"),
    "clutter_share": ("FRACTION", "draw a stray solid, dashed or zigzag line across this share of the digits "
                                  "(0 to 0.5)"),
    "haze_strength": ("WEIGHT", f"lay a smooth haze of up to this weight over {100 * augment.HAZE_SHARE:.0f}%% "
                                "of the digits (0 to 5)"),
    "band_share": ("FRACTION", "invert the margins of this share of the digits (0 to 0.5)"),
    "flag_share": ("FRACTION", "give this share of the 1s a continental flag, a short stroke from the top "
                               "down to the left (0 to 1)"),
}


def add_digit_augmentation(parser: argparse.ArgumentParser) -> None:
    """Adds one flag per digit-augmentation strength (--rotate-degrees, --elastic-alpha, ...), all unset by default."""
    group = parser.add_argument_group(
        "digit augmentation (mnist; per batch, see nophd.data.augment; default: the model's recipe, none)")
    for name in augment.FIELDS:  # One flag per field: a new field without help here fails every parse.
        kind = non_negative_int if name == "thickness_pixels" else non_negative_float
        metavar, text = _AUGMENTATION_HELP[name]
        group.add_argument(f"--{name.replace('_', '-')}", type=kind, metavar=metavar, help=text)


def digit_augmentation(args: argparse.Namespace) -> dict:
    """The digit-augmentation flags' values by field name (None where unset)."""
    return {name: getattr(args, name) for name in augment.FIELDS}


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
