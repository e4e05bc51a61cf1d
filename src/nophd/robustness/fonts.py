"""Digits 0-9 rendered from every font on the machine, as `nophd predict` would see them.

Fonts come from fontconfig (`fc-list`) when it is installed, from the usual
font folders (/usr/share/fonts, /usr/local/share/fonts, ~/.fonts,
~/.local/share/fonts) and always from matplotlib's bundled mpl-data/fonts/ttf,
so the set is never empty. A font is kept when it draws ten ordinary digits:
each has ink, no two are the same, none is the font's missing-glyph box, and
most look like the digit they stand for (each nearest to its own digit in
DejaVu Sans among the ten). Symbol and math-extension fonts (cmex10, cmsy10,
STIXSize*, LastResort and the like) fail that check; a few known ones are
skipped by name first, to save the rendering.

Each digit is drawn black on white, about 70 px tall on a 160 px canvas,
in every weight (extra outline of WEIGHTS px around the glyph, on top of
the font's own weight, bold files being fonts of their own) and slant
(horizontal shear SLANTS), then passed through `nophd.data.images.to_mnist`
exactly as a picture given to `nophd predict` is.

Example:
    images, labels, names = render_set()
    print(len(font_files()), images.shape)  # e.g. 48 (4320, 28, 28)
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nophd.data import images as images_module

FONT_SIZE = 96
CANVAS = 160
# Extra outline in pixels of the large canvas (each adds about 0.6 px of stroke at 28x28).
WEIGHTS = (0, 3, 6)
# Horizontal shear: x moves by SLANT * (height above the centre); positive leans right, as italics do.
SLANTS = (-0.2, 0.0, 0.25)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
FONT_FOLDERS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts")
# Fonts known to hold symbols, not digits, at the digits' code points, or to
# be subsets without digits: skipped without rendering. The glyph check
# would refuse them too; this only saves the time.
SKIPPED_NAMES = ("cmex", "cmsy", "stixsize", "stixnonuni", "lastresort", "display", "symbol", "dingbat",
                 "wingding", "webding", "emoji", "opensymbol", "marlett")
# At least this many of a font's ten digits must be nearest their own digit in the reference font.
MIN_RECOGNISED = 7


def candidate_files() -> list[Path]:
    """Every font file found (fc-list, the font folders, matplotlib's), one per file name, sorted by name."""
    found: dict[str, Path] = {}

    def add(path: Path) -> None:
        if path.suffix.lower() in FONT_SUFFIXES and path.is_file():
            found.setdefault(path.name.lower(), path)

    import matplotlib  # Only its data folder, for the fonts every install ships.

    for path in sorted((Path(matplotlib.get_data_path()) / "fonts" / "ttf").glob("*")):
        add(path)
    fc_list = shutil.which("fc-list")
    if fc_list:
        try:
            listing = subprocess.run([fc_list, "--format", "%{file}\n"], capture_output=True, text=True, timeout=30)
            for line in sorted(listing.stdout.splitlines()):
                add(Path(line.strip()))
        except (OSError, subprocess.SubprocessError):
            pass  # The folders below are searched anyway.
    for folder in FONT_FOLDERS:
        root = Path(os.path.expanduser(folder))
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                add(path)
    return sorted(found.values(), key=lambda path: (path.name.lower(), str(path)))


def _draw(font: ImageFont.FreeTypeFont, text: str, weight: int = 0, slant: float = 0.0) -> Image.Image:
    """`text` black on a white CANVAS x CANVAS picture, centred, outlined by `weight` px and sheared by `slant`."""
    canvas = Image.new("L", (CANVAS, CANVAS), 255)
    ImageDraw.Draw(canvas).text((CANVAS / 2, CANVAS / 2), text, fill=0, font=font, anchor="mm",
                                stroke_width=weight, stroke_fill=0)
    if slant:
        # Output (x, y) takes input (x + slant * (y - centre), y): rows above the centre move right.
        canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, (1, slant, -slant * CANVAS / 2, 0, 1, 0),
                                  resample=Image.Resampling.BILINEAR, fillcolor=255)
    return canvas


def _digit(font: ImageFont.FreeTypeFont, digit: int, weight: int = 0, slant: float = 0.0) -> np.ndarray:
    """One digit through to_mnist: float32 (28, 28) in [0, 1]."""
    return images_module.to_mnist(_draw(font, str(digit), weight, slant))


def _load(path: Path) -> ImageFont.FreeTypeFont | None:
    try:
        return ImageFont.truetype(str(path), FONT_SIZE)
    except (OSError, ValueError):
        return None


@functools.cache
def _reference() -> np.ndarray:
    """The ten digits of DejaVu Sans (matplotlib's default font), float32 (10, 784), unit length."""
    import matplotlib

    font = _load(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf")
    return _unit_rows(np.stack([_digit(font, digit) for digit in range(10)]))


def _unit_rows(digits: np.ndarray) -> np.ndarray:
    rows = digits.reshape(len(digits), -1).astype(np.float32)
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-6)


def draws_digits(font: ImageFont.FreeTypeFont) -> bool:
    """Whether `font` draws ten ordinary digits (see the module's docstring)."""
    glyphs = np.stack([_digit(font, digit) for digit in range(10)])
    ink = (glyphs > 0.2).sum(axis=(1, 2))
    if (ink < 10).any():
        return False
    rows = glyphs.reshape(10, -1)
    differences = np.abs(rows[:, None, :] - rows[None, :, :]).sum(axis=2)
    if (differences[~np.eye(10, dtype=bool)] < 1.0).any():
        return False
    # A glyph missing from the font is drawn as its .notdef box, the same as a private-use character's.
    missing = images_module.to_mnist(_draw(font, "\ue000"))
    if (np.abs(rows - missing.reshape(1, -1)).sum(axis=1) < 1.0).any():
        return False
    nearest = (_unit_rows(glyphs) @ _reference().T).argmax(axis=1)
    return int((nearest == np.arange(10)).sum()) >= MIN_RECOGNISED


@functools.cache
def font_files() -> tuple[Path, ...]:
    """The font files whose digits are used (`draws_digits`), sorted by file name; never empty.

    Raises:
        nophd.errors.DataError: not even matplotlib's fonts draw digits (a broken install).
    """
    kept = []
    for path in candidate_files():
        if any(word in path.name.lower() for word in SKIPPED_NAMES):
            continue
        font = _load(path)
        if font is not None and draws_digits(font):
            kept.append(path)
    if not kept:
        from nophd.errors import DataError

        raise DataError("no font on this machine draws digits (not even matplotlib's DejaVu Sans); reinstall matplotlib")
    return tuple(kept)


@functools.cache
def _render_all() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    pictures, labels, names = [], [], []
    for path in font_files():
        font = _load(path)
        for weight in WEIGHTS:
            for slant in SLANTS:
                for digit in range(10):
                    pictures.append(_digit(font, digit, weight, slant))
                    labels.append(digit)
                    names.append(f"{path.name} weight+{weight} slant{slant:+.2f}")
    digits = np.rint(np.stack(pictures) * 255.0).astype(np.uint8)
    digits.setflags(write=False)
    label_array = np.array(labels, dtype=np.uint8)
    label_array.setflags(write=False)
    return digits, label_array, tuple(names)


def render_set() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every kept font x WEIGHTS x SLANTS x digits 0-9, in that order.

    Nothing is random: the set depends only on the fonts installed (see
    `font_files`). Rendered once per process.

    Returns:
        (images, labels, descriptions): uint8 (N, 28, 28) white digits on
        black, uint8 (N,) labels 0..9 (balanced: each digit N / 10 times),
        and one "file weight+W slant+S" string per image.

    Example:
        images, labels, descriptions = render_set()
    """
    digits, labels, names = _render_all()
    return digits.copy(), labels.copy(), list(names)
