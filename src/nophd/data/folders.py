"""Image-folder datasets: `ROOT/<class name>/*.jpg|jpeg|png`, as in the Keras Flowers lab.

`scan_folder` lists a folder's classes and images and, by default, decodes
every image once with Pillow so that corrupt or truncated files are left out
with a reason instead of failing a training run hours later. `split` makes a
deterministic, stratified train/validation split. `folder_dataset` turns a
list of examples into a `tf.data.Dataset` of (uint8 image, int32 label)
pairs resized to a square.

Decoding: two paths that give the same pixels.

- The common files (baseline or progressive JPEG in RGB or greyscale, PNG in
  greyscale, RGB or 16-bit greyscale without transparency) are read and
  decoded by TensorFlow alone, inside the tf.data graph, so the pipeline runs
  in parallel without the Python lock. TensorFlow decodes them exactly as
  Pillow + `to_rgb` do (JPEGs with the accurate integer DCT, Pillow's method:
  every pixel of 161 flower photos identical; 16-bit PNGs by their high byte).
- Everything else goes through Pillow (`to_rgb`) in a `tf.numpy_function`:
  images with an alpha channel or a transparent colour (RGBA, LA, palette PNGs
  with a tRNS chunk), which TensorFlow would flatten by dropping alpha, so
  that transparent pixels showed whatever colour happens to hide under them;
  JPEGs with an EXIF orientation other than "upright", which TensorFlow would
  leave sideways; CMYK JPEGs (TensorFlow decodes the Adobe-style files Pillow
  writes correctly, but Pillow also reads the Adobe marker that says whether
  the inks are stored inverted, so these rare files take the safer path);
  and anything whose content is not JPEG or PNG whatever its name says (a
  GIF saved as .png, say). The choice is made per file from its header
  (`Image.open` without decoding, about 0.1 ms a file: 0.4 s for the 3,201
  flowers) when the dataset is built.

The TFRecord writer (nophd.data.tfrecords) converts every image with
`to_rgb`, so both dataset forms agree on what an unusual image looks like.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from nophd.data import images
from nophd.errors import ConfigError, DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")  # Compared case-insensitively.

# Transparent pixels are shown on white, as an image viewer or a web page
# usually shows them; a cut-out flower on white looks like a product photo.
BACKGROUND = (255, 255, 255)

# Header facts (Pillow's format and mode) of the files TensorFlow decodes
# correctly on its own; see the module docstring for the measurements.
_TENSORFLOW_MODES = {
    "JPEG": frozenset({"RGB", "L"}),
    "PNG": frozenset({"1", "L", "RGB", "I;16", "I;16B"}),
}
_EXIF_ORIENTATION = 0x0112
# Threads for checking images: Pillow releases the Python lock while it
# decodes, so a few threads scan a folder of photos several times faster.
_CHECK_THREADS = min(8, os.cpu_count() or 1)


@dataclasses.dataclass(frozen=True)
class Example:
    """One image of a folder dataset.

    Attributes:
        relative_path: POSIX path relative to the dataset root, e.g. "roses/123.jpg".
        label: index of the class in `FolderScan.class_names`.
    """

    relative_path: str
    label: int


@dataclasses.dataclass(frozen=True)
class FolderScan:
    """What `scan_folder` found.

    Attributes:
        root: the dataset folder.
        class_names: the class folder names, sorted; a label is an index here.
        examples: the usable images, sorted by (label, relative_path).
        skipped: (relative path, one-line reason) for each file left out,
            sorted by path.
    """

    root: Path
    class_names: list[str]
    examples: list[Example]
    skipped: list[tuple[str, str]]


def scan_folder(root: str | os.PathLike, check_images: bool = True) -> FolderScan:
    """Lists the classes and images of an image-folder dataset.

    Class folders are the non-hidden sub-folders of `root`, sorted by name;
    images may also sit in sub-folders of a class folder (as Keras's
    `image_dataset_from_directory` allows). Names starting with "." (hidden
    files and folders, `.DS_Store`, editors' temporaries) are ignored
    silently, and so are files directly in `root` (a LICENSE.txt, a README).
    Inside class folders, files whose suffix is not .jpg, .jpeg or .png (any
    case), empty files and broken links are skipped with a reason.

    Args:
        root: the dataset folder, `root/<class name>/<image>`.
        check_images: decode every image completely with Pillow and skip the
            ones that fail (truncated, corrupt, not an image) with Pillow's
            reason (the 3,201 flower photos: about 2 s). Without it, a bad
            file makes the training pipeline fail when it reaches the file.

    Returns:
        A FolderScan.

    Raises:
        DataError: one line naming the folder: `root` is missing or not a
            folder, it has no class folders, a class folder has no usable
            image (even if it had files that were all skipped), or there are
            fewer than 2 classes.

    Example:
        scan = scan_folder("data/tf_flowers")
        scan.class_names  # ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: folder not found")
    if not root.is_dir():
        raise DataError(f"{root}: is a file, not a folder of class folders")
    try:
        class_names = sorted(entry.name for entry in root.iterdir() if entry.is_dir() and not _hidden(entry.name))
    except OSError as error:
        raise DataError(f"{root}: cannot list the folder ({error.strerror or error})") from None
    if not class_names:
        raise DataError(f"{root}: no class folders (expected {root}/<class name>/<image>.jpg)")

    candidates: list[Example] = []
    skipped: list[tuple[str, str]] = []
    for label, class_name in enumerate(class_names):
        for relative_path in _files_under(root, class_name):
            path = root / relative_path
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((relative_path, f"not a .jpg, .jpeg or .png file ({path.suffix or 'no suffix'})"))
            elif (problem := _unreadable_or_empty(path)) is not None:
                skipped.append((relative_path, problem))
            else:
                candidates.append(Example(relative_path, label))

    examples = candidates
    if check_images:
        with concurrent.futures.ThreadPoolExecutor(_CHECK_THREADS) as pool:
            reasons = list(pool.map(lambda example: _check_image(root / example.relative_path), candidates))
        examples = [example for example, reason in zip(candidates, reasons) if reason is None]
        skipped += [(example.relative_path, reason) for example, reason in zip(candidates, reasons) if reason]

    counts = [0] * len(class_names)
    for example in examples:
        counts[example.label] += 1
    for label, class_name in enumerate(class_names):
        if counts[label] == 0:
            left_out = sum(1 for relative_path, _ in skipped if relative_path.startswith(class_name + "/"))
            detail = f"; {left_out} file(s) skipped" if left_out else ""
            raise DataError(f"{root / class_name}: class folder has no usable .jpg, .jpeg or .png images{detail}")
    if len(class_names) < 2:
        raise DataError(
            f"{root}: a dataset needs at least 2 classes, found {len(class_names)}: {', '.join(class_names)}"
        )
    return FolderScan(
        root=root,
        class_names=class_names,
        examples=sorted(examples, key=_scan_order),
        skipped=sorted(skipped),
    )


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _files_under(root: Path, class_name: str) -> list[str]:
    """Non-hidden files under root/class_name, as sorted POSIX paths relative to root."""
    found = []

    def unreadable(error: OSError) -> None:
        # os.walk skips a folder it cannot list; that is not "no images".
        raise DataError(f"{error.filename}: cannot list the class folder ({error.strerror or error}); "
                        "check its permissions")

    for folder, subfolders, file_names in os.walk(root / class_name, onerror=unreadable):
        subfolders[:] = [name for name in subfolders if not _hidden(name)]
        relative_folder = Path(folder).relative_to(root).as_posix()
        found += [f"{relative_folder}/{name}" for name in file_names if not _hidden(name)]
    return sorted(found)


def _unreadable_or_empty(path: Path) -> str | None:
    """Why a file cannot be an image without opening it (a broken link, no bytes), or None."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return f"cannot read ({error.strerror or error})"
    return "empty file (0 bytes)" if size == 0 else None


def _check_image(path: Path) -> str | None:
    """None when Pillow decodes the whole file, else the one-line reason why not."""
    try:
        images.load_image(path)
    except DataError as error:
        message = str(error)
        prefix = f"{path}: "
        return message[len(prefix) :] if message.startswith(prefix) else message
    return None


def _scan_order(example: Example) -> tuple[int, str]:
    return (example.label, example.relative_path)


def split(
    examples: list[Example], validation_split: float = 0.2, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A deterministic, stratified train/validation split.

    Each class is split on its own: its examples are ordered by path, shuffled
    with `numpy.random.default_rng([seed, label])`, and the first
    `round(n * validation_split)` go to validation. A class with at least 2
    examples puts at least 1 into validation (when validation_split > 0) and
    keeps at least 1 for training, so both sides see every class. The result
    depends only on the examples, the fraction and the seed: not on the order
    of `examples`, nor on the other classes, so adding photos to one class
    leaves the other classes' splits as they were.

    Args:
        examples: e.g. `scan_folder(root).examples`, or
            `tfrecords.index_examples(index)`, which give the same split.
        validation_split: fraction in [0, 1); 0 gives an empty validation list.
        seed: a whole number >= 0.

    Returns:
        (training, validation), each sorted by (label, relative_path).

    Raises:
        ConfigError: validation_split outside [0, 1), or a bad seed.

    Example:
        training, validation = split(scan_folder("data/tf_flowers").examples, 0.2, seed=0)
    """
    if (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, (int, float, np.integer, np.floating))
        or not (math.isfinite(validation_split) and 0.0 <= validation_split < 1.0)
    ):
        raise ConfigError(f"validation_split must be a number in [0, 1), got {validation_split!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a whole number >= 0, got {seed!r}")
    by_label: dict[int, list[Example]] = {}
    for example in examples:
        by_label.setdefault(int(example.label), []).append(example)
    training: list[Example] = []
    validation: list[Example] = []
    for label, members in by_label.items():
        members = sorted(members, key=_scan_order)
        count = len(members)
        validation_count = round(count * validation_split)
        if validation_split > 0 and count >= 2:
            validation_count = min(max(validation_count, 1), count - 1)
        else:
            validation_count = 0
        order = np.random.default_rng([int(seed), label]).permutation(count)
        validation += [members[index] for index in order[:validation_count]]
        training += [members[index] for index in order[validation_count:]]
    return sorted(training, key=_scan_order), sorted(validation, key=_scan_order)


def to_rgb(image: Image.Image) -> Image.Image:
    """An image in any Pillow mode as 8-bit RGB, the way the datasets show it.

    - Alpha (RGBA, LA, PA, premultiplied modes, palette or colour-key
      transparency) is composited onto `BACKGROUND` (white), so fully
      transparent pixels are white whatever colour they hide.
    - 16-bit greyscale ("I;16", or "I" holding 0..65535) keeps its high byte,
      exactly as TensorFlow's PNG decoder does (Pillow's own conversion would
      clip everything above 255 to white).
    - CMYK, YCbCr, LAB, HSV, palette, 1-bit and greyscale use Pillow's
      conversion to RGB.

    Args:
        image: a decoded Pillow image, e.g. from `nophd.data.images.load_image`
            (which also turns EXIF-rotated photos upright).

    Returns:
        An "RGB" image of the same size.

    Raises:
        DataError: a mode Pillow cannot convert to RGB (not one a .jpg or .png
            file can hold).

    Example:
        rgb = to_rgb(images.load_image("flowers/roses/1.png"))
    """
    mode = image.mode
    if mode == "RGB" and not image.has_transparency_data:
        return image
    if mode == "I" or mode.startswith("I;16"):
        # The high byte, as libpng (and so TensorFlow) reduces 16 bits to 8.
        levels = np.clip(np.asarray(image).astype(np.int64), 0, 65535)
        return Image.fromarray((levels >> 8).astype(np.uint8)).convert("RGB")
    try:
        if image.has_transparency_data:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError) as error:
        raise DataError(f"cannot convert a {mode} image to RGB ({error})") from None


def decode_and_resize(image_bytes: tf.Tensor, size: int) -> tf.Tensor:
    """Decodes a JPEG or PNG file's bytes with TensorFlow and resizes it to size x size.

    This is the fast, all-TensorFlow path (see the module docstring for the
    files it suits). JPEGs are decoded with the accurate integer DCT, like
    Pillow, so the result matches the TFRecord writer's to within rounding.
    The aspect ratio is not kept, as in the lab: the whole picture is squeezed
    into the square.

    Args:
        image_bytes: a scalar tf.string holding a JPEG, PNG, GIF or BMP file.
        size: the output side in pixels.

    Returns:
        uint8 (size, size, 3).

    Example:
        image = decode_and_resize(tf.io.read_file("flowers/roses/1.jpg"), 192)
    """
    image = tf.cond(
        tf.io.is_jpeg(image_bytes),
        lambda: tf.io.decode_jpeg(image_bytes, channels=3, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(image_bytes, channels=3, expand_animations=False),
    )
    return resize(image, size)


def resize(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resizes uint8 (H, W, 3) to uint8 (size, size, 3), bilinear and antialiased.

    Antialiasing widens the filter when shrinking, so a 320 px photo shrunk to
    192 px averages over the right area instead of skipping pixels; it is the
    same filter as Pillow's BILINEAR resize. Values are rounded, not truncated.

    Example:
        small = resize(tf.zeros((30, 40, 3), tf.uint8), 16)
    """
    resized = tf.image.resize(image, (size, size), method="bilinear", antialias=True)
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(resized, (size, size, 3))


def folder_dataset(root: str | os.PathLike, examples: list[Example], size: int) -> tf.data.Dataset:
    """The examples' images, decoded and resized, with their labels.

    One element per example, in the order given; nothing is shuffled, cached
    or batched here (the trainer does that, and only for training data).
    Each file is routed to TensorFlow's decoder or to Pillow by its header
    (see the module docstring); that header is read now, so a file that has
    gone missing since the scan is reported here.

    Args:
        root: the dataset folder the examples' paths are relative to.
        examples: e.g. one side of `split(scan_folder(root).examples)`.
        size: output side in pixels, e.g. 192 (>= 1).

    Returns:
        A dataset of (uint8 (size, size, 3), int32 label).

    Raises:
        ConfigError: size is not a whole number >= 1.
        DataError: an example's file is missing or its header is not an image.

    Example:
        scan = scan_folder("data/tf_flowers")
        training, validation = split(scan.examples)
        dataset = folder_dataset(scan.root, validation, 192)
    """
    size = _check_size(size)
    root = Path(root)
    paths = [os.fsencode(root / example.relative_path) for example in examples]
    labels = np.array([example.label for example in examples], dtype=np.int32)
    through_pillow = np.array([_needs_pillow(root / example.relative_path) for example in examples], dtype=bool)
    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(paths, dtype=tf.string, shape=(len(paths),)), labels, through_pillow)
    )

    def load(path: tf.Tensor, label: tf.Tensor, pillow: tf.Tensor):
        image = tf.cond(
            pillow,
            lambda: resize(_decode_with_pillow(path), size),
            lambda: decode_and_resize(tf.io.read_file(path), size),
        )
        return image, label

    return dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"image size must be a whole number of pixels >= 1, got {size!r}")
    return int(size)


def _needs_pillow(path: Path) -> bool:
    """Whether TensorFlow's decoder would get this file wrong (see the module docstring)."""
    try:
        with Image.open(path) as image:
            if image.mode not in _TENSORFLOW_MODES.get(image.format, ()):
                return True
            if image.has_transparency_data:
                return True
            return image.format == "JPEG" and image.getexif().get(_EXIF_ORIENTATION, 1) != 1
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def _decode_with_pillow(path: tf.Tensor) -> tf.Tensor:
    image = tf.numpy_function(_pillow_pixels, [path], tf.uint8, stateful=False)
    return tf.ensure_shape(image, (None, None, 3))


def _pillow_pixels(path: bytes) -> np.ndarray:
    """uint8 (H, W, 3): the file decoded by Pillow, upright, through `to_rgb`."""
    return np.asarray(to_rgb(images.load_image(os.fsdecode(path))), dtype=np.uint8)
