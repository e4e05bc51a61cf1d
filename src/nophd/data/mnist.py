"""MNIST: finding the four files, downloading them, checking them and loading them.

Pure NumPy and the standard library, so that `nophd` can report a missing or
corrupt dataset without importing TensorFlow.

Where the files are looked for, in order:

1. `data_dir`, when given (the `--data-dir` flag). It is authoritative: either
   the folder itself or its `mnist/` subfolder must hold the four files, and
   nothing else is tried.
2. `$NOPHD_DATA/mnist`, when `NOPHD_DATA` is set.
3. `cache_dir()` (`$XDG_CACHE_HOME/nophd/mnist`, else `~/.cache/nophd/mnist`),
   where a download lands.

Each file may be gzip'd (the canonical `.gz` names) or an un-gzipped copy under
the same name without `.gz`. Checksums are always of the *uncompressed* bytes,
because re-gzipping a file changes its header's timestamp but not its content.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from nophd import atomic
# Aliased: `download` is also the name of this module's download function and of `locate`'s flag.
from nophd.data import download as downloads
from nophd.data import idx
from nophd.errors import DataError

FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

# The official MD5s of the uncompressed files, as published with MNIST.
OFFICIAL_MD5: dict[str, str] = {
    "train_images": "6bbc9ace898e44ae57da46a324031adb",
    "train_labels": "a25bea736e30d166cdddb491f175f624",
    "test_images": "2646ac647ad5339dbf082846283269ea",
    "test_labels": "27ae3e4e09519cfbb04c329615203637",
}

# SHA-256 of the same uncompressed bytes, computed once from files whose MD5s
# match OFFICIAL_MD5 above; MD5 alone is too weak to trust a download.
OFFICIAL_SHA256: dict[str, str] = {
    "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

# yann.lecun.com no longer serves the files reliably; these two mirrors hold
# byte-identical copies and are the ones TensorFlow and torchvision use.
MIRRORS: tuple[str, ...] = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)

IMAGE_SIZE = 28
NUM_CLASSES = 10

_HOW_TO_FIX = "pass --data-dir DIR, or set NOPHD_DATA"


@dataclasses.dataclass(frozen=True)
class Mnist:
    """The four MNIST arrays and where they came from.

    The arrays may be read-only views of the file contents; copy one before
    changing it in place.

    Args:
        train_images: uint8 (N, 28, 28), pixel values 0..255.
        train_labels: uint8 (N,), digit values 0..9.
        test_images: uint8 (M, 28, 28).
        test_labels: uint8 (M,).
        directory: the folder the four files were read from.
        official: True when all four files match OFFICIAL_SHA256.
        sha256: hex SHA-256 of each file's uncompressed contents, keyed like
            FILES (what a run records as its data's identity).

    Example:
        data = load()
        data.train_images.shape  # (60000, 28, 28)
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    directory: Path
    official: bool
    sha256: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FileCheck:
    """The checksum of one MNIST file's uncompressed contents.

    Args:
        key: a key of FILES, e.g. "train_images".
        path: the file that was checked (gzip'd or not).
        sha256: hex SHA-256 of the uncompressed bytes.
        official: True when `sha256` matches the expected checksum.

    Example:
        [check.official for check in verify(locate())]  # [True, True, True, True]
    """

    key: str
    path: Path
    sha256: str
    official: bool


def cache_dir() -> Path:
    """The folder downloads go to: `$XDG_CACHE_HOME/nophd/mnist`, else `~/.cache/nophd/mnist`.

    Example:
        cache_dir()  # PosixPath('/root/.cache/nophd/mnist')
    """
    return downloads.cache_root() / "mnist"


def search_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The folders `locate` looks in, in order.

    Args:
        data_dir: a folder named by the user; when given, only it and its
            `mnist/` subfolder are searched.

    Example:
        search_dirs("data")  # [PosixPath('data'), PosixPath('data/mnist')]
    """
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        return [folder, folder / "mnist"]
    folders = []
    data_root = os.environ.get("NOPHD_DATA")
    if data_root:
        folders.append(Path(data_root).expanduser() / "mnist")
    folders.append(cache_dir())
    return folders


def file_paths(directory: str | os.PathLike) -> dict[str, Path]:
    """The path of each MNIST file in `directory`, keyed like FILES.

    The `.gz` name is used when it exists, else the un-gzipped name when that
    exists; a file that is in neither form gets its `.gz` path.

    Args:
        directory: a folder that may hold the four files.

    Example:
        file_paths("data/mnist")["test_labels"]  # PosixPath('data/mnist/t10k-labels-idx1-ubyte.gz')
    """
    directory = Path(directory)
    paths = {}
    for key, name in FILES.items():
        gzipped = directory / name
        plain = directory / _plain_name(name)
        paths[key] = plain if not gzipped.is_file() and plain.is_file() else gzipped
    return paths


def locate(
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] = OFFICIAL_SHA256,
) -> Path:
    """Returns the folder that holds the four MNIST files, downloading them if allowed.

    Args:
        data_dir: a folder holding the files, or holding `mnist/` with them.
            When given it is the only place looked at, and nothing is downloaded.
        download: whether to download into `cache_dir()` when no searched
            folder holds all four files.
        mirrors: base URLs to download from, tried in order.
        checksums: SHA-256 of each uncompressed file, checked on download.

    Raises:
        DataError: the files are not where `data_dir` says, or not found and
            not downloadable.

    Example:
        folder = locate(download=False)  # e.g. PosixPath('../shared/data/mnist')
    """
    folders = search_dirs(data_dir)
    for folder in folders:
        if not _missing_names(folder):
            return folder
    if data_dir is not None:
        folder = folders[0]
        if not folder.exists():
            raise DataError(f"{folder}: MNIST data folder not found")
        if not folder.is_dir():
            raise DataError(f"{folder}: not a folder (pass the folder that holds the MNIST files)")
        # Name the files missing from whichever of the two layouts is nearer complete.
        nearest = min(folders, key=lambda candidate: len(_missing_names(candidate)))
        raise DataError(f"{nearest}: MNIST files {_describe_missing(nearest)} "
                        f"(looked in {folder} and {folder / 'mnist'})")
    # A folder the user set up ($NOPHD_DATA/mnist) with some files but not
    # all: say which before anything is downloaded, so a failed download
    # does not hide what was wrong with it.
    partial = [folder for folder in folders[:-1] if len(_missing_names(folder)) < len(FILES)]
    problem = f"{partial[0]}: MNIST files {_describe_missing(partial[0])}" if partial else None
    if download:
        # `download` here is the flag, which hides the function of the same name.
        # A download takes a while: say what is happening, on stderr.
        if problem:
            print(f"nophd: {problem}; downloading MNIST into {cache_dir()} instead", file=sys.stderr)
        try:
            return _download_function(
                cache_dir(), mirrors=mirrors, checksums=checksums, report=lambda line: print(line, file=sys.stderr)
            )
        except DataError as error:
            if problem is None:
                raise
            raise DataError(f"{problem}; the download instead failed too: {error}") from None
    if problem:
        raise DataError(f"{problem}; {_HOW_TO_FIX}")
    searched = " and ".join(str(folder) for folder in folders)
    raise DataError(
        f"MNIST files not found in {searched}; put the four MNIST files in {cache_dir()}, {_HOW_TO_FIX}"
    )


def download(
    directory: str | os.PathLike,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] = OFFICIAL_SHA256,
    timeout: float = 30.0,
    report: Callable[[str], None] | None = None,
) -> Path:
    """Downloads the four MNIST files into `directory`, checking each one.

    Files already there whose uncompressed contents match `checksums` are kept.
    Each other file is tried from each mirror in turn, streamed to a temporary
    file beside its final name, un-gzipped and checksummed, then renamed into
    place, so an interrupted or bad download never leaves a file behind.

    Args:
        directory: the folder to download into; created if needed.
        mirrors: base URLs, e.g. "https://ossci-datasets.s3.amazonaws.com/mnist/".
        checksums: hex SHA-256 of each uncompressed file, keyed like FILES; a
            key that is absent is not checked.
        timeout: seconds to wait for a connection or for each read.
        report: called with one line of progress at a time, e.g. `print`.

    Returns:
        `directory`, as a Path.

    Raises:
        DataError: a file could not be fetched intact from any mirror.

    Example:
        download(cache_dir(), report=print)
    """
    directory = Path(directory).expanduser()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{directory}: cannot create the MNIST folder ({downloads.one_line(error)})") from None
    existing = file_paths(directory)
    for key, name in FILES.items():
        expected = checksums.get(key)
        if existing[key].is_file() and expected is not None and _sha256_or_none(existing[key]) == expected:
            continue
        failures = []
        for mirror in mirrors:
            url = mirror if mirror.endswith("/") else mirror + "/"
            url += name
            try:
                _download_one(url, directory / name, expected, timeout, report)
                break
            except downloads.DownloadFailed as failure:
                failures.append(f"{url}: {failure}")
        else:
            reasons = "; ".join(failures) if failures else "no mirrors given"
            raise DataError(
                f"could not download {name} ({reasons}); "
                f"put the four MNIST files in {directory}, {_HOW_TO_FIX}"
            )
    return directory


def verify(directory: str | os.PathLike, checksums: Mapping[str, str] = OFFICIAL_SHA256) -> list[FileCheck]:
    """Checksums the uncompressed contents of the four MNIST files in `directory`.

    Args:
        directory: a folder holding the four files.
        checksums: expected hex SHA-256 of each uncompressed file, keyed like FILES.

    Returns:
        One FileCheck per file, in the order of FILES.

    Raises:
        DataError: a file is missing, unreadable or broken gzip data.

    Example:
        all(check.official for check in verify("data/mnist"))
    """
    checks = []
    for key, path in file_paths(directory).items():
        digest = hashlib.sha256(idx.read_bytes(path)).hexdigest()
        checks.append(FileCheck(key=key, path=path, sha256=digest, official=digest == checksums.get(key)))
    return checks


def file_checks(data: Mnist) -> list[FileCheck]:
    """The FileChecks of loaded MNIST, from the checksums `load` already took (no second read).

    Example:
        [check.official for check in file_checks(load())]  # [True, True, True, True]
    """
    paths = file_paths(data.directory)
    return [FileCheck(key=key, path=paths[key], sha256=data.sha256[key], official=data.sha256[key] == OFFICIAL_SHA256[key])
            for key in FILES]


def load(
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: Sequence[str] = MIRRORS,
    checksums: Mapping[str, str] = OFFICIAL_SHA256,
) -> Mnist:
    """Finds (or downloads), reads and validates MNIST.

    Args:
        data_dir: see `locate`.
        download: see `locate`.
        mirrors: see `locate`.
        checksums: checked on download (see `locate`). `Mnist.official` is
            always judged against OFFICIAL_SHA256, so it stays truthful when a
            caller passes other checksums.

    Raises:
        DataError: the files are missing or corrupt, images are not uint8
            28x28, labels are not uint8 0..9, or a split's image and label
            counts differ.

    Example:
        data = load(data_dir="../shared/data")
        data.test_labels[:5]  # array([7, 2, 1, 0, 4], dtype=uint8)
    """
    directory = locate(data_dir, download=download, mirrors=mirrors, checksums=checksums)
    paths = file_paths(directory)
    # Each file is read and un-gzipped once, for its checksum and its array.
    contents = {key: idx.read_bytes(path) for key, path in paths.items()}
    digests = {key: hashlib.sha256(contents[key]).hexdigest() for key in FILES}
    official = all(digests[key] == OFFICIAL_SHA256[key] for key in FILES)
    arrays = {}
    for split in ("train", "test"):
        images_path, labels_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        images = _check_images(images_path, idx.parse_idx(images_path, contents[f"{split}_images"]))
        labels = _check_labels(labels_path, idx.parse_idx(labels_path, contents[f"{split}_labels"]))
        if len(images) != len(labels):
            raise DataError(
                f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
            )
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    return Mnist(directory=directory, official=official, sha256=digests, **arrays)


# `locate` and `load` take a `download` flag named like the function; they call it through this.
_download_function = download


def _check_images(path: Path, images: np.ndarray) -> np.ndarray:
    """Returns `images` if they are uint8 (N, 28, 28); else raises DataError naming `path`."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(
            f"{path}: expected uint8 images of shape (N, {IMAGE_SIZE}, {IMAGE_SIZE}), "
            f"found {images.dtype} {images.shape}"
        )
    return images


def _check_labels(path: Path, labels: np.ndarray) -> np.ndarray:
    """Returns `labels` if they are uint8 (N,) with values 0..9; else raises DataError naming `path`."""
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{path}: expected uint8 labels of shape (N,), found {labels.dtype} {labels.shape}")
    # uint8 cannot be negative, so only the upper bound needs checking.
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DataError(
            f"{path}: label values must be 0..{NUM_CLASSES - 1}, found {labels[bad[0]]} at index {bad[0]}"
            + (f" and {bad.size - 1} more" if bad.size > 1 else "")
        )
    return labels


def _download_one(
    url: str, target: Path, expected: str | None, timeout: float, report: Callable[[str], None] | None
) -> None:
    """Fetches `url` into `target` atomically, checking the uncompressed SHA-256.

    Raises:
        downloads.DownloadFailed: with the one-line reason.
    """
    try:
        with atomic.atomic_path(target) as temporary:
            downloads.stream(url, temporary, timeout, report)
            try:
                data = idx.read_bytes(temporary)
            except DataError:
                # The message names the temporary file, which is gone by the
                # time anyone reads it; say what was wrong instead.
                raise downloads.DownloadFailed("corrupt or truncated gzip data") from None
            digest = hashlib.sha256(data).hexdigest()
            if expected is not None and digest != expected:
                raise downloads.DownloadFailed(f"checksum mismatch (sha256 {digest}, expected {expected})")
    except OSError as error:
        # The temporary file could not be made, read or renamed.
        raise downloads.DownloadFailed(downloads.one_line(error)) from None


def _missing_names(folder: Path) -> list[str]:
    """The FILES names (in .gz form) that `folder` holds in neither form."""
    return [path.name for path in file_paths(folder).values() if not path.is_file()]


def _describe_missing(folder: Path) -> str:
    """What is wrong with each MNIST file `folder` lacks, e.g. "missing: a.gz; b.gz is a folder, not a file"."""
    missing, other = [], []
    for path in file_paths(folder).values():
        if path.is_file():
            continue
        problem = None
        for candidate in (path, path.with_name(_plain_name(path.name))):
            problem = _not_a_file(candidate)
            if problem:
                break
        (other.append(problem) if problem else missing.append(path.name))
    parts = ([f"missing: {', '.join(missing)}"] if missing else []) + other
    return "; ".join(parts)


def _not_a_file(path: Path) -> str | None:
    """Why something at `path` is not a readable MNIST file, or None when nothing is there."""
    if path.is_symlink():
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ELOOP:
                return f"{path.name} is a symbolic link loop"
            return f"{path.name} is a dangling symbolic link (to {os.readlink(path)}, which does not exist)"
    if path.is_dir():
        return f"{path.name} is a folder, not a file"
    if os.path.lexists(path) and not path.is_file():
        return f"{path.name} is not a regular file"
    return None


def _plain_name(name: str) -> str:
    return name.removesuffix(".gz")


def _sha256_or_none(path: Path) -> str | None:
    """SHA-256 of the uncompressed contents, or None when the file cannot be read."""
    try:
        return hashlib.sha256(idx.read_bytes(path)).hexdigest()
    except DataError:
        return None
