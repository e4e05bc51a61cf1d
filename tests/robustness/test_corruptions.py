"""MNIST-C's corruptions: shape, dtype, determinism, and what each one does to a digit."""

from __future__ import annotations

import numpy as np
import pytest

from nophd.data import synthetic
from nophd.robustness import corruptions

# Corruptions that draw nothing at random.
FIXED = {"scale", "brightness", "stripe", "canny_edges"}


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    images, _ = synthetic.make_digits(40, seed=3)
    return np.rint(images * 255).astype(np.uint8) if images.dtype != np.uint8 else images


def test_the_fifteen_corruptions_of_mnist_c_in_its_order():
    assert list(corruptions.CORRUPTIONS) == [
        "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "shear", "scale", "rotate", "brightness",
        "translate", "stripe", "fog", "spatter", "dotted_line", "zigzag", "canny_edges"]


@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_every_corruption_keeps_shape_and_dtype_changes_the_digits_and_leaves_its_input(name, digits):
    original = digits.copy()
    corrupted = corruptions.CORRUPTIONS[name](digits, np.random.default_rng(0))
    assert corrupted.dtype == np.uint8 and corrupted.shape == digits.shape
    np.testing.assert_array_equal(digits, original)  # The input is not changed in place.
    changed = (corrupted != digits).reshape(len(digits), -1).any(axis=1)
    assert changed.mean() > 0.9, f"{name} left {int((~changed).sum())} of {len(digits)} digits as they were"


@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_the_same_seed_gives_the_same_pictures_and_another_seed_others(name, digits):
    corrupt = corruptions.CORRUPTIONS[name]
    first = corrupt(digits, np.random.default_rng(7))
    np.testing.assert_array_equal(first, corrupt(digits, np.random.default_rng(7)))
    other = corrupt(digits, np.random.default_rng(8))
    assert np.array_equal(first, other) == (name in FIXED)


def test_bad_input_is_refused_with_the_shape_it_expects(digits):
    with pytest.raises(ValueError, match=r"uint8 digits of shape \(N, 28, 28\)"):
        corruptions.shot_noise(digits.astype(np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="28, 28"):
        corruptions.fog(np.zeros((2, 14, 14), np.uint8), np.random.default_rng(0))


def test_an_empty_batch_gives_an_empty_batch():
    empty = np.zeros((0, 28, 28), np.uint8)
    for name, corrupt in corruptions.CORRUPTIONS.items():
        assert corrupt(empty, np.random.default_rng(0)).shape == (0, 28, 28), name


def _centre_of_mass(image: np.ndarray) -> np.ndarray:
    rows, columns = np.mgrid[0:28, 0:28]
    mass = image.astype(np.float64)
    return np.array([(rows * mass).sum(), (columns * mass).sum()]) / mass.sum()


def test_fixed_corruptions_against_their_definitions(digits):
    rng = np.random.default_rng(0)
    # stripe: the seven leftmost and rightmost columns inverted, the middle untouched.
    striped = corruptions.stripe(digits, rng)
    np.testing.assert_array_equal(striped[:, :, :7], 255 - digits[:, :, :7])
    np.testing.assert_array_equal(striped[:, :, 7:21], digits[:, :, 7:21])
    np.testing.assert_array_equal(striped[:, :, 21:], 255 - digits[:, :, 21:])
    # brightness: +0.5 of full scale, clipped.
    np.testing.assert_array_equal(corruptions.brightness(digits, rng),
                                  np.rint(np.clip(digits / 255.0 + 0.5, 0, 1) * 255).astype(np.uint8))
    # scale: 70% about the centre (13.5, 13.5): the ink shrinks about that point.
    square = np.zeros((1, 28, 28), np.uint8)
    square[0, 4:24, 4:24] = 255
    shrunk = corruptions.scale(square, rng)[0]
    assert shrunk[13, 13] == 255 and shrunk[2, 2] == 0
    ink = np.flatnonzero(shrunk[13] > 127)
    assert ink[0] in (7, 8) and ink[-1] in (19, 20)  # 13.5 +- 0.7 * 10


def test_translate_moves_every_digit_three_pixels_on_each_axis(digits):
    inked = np.where(digits > 80, digits, 0).astype(np.uint8)  # Without the generator's faint background noise.
    moved = corruptions.translate(inked, np.random.default_rng(0))
    checked = 0
    for before, after in zip(inked, moved):
        if before[:4].any() or before[-4:].any() or before[:, :4].any() or before[:, -4:].any():
            continue  # Ink that falls off the picture moves the centre of mass by less.
        shift = _centre_of_mass(after) - _centre_of_mass(before)
        np.testing.assert_allclose(np.abs(shift), [3.0, 3.0], atol=1e-6)
        checked += 1
    assert checked >= 10


def test_rotation_and_shear_keep_the_picture_centre_fixed():
    dot = np.zeros((1, 28, 28), np.uint8)
    dot[0, 13:15, 13:15] = 255  # Centred on (13.5, 13.5), the fixed point.
    for corrupt in (corruptions.rotate, corruptions.shear):
        np.testing.assert_allclose(_centre_of_mass(corrupt(dot, np.random.default_rng(0))[0]), [13.5, 13.5], atol=0.05)


def test_rotation_turns_a_horizontal_bar_by_about_23_degrees():
    bar = np.zeros((1, 28, 28), np.uint8)
    bar[0, 13:15, 4:24] = 255
    turned = corruptions.rotate(bar, np.random.default_rng(0))[0].astype(np.float64)
    rows, columns = np.nonzero(turned > 0)
    weights = turned[rows, columns]
    slope = np.polyfit(columns, rows, 1, w=weights)[0]
    assert abs(abs(np.degrees(np.arctan(slope))) - np.degrees(0.4)) < 2.0


def test_canny_finds_a_squares_outline_and_nothing_inside_or_on_plain_ground():
    square = np.zeros((1, 28, 28), np.float64)
    square[0, 8:20, 8:20] = 1.0
    edges = corruptions.canny(square)[0]
    assert not edges[11:17, 11:17].any()  # Inside the square.
    assert not edges[:5].any() and not edges[:, :5].any()  # Far outside.
    for side in (edges[6:10, 10:18], edges[18:22, 10:18], edges[10:18, 6:10], edges[10:18, 18:22]):
        assert side.sum() >= 8  # Each side of the outline, 8 px long, is found.
    assert not corruptions.canny(np.full((1, 28, 28), 0.7)).any()


def test_gaussian_blur_of_a_dot_is_the_outer_product_of_the_kernel():
    dot = np.zeros((1, 28, 28))
    dot[0, 14, 14] = 1.0
    blurred = corruptions._gaussian(dot, 1.0)[0]
    taps = np.arange(-4, 5)
    kernel = np.exp(-0.5 * taps**2)
    kernel /= kernel.sum()
    np.testing.assert_allclose(blurred[10:19, 10:19], np.outer(kernel, kernel), atol=1e-12)
    assert blurred.sum() == pytest.approx(1.0)


def test_noise_corruptions_change_the_share_of_pixels_they_promise():
    black = np.zeros((200, 28, 28), np.uint8)
    salted = corruptions.impulse_noise(black, np.random.default_rng(0))
    # 17% flipped, half of them to white: 8.5% white.
    assert (salted == 255).mean() == pytest.approx(0.085, abs=0.005)
    assert not corruptions.shot_noise(black, np.random.default_rng(0)).any()  # No light, no photons.
