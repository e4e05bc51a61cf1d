"""Digit augmentation: exact transforms, seeded and resume-exact draws, ranges, and validation naming the field."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nophd.data import augment, pipeline
from nophd.errors import ConfigError

SIDE = 28


def digit_batch(count=16, seed=0, half_width=1.5):
    """`count` digit-like images: rings of ink 2 * half_width pixels wide at random places and sizes, in [0, 1]."""
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:SIDE, :SIDE]
    batch = np.zeros((count, SIDE, SIDE, 1), np.float32)
    for image in batch:
        centre = rng.uniform(11, 17, size=2)
        radius = rng.uniform(5, 8)
        distance = np.hypot(rows - centre[0], columns - centre[1])
        image[..., 0] = np.clip(half_width - np.abs(distance - radius), 0, 1)
    return batch


# One strength per transform, each on alone.
EACH = {
    "rotate_degrees": dict(rotate_degrees=20),
    "scale_range": dict(scale_range=0.2),
    "shear_degrees": dict(shear_degrees=15),
    "translate_pixels": dict(translate_pixels=2.5),
    "elastic": dict(elastic_alpha=34, elastic_sigma=4),
    "thickness_pixels": dict(thickness_pixels=2),
    "blur_sigma": dict(blur_sigma=2),
    "resolution_loss": dict(resolution_loss=0.6),
    "contrast_range": dict(contrast_range=0.5),
    "noise_std": dict(noise_std=0.2),
    "outline_share": dict(outline_share=0.5),
    "clutter_share": dict(clutter_share=0.5),
    "haze_strength": dict(haze_strength=3),
    "band_share": dict(band_share=0.5),
    "flag_share": dict(flag_share=0.5),
}
EVERYTHING = augment.DigitAugmentation(
    rotate_degrees=15, scale_range=0.1, shear_degrees=10, translate_pixels=2, elastic_alpha=34, elastic_sigma=4,
    thickness_pixels=1, blur_sigma=1, resolution_loss=0.5, contrast_range=0.3, noise_std=0.1)


def test_zero_strengths_are_off_and_leave_the_batch_as_it_is():
    images = digit_batch()
    off = augment.DigitAugmentation()
    assert not off.enabled and EVERYTHING.enabled
    assert not augment.DigitAugmentation(elastic_sigma=4).enabled  # A sigma alone warps nothing.
    np.testing.assert_array_equal(np.asarray(augment.augment_batch(images, 0, 5, off)), images)


@pytest.mark.parametrize("name", EACH)
def test_each_transform_changes_digits_and_keeps_them_28x28_in_the_unit_range(name):
    images = digit_batch()
    params = augment.DigitAugmentation(**EACH[name])
    params.validate()
    labels = np.ones(len(images), np.int64)  # Flags go on 1s only.
    result = augment.augment_batch(images, 0, 3, params, labels=labels).numpy()
    assert result.shape == images.shape and result.dtype == np.float32
    assert 0.0 <= result.min() and result.max() <= 1.0
    changed = np.abs(result - images).reshape(len(images), -1).max(axis=1) > 0.05
    # Every example for the transforms applied to all; a share for the others (half, or 30%).
    assert changed.sum() >= 2, f"{name} changed {changed.sum()} of {len(images)} images"
    if name in ("rotate_degrees", "scale_range", "shear_degrees", "translate_pixels", "elastic", "contrast_range"):
        assert changed.sum() >= len(images) - 1


def test_everything_at_once_stays_in_range_and_mostly_keeps_the_ink():
    images = digit_batch(32)
    result = augment.augment_batch(images, 7, 0, EVERYTHING).numpy()
    assert result.shape == images.shape and 0.0 <= result.min() and result.max() <= 1.0
    ink_before, ink_after = images.sum(axis=(1, 2, 3)), result.sum(axis=(1, 2, 3))
    assert np.median(ink_after / ink_before) == pytest.approx(1.0, abs=0.5)  # Still a digit, not a blank or a blot.


def test_draws_depend_on_the_seed_and_the_batch_position_only():
    images = digit_batch()
    first = augment.augment_batch(images, 3, 10, EVERYTHING).numpy()
    np.testing.assert_array_equal(augment.augment_batch(images, 3, 10, EVERYTHING).numpy(), first)
    assert not np.allclose(augment.augment_batch(images, 3, 11, EVERYTHING).numpy(), first)
    assert not np.allclose(augment.augment_batch(images, 4, 10, EVERYTHING).numpy(), first)
    # The same inside a graph (as in a parallel tf.data map) as eagerly.
    graph = tf.function(lambda batch, index: augment.augment_batch(batch, 3, index, EVERYTHING))
    # Graph rewrites may round differently in the last digits.
    np.testing.assert_allclose(graph(images, tf.constant(10, tf.int64)).numpy(), first, atol=1e-4)


def test_one_transform_keeps_its_draws_when_another_is_turned_on():
    images = digit_batch()
    rotated = augment.augment_batch(images, 0, 2, augment.DigitAugmentation(rotate_degrees=30)).numpy()
    both = augment.augment_batch(images, 0, 2, augment.DigitAugmentation(rotate_degrees=30, noise_std=0.0001)).numpy()
    np.testing.assert_allclose(both, rotated, atol=0.002)


def test_a_rotation_by_90_degrees_is_numpy_rot90_and_moves_a_known_pixel():
    images = np.random.default_rng(1).random((3, SIDE, SIDE, 1)).astype(np.float32)
    rotated = augment.affine(images, [90.0] * 3, [1.0] * 3, [0.0] * 3, [[0.0, 0.0]] * 3).numpy()
    np.testing.assert_allclose(rotated, np.rot90(images, 1, axes=(1, 2)), atol=1e-5)
    dot = np.zeros((1, SIDE, SIDE, 1), np.float32)
    dot[0, 13, 20] = 1.0  # Right of the centre (13.5, 13.5) ...
    moved = augment.affine(dot, [90.0], [1.0], [0.0], [[0.0, 0.0]]).numpy()[0, ..., 0]
    assert moved[7, 13] == pytest.approx(1.0, abs=1e-5)  # ... goes above it: counter-clockwise on screen.
    assert moved.sum() == pytest.approx(1.0, abs=1e-4)


def test_affine_translation_scale_and_shear_move_pixels_where_the_matrix_says():
    dot = np.zeros((1, SIDE, SIDE, 1), np.float32)
    dot[0, 10, 12] = 1.0
    shifted = augment.affine(dot, [0.0], [1.0], [0.0], [[3.0, -2.0]]).numpy()[0, ..., 0]
    assert shifted[8, 15] == pytest.approx(1.0, abs=1e-5)  # 3 right, 2 up.
    block = np.zeros((1, SIDE, SIDE, 1), np.float32)
    block[0, 12:16, 12:16] = 1.0  # 4x4 around the centre.
    doubled = augment.affine(block, [0.0], [2.0], [0.0], [[0.0, 0.0]]).numpy()[0, ..., 0]
    assert doubled[11:17, 11:17].min() > 0.99 and doubled[:9].max() == 0  # About 8x8 now.
    column = np.zeros((1, SIDE, SIDE, 1), np.float32)
    column[0, :, 14] = 1.0
    sheared = augment.affine(column, [0.0], [1.0], [45.0], [[0.0, 0.0]]).numpy()[0, ..., 0]
    # A shear of 45 degrees moves row y by (y - 13.5) pixels along x: the column becomes a diagonal, and
    # row 18 (4.5 below the centre) has its ink at x = 14 + 4.5, shared between columns 18 and 19.
    np.testing.assert_allclose(sheared[18, 17:21], [0.0, 0.5, 0.5, 0.0], atol=1e-4)
    np.testing.assert_allclose(sheared[9, 8:12], [0.0, 0.5, 0.5, 0.0], atol=1e-4)


def test_thickness_changes_stroke_width_by_whole_pixels():
    dot = np.zeros((3, SIDE, SIDE, 1), np.float32)
    dot[:, 14, 14] = 1.0
    grown = augment.change_thickness(dot, [1, 2, 0], 1, 2).numpy()[..., 0]
    assert grown[0].sum() == 4 and grown[0, 13:15, 13:15].min() == 1.0  # One pixel wider: 2x2.
    assert grown[1].sum() == 9 and grown[1, 13:16, 13:16].min() == 1.0  # Two: a centred 3x3.
    np.testing.assert_array_equal(grown[2], dot[2, ..., 0])
    block = np.zeros((1, SIDE, SIDE, 1), np.float32)
    block[0, 10:15, 10:15] = 1.0
    thinned = augment.change_thickness(block, [-1], 1, 2).numpy()[0, ..., 0]
    assert thinned.sum() == 16 and thinned[10:14, 10:14].min() == 1.0  # One pixel narrower: 4x4.


def test_random_thinning_thins_thick_strokes_only_and_keeps_most_of_their_ink():
    params = augment.DigitAugmentation(thickness_pixels=3)
    thick = digit_batch(64, half_width=2.5)  # Strokes 5 pixels wide.
    result = augment.augment_batch(thick, 0, 0, params).numpy()
    before, after = thick.sum(axis=(1, 2, 3)), result.sum(axis=(1, 2, 3))
    assert (after < before).any() and (after > before).any()  # Some thinner, some thicker.
    assert (after >= augment.THINNING_KEEPS * before).all()
    thin = digit_batch(64, half_width=1.0)  # Strokes 2 pixels wide: one pixel thinner would halve them.
    result = augment.augment_batch(thin, 0, 0, params).numpy()
    assert (result.sum(axis=(1, 2, 3)) >= thin.sum(axis=(1, 2, 3))).all()


def test_blur_spreads_ink_keeps_its_total_and_sigma_zero_is_identity():
    dot = np.zeros((2, SIDE, SIDE, 1), np.float32)
    dot[:, 14, 14] = 1.0
    blurred = augment.gaussian_blur(dot, [1.5, 0.0], 2.0).numpy()[..., 0]
    assert blurred[0].sum() == pytest.approx(1.0, abs=1e-4) and blurred[0].max() < 0.2
    # Against the Gaussian's own values: the tap next to the centre holds exp(-1 / (2 sigma^2)) of the centre's.
    assert blurred[0, 14, 15] / blurred[0, 14, 14] == pytest.approx(np.exp(-1 / (2 * 1.5**2)), rel=1e-4)
    np.testing.assert_allclose(blurred[1], dot[1, ..., 0], atol=1e-6)


def test_elastic_resampling_with_a_whole_pixel_field_is_a_shift_and_zero_is_identity():
    images = digit_batch(2)
    zero = np.zeros((2, SIDE, SIDE), np.float32)
    np.testing.assert_allclose(augment.elastic(images, zero, zero).numpy(), images, atol=1e-6)
    shifted = augment.elastic(images, zero + 2.0, zero - 1.0).numpy()
    expected = np.zeros_like(images)
    expected[:, 1:, :-2] = images[:, :-1, 2:]  # Output (y, x) reads input (y - 1, x + 2); outside reads 0.
    np.testing.assert_allclose(shifted, expected, atol=1e-6)
    for far in (-100.0, -SIDE * 1.0, SIDE * 1.0, 100.0):  # Wholly outside, either way: nothing but zeros.
        assert augment.elastic(images, zero + far, zero).numpy().max() == 0.0
        assert augment.elastic(images, zero, zero + far).numpy().max() == 0.0
    half = augment.elastic(images, zero + 0.5, zero).numpy()  # Between two columns: their mean.
    np.testing.assert_allclose(half[:, :, :-1], (images[:, :, :-1] + images[:, :, 1:]) / 2, atol=1e-6)
    np.testing.assert_allclose(half[:, :, -1], images[:, :, -1] / 2, atol=1e-6)


def test_elastic_smoothing_is_numpys_gaussian_convolution_with_zeros_beyond_the_edges():
    planes = np.random.default_rng(2).uniform(-1, 1, size=(2, 2, SIDE, SIDE)).astype(np.float32)
    sigma = 4.0
    offsets = np.arange(-SIDE + 1, SIDE)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()

    def convolve(line):  # 'full' then the centre: zeros beyond both ends.
        return np.convolve(line, kernel, mode="full")[SIDE - 1: 2 * SIDE - 1]

    expected = np.apply_along_axis(convolve, -1, np.apply_along_axis(convolve, -2, planes))
    np.testing.assert_allclose(augment.gaussian_smooth(planes, sigma).numpy(), expected, atol=1e-5)
    # Simard's setting moves pixels by about a pixel and a half, not by a fraction or by the whole digit.
    noise = np.random.default_rng(3).uniform(-1, 1, (64, 2, SIDE, SIDE)).astype(np.float32)
    field = 34 * augment.gaussian_smooth(noise, 4.0)
    assert 0.5 < float(np.sqrt(np.mean(np.square(field[..., 7:21, 7:21])))) < 3.0


def test_resolution_loss_keeps_a_factor_of_one_and_softens_a_shrunk_digit():
    images = digit_batch(2)
    result = augment.lower_resolution(images, [1.0, 2.5], 4.0).numpy()
    np.testing.assert_allclose(result[0], images[0], atol=1e-5)
    assert np.abs(result[1] - images[1]).max() > 0.2
    assert result[1].sum() == pytest.approx(images[1].sum(), rel=0.2)  # Softer, not gone.


@pytest.fixture
def records():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, SIDE, SIDE), dtype=np.uint8)
    labels = (np.arange(40) % 10).astype(np.uint8)
    return pipeline.mnist_arrays(images, labels)


def batches(dataset, count):
    return [(images.numpy(), labels.numpy()) for images, labels in dataset.take(count)]


def test_training_stream_batch_k_equals_batch_0_after_skipping_k(records):
    fresh = batches(pipeline.training_dataset(records, 8, True, seed=2, shift_pixels=1, augmentation=EVERYTHING), 7)
    for skipped in (1, 5, 6):  # Within the first pass, at its end, into the second (5 batches a pass).
        resumed = batches(pipeline.training_dataset(records, 8, True, seed=2, skip_batches=skipped, shift_pixels=1,
                                                    augmentation=EVERYTHING), 1)
        np.testing.assert_array_equal(resumed[0][1], fresh[skipped][1])
        np.testing.assert_array_equal(resumed[0][0], fresh[skipped][0])
    plain = batches(pipeline.training_dataset(records, 8, True, seed=2, shift_pixels=1), 2)
    assert not np.allclose(plain[1][0], fresh[1][0])  # Augmentation was on.
    np.testing.assert_array_equal(plain[1][1], fresh[1][1])  # And changed only the images.
    again = batches(pipeline.training_dataset(records, 8, True, seed=2, shift_pixels=1, augmentation=EVERYTHING), 7)
    for (images, labels), (images_again, labels_again) in zip(fresh, again):
        np.testing.assert_array_equal(images, images_again)
        np.testing.assert_array_equal(labels, labels_again)


def test_an_all_zero_augmentation_leaves_the_training_stream_as_it_was(records):
    plain = batches(pipeline.training_dataset(records, 8, False, seed=1, skip_batches=3), 2)
    off = batches(pipeline.training_dataset(records, 8, False, seed=1, skip_batches=3,
                                            augmentation=augment.DigitAugmentation()), 2)
    for (images, labels), (images_off, labels_off) in zip(plain, off):
        np.testing.assert_array_equal(images, images_off)
        np.testing.assert_array_equal(labels, labels_off)


@pytest.mark.parametrize("changes, field", [
    (dict(rotate_degrees=91), "rotate_degrees"),
    (dict(rotate_degrees=-1), "rotate_degrees"),
    (dict(scale_range=0.6), "scale_range"),
    (dict(shear_degrees=float("nan")), "shear_degrees"),
    (dict(translate_pixels=9), "translate_pixels"),
    (dict(elastic_alpha=101, elastic_sigma=4), "elastic_alpha"),
    (dict(elastic_alpha=34), "elastic_sigma"),
    (dict(elastic_alpha=34, elastic_sigma=0.5), "elastic_sigma"),
    (dict(elastic_alpha=34, elastic_sigma=11), "elastic_sigma"),
    (dict(thickness_pixels=4), "thickness_pixels"),
    (dict(thickness_pixels=1.5), "thickness_pixels"),
    (dict(thickness_pixels="one"), "thickness_pixels"),
    (dict(thickness_pixels=float("nan")), "thickness_pixels"),
    (dict(thickness_pixels=True), "thickness_pixels"),
    (dict(blur_sigma=float("inf")), "blur_sigma"),
    (dict(resolution_loss=0.8), "resolution_loss"),
    (dict(contrast_range=1.0), "contrast_range"),
    (dict(noise_std=0.6), "noise_std"),
    (dict(noise_std="0.1"), "noise_std"),
    (dict(outline_share=0.6), "outline_share"),
    (dict(clutter_share=-0.1), "clutter_share"),
    (dict(haze_strength=6), "haze_strength"),
    (dict(band_share=float("nan")), "band_share"),
    (dict(flag_share=1.5), "flag_share"),
])
def test_validation_names_the_field_and_its_range(changes, field):
    with pytest.raises(ConfigError, match=rf"^{field}: expected .*(from|number)") as raised:
        augment.DigitAugmentation(**changes).validate()
    assert "\n" not in str(raised.value)


def test_every_field_has_a_range_and_the_edges_are_valid():
    assert set(augment.RANGES) == set(augment.FIELDS)
    highest = {name: augment.RANGES[name][1] for name in augment.FIELDS}
    augment.DigitAugmentation(**highest).validate()
    augment.DigitAugmentation().validate()
    assert dataclasses.fields(augment.DigitAugmentation)[0].name == "rotate_degrees"


def test_outline_keeps_a_one_pixel_ring_round_the_strokes_and_empties_their_inside():
    images = np.zeros((1, SIDE, SIDE, 1), np.float32)
    images[0, 10:16, 8:20] = 1.0  # A bar 6 pixels tall.
    ring = augment.outline(images, [0.3]).numpy()[0, ..., 0]
    assert ring[10:16, 8:20].max() == 0  # The stroke's inside is dark.
    assert ring[9, 8:20].min() == 1 and ring[16, 8:20].min() == 1  # One pixel above and below it is white,
    assert ring[10:16, 7].min() == 1 and ring[10:16, 20].min() == 1  # and either side,
    assert ring[:8].max() == 0 and ring[18:].max() == 0  # and nothing further out.
    assert set(np.unique(ring)) <= {0.0, 1.0}


def test_lines_are_solid_dashed_or_zigzag_through_their_point_at_their_angle():
    def draw(style, angle=0.0):
        return augment.lines((1, SIDE, SIDE), [[14.0, 14.0]], [angle], [0.5], [style], [4.0], [2.0]).numpy()[0, ..., 0]

    solid = draw(0)
    np.testing.assert_allclose(solid[14], 1.0)  # Row 14, the whole width.
    assert solid[:13].max() == 0 and solid[16:].max() == 0
    vertical = draw(0, np.pi / 2)
    assert vertical[:, 14].min() == pytest.approx(1.0, abs=1e-5) and vertical[:, :13].max() < 1e-5
    dashed = draw(1)[14]
    assert 0.4 <= dashed.mean() <= 0.6 and dashed[14:16].min() == 1 and dashed[16:18].max() == 0  # 2 on, 2 off.
    zigzag = draw(2)
    # Its ink leaves row 14 by up to 2 pixels either way, one column at a time.
    reach = [np.nonzero(zigzag[:, column] > 0.5)[0].mean() - 14 for column in range(SIDE)]
    assert max(reach) == pytest.approx(2, abs=0.6) and min(reach) == pytest.approx(-2, abs=0.6)


def test_haze_of_weight_zero_is_identity_and_never_outshines_the_digit():
    images = digit_batch(4)
    fields = np.random.default_rng(0).random((4, SIDE, SIDE, 1)).astype(np.float32)
    np.testing.assert_allclose(augment.haze(images, fields, [0.0] * 4).numpy(), images, atol=1e-6)
    hazy = augment.haze(images, fields, [3.0] * 4).numpy()
    assert (hazy.max(axis=(1, 2, 3)) <= images.max(axis=(1, 2, 3)) + 1e-6).all()
    assert (hazy[images == 0] > 0).mean() > 0.9  # The background is no longer black.


def test_invert_bands_inverts_exactly_the_margins_asked_for():
    images = digit_batch(2)
    banded = augment.invert_bands(images, [[3, 2, 0, 0], [0, 0, 4, 0]]).numpy()
    np.testing.assert_allclose(banded[0, :, :3], 1 - images[0, :, :3])
    np.testing.assert_allclose(banded[0, :, -2:], 1 - images[0, :, -2:])
    np.testing.assert_allclose(banded[0, :, 3:-2], images[0, :, 3:-2])
    np.testing.assert_allclose(banded[1, :4], 1 - images[1, :4])
    np.testing.assert_allclose(banded[1, 4:], images[1, 4:])


def test_new_transforms_keep_the_older_transforms_draws():
    # A recipe written before outline, clutter, haze and bands existed augments as it did.
    images = digit_batch()
    old = augment.DigitAugmentation(rotate_degrees=10, noise_std=0.1)
    key = tf.stack([tf.constant(0, tf.int64), tf.constant(3, tf.int64)])
    first_seven = tf.random.experimental.stateless_split(key, num=7).numpy()
    assert (tf.random.experimental.stateless_split(key, num=len(augment._STREAMS)).numpy()[:7] == first_seven).all()
    # ... and those keys are what the older transforms draw from: rotation from the 2nd, noise from the 7th.
    keys = tf.random.experimental.stateless_split(key, num=7)
    expected = tf.clip_by_value(augment._random_noise(augment._random_affine(images, keys[1], old), keys[6], 0.1), 0, 1)
    np.testing.assert_allclose(augment.augment_batch(images, 0, 3, old).numpy(), expected.numpy(), atol=1e-6)


def stems(count=1):
    """`count` upright 1s: a bar 2 pixels wide, columns 13 and 14, rows 4 to 23 (20 rows of ink)."""
    images = np.zeros((count, SIDE, SIDE, 1), np.float32)
    images[:, 4:24, 13:15] = 1.0
    return images


def test_a_flag_leaves_the_top_of_the_stem_down_to_the_left_as_long_as_asked():
    images = stems()
    flagged = augment.flags(images, [np.pi / 4], [0.3], [1.0]).numpy()[0, ..., 0]
    assert (flagged >= images[0, ..., 0]).all()  # The digit's own ink stays.
    added = (flagged - images[0, ..., 0]) > 0.5
    rows, columns = np.nonzero(added)
    assert added.sum() >= 6
    # From the top of the stem (row 4, x 13.5), 6 pixels (30% of 20 rows) at 45 degrees: down and to the left.
    assert rows.min() >= 4 and rows.max() <= 4 + 6 * np.sin(np.pi / 4) + 1.5
    assert columns.max() <= 13 and columns.min() >= 13.5 - 6 * np.cos(np.pi / 4) - 1.5
    assert flagged[7, 10] == pytest.approx(1.0)  # 3 pixels along the flag: (13.5 - 2.1, 4 + 2.1), within its width.
    assert flagged[:3].max() == 0  # Nothing above the digit.


def test_a_picture_without_ink_gets_no_flag():
    empty = np.zeros((1, SIDE, SIDE, 1), np.float32)
    np.testing.assert_array_equal(augment.flags(empty, [0.5], [0.3], [1.0]).numpy(), empty)


def test_flags_go_on_the_ones_only_with_digit_or_one_hot_labels():
    images = stems(8)
    labels = np.array([1, 7, 1, 4, 1, 7, 0, 1])
    params = augment.DigitAugmentation(flag_share=1.0)
    flagged = augment.augment_batch(images, 0, 2, params, labels=labels).numpy()
    changed = np.abs(flagged - images).reshape(8, -1).max(axis=1) > 0.5
    np.testing.assert_array_equal(changed, labels == 1)
    one_hot = np.eye(10, dtype=np.float32)[labels]
    np.testing.assert_array_equal(augment.augment_batch(images, 0, 2, params, labels=one_hot).numpy(), flagged)
    some = augment.augment_batch(stems(400), 0, 2, augment.DigitAugmentation(flag_share=0.3),
                                 labels=np.ones(400, np.int64)).numpy()
    share = (np.abs(some - stems(400)).reshape(400, -1).max(axis=1) > 0.5).mean()
    assert share == pytest.approx(0.3, abs=0.08)


def test_flags_need_the_labels():
    with pytest.raises(ValueError, match="labels"):
        augment.augment_batch(stems(), 0, 0, augment.DigitAugmentation(flag_share=0.5))


def test_the_training_stream_flags_its_ones_and_nothing_else(records):
    params = augment.DigitAugmentation(flag_share=1.0)
    plain = batches(pipeline.training_dataset(records, 8, False, seed=3), 5)
    flagged = batches(pipeline.training_dataset(records, 8, False, seed=3, augmentation=params), 5)
    for (images, labels), (images_flagged, labels_flagged) in zip(plain, flagged):
        np.testing.assert_array_equal(labels, labels_flagged)
        changed = np.abs(images_flagged - images).reshape(len(images), -1).max(axis=1) > 0.5
        inked = images.reshape(len(images), -1).max(axis=1) > 0.5
        np.testing.assert_array_equal(changed, (labels == 1) & inked)
