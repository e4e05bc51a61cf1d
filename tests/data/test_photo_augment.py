"""nophd.data.photo_augment: which random transforms a photo run applies, and `--augment`'s phase and list."""

import numpy as np
import pytest

from nophd.data import photo_augment
from nophd.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    ("all", ("all", None)),
    ("off", ("off", None)),
    ("rotate,zoom", (None, ("rotate", "zoom"))),
    ("fine-tune, flip ,contrast", ("fine-tune", ("flip", "contrast"))),
    ("ZOOM,All", ("all", ("zoom",))),
])
def test_augment_values_split_into_a_phase_and_transforms(text, expected):
    assert photo_augment.parse(text) == expected


@pytest.mark.parametrize("text, words", [
    ("spin", "unknown word 'spin'"),
    ("all,fine-tune", "one phase"),
    ("off,flip", "off cannot go with transforms"),
    ("flip,flip", "twice"),
    (",", "expected a phase"),
])
def test_bad_augment_values_are_one_line_errors(text, words):
    with pytest.raises(ConfigError) as caught:
        photo_augment.parse(text)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_default_is_what_photo_runs_always_used_and_every_transform_has_its_own_seed():
    assert photo_augment.DEFAULT == ("flip", "rotate", "zoom", "contrast")
    offsets = [transform.seed_offset for transform in photo_augment.TRANSFORMS.values()]
    assert len(set(offsets)) == len(offsets)
    with pytest.raises(ConfigError, match="at least one"):
        photo_augment.check(())


def test_a_vertical_flip_alone_mirrors_top_and_bottom_and_nothing_else():
    images = np.random.default_rng(0).uniform(0, 255, size=(16, 8, 8, 3)).astype(np.float32)
    out = np.asarray(photo_augment.augmenter(["vflip"], seed=3)(images, training=True))
    flipped = [bool(np.allclose(after, before[::-1])) for before, after in zip(images, out)]
    kept = [bool(np.allclose(after, before)) for before, after in zip(images, out)]
    assert all(a or b for a, b in zip(flipped, kept)) and any(flipped) and any(kept)


def test_the_same_seed_draws_the_same_and_pixels_stay_in_range():
    images = np.random.default_rng(1).uniform(0, 255, size=(4, 16, 16, 3)).astype(np.float32)
    names = ["rotate", "zoom", "translate", "contrast", "brightness"]
    first = np.asarray(photo_augment.augmenter(names, seed=5)(images, training=True))
    again = np.asarray(photo_augment.augmenter(names, seed=5)(images, training=True))
    np.testing.assert_allclose(first, again)
    assert not np.allclose(first, images)
    assert first.min() >= 0 and first.max() <= 255
