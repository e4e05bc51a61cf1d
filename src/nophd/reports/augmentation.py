"""A picture of digit augmentation: MNIST training digits next to augmented versions of them.

`nophd data augment-preview` calls `write_preview`, so the effect of the
strengths (`nophd.data.augment`) can be seen before training with them.

Example:
    write_preview("augment.png", augment.DigitAugmentation(rotate_degrees=15, elastic_alpha=34, elastic_sigma=4))
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from nophd.data import augment, mnist
from nophd.errors import ConfigError
from nophd.reports import plots

MAX_DIGITS = 30
MAX_DRAWS = 10


@dataclasses.dataclass(frozen=True)
class Preview:
    """What write_preview drew: where, how many digits and draws, with which strengths, from which MNIST folder."""

    path: Path
    count: int
    draws: int
    params: augment.DigitAugmentation
    data_directory: Path


def first_of_each_digit(labels: np.ndarray, count: int) -> np.ndarray:
    """Indices of the first `count` examples taken 0, 1, ..., 9, 0, 1, ... in label order of first appearance."""
    by_digit = [np.flatnonzero(labels == digit) for digit in range(10)]
    chosen = []
    for rank in range(max(len(indices) for indices in by_digit)):
        for indices in by_digit:
            if rank < len(indices):
                chosen.append(int(indices[rank]))
            if len(chosen) == count:
                return np.array(chosen)
    return np.array(chosen, dtype=int)


def write_preview(out: str | os.PathLike, params: augment.DigitAugmentation, data_dir: str | os.PathLike | None = None,
                  count: int = 10, draws: int = 4, seed: int = 0) -> Preview:
    """Writes a PNG of `count` MNIST training digits (top row) and `draws` augmented rows of them.

    Draw r augments the digits as the training stream's batch r would be
    augmented with this seed (though a real batch holds other digits).

    Args:
        out: the PNG to write (atomically).
        params: the strengths; validated here.
        data_dir: the MNIST folder (default: $NOPHD_DATA/mnist, then the cache).
        count: 1 to MAX_DIGITS digits, one of each class in turn.
        draws: 1 to MAX_DRAWS augmented rows.
        seed: the augmentation seed.

    Raises:
        ConfigError: a strength out of range, all strengths 0, or count/draws out of range.
        DataError: the MNIST files are missing or corrupt.
    """
    params.validate()
    if not params.enabled:
        raise ConfigError("nothing to preview: every augmentation strength is 0; set one, e.g. --rotate-degrees 15")
    if not 1 <= count <= MAX_DIGITS:
        raise ConfigError(f"--digits: expected a whole number from 1 to {MAX_DIGITS}, got {count}")
    if not 1 <= draws <= MAX_DRAWS:
        raise ConfigError(f"--draws: expected a whole number from 1 to {MAX_DRAWS}, got {draws}")
    data = mnist.load(data_dir)
    chosen = first_of_each_digit(data.train_labels, count)
    batch = data.train_images[chosen][..., None].astype(np.float32) / 255.0
    labels = data.train_labels[chosen]
    rows = [np.asarray(augment.augment_batch(batch, seed, row, params, labels=labels)) for row in range(draws)]
    figure = plots.augmentation_figure(batch, rows, title=f"augmentation (seed {seed}): {augment.describe(params)}")
    plots.save_figure(figure, out)
    return Preview(Path(out), len(chosen), draws, params, data.directory)
