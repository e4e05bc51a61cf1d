"""Tiny, learnable MNIST-shaped data made from font-rendered digits.

Tests, demos and the CLI's end-to-end checks need MNIST files that exist on
any machine and that a model can learn from in seconds. These digits are
drawn with matplotlib's bundled fonts (see `nophd.data.images.font_paths`),
jittered (font, rotation, size, stroke width, position) and lightly noised,
then stored exactly like MNIST: uint8 0..255, light digits on black.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nophd.data import idx, images

# Jitter ranges, chosen to look like handwriting's spread in MNIST without
# making classes overlap: rotation in degrees (counter-clockwise), scale of
# the 20 px box, extra stroke width in large-canvas pixels (0..2, each about
# 0.6 px in the 28x28 result), shift in whole pixels on each axis.
_ROTATION_DEGREES = 12.0
_SCALE_RANGE = (0.8, 1.1)
_MAX_THICKNESS = 2
_MAX_SHIFT = 2
# Standard deviation of Gaussian pixel noise on the 0..1 scale (about 10 grey
# levels); clipping at 0 leaves half of the background pixels exactly black.
_NOISE = 0.04

# The four MNIST file names, as nophd.data's MNIST reader expects them.
TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


def make_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Makes `count` MNIST-like digits from fonts, with random jitter.

    Each digit uses a random font of `font_paths()`, a rotation within ±12
    degrees, a scale of 0.8..1.1 (the longer side 16..22 px instead of
    MNIST's 20), an extra stroke width of 0..2, a shift of up to 2 px on each
    axis and Gaussian noise (σ ≈ 10 grey levels). Labels are balanced (each
    digit count // 10 or count // 10 + 1 times) and shuffled. About 0.5 ms a
    digit.

    Args:
        count: number of digits, >= 0.
        seed: the same seed gives the same digits (with the same Pillow and
            matplotlib fonts).

    Returns:
        (images, labels): uint8 (count, 28, 28) 0..255, light on dark, and
        uint8 (count,) 0..9.

    Raises:
        ValueError: a negative count.

    Example:
        images, labels = make_digits(1000, seed=1)
    """
    _check_count("count", count)
    return _generate(int(count), np.random.default_rng(seed))


def _generate(count: int, generator: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    fonts = images.required_font_paths()
    labels = generator.permutation(np.arange(count) % 10).astype(np.uint8)
    # Every random number is drawn up front, in a fixed order, so the result
    # depends only on the seed, not on how the loop below is written.
    font_indices = generator.integers(len(fonts), size=count)
    rotations = generator.uniform(-_ROTATION_DEGREES, _ROTATION_DEGREES, size=count)
    scales = generator.uniform(*_SCALE_RANGE, size=count)
    thicknesses = generator.integers(0, _MAX_THICKNESS + 1, size=count)
    shifts = generator.integers(-_MAX_SHIFT, _MAX_SHIFT + 1, size=(count, 2))
    noise = generator.normal(0.0, _NOISE, size=(count, images.MNIST_SIZE, images.MNIST_SIZE)).astype(np.float32)

    digits = np.zeros((count, images.MNIST_SIZE, images.MNIST_SIZE), dtype=np.float32)
    for index in range(count):
        digit = images.render_digit(
            int(labels[index]),
            fonts[font_indices[index]],
            rotation=float(rotations[index]),
            scale=float(scales[index]),
            thickness=int(thicknesses[index]),
        )
        digits[index] = _shift(digit, int(shifts[index, 0]), int(shifts[index, 1]))
    pixels = np.clip(digits + noise, 0.0, 1.0)
    return np.rint(pixels * 255.0).astype(np.uint8), labels


def _shift(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Moves a (28, 28) image down `rows` and right `columns` pixels, filling with black.

    Unlike np.roll, ink pushed past an edge is dropped rather than wrapped
    round to the other side.
    """
    height, width = image.shape
    shifted = np.zeros_like(image)
    source_rows = slice(max(0, -rows), height - max(0, rows))
    target_rows = slice(max(0, rows), height - max(0, -rows))
    source_columns = slice(max(0, -columns), width - max(0, columns))
    target_columns = slice(max(0, columns), width - max(0, -columns))
    shifted[target_rows, target_columns] = image[source_rows, source_columns]
    return shifted


def write_mnist_like(
    directory: str | os.PathLike,
    train_count: int = 600,
    test_count: int = 200,
    seed: int = 0,
) -> Path:
    """Writes a small synthetic MNIST: the four gzip'd idx files, named as MNIST's.

    The training images are `make_digits(train_count, seed)`; the test images
    come from a separate random stream derived from `seed`, so they are
    different digits from the training ones.

    Args:
        directory: the folder to write into; created if needed. Existing files
            of the same names are replaced (atomically).
        train_count: number of training digits.
        test_count: number of test digits.
        seed: makes the files reproducible (byte for byte: the gzip headers
            carry no time stamp).

    Returns:
        `directory` as a Path.

    Raises:
        ValueError: a negative count.

    Example:
        root = write_mnist_like(tmp_path / "mnist", train_count=100, test_count=50)
    """
    _check_count("train_count", train_count)
    _check_count("test_count", test_count)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = _generate(int(train_count), np.random.default_rng(seed))
    # A seed sequence of (seed, 1) is a different stream from the plain seed.
    test_images, test_labels = _generate(int(test_count), np.random.default_rng([seed, 1]))
    idx.write_idx(directory / TRAIN_IMAGES, train_images)
    idx.write_idx(directory / TRAIN_LABELS, train_labels)
    idx.write_idx(directory / TEST_IMAGES, test_images)
    idx.write_idx(directory / TEST_LABELS, test_labels)
    return directory


def _check_count(name: str, count: int) -> None:
    if isinstance(count, bool) or int(count) != count or count < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {count!r}")


# Photo-like classes for transfer-learning tests and demos: a background
# colour and a shape per class, jittered in position, size and brightness.
PHOTO_CLASSES = {
    "circles": ((200, 60, 50), "ellipse"),
    "squares": ((50, 150, 70), "rectangle"),
    "triangles": ((60, 80, 200), "polygon"),
}


def write_photo_folder(
    root: str | os.PathLike, per_class: int = 12, size: int = 48, seed: int = 0, classes: int | None = None
) -> Path:
    """Writes a small image-folder dataset ROOT/<class>/<n>.jpg that a model can learn.

    Every third image is a PNG, so both decoders are exercised.

    Args:
        root: the folder to create (its parent must exist or be creatable).
        per_class: images per class.
        size: side of the square images.
        seed: the jitter's random seed.
        classes: how many of PHOTO_CLASSES to use (default all 3).

    Returns:
        `root` as a Path.

    Example:
        write_photo_folder("/tmp/shapes", per_class=20)
    """
    from PIL import Image, ImageDraw

    _check_count("per_class", per_class)
    root = Path(root)
    generator = np.random.default_rng(seed)
    chosen = list(PHOTO_CLASSES.items())[: classes or len(PHOTO_CLASSES)]
    for name, (colour, shape) in chosen:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(per_class):
            shade = generator.uniform(0.7, 1.2)
            background = tuple(int(min(255, channel * shade)) for channel in colour)
            image = Image.new("RGB", (size, size), background)
            draw = ImageDraw.Draw(image)
            extent = size * generator.uniform(0.3, 0.5)
            left, top = generator.uniform(0.05, 0.95 - extent / size, size=2) * size
            box = (left, top, left + extent, top + extent)
            fill = (250, 240, int(generator.integers(0, 80)))
            if shape == "ellipse":
                draw.ellipse(box, fill=fill)
            elif shape == "rectangle":
                draw.rectangle(box, fill=fill)
            else:
                draw.polygon([(left, top + extent), (left + extent / 2, top), (left + extent, top + extent)], fill=fill)
            suffix = ".png" if number % 3 == 2 else ".jpg"
            image.save(folder / f"{name}-{number:03d}{suffix}", **({"quality": 92} if suffix == ".jpg" else {}))
    return root
