"""Photo datasets for training: tf_flowers, an image folder, or TFRecord shards, split and ready.

`open_photos(source, ...)` finds the data, splits it (stratified, seeded:
`folders.split`), and returns the training and validation sides as
tf.data datasets of (uint8 (S, S, 3), int32 label), plus what a run report
needs (class names, counts, skipped files). The three sources give the same
examples: an image folder is scanned (corrupt files skipped with reasons);
a shard folder is checked against its index.json (sizes, SHA-256) and
filtered by the same split.

Example:
    data = open_photos("flowers", image_size=192, validation_split=0.2, seed=0)
    data.class_names  # ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from nophd.data import flowers, folders, tfrecords
from nophd.errors import DataError

FLOWERS = "flowers"
FOLDER = "folder"
SHARDS = "tfrecords"


@dataclasses.dataclass(frozen=True)
class PhotoData:
    """A photo dataset split for one run.

    Attributes:
        source: where the images are (a folder or a shard folder).
        kind: "folder" or "tfrecords".
        class_names: sorted class (folder) names; labels index them.
        training, validation: the split examples (relative path, label).
        skipped: (relative path, reason) for files left out.
        image_size: the side the images are resized to.
        held_out: what `validation` holds: "validation" (the run's held-out
            split) or "tuning" (a share of the training photos, carved out by
            `tuning_split`; the validation split is then not used at all).
    """

    source: Path
    kind: str
    class_names: list[str]
    training: list[folders.Example]
    validation: list[folders.Example]
    skipped: list[tuple[str, str]]
    image_size: int
    stored_size: int | None = None
    held_out: str = "validation"

    @property
    def training_labels(self) -> np.ndarray:
        return np.array([example.label for example in self.training], dtype=np.int32)

    @property
    def validation_labels(self) -> np.ndarray:
        return np.array([example.label for example in self.validation], dtype=np.int32)

    def dataset(self, examples: list[folders.Example]) -> tf.data.Dataset:
        """(uint8 (S, S, 3), int32 label) for `examples`: in their order from a
        folder, in record order from shards (the same examples either way)."""
        if self.kind == SHARDS:
            # Shards keep their own (shuffled) record order; read in parallel.
            return _resized(tfrecords.shard_dataset(self.source, examples), self.stored_size, self.image_size)
        return folders.folder_dataset(self.source, examples, self.image_size)

    def index_sha256(self) -> str:
        """SHA-256 of the dataset's index: its classes and every example's path, label and side of the split.

        Cheap (no image is read): it tells a resumed run whether it sees the
        same files split the same way as when it started.
        """
        index = {"class_names": list(self.class_names),
                 "training": [[example.relative_path, int(example.label)] for example in self.training],
                 "validation": [[example.relative_path, int(example.label)] for example in self.validation]}
        return hashlib.sha256(json.dumps(index, sort_keys=True).encode("utf-8")).hexdigest()

    def require_classes(self, class_names) -> None:
        """Checks that the data still hold a run's classes (empty: nothing to check).

        Raises:
            DataError: the class folders changed since the run started.
        """
        if class_names and list(class_names) != self.class_names:
            raise DataError(f"{self.source}: its classes ({', '.join(self.class_names)}) are not the run's "
                            f"({', '.join(class_names)}); the dataset changed since the run started")

    def training_dataset(self) -> tf.data.Dataset:
        return self.dataset(self.training)

    def validation_dataset(self) -> tf.data.Dataset:
        return self.dataset(self.validation)


def resolve(source: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Where a dataset name or path points: (folder, "folder" | "tfrecords").

    Args:
        source: "flowers" (tf_flowers: `data_dir`, $NOPHD_DATA/tf_flowers,
            the cache, else the official archive is downloaded), a folder of
            class folders, or a folder of shards with an index.json.
        data_dir: for "flowers" only, where to look first.

    Raises:
        DataError: the path does not exist or is not a folder.
    """
    if str(source) == FLOWERS:
        return flowers.locate(data_dir), FOLDER
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path}: dataset not found (expected \"flowers\", an image folder ROOT/<class>/*.jpg, "
                        "or a folder of TFRecord shards)")
    if not path.is_dir():
        raise DataError(f"{path}: not a folder (expected an image folder ROOT/<class>/*.jpg or TFRecord shards)")
    if (path / tfrecords.INDEX).exists():
        return path, SHARDS
    return path, FOLDER


def open_photos(
    source: str | os.PathLike,
    *,
    image_size: int,
    validation_split: float,
    seed: int,
    data_dir: str | os.PathLike | None = None,
    tuning_split: float = 0.0,
) -> PhotoData:
    """Finds, checks and splits a photo dataset.

    With `tuning_split` > 0 the training photos are split again, the same
    stratified way, and that share of them stands in for the validation
    split (held_out "tuning"): recipes compared on it are chosen without
    looking at the validation split, which is then scored once, at the end.

    Raises:
        DataError: one line naming the file or folder at fault (see
            `folders.scan_folder` and `tfrecords.read_index`).
        ConfigError: a bad split fraction or seed.
    """
    path, kind = resolve(source, data_dir)
    if kind == SHARDS:
        index = tfrecords.read_index(path)
        class_names = list(index["class_names"])
        examples = tfrecords.index_examples(index)
        skipped = [tuple(entry) for entry in index["skipped"]]
    else:
        scan = folders.scan_folder(path)
        class_names, examples, skipped = scan.class_names, scan.examples, scan.skipped
    training, validation = folders.split(examples, validation_split, seed)
    if not validation:
        raise DataError(f"{path}: too few images to hold out a validation split of {validation_split}")
    held_out = "validation"
    if tuning_split:
        # The validation split is dropped here, so nothing downstream can read it.
        training, validation = folders.split(training, tuning_split, seed)
        held_out = "tuning"
        if not validation:
            raise DataError(f"{path}: too few training images to carve out a tuning split of {tuning_split}")
    stored_size = index["size"] if kind == SHARDS else None
    return PhotoData(path, kind, class_names, training, validation, list(skipped), image_size, stored_size, held_out)


def _resized(dataset: tf.data.Dataset, stored_size: int, image_size: int) -> tf.data.Dataset:
    """Shard images (stored at `stored_size`) at the run's image size."""
    if stored_size == image_size:
        return dataset
    return dataset.map(lambda image, label: (folders.resize(image, image_size), label),
                       num_parallel_calls=tf.data.AUTOTUNE)
