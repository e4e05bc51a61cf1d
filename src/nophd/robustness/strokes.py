"""Digits drawn with strokes, as a mouse or a finger draws them on the dashboard's canvas.

Each digit has a few hand-designed templates (the ways people write it: a
1 with and without its flag and foot, a 4 open and closed, a 7 with and
without a bar or with a curved stem, a 9 with a straight or a curved tail,
an 8 as two loops or one figure-of-eight stroke, ...). A template is a few
strokes in a unit box (x right, y down, the digit spanning about 0..1 in
height), each a polyline, an elliptic arc or a curve smoothed from a
control polygon. Every drawing jitters the template's points and arcs,
then slants, rotates, stretches, sizes and places the whole digit, and
draws it white on a black 280x280 canvas with round-capped lines of a random
width (the dashboard draws 20 px lines on a 280 px canvas). The canvas then
goes through `nophd.data.images.to_mnist`, as the dashboard's drawings do.

Example:
    rng = np.random.default_rng(0)
    images, labels = draw_set(2000, rng)  # uint8 (2000, 28, 28), 200 of each digit
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from nophd.data import images as images_module

CANVAS = 280
# Random ranges of one drawing (uniform).
LINE_WIDTH = (10.0, 30.0)  # px on the 280 px canvas
HEIGHT = (110.0, 230.0)  # px, the digit's unit box
ASPECT = (0.75, 1.25)  # width multiplier
SLANT = (-0.3, 0.35)  # x moves by SLANT * height above the centre (positive leans right)
ROTATION = (-12.0, 12.0)  # degrees
POINT_JITTER = 0.035  # standard deviation, in the unit box, of each control point
ARC_JITTER = 0.03  # of an arc's centre; radii vary by ARC_RADIUS_JITTER, ends by ARC_ANGLE_JITTER degrees
ARC_RADIUS_JITTER = 0.08
ARC_ANGLE_JITTER = 8.0


class _Pen:
    """Builds one jittered drawing of a template: strokes as (K, 2) arrays in the unit box."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.strokes: list[np.ndarray] = []

    def _point(self, x: float, y: float) -> np.ndarray:
        return np.array([x, y]) + self.rng.normal(0.0, POINT_JITTER, size=2)

    def arc_points(self, centre_x, centre_y, radius_x, radius_y, start, end) -> np.ndarray:
        """Points of an elliptic arc from angle `start` to `end` (degrees; 0 right, 90 down: increasing is clockwise on screen)."""
        rng = self.rng
        centre_x, centre_y = np.array([centre_x, centre_y]) + rng.normal(0.0, ARC_JITTER, size=2)
        radius_x *= 1.0 + rng.normal(0.0, ARC_RADIUS_JITTER)
        radius_y *= 1.0 + rng.normal(0.0, ARC_RADIUS_JITTER)
        start += rng.normal(0.0, ARC_ANGLE_JITTER)
        end += rng.normal(0.0, ARC_ANGLE_JITTER)
        angles = np.deg2rad(np.linspace(start, end, max(8, int(abs(end - start) / 8))))
        return np.stack([centre_x + radius_x * np.cos(angles), centre_y + radius_y * np.sin(angles)], axis=1)

    def line_points(self, *points) -> np.ndarray:
        return np.stack([self._point(x, y) for x, y in points])

    def curve_points(self, *points) -> np.ndarray:
        """A smooth curve through the jittered control polygon's ends (Chaikin's corner cutting, 4 rounds)."""
        curve = self.line_points(*points)
        for _ in range(4):
            quarter = 0.75 * curve[:-1] + 0.25 * curve[1:]
            three_quarters = 0.25 * curve[:-1] + 0.75 * curve[1:]
            middle = np.stack([quarter, three_quarters], axis=1).reshape(-1, 2)
            curve = np.concatenate([curve[:1], middle, curve[-1:]])
        return curve

    def stroke(self, *parts: np.ndarray) -> None:
        """One pen-down stroke through the parts in order."""
        self.strokes.append(np.concatenate(parts))


# The templates: digit -> its variants, each drawing into a _Pen.
def _zero_round(pen):
    pen.stroke(pen.arc_points(0.5, 0.5, 0.3, 0.48, -90, -90 - 380))


def _zero_narrow(pen):
    pen.stroke(pen.arc_points(0.5, 0.5, 0.22, 0.48, -60, -60 - 365))


def _one_bare(pen):
    pen.stroke(pen.line_points((0.52, 0.0), (0.5, 1.0)))


def _one_flag(pen):
    pen.stroke(pen.line_points((0.3, 0.22), (0.56, 0.0), (0.56, 1.0)))


def _one_flag_foot(pen):
    pen.stroke(pen.line_points((0.3, 0.22), (0.55, 0.0), (0.55, 1.0)))
    pen.stroke(pen.line_points((0.3, 1.0), (0.8, 1.0)))


def _two_curved(pen):
    pen.stroke(pen.arc_points(0.5, 0.3, 0.3, 0.28, 195, 380), pen.line_points((0.18, 1.0), (0.85, 0.98)))


def _two_hooked(pen):
    pen.stroke(pen.curve_points((0.2, 0.2), (0.45, -0.02), (0.82, 0.12), (0.75, 0.45), (0.4, 0.75), (0.15, 1.0)),
               pen.line_points((0.35, 0.95), (0.88, 1.0)))


def _three_round(pen):
    pen.stroke(pen.arc_points(0.48, 0.26, 0.27, 0.24, 200, 450), pen.arc_points(0.48, 0.73, 0.31, 0.26, -90, 160))


def _three_flat(pen):
    pen.stroke(pen.line_points((0.2, 0.03), (0.8, 0.03), (0.42, 0.42)), pen.arc_points(0.5, 0.72, 0.3, 0.27, -110, 160))


def _four_open(pen):
    pen.stroke(pen.line_points((0.25, 0.0), (0.18, 0.62), (0.86, 0.62)))
    pen.stroke(pen.line_points((0.68, 0.18), (0.68, 1.0)))


def _four_closed(pen):
    pen.stroke(pen.line_points((0.64, 0.0), (0.14, 0.66), (0.9, 0.66)))
    pen.stroke(pen.line_points((0.64, 0.0), (0.64, 1.0)))


def _five_one_stroke(pen):
    pen.stroke(pen.line_points((0.8, 0.02), (0.3, 0.02), (0.26, 0.44)), pen.arc_points(0.5, 0.68, 0.3, 0.29, -150, 150))


def _five_bar_apart(pen):
    pen.stroke(pen.line_points((0.3, 0.02), (0.26, 0.44)), pen.arc_points(0.5, 0.68, 0.3, 0.29, -150, 150))
    pen.stroke(pen.line_points((0.3, 0.02), (0.82, 0.02)))


def _six_curved(pen):
    pen.stroke(pen.curve_points((0.75, 0.0), (0.4, 0.12), (0.18, 0.55), (0.22, 0.92), (0.5, 1.02), (0.8, 0.86),
                                (0.76, 0.58), (0.5, 0.5), (0.22, 0.66)))


def _six_straight(pen):
    pen.stroke(pen.line_points((0.68, 0.0), (0.3, 0.55)),
               pen.curve_points((0.3, 0.55), (0.2, 0.85), (0.45, 1.02), (0.78, 0.86), (0.74, 0.58), (0.45, 0.54),
                                (0.24, 0.72)))


def _seven_plain(pen):
    pen.stroke(pen.line_points((0.15, 0.03), (0.85, 0.03), (0.4, 1.0)))


def _seven_bar(pen):
    pen.stroke(pen.line_points((0.15, 0.03), (0.85, 0.03), (0.42, 1.0)))
    pen.stroke(pen.line_points((0.32, 0.52), (0.8, 0.5)))


def _seven_curved(pen):
    pen.stroke(pen.line_points((0.15, 0.05), (0.85, 0.05)), pen.curve_points((0.85, 0.05), (0.62, 0.42), (0.5, 1.0)))


def _eight_two_loops(pen):
    pen.stroke(pen.arc_points(0.5, 0.26, 0.22, 0.24, 90, 90 + 360))
    pen.stroke(pen.arc_points(0.5, 0.73, 0.28, 0.27, -90, -90 + 360))


def _eight_one_stroke(pen):
    pen.stroke(pen.curve_points((0.78, 0.1), (0.5, -0.02), (0.22, 0.12), (0.26, 0.38), (0.74, 0.6), (0.78, 0.9),
                                (0.5, 1.03), (0.22, 0.9), (0.26, 0.6), (0.74, 0.38), (0.78, 0.12), (0.6, 0.0)))


def _nine_straight(pen):
    pen.stroke(pen.arc_points(0.48, 0.28, 0.28, 0.27, 0, -360), pen.line_points((0.76, 0.3), (0.74, 1.0)))


def _nine_curved(pen):
    pen.stroke(pen.arc_points(0.48, 0.28, 0.28, 0.27, 0, -360),
               pen.curve_points((0.76, 0.3), (0.76, 0.75), (0.55, 1.02), (0.28, 0.94)))


TEMPLATES = {
    0: (_zero_round, _zero_narrow),
    1: (_one_bare, _one_flag, _one_flag_foot),
    2: (_two_curved, _two_hooked),
    3: (_three_round, _three_flat),
    4: (_four_open, _four_closed),
    5: (_five_one_stroke, _five_bar_apart),
    6: (_six_curved, _six_straight),
    7: (_seven_plain, _seven_bar, _seven_curved),
    8: (_eight_two_loops, _eight_one_stroke),
    9: (_nine_straight, _nine_curved),
}


def draw_canvas(digit: int, variant: int, rng: np.random.Generator) -> np.ndarray:
    """One jittered drawing of template `variant` of `digit`: uint8 (280, 280), white strokes on black.

    Example:
        canvas = draw_canvas(7, 1, np.random.default_rng(0))  # a 7 with a bar
    """
    pen = _Pen(rng)
    TEMPLATES[digit][variant](pen)
    # The whole digit: stretched, slanted and rotated about the unit box's centre, then sized and placed.
    aspect = rng.uniform(*ASPECT)
    slant = rng.uniform(*SLANT)
    angle = math.radians(rng.uniform(*ROTATION))
    height = rng.uniform(*HEIGHT)
    width = rng.uniform(*LINE_WIDTH)
    cosine, sine = math.cos(angle), math.sin(angle)
    transformed = []
    for points in pen.strokes:
        x = (points[:, 0] - 0.5) * aspect
        y = points[:, 1] - 0.5
        x = x - slant * y  # y grows downwards: points above the centre move right for a positive slant.
        x, y = cosine * x - sine * y, sine * x + cosine * y
        transformed.append(np.stack([x, y], axis=1) * height)
    everything = np.concatenate(transformed)
    low, high = everything.min(axis=0), everything.max(axis=0)
    # A random place where the whole drawing, line width included, stays on the canvas.
    margin = width / 2 + 2
    room_low = margin - low
    room_high = CANVAS - margin - high
    offset = np.array([rng.uniform(min(a, b), max(a, b)) for a, b in zip(room_low, room_high)])
    canvas = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(canvas)
    radius = width / 2
    for points in transformed:
        placed = [tuple(point) for point in points + offset]
        draw.line(placed, fill=255, width=int(round(width)), joint="curve")
        for x, y in (placed[0], placed[-1]):
            # Round caps, as the dashboard's lineCap = "round".
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(canvas)


def draw_set(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` stroke-drawn digits through to_mnist, balanced over 0-9 and over each digit's templates.

    Args:
        count: how many (a multiple of 10 keeps the digits exactly balanced).
        rng: the random source; the same state gives the same digits.

    Returns:
        (images, labels): uint8 (count, 28, 28) white on black, uint8 labels;
        digit i % 10 at position i, its templates in turn.

    Example:
        images, labels = draw_set(100, np.random.default_rng(0))
    """
    if int(count) != count or count < 0:
        raise ValueError(f"count must be a whole number >= 0, got {count}")
    labels = (np.arange(int(count)) % 10).astype(np.uint8)
    digits = np.zeros((int(count), images_module.MNIST_SIZE, images_module.MNIST_SIZE), dtype=np.uint8)
    for index, digit in enumerate(labels):
        variants = len(TEMPLATES[int(digit)])
        canvas = draw_canvas(int(digit), (index // 10) % variants, rng)
        digits[index] = np.rint(images_module.to_mnist(canvas) * 255.0).astype(np.uint8)
    return digits, labels
