"""MNIST-C's fifteen corruptions of MNIST digits, in NumPy alone.

Mu & Gilmer (2019), "MNIST-C: A Robustness Benchmark for Computer Vision",
published the corruptions with their code (github.com/google-research/mnist-c,
corruptions.py), written with scikit-image, SciPy, OpenCV and ImageMagick.
This module redoes the fifteen that make up MNIST-C, each at the severity
MNIST-C itself uses (the default argument of each function there), with
NumPy only, so nophd needs no new dependency:

    shot_noise     Poisson noise, 3 photons at full white (severity 5)
    impulse_noise  salt and pepper on 17% of the pixels (severity 4)
    glass_blur     blur (sigma 0.7), pixels swapped with a neighbour, blur (severity 1)
    motion_blur    ImageMagick's one-sided Gaussian trail, radius 10, sigma 3,
                   at a random angle in -45..45 degrees (severity 1)
    shear          0.4 rad either way about the centre (severity 2)
    scale          shrunk to 70% about the centre (severity 3)
    rotate         0.4 rad (23 degrees) either way (severity 2)
    brightness     +0.5 on HSV's value, a grey level for grey pictures (severity 5)
    translate      3 px across and 3 px down, each way at random (severity 3)
    stripe         the left and right quarters (7 columns) inverted
    fog            a plasma fractal (diamond-square, decay 1.4) at weight 3 (severity 5)
    spatter        blotches of mud (grey 63) from thresholded blurred noise (severity 4)
    dotted_line    a dotted line across the picture
    zigzag         a zigzag line across the picture
    canny_edges    the digit's edges only (Canny, sigma 1, thresholds 0.1/0.2)

Where MNIST-C calls a library, the same computation is done here: Gaussian
blurs as scipy.ndimage's (truncated at 4 sigma, edges repeated), affine warps
as skimage.transform.warp's (bilinear, black outside) with skimage's
centre-keeping matrices, Canny as skimage.feature.canny's (smoothing,
Sobel, non-maximum suppression with interpolation, hysteresis over
8-connected pixels). Random draws come from the NumPy Generator passed in,
one image after another, so results differ from MNIST-C's files draw by
draw but not in kind; the same generator state gives the same pictures.

Each corruption takes uint8 (N, 28, 28) digits (white on black) and a
`numpy.random.Generator` and returns new uint8 (N, 28, 28) digits; values
are rounded to the nearest grey level.

Example:
    rng = np.random.default_rng(0)
    noisy = CORRUPTIONS["shot_noise"](test_images[:1000], rng)
"""

from __future__ import annotations

from typing import Callable

import numpy as np

SIDE = 28
# The centre of a 28x28 picture in pixel-index coordinates: MNIST-C keeps it fixed under shear, scale and rotation.
CENTRE = 13.5


# --- helpers


def _check(images: np.ndarray) -> np.ndarray:
    """The images as float64 in [0, 1]; ValueError unless they are uint8 (N, 28, 28)."""
    array = np.asarray(images)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != (SIDE, SIDE):
        raise ValueError(f"corruptions take uint8 digits of shape (N, 28, 28), got {array.dtype} {array.shape}")
    return array.astype(np.float64) / 255.0


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """float values in [0, 1] (clipped) as uint8 grey levels, rounded."""
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)


def _gaussian(images: np.ndarray, sigma: float, mode: str = "edge") -> np.ndarray:
    """scipy.ndimage.gaussian_filter over the last two axes: truncated at 4 sigma.

    mode "edge" repeats the border pixel (scipy's and skimage's "nearest",
    skimage.filters.gaussian's default); "constant" pads with zeros.
    """
    radius = int(4.0 * sigma + 0.5)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    result = np.asarray(images, dtype=np.float64)
    for axis in (-2, -1):
        widths = [(0, 0)] * result.ndim
        widths[axis] = (radius, radius)
        padded = np.pad(result, widths, mode=mode)
        length = result.shape[axis]
        total = np.zeros_like(result)
        for offset, weight in enumerate(kernel):
            total += weight * np.take(padded, np.arange(offset, offset + length), axis=axis)
        result = total
    return result


def _sample(images: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Bilinear samples of (N, H, W) `images` at (H, W) coordinates; black outside the picture.

    As skimage.transform.warp with order=1 and mode="constant" (cval 0).
    """
    count, height, width = images.shape
    row0 = np.floor(rows).astype(np.int64)
    column0 = np.floor(columns).astype(np.int64)
    row_fraction = rows - row0
    column_fraction = columns - column0
    result = np.zeros((count, *rows.shape), dtype=np.float64)
    for row_step, row_weight in ((0, 1.0 - row_fraction), (1, row_fraction)):
        for column_step, column_weight in ((0, 1.0 - column_fraction), (1, column_fraction)):
            row = row0 + row_step
            column = column0 + column_step
            inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
            values = images[:, np.clip(row, 0, height - 1), np.clip(column, 0, width - 1)]
            result += (row_weight * column_weight * inside) * values
    return result


def _warp(images: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """skimage.transform.warp(image, inverse_map=matrix): output (column, row) samples the input at matrix @ (column, row, 1)."""
    rows, columns = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    source_columns = matrix[0, 0] * columns + matrix[0, 1] * rows + matrix[0, 2]
    source_rows = matrix[1, 0] * columns + matrix[1, 1] * rows + matrix[1, 2]
    return _sample(images, source_rows, source_columns)


def _about_centre(linear: np.ndarray) -> np.ndarray:
    """A 3x3 affine matrix with this 2x2 part that keeps the picture's centre (13.5, 13.5) fixed, as MNIST-C builds it."""
    (a1, a2), (b1, b2) = linear
    return np.array([[a1, a2, CENTRE * (1 - a1 - a2)], [b1, b2, CENTRE * (1 - b1 - b2)], [0.0, 0.0, 1.0]])


def _warp_each_way(images: np.ndarray, rng: np.random.Generator, linear_of) -> np.ndarray:
    """Warps each image by linear_of(+1) or linear_of(-1) about the centre, the sign drawn per image."""
    signs = rng.choice(np.array([-1, 1]), size=len(images))
    result = np.empty_like(images)
    for sign in (-1, 1):
        chosen = signs == sign
        if chosen.any():
            result[chosen] = _warp(images[chosen], _about_centre(linear_of(sign)))
    return result


def _line_from_points(c0: float, r0: float, c1: float, r1: float) -> np.ndarray:
    """MNIST-C's anti-aliased line from column c0, row r0 to column c1, row r1: float64 (28, 28) in [0, 1]."""
    if c1 == c0:
        return np.zeros((SIDE, SIDE))
    # Brightness falls with the vertical distance d from the line as log(1 - d / 2.3) + 1.
    columns, rows = np.meshgrid(np.linspace(0, SIDE - 1, SIDE), np.linspace(0, SIDE - 1, SIDE), sparse=True)
    slope = (r1 - r0) / (c1 - c0)
    distance = np.clip(np.abs(rows - (slope * (columns - c0) + r0)), 0, 2.3 - 1e-10)
    line = np.clip(np.log(1 - distance / 2.3) + 1, 0, 1)
    line[:, : int(np.floor(c0))] = 0
    line[:, int(np.ceil(c1)) :] = 0
    return line


# --- the corruptions


def shot_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise: each pixel a count of 3 * brightness photons, divided by 3 (MNIST-C severity 5)."""
    photons = 3
    return _to_uint8(rng.poisson(_check(images) * photons) / photons)


def impulse_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: 17% of the pixels set to white or black, half each (MNIST-C severity 4)."""
    values = _check(images)
    flipped = rng.random(values.shape) < 0.17
    salted = rng.random(values.shape) < 0.5
    values[flipped & salted] = 1.0
    values[flipped & ~salted] = 0.0
    return _to_uint8(values)


def glass_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur (sigma 0.7), swap pixels with a neighbour up to 1 px up-left (twice over the picture), blur (MNIST-C severity 1)."""
    sigma, delta, iterations = 0.7, 1, 2
    # MNIST-C truncates the first blur to whole grey levels before shuffling.
    values = np.floor(_gaussian(_check(images), sigma) * 255.0)
    count = len(values)
    everyone = np.arange(count)
    # The swaps are sequential within a picture (a pixel can move twice); the
    # pictures are independent, so each step is done for all of them at once.
    for _ in range(iterations):
        for row in range(SIDE - delta, delta, -1):
            for column in range(SIDE - delta, delta, -1):
                swap = rng.random(count) < 0.5
                row_step = rng.integers(-delta, delta, size=count)
                column_step = rng.integers(-delta, delta, size=count)
                who = everyone[swap]
                other_rows = row + row_step[swap]
                other_columns = column + column_step[swap]
                here = values[who, row, column].copy()
                values[who, row, column] = values[who, other_rows, other_columns]
                values[who, other_rows, other_columns] = here
    return _to_uint8(_gaussian(values / 255.0, sigma))


def motion_blur(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's motion blur, radius 10 and sigma 3, at an angle drawn in -45..45 degrees (MNIST-C severity 1).

    As MagickCore's MotionBlurImage: 21 taps (2 * radius + 1) weighted by a
    half Gaussian of sigma 3, at whole-pixel offsets i * (cos, sin) of the
    angle; pixels beyond the edge repeat the edge.
    """
    radius, sigma = 10, 3.0
    values = _check(images)
    width = 2 * radius + 1
    taps = np.arange(width)
    weights = np.exp(-(taps**2) / (2.0 * sigma * sigma))
    weights /= weights.sum()
    angles = np.deg2rad(rng.uniform(-45, 45, size=len(values)))
    padded = np.pad(values, ((0, 0), (width, width), (width, width)), mode="edge")
    result = np.zeros_like(values)
    for index, angle in enumerate(angles):
        column_steps = np.ceil(taps * np.cos(angle) - 0.5).astype(np.int64)
        row_steps = np.ceil(taps * np.sin(angle) - 0.5).astype(np.int64)
        for weight, row_step, column_step in zip(weights, row_steps, column_steps):
            result[index] += weight * padded[index, width + row_step : width + row_step + SIDE,
                                             width + column_step : width + column_step + SIDE]
    return _to_uint8(result)


def shear(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Horizontal shear by 0.4 rad either way, about the centre (MNIST-C severity 2)."""
    def linear(sign):
        angle = 0.4 * sign
        # skimage's AffineTransform(shear=angle): x' = x - sin(angle) y, y' = cos(angle) y.
        return np.array([[1.0, -np.sin(angle)], [0.0, np.cos(angle)]])

    return _to_uint8(_warp_each_way(_check(images), rng, linear))


def scale(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shrinks the digit to 70% about the centre (MNIST-C severity 3; nothing random)."""
    factor = 1 / 0.7
    return _to_uint8(_warp(_check(images), _about_centre(np.array([[factor, 0.0], [0.0, factor]]))))


def rotate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rotation by 0.4 rad (23 degrees) either way, about the centre (MNIST-C severity 2)."""
    def linear(sign):
        angle = 0.4 * sign
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    return _to_uint8(_warp_each_way(_check(images), rng, linear))


def brightness(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """+0.5 on HSV's value (MNIST-C severity 5): for a grey picture, +0.5 on every grey level, clipped."""
    return _to_uint8(_check(images) + 0.5)


def translate(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Moves the digit 3 px left or right and 3 px up or down, at random (MNIST-C severity 3)."""
    values = _check(images)
    result = np.empty_like(values)
    signs = rng.choice(np.array([-1, 1]), size=(len(values), 2))
    for index, (column_sign, row_sign) in enumerate(signs):
        matrix = np.array([[1.0, 0.0, 3.0 * column_sign], [0.0, 1.0, 3.0 * row_sign], [0.0, 0.0, 1.0]])
        result[index] = _warp(values[index : index + 1], matrix)[0]
    return _to_uint8(result)


def stripe(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Inverts the 7 leftmost and the 7 rightmost columns (nothing random)."""
    values = _check(images)
    values[:, :, :7] = 1.0 - values[:, :, :7]
    values[:, :, 21:] = 1.0 - values[:, :, 21:]
    return _to_uint8(values)


def plasma_fractal(rng: np.random.Generator, count: int, size: int = 256, decay: float = 1.4) -> np.ndarray:
    """`count` diamond-square height maps of `size` x `size` (a power of two), each scaled to [0, 1].

    MNIST-C's (after FLHerne/mapgen): the random offset added at each level
    is uniform in -w..w times w, with w starting at 100 and divided by
    `decay` after each halving of the step.
    """
    if size & (size - 1):
        raise ValueError(f"plasma_fractal: size must be a power of two, got {size}")
    maps = np.zeros((count, size, size), dtype=np.float64)
    step = size
    wibble = 100.0

    def wibbled_mean(array):
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0:size:step, 0:size:step]
        squares = corners + np.roll(corners, shift=-1, axis=1)
        squares = squares + np.roll(squares, shift=-1, axis=2)
        maps[:, half:size:step, half:size:step] = wibbled_mean(squares)
        down_right = maps[:, half:size:step, half:size:step]
        up_left = maps[:, 0:size:step, 0:size:step]
        left_sum = down_right + np.roll(down_right, 1, axis=1) + up_left + np.roll(up_left, -1, axis=2)
        maps[:, 0:size:step, half:size:step] = wibbled_mean(left_sum)
        top_sum = down_right + np.roll(down_right, 1, axis=2) + up_left + np.roll(up_left, -1, axis=1)
        maps[:, half:size:step, 0:size:step] = wibbled_mean(top_sum)
        step = half
        wibble /= decay
    maps -= maps.min(axis=(1, 2), keepdims=True)
    return maps / maps.max(axis=(1, 2), keepdims=True)


def fog(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Adds 3 times a plasma fractal's top-left 28x28 corner, scaled back to the digit's peak (MNIST-C severity 5)."""
    weight = 3.0
    values = _check(images)
    result = np.empty_like(values)
    # 256x256 maps, 64 at a time (32 MB): MNIST-C's size, whose large-scale levels shape the corner.
    for start in range(0, len(values), 64):
        chunk = values[start : start + 64]
        haze = plasma_fractal(rng, len(chunk))[:, :SIDE, :SIDE]
        peak = chunk.max(axis=(1, 2), keepdims=True)
        result[start : start + 64] = (chunk + weight * haze) * peak / (peak + weight)
    return _to_uint8(result)


def spatter(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mud spatter: blotches where blurred Gaussian noise tops 0.65, painted grey 63 (MNIST-C severity 4)."""
    values = _check(images)
    liquid = _gaussian(rng.normal(0.65, 0.3, size=values.shape), 1.0)
    liquid[liquid < 0.65] = 0
    mask = _gaussian((liquid > 0.65).astype(np.float64), 1.5)
    mask[mask < 0.8] = 0
    return _to_uint8(values * (1 - mask) + (63 / 255.0) * mask)


def dotted_line(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dotted line (2 px on, 2 px off) from the left edge to the right edge at random heights."""
    values = _check(images)
    # Columns 0-1, 4-5, ... 24-25 are gaps (MNIST-C starts with a gap).
    gaps = (np.arange(SIDE) // 2) % 2 == 0
    for index in range(len(values)):
        row0, row1 = rng.integers(0, 27, size=2)
        line = _line_from_points(0, row0, 27, row1)
        line[:, gaps] = 0
        values[index] = values[index] + line
    return _to_uint8(values)


def zigzag(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A zigzag (teeth 2 px long and 2 px high) across columns 2..25, starting at a random height and tilt."""
    values = _check(images)
    length, height = 2.0, 2.0
    first_column, last_column = 2, 25
    for index in range(len(values)):
        row0 = int(rng.integers(0, 27))
        row1 = row0 + int(rng.integers(-5, 5))
        theta = np.arctan((row1 - row0) / (last_column - first_column))
        distance = (last_column - first_column) / np.cos(theta)
        ends = [(0.0, 0.0)]
        tooth_row = 0.0
        for tooth in range(int((distance - length) // (2 * length)) + 1):
            tooth_row = (-1) ** tooth * height
            ends.append(((2 * tooth + 1) * length, tooth_row))
        whole = (2 * length) * (distance // (2 * length))
        if distance != whole:
            # MNIST-C's own last point (its formula, kept as it is).
            ends.append((distance, tooth_row / (2 * (distance - whole))))
        turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        columns, rows = turn @ np.array(ends).T
        columns = columns + first_column
        rows = rows + row0
        picture = values[index]
        for point in range(1, len(columns)):
            picture = np.clip(picture + _line_from_points(columns[point - 1], rows[point - 1], columns[point], rows[point]), 0, 1)
        values[index] = picture
    return _to_uint8(values)


def _shifted(values: np.ndarray, row_step: int, column_step: int) -> np.ndarray:
    """out[..., r, c] = values[..., r + row_step, c + column_step], zero beyond the edge."""
    result = np.zeros_like(values)
    height, width = values.shape[-2:]
    rows_out = slice(max(0, -row_step), height - max(0, row_step))
    rows_in = slice(max(0, row_step), height - max(0, -row_step))
    columns_out = slice(max(0, -column_step), width - max(0, column_step))
    columns_in = slice(max(0, column_step), width - max(0, -column_step))
    result[..., rows_out, columns_out] = values[..., rows_in, columns_in]
    return result


def _sobel(values: np.ndarray, axis: int) -> np.ndarray:
    """scipy.ndimage.sobel(values, axis) over (N, H, W) with axis -2 or -1 (borders mirrored, scipy's "reflect")."""
    padded = np.pad(values, ((0, 0), (1, 1), (1, 1)), mode="symmetric")
    height, width = values.shape[-2:]

    def at(row_step, column_step):
        return padded[:, 1 + row_step : 1 + row_step + height, 1 + column_step : 1 + column_step + width]

    if axis == -1:
        # Difference along columns, smoothed [1, 2, 1] along rows.
        return sum(weight * (at(row, 1) - at(row, -1)) for row, weight in ((-1, 1), (0, 2), (1, 1)))
    return sum(weight * (at(1, column) - at(-1, column)) for column, weight in ((-1, 1), (0, 2), (1, 1)))


def canny(values: np.ndarray, sigma: float = 1.0, low: float = 0.1, high: float = 0.2) -> np.ndarray:
    """skimage.feature.canny over float (N, H, W) pictures in [0, 1]: bool edges.

    Smoothing with zero padding renormalised at the border, Sobel gradients,
    non-maximum suppression interpolating between the two neighbours in the
    gradient's direction, then hysteresis: edges are the 8-connected groups
    of pixels at least `low` that hold a pixel at least `high`. The
    outermost pixels are never edges.
    """
    smoothed = _gaussian(values, sigma, mode="constant") / (_gaussian(np.ones_like(values), sigma, mode="constant") + 1e-12)
    rows_gradient = _sobel(smoothed, -2)
    columns_gradient = _sobel(smoothed, -1)
    magnitude = np.hypot(rows_gradient, columns_gradient)
    inner = np.zeros(values.shape[-2:], dtype=bool)
    inner[1:-1, 1:-1] = True
    abs_rows, abs_columns = np.abs(rows_gradient), np.abs(columns_gradient)
    maxima = np.zeros(values.shape, dtype=bool)
    neighbour = {step: _shifted(magnitude, *step) for step in
                 ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (-1, 1), (1, -1))}
    with np.errstate(divide="ignore", invalid="ignore"):
        # The four octants of the gradient's direction, in skimage's order (a later one wins on a shared edge).
        octants = (
            ((rows_gradient >= 0) & (columns_gradient >= 0) | (rows_gradient <= 0) & (columns_gradient <= 0))
            & (abs_rows >= abs_columns),
            ((rows_gradient >= 0) & (columns_gradient >= 0) | (rows_gradient <= 0) & (columns_gradient <= 0))
            & (abs_rows <= abs_columns),
            ((rows_gradient <= 0) & (columns_gradient >= 0) | (rows_gradient >= 0) & (columns_gradient <= 0))
            & (abs_rows <= abs_columns),
            ((rows_gradient <= 0) & (columns_gradient >= 0) | (rows_gradient >= 0) & (columns_gradient <= 0))
            & (abs_rows >= abs_columns),
        )
        ratio_columns = abs_columns / abs_rows
        ratio_rows = abs_rows / abs_columns
        steps = (
            (ratio_columns, (1, 1), (1, 0), (-1, -1), (-1, 0)),
            (ratio_rows, (1, 1), (0, 1), (-1, -1), (0, -1)),
            (ratio_rows, (-1, 1), (0, 1), (1, -1), (0, -1)),
            (ratio_columns, (-1, 1), (-1, 0), (1, -1), (1, 0)),
        )
        for points, (weight, diagonal_plus, straight_plus, diagonal_minus, straight_minus) in zip(octants, steps):
            points = points & inner
            plus = neighbour[diagonal_plus] * weight + neighbour[straight_plus] * (1 - weight) <= magnitude
            minus = neighbour[diagonal_minus] * weight + neighbour[straight_minus] * (1 - weight) <= magnitude
            maxima[points] = (plus & minus)[points]
    weak = maxima & (magnitude >= low)
    edges = maxima & (magnitude >= high)
    # Hysteresis: grow the strong edges through 8-connected weak pixels until nothing changes.
    while True:
        grown = edges.copy()
        for step in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1), (-1, 1), (1, -1)):
            grown |= _shifted(edges, *step)
        grown &= weak
        if (grown == edges).all():
            return edges
        edges = grown


def canny_edges(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Only the digit's edges, white on black (Canny with sigma 1, thresholds 0.1 and 0.2; nothing random)."""
    return _to_uint8(canny(_check(images)).astype(np.float64))


Corruption = Callable[[np.ndarray, np.random.Generator], np.ndarray]

# In MNIST-C's order.
CORRUPTIONS: dict[str, Corruption] = {
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "glass_blur": glass_blur,
    "motion_blur": motion_blur,
    "shear": shear,
    "scale": scale,
    "rotate": rotate,
    "brightness": brightness,
    "translate": translate,
    "stripe": stripe,
    "fog": fog,
    "spatter": spatter,
    "dotted_line": dotted_line,
    "zigzag": zigzag,
    "canny_edges": canny_edges,
}
