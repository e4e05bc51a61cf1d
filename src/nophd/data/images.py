"""User images in, MNIST-like digits out; and digits rendered from fonts.

`to_mnist` follows MNIST's own recipe (LeCun et al.): the digit is made light
on a dark background, its bounding box is scaled so the longer side is 20
pixels (keeping the aspect ratio, antialiased), and it is pasted into a 28x28
frame so that its centre of mass sits at the frame centre. The same function
preprocesses a file given on the command line and a digit drawn on the web
dashboard's canvas, so it accepts any size, colour model and polarity, and a
blank image gives a blank digit instead of an error.

Only NumPy and Pillow are used here (matplotlib only to locate its bundled
fonts), so this module imports quickly and never pulls in TensorFlow.
"""

from __future__ import annotations

import functools
import io
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from nophd import text
from nophd.data import files
from nophd.errors import DataError

# MNIST's geometry: a 28x28 frame whose digit's longer side is 20 pixels.
MNIST_SIZE = 28
MNIST_BOX = 20
# Where MNIST puts the centre of mass, in (row, column) pixel-index coordinates.
# Measured on the real t10k set: mean (13.99, 14.01), standard deviation 0.29
# on each axis, which is what whole-pixel shifts towards 14.0 give (1/sqrt(12)).
MNIST_CENTRE = 14.0

# ITU-R 601-2 luma weights, the ones Pillow's convert("L") uses, so that an
# RGB file and the same picture saved as greyscale give the same grey levels.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# uint8 grey levels 0..255 as float32 0..1, for the 8-bit pictures that are
# nearly every upload (the dashboard's canvas sends 280x280 of them).
_UINT8_LEVELS = np.arange(256, dtype=np.float32) / 255.0

# An image whose darkest-to-lightest ink contrast (0..1, after the background
# level is removed) is below this holds no digit: a blank canvas or plain
# paper. 0.08 is about 20 grey levels of 255, more than JPEG noise.
_MIN_CONTRAST = 0.08
# After the contrast stretch (ink maximum 1), pixels above this count towards
# the bounding box; fainter ones are antialiasing fringes and noise.
_BOX_THRESHOLD = 0.2
# The background level is the border median plus this many median absolute
# deviations of the border (about 3.4 standard deviations of Gaussian noise),
# so that sensor and JPEG noise goes with it and plain noisy paper is blank.
_NOISE_DEVIATIONS = 5.0

# Rendering: the font size (pixels per em) on the large canvas; digits come out
# about 70 px tall, so strokes are several pixels wide before the 20 px resize.
_FONT_SIZE = 96
_CANVAS_SIZE = 112

# The EXIF tag that says how a camera held the picture.
_EXIF_ORIENTATION = 0x0112

# The fonts matplotlib ships in mpl-data/fonts/ttf that have ordinary Western
# digits: DejaVu Sans, Sans Mono and Serif in four styles each, STIX General (a
# Times-like serif) and four Computer Modern faces. The "Display" DejaVu files
# are tiny subsets, STIXNonUni/STIXSiz* and cmex/cmsy/cmmi hold symbols or
# old-style figures, and LastResort draws placeholder boxes: all left out.
_FONT_NAMES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmb10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
)


def load_image(path: str | os.PathLike) -> Image.Image:
    """Opens an image file and decodes it completely.

    Decoding happens here, not lazily later, so that a truncated or corrupt
    file is reported now, as a `DataError` naming the file. A JPEG's EXIF
    orientation is applied, so a phone photo comes out upright. For animated
    or multi-page files the first frame is used.

    Args:
        path: any format Pillow reads (PNG, JPEG, GIF, BMP, TIFF, WebP, ...).

    Returns:
        The decoded image, in the file's own mode ("L", "RGB", "RGBA", "P", ...).

    Raises:
        DataError: one line, "<path>: <why>", when the file is missing, empty,
            unreadable, not an image, truncated or otherwise corrupt.

    Example:
        digit = to_mnist(load_image("my_seven.png"))  # float32 (28, 28)
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an image file")
    # Reading the bytes first means no file handle stays open behind the
    # returned image, whatever the format.
    raw = files.read_bytes(path)
    if not raw:
        raise DataError(f"{path}: empty file (0 bytes), not an image")
    try:
        image = Image.open(io.BytesIO(raw))
        image.load()
        if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except Image.UnidentifiedImageError:
        raise DataError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"{path}: image too large to decode safely ({text.one_line(error)})") from None
    except MemoryError:
        raise DataError(f"{path}: not enough memory to decode the image") from None
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many types on corrupt data.
        raise DataError(f"{path}: truncated or corrupt image ({text.one_line(error)})") from None
    return image


def to_grayscale(image: Image.Image | np.ndarray) -> np.ndarray:
    """Converts an image to grey levels, 0 = black and 1 = white.

    Colour becomes luma (0.299 R + 0.587 G + 0.114 B, as Pillow does). Value
    ranges: uint8 is divided by 255 and uint16 (and Pillow's "I;16") by 65535;
    other numbers are taken as they are when within [0, 1], else divided by 255
    when within [0, 255], else by 65535 when within [0, 65535], else stretched
    from their minimum to their maximum.

    The alpha rule. When the alpha channel really varies (some pixels under 0.5
    and some over 0.5), the picture is a drawing on a transparent background,
    such as the dashboard's canvas: the image is composited onto a background
    that contrasts with the drawing, white when the alpha-weighted mean grey of
    the drawing is under 0.5 (dark ink), else black (light ink). So black
    strokes on transparency become black on white, white strokes become white
    on black, and antialiased stroke edges blend smoothly; transparent pixels'
    hidden colour never shows. When alpha does not vary (fully opaque, or
    uniformly translucent), it is dropped and the colour is used as it is.

    Args:
        image: a Pillow image in any mode (1, L, LA, P with or without palette
            transparency, RGB, RGBA, CMYK, YCbCr, I, I;16, F, ...), or a NumPy
            array (H, W), (H, W, 1), (H, W, 2) grey+alpha, (H, W, 3) RGB or
            (H, W, 4) RGBA, of bools, integers or floats.

    Returns:
        float32 (H, W) in [0, 1].

    Raises:
        ValueError: an array of another shape or a non-numeric dtype.
        DataError: an image with no pixels, non-finite values, or a Pillow
            mode that cannot be converted to grey.

    Example:
        gray = to_grayscale(Image.new("RGB", (4, 3), "white"))  # (3, 4), all 1.0
    """
    if isinstance(image, Image.Image):
        array = _array_from_pillow(image)
    else:
        array = np.asarray(image)
    return _gray_from_array(array)


def _array_from_pillow(image: Image.Image) -> np.ndarray:
    """The pixels of a Pillow image as an array whose dtype says its value range."""
    mode = image.mode
    if image.width == 0 or image.height == 0:
        raise DataError(f"image has no pixels ({image.width}x{image.height})")
    if mode in ("1", "L", "LA", "RGB", "RGBA", "F") and not _has_extra_transparency(image):
        return np.asarray(image)
    if mode == "I" or mode.startswith("I;16"):
        # 16-bit PNGs open as "I;16" (uint16) or, with older Pillow, "I"
        # (int32 holding 0..65535); the value-range rule tells them apart.
        return np.asarray(image).astype(np.int64)
    try:
        if image.has_transparency_data:
            # Palette transparency (a tRNS chunk or an RGBA palette),
            # premultiplied "RGBa"/"La", "PA", or a transparent colour key.
            return np.asarray(image.convert("RGBA"))
        return np.asarray(image.convert("RGB"))
    except (ValueError, OSError) as error:
        raise DataError(f"cannot convert an image in mode {mode} to grey ({text.one_line(error)})") from None


def _has_extra_transparency(image: Image.Image) -> bool:
    """True for an L or RGB image whose transparency is one colour key (info["transparency"])."""
    return image.mode in ("L", "RGB") and "transparency" in image.info


def _gray_from_array(array: np.ndarray) -> np.ndarray:
    """float32 (H, W) in [0, 1] from an (H, W) or (H, W, 1..4) array; applies the alpha rule."""
    if array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"image array must hold numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError("image array must hold real numbers, got complex ones")
    if array.ndim == 2:
        array = array[:, :, np.newaxis]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise ValueError(
            f"image array must be (H, W), (H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4), got shape {array.shape}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise DataError(f"image has no pixels (shape {array.shape})")
    values = _unit_range(array)
    channels = values.shape[2]
    if channels >= 3:
        gray = values[:, :, :3] @ _LUMA
    else:
        gray = values[:, :, 0]
    alpha = values[:, :, channels - 1] if channels in (2, 4) else None
    if alpha is not None and (alpha < 0.5).any() and (alpha > 0.5).any():
        # A drawing on transparency (see to_grayscale). The weights are alpha,
        # so fully transparent pixels' hidden colour does not count.
        ink_level = float((gray * alpha).sum() / alpha.sum())
        background = 1.0 if ink_level < 0.5 else 0.0
        gray = gray * alpha + background * (1.0 - alpha)
    elif channels <= 2 and array.dtype in (np.uint8, np.uint16, np.bool_):
        # Already in [0, 1] exactly (a single channel of a fixed range): no
        # clip to pay for on every canvas drawing.
        return np.ascontiguousarray(gray, dtype=np.float32)
    return np.clip(gray, 0.0, 1.0).astype(np.float32, copy=False)


def _unit_range(array: np.ndarray) -> np.ndarray:
    """float32 copy of `array` scaled to [0, 1] by the rule in to_grayscale's docstring."""
    if array.dtype == np.uint8:
        # One table lookup instead of a conversion and a division: the same
        # values (the table is that conversion and division, done once).
        return _UINT8_LEVELS.take(array)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise DataError("image has NaN or infinite pixel values")
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0:
        scaled = values
    elif low >= 0.0 and high <= 255.0:
        scaled = values / 255.0
    elif low >= 0.0 and high <= 65535.0:
        scaled = values / 65535.0
    else:
        scaled = (values - low) / (high - low)
    return scaled.astype(np.float32)


def to_mnist(image: Image.Image | np.ndarray) -> np.ndarray:
    """Turns a picture of one digit into an MNIST-like 28x28 digit.

    The steps are MNIST's: grey levels (see `to_grayscale`); polarity from the
    border, whose median grey is taken as the background (a bright border means
    dark ink, so the image is inverted); the background level (the border
    median plus five median absolute deviations, to drop noise) is removed
    and the contrast stretched so the ink's maximum is 1; the image is cropped
    to the ink's bounding box (pixels above 0.2) and resized, antialiased, so
    its longer side is 20 pixels; it is pasted into a 28x28 frame so that the
    ink's centre of mass lands on MNIST's centre, pixel (14, 14) in
    row/column index coordinates, to within half a pixel (whole-pixel shifts,
    as MNIST's own digits show). A very wide or tall digit whose centre of mass
    is far from its box centre is kept wholly inside the frame instead.

    Args:
        image: a Pillow image or NumPy array (anything `to_grayscale` takes):
            any size, colour or grey, dark ink on light or light on dark.

    Returns:
        float32 (28, 28) in [0, 1], a light digit on a black (0) background;
        all zeros when the image holds no ink (a blank canvas).

    Example:
        digit = to_mnist(load_image("photo_of_a_3.jpg"))
        probabilities = model.predict(digit[np.newaxis, :, :, np.newaxis])
    """
    levels = _eight_bit_grey(image)
    if levels is not None:
        return _normalise(levels, MNIST_BOX, to_unit=_UINT8_LEVELS.take)
    return _normalise(to_grayscale(image), MNIST_BOX)


def _eight_bit_grey(image: Image.Image | np.ndarray) -> np.ndarray | None:
    """The uint8 (H, W) grey levels of a plain 8-bit grey picture (the canvas's PNGs), else None.

    Such a picture is normalised on its 8-bit levels, which are converted to
    0..1 only where needed; to_grayscale would give the same values for all of it.
    """
    if isinstance(image, Image.Image):
        if image.mode != "L" or _has_extra_transparency(image) or image.width == 0 or image.height == 0:
            return None
        image = np.asarray(image)
    elif not isinstance(image, np.ndarray):
        return None
    if image.dtype != np.uint8 or image.ndim != 2 or image.size == 0:
        return None
    return image


def _median(values: np.ndarray) -> np.floating:
    """np.median of a 1-D float32 array without NaNs, to the bit, at a fraction of its overhead.

    The two middle values of an even count are averaged in float32, as np.median does.
    """
    count = len(values)
    middle = count // 2
    if count % 2:
        return np.partition(values, middle)[middle]
    low, high = np.partition(values, (middle - 1, middle))[middle - 1 : middle + 1]
    return (low + high) / values.dtype.type(2)


def _normalise(gray: np.ndarray, box_size: float, to_unit=None) -> np.ndarray:
    """MNIST's recipe on (H, W) grey levels; the longer side becomes `box_size` px.

    Args:
        gray: float32 grey levels in [0, 1], or any levels that `to_unit`
            maps to them (uint8 with `_UINT8_LEVELS.take`).
        to_unit: a rising function from `gray`'s values to float32 [0, 1],
            applied only to the border, the per-row and per-column extremes
            and the digit's box (None: `gray` is float32 [0, 1] already).
    """
    if to_unit is None:
        def to_unit(values):
            return values
    ring = to_unit(np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]]))
    background = float(_median(ring))
    inverted = background > 0.5
    if inverted:
        # Dark ink on a light background: turn it round, as MNIST is light on dark.
        ring = 1.0 - ring
        background = 1.0 - background
    deviation = float(_median(np.abs(ring - background)))
    level = np.float32(background + _NOISE_DEVIATIONS * deviation)

    def ink(values: np.ndarray) -> np.ndarray:
        """The ink over the background level: (gray - level).clip(0), gray turned round for dark ink."""
        if inverted:
            values = np.float32(1.0) - values
        return np.maximum(values - level, np.float32(0.0))

    # This runs on every prediction the dashboard asks for, so the whole
    # picture is only reduced (per-row and per-column extremes), never
    # copied: `ink` is monotonic in the grey level (rising, or falling for
    # dark ink), so the ink of the extreme grey is the extreme ink, exactly,
    # and only the digit's bounding box is ever stretched.
    extreme = np.min if inverted else np.max
    row_ink = ink(to_unit(extreme(gray, axis=1)))
    column_ink = ink(to_unit(extreme(gray, axis=0)))
    peak = float(row_ink.max())
    if peak < _MIN_CONTRAST:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    peak = np.float32(peak)
    # The bounding box of the pixels over _BOX_THRESHOLD once stretched to a peak of 1.
    rows = np.flatnonzero(row_ink / peak > _BOX_THRESHOLD)
    columns = np.flatnonzero(column_ink / peak > _BOX_THRESHOLD)
    crop = np.ascontiguousarray(ink(to_unit(gray[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1])) / peak,
                                dtype=np.float32)

    height, width = crop.shape
    ratio = box_size / max(height, width)
    new_width = max(1, round(width * ratio))
    new_height = max(1, round(height * ratio))
    # Pillow's bilinear filter widens with the reduction factor, so shrinking
    # a 400 px drawing to 20 px averages over the right area (antialiased)
    # and, unlike Lanczos, never rings into negative values.
    resized = Image.fromarray(crop).resize((new_width, new_height), Image.Resampling.BILINEAR)
    patch = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    patch_peak = float(patch.max())
    if patch_peak <= 0.0:
        return np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    # Shrinking a thin stroke dims it; MNIST's strokes reach full white.
    patch = patch / patch_peak

    mass = patch.sum()
    row_centre = float((patch.sum(axis=1) * np.arange(new_height)).sum() / mass)
    column_centre = float((patch.sum(axis=0) * np.arange(new_width)).sum() / mass)
    top = min(max(round(MNIST_CENTRE - row_centre), 0), MNIST_SIZE - new_height)
    left = min(max(round(MNIST_CENTRE - column_centre), 0), MNIST_SIZE - new_width)
    frame = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    frame[top : top + new_height, left : left + new_width] = patch
    return frame


def as_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) 0..255 or float [0, 1] -> float32 (N, 28, 28, 1) in [0, 1]."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    images = images.astype(np.float32, copy=False)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    return images


def digits_input(digits: np.ndarray) -> np.ndarray:
    """(N, 28, 28) or (28, 28), uint8 0..255 or float 0..1 -> float32 (N, 28, 28, 1).

    Raises:
        DataError: another shape, or float values outside [0, 1].
    """
    array = np.asarray(digits)
    if array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or array.shape[1:] != (MNIST_SIZE, MNIST_SIZE):
        raise DataError(f"expected digits of shape (N, 28, 28) or (28, 28), got {tuple(np.shape(digits))}")
    if array.dtype == np.uint8:
        return (array.astype(np.float32) / 255.0)[..., np.newaxis]
    if not np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_:
        raise DataError(f"expected numbers, got an array of {array.dtype}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all() or array.min(initial=0) < 0 or array.max(initial=0) > 1:
        raise DataError("expected float pixel values in [0, 1] (or uint8 0..255)")
    return array[..., np.newaxis]


def font_paths() -> list[Path]:
    """TrueType fonts with ordinary digits that every matplotlib install ships.

    These are matplotlib's bundled DejaVu (Sans, Sans Mono, Serif; regular,
    bold, oblique/italic), STIX General and Computer Modern fonts, so
    rendering digits needs no system fonts. Whichever of them exist are
    returned, sorted by file name, so the list (and everything rendered from
    it) is the same from run to run.

    Returns:
        Paths inside matplotlib's mpl-data/fonts/ttf folder, e.g. 20 with
        matplotlib 3.11.

    Example:
        image = render_digit(7, font_paths()[0])
    """
    return list(_font_paths())


@functools.cache
def _font_paths() -> tuple[Path, ...]:
    import matplotlib  # Imported here: only its data folder is needed, and only to render.

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple(sorted(folder / name for name in _FONT_NAMES if (folder / name).is_file()))


@functools.lru_cache(maxsize=64)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    try:
        return ImageFont.truetype(path, size)
    except OSError as error:
        raise DataError(f"{path}: cannot load font ({text.one_line(error)})") from None


def render_digit(
    digit: int,
    font_path: str | os.PathLike,
    rotation: float = 0.0,
    scale: float = 1.0,
    thickness: int = 0,
) -> np.ndarray:
    """Draws one digit with a font and makes it MNIST-like.

    The digit is drawn black on white, about 70 px tall, on a canvas of at
    least 112x112 (larger if the glyph needs room to rotate), then rotated and
    passed through MNIST's recipe (see `to_mnist`).

    Args:
        digit: 0..9.
        font_path: a TrueType/OpenType file, e.g. one of `font_paths()`.
        rotation: degrees, counter-clockwise.
        scale: size of the digit in the 28x28 frame relative to MNIST's: the
            longer side of its bounding box is 20 * scale pixels. 0.25..1.4.
        thickness: extra stroke width in pixels of the large canvas, drawn
            around the glyph's outline; each unit adds about 0.6 px of stroke
            width in the 28x28 result.

    Returns:
        float32 (28, 28) in [0, 1], light on dark.

    Raises:
        ValueError: a digit outside 0..9, a scale outside 0.25..1.4, or a
            negative thickness.
        DataError: the font file cannot be loaded.

    Example:
        seven = render_digit(7, font_paths()[0], rotation=-8.0, thickness=2)
    """
    if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
        raise ValueError(f"digit must be an integer 0..9, got {digit!r}")
    if not (math.isfinite(scale) and 0.25 <= scale <= 1.4):
        raise ValueError(f"scale must be between 0.25 and 1.4 (the digit must fit in 28 px), got {scale}")
    if not math.isfinite(rotation):
        raise ValueError(f"rotation must be a finite number of degrees, got {rotation}")
    if int(thickness) != thickness or thickness < 0:
        raise ValueError(f"thickness must be a whole number of pixels >= 0, got {thickness}")
    thickness = int(thickness)
    font = _load_font(str(font_path), _FONT_SIZE)
    text = str(int(digit))
    left, top, right, bottom = font.getbbox(text, stroke_width=thickness, anchor="mm")
    # The canvas holds the glyph at any rotation: its side is at least the
    # glyph's diagonal, plus a margin so the border is pure background.
    side = max(_CANVAS_SIZE, math.ceil(math.hypot(right - left, bottom - top)) + 16)
    canvas = Image.new("L", (side, side), 255)
    ImageDraw.Draw(canvas).text(
        (side / 2, side / 2), text, fill=0, font=font, anchor="mm", stroke_width=thickness, stroke_fill=0
    )
    if rotation:
        canvas = canvas.rotate(rotation, resample=Image.Resampling.BICUBIC, fillcolor=255)
    return _normalise(to_grayscale(canvas), MNIST_BOX * scale)


def render_font_digits(count_per_digit: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Digits 0..9 rendered from local fonts: the codelab's "font digits" row.

    Every image uses the next font of `font_paths()` in turn, so the ten
    digits of a row are each in a different font, and further rows carry on
    through the fonts (wrapping round). Nothing is random.

    Args:
        count_per_digit: how many rows of 0..9.

    Returns:
        (images, labels): float32 (10 * count_per_digit, 28, 28) in [0, 1],
        light on dark, and uint8 labels 0, 1, ..., 9, 0, 1, ... row by row.

    Raises:
        ValueError: count_per_digit < 0.
        DataError: matplotlib's fonts cannot be found.

    Example:
        images, labels = render_font_digits()  # (10, 28, 28), [0 1 ... 9]
    """
    if int(count_per_digit) != count_per_digit or count_per_digit < 0:
        raise ValueError(f"count_per_digit must be a whole number >= 0, got {count_per_digit}")
    fonts = required_font_paths()
    labels = np.tile(np.arange(10, dtype=np.uint8), int(count_per_digit))
    images = np.zeros((labels.size, MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    for index, label in enumerate(labels):
        images[index] = render_digit(int(label), fonts[index % len(fonts)])
    return images, labels


def required_font_paths() -> list[Path]:
    """`font_paths()`, or a DataError when matplotlib ships none of them.

    Example:
        fonts = required_font_paths()
    """
    fonts = font_paths()
    if not fonts:
        import matplotlib

        folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        raise DataError(f"{folder}: none of matplotlib's DejaVu/STIX/Computer Modern fonts found")
    return fonts
