"""Digit augmentation: random affine, elastic, stroke, blur, resolution, contrast and noise changes, per batch.

The MNIST digits are clean, centred, upright and evenly inked; handwriting
from elsewhere is not. These transforms make a training batch look more like
the rest of the world. Each has its own strength (0 = off, the default, so
the codelab's rungs train exactly as before) and works on a whole batch
(B, 28, 28, 1) of float32 pixels in [0, 1] at once: a handful of vectorised
TensorFlow ops per batch, not a Python loop per example.

The randomness is stateless: every draw comes from `tf.random.stateless_*`
keyed by (seed, position of the batch in the training stream), split once
per transform, so
- the same seed gives the same batches however tf.data parallelises the map,
- a resumed run that skips k batches gets exactly the batches k, k+1, ... an
  uninterrupted run would have seen (the key is the position in the whole
  stream, not in the resumed one),
- turning one transform on or off leaves the others' draws as they were.

Order and share of the batch each transform touches (why, in brief):
0. flag (`flag_share`): that share of the 1s get a flag, a short stroke
   from the top of the stem down to the left, as most of continental
   Europe (and most fonts) write a 1. MNIST's writers were American census
   staff and schoolchildren: its 1s are almost all bare strokes, so a model
   trained on them reads a flagged 1 as a 7 (most of every rung's errors on
   the robustness suite's stroke-drawn digits). The flag starts at the
   middle of the topmost row of ink, leaves at 20 to 60 degrees below the
   horizontal, is 15% to 40% of the digit's height long and 1.6 to 2.8
   pixels wide, at full intensity. The angle is the picture's, not the
   stem's: on a 1 leaning right, a steep flag runs along the stem and adds
   little. First, so the digit's other transforms (thickness, slant,
   rotation, ...) apply to its flag too. It needs the batch's labels
   (`augment_batch(..., labels=...)`).
1. thickness (`thickness_pixels` N): half the examples get thicker or
   thinner strokes, with equal chance: thicker by 1 to N pixels of stroke
   width, thinner by 1 pixel only. One pixel of width is one step of grey
   morphology over a 2x2 window (the max of x to thicken, of -x to thin),
   the window's corner alternating so that two steps make one centred 3x3.
   MNIST's strokes are only 2 to 3 pixels wide: a 3x3 erosion left less than
   30% of the ink (pixels above 0.5) on 88% of 2,000 training digits, a 2x2
   one on 10%, hence one step of thinning at most, and none for a digit it
   would leave with less than 60% of its ink (the sum of its pixels): with
   every transform on (EXAMPLE), 2.6% of digits keep less than 30% of their
   ink above 0.5 (most of them faint by contrast), against 14.5% without
   that guard. First, while strokes are crisp. Not on every image: most
   handwriting has a stroke like MNIST's.
2. affine (`rotate_degrees`, `scale_range`, `shear_degrees`,
   `translate_pixels`): every example gets one projective transform around
   the image centre (bilinear, zeros enter at the edges), its rotation,
   scale, shear and translation each drawn uniformly from its range, so
   most draws are small.
3. elastic (`elastic_alpha`, `elastic_sigma`): every example, Simard et al.
   2003: a uniform random displacement field in [-1, 1] per pixel, smoothed
   by a Gaussian of `elastic_sigma` pixels, scaled by `elastic_alpha`, and the
   image resampled bilinearly through it (alpha 34, sigma 4 is the paper's
   setting for MNIST: measured 1.4 pixels root-mean-square along each axis
   in the middle of the image, 1.8 pixels on average, 3.5 at the 95th
   percentile).
4. outline (`outline_share`): that share of the examples become their
   outline, a ring one pixel wide around the strokes at full intensity
   (an edge detector's picture, an outline font, a hollow pen).
5. clutter (`clutter_share`): that share get a stray line right across the
   picture through its middle part, at any angle, solid, dashed or zigzag,
   0.6 to 1.8 pixels wide, of half to full intensity (ruled paper, a
   strike-through, a slip of the pen).
6. resolution loss (`resolution_loss` r): 30% of examples are shrunk to a side
   of 28 * (1 - u) pixels, u drawn from [0, r] (anti-aliased by a Gaussian of
   (f - 1) / 2 pixels for the factor f = 1 / (1 - u)), then scaled back up
   bilinearly: a low-resolution scan or photo.
7. blur (`blur_sigma`): 30% of examples get a Gaussian blur of a sigma drawn
   from [0, blur_sigma]: out-of-focus pictures.
8. contrast (`contrast_range` r): every example, ink -> clip(scale * ink**gamma)
   with scale from [1 - r, 1 + r] and log(gamma) from [-log(1 + r), log(1 + r)]:
   faint, heavy and uneven pens.
9. haze (`haze_strength` w): 30% of examples get a smooth haze (three grids
   of random levels, 3x3, 6x6 and 12x12, scaled up and summed, coarse ones
   weighing more) of a weight drawn from [0, w], and are scaled back to
   under their own peak: uneven lighting, a stained page.
10. bands (`band_share`): that share get margins inverted: each of the four
   sides with even chance (left and right when none is drawn), 2 to 9
   pixels wide: a paper edge or a shadow in a scan, a bright frame around
   a photographed digit.
11. noise (`noise_std`): half the examples get Gaussian noise of a standard
   deviation drawn from [0, noise_std]: sensor noise.
The result is clipped to [0, 1]. The first seven together (EXAMPLE before
outlines, lines, haze, margins and flags joined it; not timed again since) cost about
22 ms per batch of 128 on 2 CPU cores, against about 150 ms for a conv-bn
training step (benchmarks/augment_cost.py).

TensorFlow is imported inside the functions: nophd.config reads this
module's ranges, and the base install has no TensorFlow.

Example:
    params = DigitAugmentation(rotate_degrees=10, elastic_alpha=34, elastic_sigma=4)
    params.validate()
    augmented = augment_batch(images, seed=0, batch_index=7, params=params)
"""

from __future__ import annotations

import dataclasses
import math

from nophd.errors import ConfigError

# Thinning removes at most this many pixels of stroke width (see the docstring).
MOST_THINNING = 1
# ... and is skipped for a digit it would leave with less than this share of its ink (the sum of its pixels).
THINNING_KEEPS = 0.6
# Shares of a batch the per-example transforms touch (see the docstring).
THICKNESS_SHARE = 0.5
RESOLUTION_SHARE = 0.3
BLUR_SHARE = 0.3
NOISE_SHARE = 0.5
HAZE_SHARE = 0.3

# Each transform's place in the split of the batch's key: fixed, so turning
# one transform on or off does not change another's draws.
# New transforms join at the end: stateless_split's first keys do not depend
# on how many are asked for, so the older transforms keep their draws.
_STREAMS = ("thickness", "affine", "elastic", "resolution", "blur", "contrast", "noise",
            "outline", "clutter", "haze", "bands", "flag")

# The valid range of each strength: (lowest, highest, how the error words it).
RANGES: dict[str, tuple[float, float, str]] = {
    "rotate_degrees": (0, 90, "a number of degrees from 0 to 90"),
    "scale_range": (0, 0.5, "a fraction from 0 to 0.5 (0.1 scales by 0.9 to 1.1)"),
    "shear_degrees": (0, 45, "a number of degrees from 0 to 45"),
    "translate_pixels": (0, 8, "a number of pixels from 0 to 8"),
    "elastic_alpha": (0, 100, "a number from 0 to 100 (Simard's MNIST setting: 34)"),
    "elastic_sigma": (0, 10, "a number of pixels from 0 to 10 (Simard's MNIST setting: 4)"),
    "thickness_pixels": (0, 3, "a whole number of pixels from 0 to 3"),
    "blur_sigma": (0, 3, "a number of pixels from 0 to 3"),
    "resolution_loss": (0, 0.75, "a fraction from 0 to 0.75 (0.5 shrinks to as few as 14x14 pixels)"),
    "contrast_range": (0, 0.9, "a fraction from 0 to 0.9"),
    "noise_std": (0, 0.5, "a number from 0 to 0.5 (pixels run from 0 to 1)"),
    "outline_share": (0, 0.5, "a fraction of the digits from 0 to 0.5"),
    "clutter_share": (0, 0.5, "a fraction of the digits from 0 to 0.5"),
    "haze_strength": (0, 5, "a weight from 0 to 5 (1: as much haze as ink)"),
    "band_share": (0, 0.5, "a fraction of the digits from 0 to 0.5"),
    "flag_share": (0, 1, "a fraction of the 1s from 0 to 1"),
}
# The digit a flag is drawn on, and the flag's random ranges (see the docstring).
FLAGGED_DIGIT = 1
FLAG_ANGLE_DEGREES = (20.0, 60.0)  # below the horizontal, towards the left
FLAG_LENGTH = (0.15, 0.4)  # of the digit's height (its rows of ink)
FLAG_HALF_WIDTH = (0.8, 1.4)  # pixels
# elastic_sigma must be at least this when elastic_alpha is set: a narrower
# Gaussian leaves a field of independent pixel jitters, not a smooth warp.
MIN_ELASTIC_SIGMA = 1.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class AugmentationFields:
    """The digit-augmentation strengths, as fields: declared once, here.

    DigitAugmentation adds the behaviour; nophd.config.Recipe and TrainConfig
    inherit these fields, so a recipe, a run's config.json and the
    augmentation name the same strengths with the same defaults (0, off).
    Keyword-only, so they come after a subclass's own positional fields.
    """

    rotate_degrees: float = 0.0
    scale_range: float = 0.0
    shear_degrees: float = 0.0
    translate_pixels: float = 0.0
    elastic_alpha: float = 0.0
    elastic_sigma: float = 0.0
    thickness_pixels: int = 0
    blur_sigma: float = 0.0
    resolution_loss: float = 0.0
    contrast_range: float = 0.0
    noise_std: float = 0.0
    outline_share: float = 0.0
    clutter_share: float = 0.0
    haze_strength: float = 0.0
    band_share: float = 0.0
    flag_share: float = 0.0


@dataclasses.dataclass(frozen=True, kw_only=True)
class DigitAugmentation(AugmentationFields):
    """How strongly to augment training digits; every strength 0 (the default) is off.

    Args:
        rotate_degrees: rotate by up to this many degrees either way.
        scale_range: scale by a factor from 1 - scale_range to 1 + scale_range.
        shear_degrees: shear horizontally by up to this many degrees either way.
        translate_pixels: move by up to this many pixels (fractions too) along
            each axis, inside the affine transform (`shift_pixels` is the
            codelab's whole-pixel shift, applied before batching).
        elastic_alpha, elastic_sigma: elastic distortion (Simard 2003): the
            scale of the displacement field and the sigma, in pixels, of the
            Gaussian that smooths it; alpha 0 is off, and sigma must be at
            least 1 when alpha is set.
        thickness_pixels: thicken strokes by up to this many pixels of width
            (or thin them by one).
        blur_sigma: Gaussian blur of a sigma up to this many pixels.
        resolution_loss: shrink by up to this share of the side, then scale back.
        contrast_range: vary the ink's intensity and gamma by up to this much.
        noise_std: add Gaussian noise of a standard deviation up to this.
        outline_share: this share of the digits become their outlines.
        clutter_share: this share of the digits get a stray line across them
            (solid, dashed or zigzag).
        haze_strength: a haze of up to this weight on HAZE_SHARE of the digits.
        band_share: this share of the digits get margin bands inverted.
        flag_share: this share of the 1s get a continental flag (needs labels).

    Example:
        params = DigitAugmentation(rotate_degrees=10, thickness_pixels=1)
        assert params.enabled
    """

    @classmethod
    def of(cls, source) -> "DigitAugmentation":
        """The augmentation named by `source`'s fields of the same names (e.g. a TrainConfig)."""
        return cls(**{field.name: getattr(source, field.name) for field in dataclasses.fields(cls)})

    @property
    def enabled(self) -> bool:
        """Whether any transform is on (elastic_sigma alone is not a strength)."""
        return any(getattr(self, name) for name in FIELDS if name != "elastic_sigma")

    @property
    def affine(self) -> bool:
        return bool(self.rotate_degrees or self.scale_range or self.shear_degrees or self.translate_pixels)

    def validate(self) -> None:
        """Raises ConfigError naming the first field out of its range, and the range."""
        for name in FIELDS:
            value = getattr(self, name)
            low, high, words = RANGES[name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not number or not low <= value <= high or (name == "thickness_pixels" and value != int(value)):
                raise ConfigError(f"{name}: expected {words}, got {value!r}")
        if self.elastic_alpha and self.elastic_sigma < MIN_ELASTIC_SIGMA:
            raise ConfigError(f"elastic_sigma: expected a number of pixels from {MIN_ELASTIC_SIGMA:g} to "
                              f"{RANGES['elastic_sigma'][1]:g} when elastic_alpha is set (Simard's MNIST setting: 4), "
                              f"got {self.elastic_sigma!r}")


FIELDS = tuple(field.name for field in dataclasses.fields(DigitAugmentation))

# A moderate setting of every transform, to look at (`nophd data augment-preview`
# without flags) and to time (benchmarks/augment_cost.py); not a measured recipe.
EXAMPLE = DigitAugmentation(
    rotate_degrees=10, scale_range=0.1, shear_degrees=10, translate_pixels=2, elastic_alpha=34, elastic_sigma=4,
    thickness_pixels=1, blur_sigma=1, resolution_loss=0.5, contrast_range=0.3, noise_std=0.1, outline_share=0.1,
    clutter_share=0.1, haze_strength=2, band_share=0.1, flag_share=0.3)


def describe(params: DigitAugmentation) -> str:
    """The strengths that are on, as "rotate_degrees=10, noise_std=0.1" ("none" when all are off)."""
    return ", ".join(f"{name}={getattr(params, name):g}" for name in FIELDS
                     if getattr(params, name) and (name != "elastic_sigma" or params.elastic_alpha)) or "none"


def augment_batch(images, seed, batch_index, params: DigitAugmentation, labels=None):
    """Augments a batch of digits as `params` says, the same way for the same (seed, batch_index).

    Args:
        images: float32 (B, 28, 28, 1) in [0, 1] (any square side works).
        seed: the run's seed, a whole number >= 0.
        batch_index: the batch's position in the whole training stream
            (int64 scalar, a tensor in a tf.data map).
        params: the strengths; all 0 returns `images` untouched.
        labels: the batch's labels, (B,) digits or (B, 10) one-hot rows;
            needed when params.flag_share is set, unused otherwise.

    Returns:
        float32 (B, 28, 28, 1) in [0, 1].

    Raises:
        ValueError: flag_share is set and labels is None.

    Example:
        batch = augment_batch(batch, 0, 12, DigitAugmentation(rotate_degrees=15))
    """
    import tensorflow as tf

    if not params.enabled:
        return images
    if params.flag_share and labels is None:
        raise ValueError("flag_share draws flags on the 1s: pass the batch's labels")
    images = tf.convert_to_tensor(images, tf.float32)
    key = tf.stack([tf.cast(seed, tf.int64), tf.cast(batch_index, tf.int64)])
    keys = tf.random.experimental.stateless_split(key, num=len(_STREAMS))
    stream = {name: keys[position] for position, name in enumerate(_STREAMS)}
    if params.flag_share:
        images = _random_flag(images, labels, stream["flag"], float(params.flag_share))
    if params.thickness_pixels:
        images = _random_thickness(images, stream["thickness"], int(params.thickness_pixels))
    if params.affine:
        images = _random_affine(images, stream["affine"], params)
    if params.elastic_alpha:
        images = _random_elastic(images, stream["elastic"], float(params.elastic_alpha), float(params.elastic_sigma))
    if params.outline_share:
        images = _random_outline(images, stream["outline"], float(params.outline_share))
    if params.clutter_share:
        images = _random_clutter(images, stream["clutter"], float(params.clutter_share))
    if params.resolution_loss:
        images = _random_resolution_loss(images, stream["resolution"], float(params.resolution_loss))
    if params.blur_sigma:
        images = _random_blur(images, stream["blur"], float(params.blur_sigma))
    if params.contrast_range:
        images = _random_contrast(images, stream["contrast"], float(params.contrast_range))
    if params.haze_strength:
        images = _random_haze(images, stream["haze"], float(params.haze_strength))
    if params.band_share:
        images = _random_bands(images, stream["bands"], float(params.band_share))
    if params.noise_std:
        images = _random_noise(images, stream["noise"], float(params.noise_std))
    return tf.clip_by_value(images, 0.0, 1.0)


# --- Deterministic transforms (explicit per-example amounts), usable and testable on their own. ---


def affine(images, rotation_degrees, scale, shear_degrees, translation):
    """One projective transform per example around the image centre (bilinear, zeros outside).

    Positive rotations turn the digit counter-clockwise as seen on screen (as
    numpy.rot90 and Keras' RandomRotation do); positive translations move it
    right and down; the shear slants it along x, by tan(shear) pixels per row.

    Args:
        images: float32 (B, H, W, C).
        rotation_degrees, scale, shear_degrees: float32 (B,).
        translation: float32 (B, 2), (x, y) in pixels.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    height, width = images.shape[1], images.shape[2]
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    angle = tf.cast(rotation_degrees, tf.float32) * (math.pi / 180.0)
    shear = tf.tan(tf.cast(shear_degrees, tf.float32) * (math.pi / 180.0))
    scale = tf.cast(scale, tf.float32)
    translation = tf.cast(translation, tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # The transform maps output pixels to input pixels, so it is the inverse
    # of the forward map L = rotation . shear . scale: L^-1 = scale^-1 . shear^-1 . rotation^-1
    # in (x right, y down) coordinates, around the centre, after the translation.
    a0, a1 = (cos - shear * sin) / scale, (-sin - shear * cos) / scale
    b0, b1 = sin / scale, cos / scale
    from_x, from_y = centre_x + translation[:, 0], centre_y + translation[:, 1]
    a2 = centre_x - a0 * from_x - a1 * from_y
    b2 = centre_y - b0 * from_x - b1 * from_y
    zeros = tf.zeros_like(a0)
    return _transform(images, tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1))


def change_thickness(images, pixels, thinnest: int, thickest: int):
    """Thickens (pixels > 0) or thins (pixels < 0) each example's strokes by |pixels| pixels of width.

    Each pixel is one step of grey morphology over a 2x2 window: the max of
    x to thicken, of -x to thin, zeros beyond the edges. The window reaches
    down-right on even steps and up-left on odd ones, so two steps make one
    3x3 window centred on the pixel.

    Args:
        images: float32 (B, H, W, C).
        pixels: int32 (B,), each from -thinnest to thickest.
        thinnest, thickest: the most pixels of thinning and of thickening
            (the number of steps computed each way).
    """
    import tensorflow as tf

    thicker, thinner = [images], [images]
    for number in range(thickest):
        thicker.append(_morphology_step(thicker[-1], number, 1.0))
    for number in range(thinnest):
        thinner.append(_morphology_step(thinner[-1], number, -1.0))
    levels = tf.stack(thinner[:0:-1] + thicker, axis=1)  # (B, thinnest + 1 + thickest, H, W, C), thinnest first.
    return tf.gather(levels, tf.cast(pixels, tf.int32) + thinnest, batch_dims=1)


def _morphology_step(images, number: int, sign: float):
    """One step of grey morphology: the max (sign 1) or min (sign -1) over each 2x2 window, zeros beyond the edges.

    The window reaches down-right on even steps and up-left on odd ones. Four
    shifted slices: the same as max_pool2d, and a tenth of its time on a
    2-core CPU (measured 1 ms against 10 ms for a batch of 128).
    """
    import tensorflow as tf

    padding = [[0, 0], [0, 1], [0, 1], [0, 0]] if number % 2 == 0 else [[0, 0], [1, 0], [1, 0], [0, 0]]
    padded = tf.pad(sign * images, padding)
    top = tf.maximum(padded[:, :-1, :-1], padded[:, :-1, 1:])
    bottom = tf.maximum(padded[:, 1:, :-1], padded[:, 1:, 1:])
    return sign * tf.maximum(top, bottom)


def outline(images, thresholds):
    """Each example's strokes as their outline: white where the 3x3 dilation adds more than thresholds[b] of ink.

    A ring one pixel wide around every stroke, the inside left dark (an
    edge detector's picture of a digit, an outline font, a hollow pen), at
    full intensity like an edge map.

    Args:
        images: float32 (B, H, W, 1).
        thresholds: float32 (B,), in (0, 1).
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    dilated = _morphology_step(_morphology_step(images, 0, 1.0), 1, 1.0)
    ring = dilated - images
    return tf.cast(ring > tf.cast(thresholds, tf.float32)[:, None, None, None], tf.float32)


# A stray line's styles (clutter): 0 solid, 1 dashed, 2 zigzag.
LINE_STYLES = ("solid", "dashed", "zigzag")


def lines(shape, centres, angles, half_widths, styles, periods, amplitudes):
    """One straight line per example right across the picture, anti-aliased: (B, H, W, 1) ink in [0, 1].

    Args:
        shape: (B, H, W).
        centres: float32 (B, 2), a point (x, y) the line passes through.
        angles: float32 (B,), radians from the x axis (towards y, down).
        half_widths: float32 (B,), half the line's width in pixels.
        styles: int32 (B,), an index into LINE_STYLES.
        periods: float32 (B,), pixels along the line of one dash and gap, or of one zigzag tooth.
        amplitudes: float32 (B,), the zigzag's height either side of the line, in pixels.
    """
    import tensorflow as tf

    _, height, width = shape
    rows, columns = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    centres = tf.cast(centres, tf.float32)
    angles = tf.cast(angles, tf.float32)[:, None, None]
    dx, dy = columns[None] - centres[:, 0, None, None], rows[None] - centres[:, 1, None, None]
    along = dx * tf.cos(angles) + dy * tf.sin(angles)
    across = dy * tf.cos(angles) - dx * tf.sin(angles)
    periods = tf.cast(periods, tf.float32)[:, None, None]
    styles = tf.cast(styles, tf.int32)[:, None, None]
    phase = along / periods - tf.floor(along / periods)  # In [0, 1) along each period.
    # A triangle wave from -1 to 1, shifted off the line by the amplitude for zigzags.
    triangle = 4.0 * tf.abs(phase - 0.5) - 1.0
    across = tf.where(styles == 2, across - tf.cast(amplitudes, tf.float32)[:, None, None] * triangle, across)
    ink = tf.clip_by_value(tf.cast(half_widths, tf.float32)[:, None, None] + 0.5 - tf.abs(across), 0.0, 1.0)
    ink = tf.where((styles == 1) & (phase >= 0.5), 0.0, ink)
    return ink[..., None]


def flags(images, angles, lengths, half_widths):
    """Draws a flag on every digit: a segment from the middle of its topmost row of ink, down to the left.

    Args:
        images: float32 (B, H, W, 1) in [0, 1].
        angles: float32 (B,), radians below the horizontal (0: straight left).
        lengths: float32 (B,), shares of the digit's height (its rows with a
            pixel above 0.5) the segment is long.
        half_widths: float32 (B,), half the segment's width in pixels.

    Returns:
        float32 (B, H, W, 1): the digits with their flags (the brighter of the
        two where they meet); a digit without ink above 0.5 is returned as is.
    """
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]
    ink = images[..., 0]
    inked_rows = tf.reduce_max(ink, axis=2) > 0.5  # (B, H)
    has_ink = tf.reduce_any(inked_rows, axis=1)
    rows_index = tf.range(height, dtype=tf.int32)[None]
    top = tf.reduce_min(tf.where(inked_rows, rows_index, height), axis=1)
    bottom = tf.reduce_max(tf.where(inked_rows, rows_index, -1), axis=1)
    top = tf.minimum(top, height - 1)
    top_row = tf.gather(ink, top, axis=1, batch_dims=1)  # (B, W)
    columns_index = tf.range(width, dtype=tf.float32)[None]
    start_x = tf.reduce_sum(top_row * columns_index, axis=1) / tf.maximum(tf.reduce_sum(top_row, axis=1), 1e-6)
    start_y = tf.cast(top, tf.float32)
    digit_height = tf.cast(tf.maximum(bottom - top + 1, 1), tf.float32)
    angles = tf.cast(angles, tf.float32)
    length = tf.cast(lengths, tf.float32) * digit_height
    direction_x, direction_y = -tf.cos(angles), tf.sin(angles)  # Left and down (y grows downwards).
    rows, columns = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    dx = columns[None] - start_x[:, None, None]
    dy = rows[None] - start_y[:, None, None]
    along = tf.clip_by_value(dx * direction_x[:, None, None] + dy * direction_y[:, None, None], 0.0,
                             length[:, None, None])
    distance = tf.sqrt(tf.square(dx - along * direction_x[:, None, None])
                       + tf.square(dy - along * direction_y[:, None, None]))
    stroke = tf.clip_by_value(tf.cast(half_widths, tf.float32)[:, None, None] + 0.5 - distance, 0.0, 1.0)
    flagged = tf.where(has_ink[:, None, None], tf.maximum(ink, stroke), ink)
    return flagged[..., None]


def haze(images, fields, weights):
    """Adds weights[b] times a haze field in [0, 1], then scales the result back under the digit's own peak.

    MNIST-C's fog formula: (x + w * haze) * peak / (peak + w).

    Args:
        images: float32 (B, H, W, 1).
        fields: float32 (B, H, W, 1) in [0, 1].
        weights: float32 (B,), >= 0 (0: untouched).
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    weights = tf.cast(weights, tf.float32)[:, None, None, None]
    peak = tf.reduce_max(images, axis=[1, 2, 3], keepdims=True)
    return (images + weights * fields) * peak / tf.maximum(peak + weights, 1e-6)


def invert_bands(images, widths):
    """Inverts (1 - x) each example's margins: widths[b] = (left, right, top, bottom) pixels, 0 for none.

    A paper edge or a shadow in a scan, a bright frame around a photographed digit.

    Args:
        images: float32 (B, H, W, 1).
        widths: int32 (B, 4).
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    height, width = images.shape[1], images.shape[2]
    widths = tf.cast(widths, tf.int32)[:, :, None, None]
    rows, columns = tf.meshgrid(tf.range(height), tf.range(width), indexing="ij")
    inside = ((columns[None] < widths[:, 0]) | (columns[None] >= width - widths[:, 1])
              | (rows[None] < widths[:, 2]) | (rows[None] >= height - widths[:, 3]))
    return tf.where(inside[..., None], 1.0 - images, images)


def gaussian_blur(images, sigmas, largest_sigma: float):
    """Blurs example b with a Gaussian of sigmas[b] pixels (0: untouched); zeros beyond the edges.

    Every example has its own kernel: the batch goes into the channels of one
    image and a depthwise convolution applies each kernel to its own channel.

    Args:
        images: float32 (B, H, W, 1).
        sigmas: float32 (B,), each from 0 to largest_sigma.
        largest_sigma: sizes the kernel (2 * ceil(3 * largest_sigma) + 1 taps).
    """
    import tensorflow as tf

    radius = max(1, math.ceil(3 * largest_sigma))
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    sigmas = tf.maximum(tf.cast(sigmas, tf.float32), 1e-3)[:, None]  # A sigma of 1e-3 leaves only the centre tap.
    weights = tf.exp(-0.5 * tf.square(offsets[None, :] / sigmas))
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)  # (B, taps)
    channels = tf.transpose(images[..., 0], [1, 2, 0])[None]  # (1, H, W, B)
    vertical = tf.transpose(weights)[:, None, :, None]  # (taps, 1, B, 1)
    horizontal = tf.transpose(weights)[None, :, :, None]  # (1, taps, B, 1)
    channels = tf.nn.depthwise_conv2d(channels, vertical, [1, 1, 1, 1], "SAME")
    channels = tf.nn.depthwise_conv2d(channels, horizontal, [1, 1, 1, 1], "SAME")
    return tf.transpose(channels[0], [2, 0, 1])[..., None]


def lower_resolution(images, factors, largest_factor: float):
    """Shrinks example b by factors[b] >= 1 (anti-aliased), then scales it back up to its size.

    Args:
        images: float32 (B, H, W, 1).
        factors: float32 (B,), each from 1 (untouched) to largest_factor.
        largest_factor: sizes the anti-aliasing kernel.
    """
    import tensorflow as tf

    factors = tf.cast(factors, tf.float32)
    # A Gaussian of (f - 1) / 2 pixels removes most of what the shrunk grid cannot hold.
    images = gaussian_blur(images, (factors - 1.0) / 2.0, (largest_factor - 1.0) / 2.0)
    zeros = tf.zeros_like(factors)
    # Output pixel u samples input (u + 0.5) * f - 0.5: the image shrinks into the top-left corner ...
    down = tf.stack([factors, zeros, 0.5 * factors - 0.5, zeros, factors, 0.5 * factors - 0.5, zeros, zeros], axis=1)
    # ... and output pixel x samples the small image at (x + 0.5) / f - 0.5: back to full size.
    up = tf.stack([1.0 / factors, zeros, 0.5 / factors - 0.5, zeros, 1.0 / factors, 0.5 / factors - 0.5, zeros, zeros],
                  axis=1)
    return _transform(_transform(images, down), up)


def elastic(images, displacement_x, displacement_y):
    """Resamples each example bilinearly at (x + dx, y + dy) (zeros outside the image).

    Args:
        images: float32 (B, H, W, 1).
        displacement_x, displacement_y: float32 (B, H, W), in pixels.
    """
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    height, width = images.shape[1], images.shape[2]
    rows, columns = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    return _sample(images, columns[None] + displacement_x, rows[None] + displacement_y)


# --- The random draws. ---


def _share(key, batch, share):
    """A (B,) bool: which examples a transform touches (each with probability `share`)."""
    import tensorflow as tf

    return tf.random.stateless_uniform([batch], seed=key) < share


def _random_thickness(images, key, most: int):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=3)
    thicker = tf.random.stateless_uniform([batch], seed=keys[0], minval=1, maxval=most + 1, dtype=tf.int32)
    thinner = tf.random.stateless_uniform([batch], seed=keys[1], minval=0.0, maxval=1.0) < 0.5
    pixels = tf.where(thinner, -min(most, MOST_THINNING), thicker)
    pixels = tf.where(_share(keys[2], batch, THICKNESS_SHARE), pixels, 0)
    changed = change_thickness(images, pixels, min(most, MOST_THINNING), most)
    # A digit of thin strokes keeps its strokes: thinning that would leave it
    # less than THINNING_KEEPS of its ink is not done.
    ink_before, ink_after = tf.reduce_sum(images, axis=[1, 2, 3]), tf.reduce_sum(changed, axis=[1, 2, 3])
    keep = (pixels >= 0) | (ink_after >= THINNING_KEEPS * ink_before)
    return tf.where(keep[:, None, None, None], changed, images)


def _random_affine(images, key, params: DigitAugmentation):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=4)

    def symmetric(shape, seed, most):
        return tf.random.stateless_uniform(shape, seed=seed, minval=-float(most), maxval=float(most))

    return affine(
        images,
        symmetric([batch], keys[0], params.rotate_degrees),
        1.0 + symmetric([batch], keys[1], params.scale_range),
        symmetric([batch], keys[2], params.shear_degrees),
        symmetric([batch, 2], keys[3], params.translate_pixels),
    )


def _random_elastic(images, key, alpha: float, sigma: float):
    import tensorflow as tf

    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    field = tf.random.stateless_uniform([batch, 2, height, width], seed=key, minval=-1.0, maxval=1.0)
    field = alpha * gaussian_smooth(field, sigma)
    return elastic(images, field[:, 0], field[:, 1])


def gaussian_smooth(planes, sigma: float):
    """A Gaussian filter of `sigma` pixels over each (H, W) plane of (..., H, W), zeros beyond the edges.

    Each plane becomes G_h @ plane @ G_w^T, with G a Gaussian matrix: the
    same separable filter as a depthwise convolution, in a tenth of its time
    on a 2-core CPU (measured 4 ms against 53 ms for a batch of 128 fields).
    """
    import tensorflow as tf

    height, width = planes.shape[-2], planes.shape[-1]
    return tf.linalg.matmul(_gaussian_matrix(height, sigma),
                            tf.linalg.matmul(planes, _gaussian_matrix(width, sigma), transpose_b=True))


def _gaussian_matrix(size: int, sigma: float):
    """(size, size) float32: row i holds the Gaussian weights of pixel i's neighbours (sum 1 before the edges)."""
    import numpy as np
    import tensorflow as tf

    offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    every_offset = np.arange(-size + 1, size)
    return tf.constant(weights / np.exp(-0.5 * (every_offset / sigma) ** 2).sum(), tf.float32)


def _random_resolution_loss(images, key, most: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=2)
    lost = tf.random.stateless_uniform([batch], seed=keys[0], minval=0.0, maxval=most)
    lost = tf.where(_share(keys[1], batch, RESOLUTION_SHARE), lost, 0.0)
    return lower_resolution(images, 1.0 / (1.0 - lost), 1.0 / (1.0 - most))


def _random_blur(images, key, most: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=2)
    sigmas = tf.random.stateless_uniform([batch], seed=keys[0], minval=0.0, maxval=most)
    sigmas = tf.where(_share(keys[1], batch, BLUR_SHARE), sigmas, 0.0)
    return gaussian_blur(images, sigmas, most)


def _random_contrast(images, key, most: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=2)
    scale = tf.random.stateless_uniform([batch, 1, 1, 1], seed=keys[0], minval=1.0 - most, maxval=1.0 + most)
    log_gamma = tf.random.stateless_uniform([batch, 1, 1, 1], seed=keys[1], minval=-math.log1p(most),
                                            maxval=math.log1p(most))
    return tf.clip_by_value(scale * tf.pow(images, tf.exp(log_gamma)), 0.0, 1.0)


def _random_noise(images, key, most: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=3)
    deviations = tf.random.stateless_uniform([batch], seed=keys[0], minval=0.0, maxval=most)
    deviations = tf.where(_share(keys[1], batch, NOISE_SHARE), deviations, 0.0)[:, None, None, None]
    noise = tf.random.stateless_normal(tf.shape(images), seed=keys[2])
    return tf.clip_by_value(images + deviations * noise, 0.0, 1.0)


def _random_outline(images, key, share: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=2)
    thresholds = tf.random.stateless_uniform([batch], seed=keys[0], minval=0.15, maxval=0.5)
    touched = _share(keys[1], batch, share)[:, None, None, None]
    return tf.where(touched, outline(images, thresholds), images)


def _random_clutter(images, key, share: float):
    import tensorflow as tf

    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    keys = tf.random.experimental.stateless_split(key, num=8)

    def uniform(shape, number, low, high, dtype=tf.float32):
        return tf.random.stateless_uniform(shape, seed=keys[number], minval=low, maxval=high, dtype=dtype)

    # Through a point of the middle of the picture, at any angle: most lines cross the digit.
    centres = uniform([batch, 2], 0, 0.2 * width, 0.8 * width)
    ink = lines((batch, height, width), centres, uniform([batch], 1, 0.0, math.pi), uniform([batch], 2, 0.3, 0.9),
                uniform([batch], 3, 0, len(LINE_STYLES), tf.int32), uniform([batch], 4, 3.0, 6.0),
                uniform([batch], 5, 1.0, 2.5))
    ink = ink * uniform([batch, 1, 1, 1], 6, 0.5, 1.0)
    touched = _share(keys[7], batch, share)[:, None, None, None]
    return tf.where(touched, tf.maximum(images, ink), images)


def _random_flag(images, labels, key, share: float):
    import tensorflow as tf

    batch = tf.shape(images)[0]
    keys = tf.random.experimental.stateless_split(key, num=4)
    labels = tf.convert_to_tensor(labels)
    digits = tf.argmax(labels, axis=-1) if labels.shape.rank == 2 else tf.reshape(labels, [-1])
    ones = tf.cast(digits, tf.int64) == FLAGGED_DIGIT
    low, high = (math.radians(degrees) for degrees in FLAG_ANGLE_DEGREES)
    angles = tf.random.stateless_uniform([batch], seed=keys[0], minval=low, maxval=high)
    lengths = tf.random.stateless_uniform([batch], seed=keys[1], minval=FLAG_LENGTH[0], maxval=FLAG_LENGTH[1])
    half_widths = tf.random.stateless_uniform([batch], seed=keys[2], minval=FLAG_HALF_WIDTH[0],
                                              maxval=FLAG_HALF_WIDTH[1])
    touched = (ones & _share(keys[3], batch, share))[:, None, None, None]
    return tf.where(touched, flags(images, angles, lengths, half_widths), images)


def _random_haze(images, key, most: float):
    import tensorflow as tf

    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    keys = tf.random.experimental.stateless_split(key, num=5)
    # Coarse to fine: three grids of random levels scaled up, the coarser weighing more (a plasma's look).
    field = tf.zeros([batch, height, width, 1])
    for number, (cells, weight) in enumerate(((3, 0.6), (6, 0.3), (12, 0.1))):
        grid = tf.random.stateless_uniform([batch, cells, cells, 1], seed=keys[number])
        field += weight * tf.image.resize(grid, (height, width), method="bilinear")
    low = tf.reduce_min(field, axis=[1, 2, 3], keepdims=True)
    high = tf.reduce_max(field, axis=[1, 2, 3], keepdims=True)
    field = (field - low) / tf.maximum(high - low, 1e-6)
    weights = tf.random.stateless_uniform([batch], seed=keys[3], minval=0.0, maxval=most)
    weights = tf.where(_share(keys[4], batch, HAZE_SHARE), weights, 0.0)
    return haze(images, field, weights)


def _random_bands(images, key, share: float):
    import tensorflow as tf

    batch, side = tf.shape(images)[0], images.shape[2]
    keys = tf.random.experimental.stateless_split(key, num=3)
    # Each margin with even chance, 2 to a third of the side wide; none drawn: left and right.
    widths = tf.random.stateless_uniform([batch, 4], seed=keys[0], minval=2, maxval=side // 3 + 1, dtype=tf.int32)
    chosen = tf.random.stateless_uniform([batch, 4], seed=keys[1]) < 0.5
    chosen = chosen | (~tf.reduce_any(chosen, axis=1, keepdims=True) & tf.constant([[True, True, False, False]]))
    widths = tf.where(chosen, widths, 0)
    widths = tf.where(_share(keys[2], batch, share)[:, None], widths, 0)
    return invert_bands(images, widths)


# --- Resampling. ---


def _transform(images, transforms):
    """ImageProjectiveTransformV3 with one 8-number transform per example, bilinear, zeros outside."""
    import tensorflow as tf

    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3], fill_value=0.0, interpolation="BILINEAR", fill_mode="CONSTANT",
    )


def _sample(images, xs, ys):
    """Bilinear samples of each example at pixel coordinates (xs, ys), (B, H, W) each; zeros outside.

    A gather on the flattened batch: each output pixel reads its four
    neighbours, weighted by distance. The images get a border of zeros and
    the coordinates are clamped onto it, so a neighbour outside the image
    reads 0 with no test of its own.
    """
    import tensorflow as tf

    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    flat = tf.reshape(tf.pad(images[..., 0], [[0, 0], [1, 1], [1, 1]]), [-1])
    # In the padded image's coordinates; -1 and the side itself are the border.
    xs = tf.clip_by_value(xs, -1.0, float(width)) + 1.0
    ys = tf.clip_by_value(ys, -1.0, float(height)) + 1.0
    left, top = tf.floor(xs), tf.floor(ys)
    across, down = xs - left, ys - top
    row_length = width + 2
    corner = (tf.range(batch) * (height + 2) * row_length)[:, None, None] + tf.cast(top, tf.int32) * row_length \
        + tf.cast(left, tf.int32)
    # The bottom-right corner of a coordinate on the far border is outside the padded image:
    # its weight is 0 there, and the gather clamps its index into the (zero) border.
    last = tf.size(flat) - 1
    top_left, top_right = tf.gather(flat, corner), tf.gather(flat, tf.minimum(corner + 1, last))
    bottom_left = tf.gather(flat, tf.minimum(corner + row_length, last))
    bottom_right = tf.gather(flat, tf.minimum(corner + row_length + 1, last))
    top_row = top_left + across * (top_right - top_left)
    bottom_row = bottom_left + across * (bottom_right - bottom_left)
    return (top_row + down * (bottom_row - top_row))[..., None]
