"""The suite: its sets in order, deterministic from the seed, and how it is scored."""

from __future__ import annotations

import numpy as np
import pytest

from nophd.data import synthetic
from nophd.robustness import corruptions, fonts, suite


@pytest.fixture(scope="module")
def mnist_like():
    return synthetic.make_digits(50, seed=1)


@pytest.fixture(scope="module")
def small_suite(mnist_like):
    return suite.build_suite(*mnist_like, seed=0, per_set=30, stroke_count=40)


def test_sets_in_order_with_kinds_and_sizes(small_suite):
    names = [digit_set.name for digit_set in small_suite]
    assert names == ["clean", *corruptions.CORRUPTIONS, "fonts", "strokes"]
    assert [digit_set.kind for digit_set in small_suite] == ["clean"] + ["corruption"] * 15 + ["fonts", "strokes"]
    for digit_set in small_suite:
        assert digit_set.images.dtype == np.uint8 and digit_set.images.shape[1:] == (28, 28)
        assert len(digit_set.images) == len(digit_set.labels)
    sizes = {digit_set.name: len(digit_set.labels) for digit_set in small_suite}
    assert sizes["clean"] == sizes["fog"] == 30 and sizes["strokes"] == 40
    assert sizes["fonts"] == len(fonts.font_files()) * len(fonts.WEIGHTS) * len(fonts.SLANTS) * 10


def test_the_corruptions_start_from_the_clean_sample(small_suite, mnist_like):
    images, labels = mnist_like
    clean = small_suite[0]
    # The clean sample is a seeded choice of MNIST digits, in file order.
    positions = [int(np.flatnonzero((images == digit).all(axis=(1, 2)))[0]) for digit in clean.images]
    assert positions == sorted(positions)
    np.testing.assert_array_equal(labels[positions], clean.labels)
    stripe = next(digit_set for digit_set in small_suite if digit_set.name == "stripe")
    np.testing.assert_array_equal(stripe.images[:, :, 7:21], clean.images[:, :, 7:21])
    np.testing.assert_array_equal(stripe.labels, clean.labels)


def test_the_same_seed_gives_the_same_suite_and_another_seed_another(small_suite, mnist_like):
    again = suite.build_suite(*mnist_like, seed=0, per_set=30, stroke_count=40)
    for first, second in zip(small_suite, again):
        np.testing.assert_array_equal(first.images, second.images, err_msg=first.name)
        np.testing.assert_array_equal(first.labels, second.labels, err_msg=first.name)
    other = {digit_set.name: digit_set for digit_set in suite.build_suite(*mnist_like, seed=1, per_set=30, stroke_count=40)}
    assert not np.array_equal(other["clean"].images, small_suite[0].images)
    assert not np.array_equal(other["strokes"].images, small_suite[-1].images)
    np.testing.assert_array_equal(other["fonts"].images, small_suite[-2].images)  # Fonts are not random.


def test_a_sets_digits_do_not_depend_on_the_other_sets_sizes(small_suite, mnist_like):
    bigger = suite.build_suite(*mnist_like, seed=0, per_set=30, stroke_count=80)
    np.testing.assert_array_equal(bigger[1].images, small_suite[1].images)  # shot_noise
    np.testing.assert_array_equal(bigger[-1].images[:40].shape, small_suite[-1].images.shape)


def test_evaluate_scores_each_set_and_means_every_set_but_clean(small_suite):
    def always_three(digits):
        scores = np.zeros((len(digits), 10))
        scores[:, 3] = 1.0
        return scores

    result = suite.evaluate(always_three, small_suite)
    rows = {row["name"]: row for row in result["sets"]}
    for digit_set in small_suite:
        assert rows[digit_set.name]["accuracy"] == pytest.approx(float((digit_set.labels == 3).mean()))
        assert rows[digit_set.name]["examples"] == len(digit_set.labels)
        assert rows[digit_set.name]["per_class_accuracy"][3] in (1.0, None)
    assert result["mean_over"] == [digit_set.name for digit_set in small_suite[1:]]
    assert result["mean_accuracy"] == pytest.approx(np.mean([rows[name]["accuracy"] for name in result["mean_over"]]))
    # Every mistake is "read as 3": the commonest pairs, most first, at most three.
    for digit_set in small_suite:
        wrong = [(int(label), int((digit_set.labels == label).sum())) for label in np.unique(digit_set.labels) if label != 3]
        expected = sorted(wrong, key=lambda pair: -pair[1])[:suite.MISREAD_PAIRS]
        assert rows[digit_set.name]["misread"] == [{"label": label, "predicted": 3, "count": count}
                                                   for label, count in expected]
    # Class indices work as well as scores.
    indices = suite.evaluate(lambda digits: np.full(len(digits), 3), small_suite)
    assert indices["mean_accuracy"] == pytest.approx(result["mean_accuracy"])


def test_bad_arguments_are_refused(mnist_like):
    images, labels = mnist_like
    with pytest.raises(ValueError, match="labels"):
        suite.build_suite(images, labels[:-1])
    with pytest.raises(ValueError, match="per_set"):
        suite.build_suite(images, labels, per_set=0)


def test_samples_show_each_digit_once_per_set(small_suite):
    picked = suite.samples(small_suite, 10)
    assert [name for name, _, _ in picked] == [digit_set.name for digit_set in small_suite]
    for name, digits, labels in picked:
        assert digits.shape[1:] == (28, 28) and len(digits) == len(labels) <= 10
    assert picked[-1][2].tolist() == list(range(10))
