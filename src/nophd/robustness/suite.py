"""The robustness suite: named sets of labelled digits, and a model's accuracy on each.

`build_suite` makes, in this order: "clean" (the MNIST test digits the
corruptions start from, unchanged: the reference, not in the mean), the
fifteen MNIST-C corruptions of them (kind "corruption"), every local font's
digits (kind "fonts") and stroke-drawn digits (kind "strokes"). Each set
draws from its own random generator, seeded from the suite's seed and the
set's name, so a set is the same whatever other sets there are.

`evaluate` scores a prediction function on every set and takes the mean.

Example:
    sets = build_suite(data.test_images, data.test_labels, seed=0)
    result = evaluate(lambda digits: model.predict(digits / 255.0), sets)
    for row in result["sets"]:
        print(row["name"], row["accuracy"])
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import Callable

import numpy as np

from nophd import scoring
from nophd.robustness import corruptions, fonts, strokes

# MNIST test digits per corruption (a seeded sample, the same for every corruption) and stroke digits.
PER_SET = 1000
STROKES = 2000
# The commonest mistakes kept per set (true class read as another).
MISREAD_PAIRS = 3
KINDS = ("clean", "corruption", "fonts", "strokes")


@dataclasses.dataclass(frozen=True)
class DigitSet:
    """One named set of the suite.

    Attributes:
        name: "clean", a corruption's name ("shot_noise", ...), "fonts" or "strokes".
        kind: "clean", "corruption", "fonts" or "strokes".
        images: uint8 (N, 28, 28), white digits on black as in the MNIST files.
        labels: uint8 (N,), 0..9.
    """

    name: str
    kind: str
    images: np.ndarray
    labels: np.ndarray


def set_rng(seed: int, name: str) -> np.random.Generator:
    """The random generator of set `name` in the suite of `seed` (stable across Python runs: crc32, not hash())."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def build_suite(mnist_test_images: np.ndarray, mnist_test_labels: np.ndarray, seed: int = 0,
                per_set: int = PER_SET, stroke_count: int = STROKES) -> list[DigitSet]:
    """Every set of the robustness suite, in order (see the module's docstring).

    Args:
        mnist_test_images: uint8 (N, 28, 28), MNIST's test digits.
        mnist_test_labels: uint8 (N,).
        seed: everything random follows from it; the same seed gives the
            same suite, image for image.
        per_set: MNIST test digits under each corruption (all N when N is
            smaller): one seeded sample, shared by every corruption and the
            clean set.
        stroke_count: stroke-drawn digits.

    Returns:
        DigitSets: clean, the 15 corruptions, fonts, strokes.

    Raises:
        ValueError: images and labels that do not match, or a negative size.

    Example:
        sets = build_suite(images, labels, seed=0, per_set=200, stroke_count=200)
    """
    images = np.asarray(mnist_test_images)
    labels = np.asarray(mnist_test_labels)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise ValueError(f"expected uint8 MNIST test images (N, 28, 28) and N labels, got {images.dtype} {images.shape} "
                         f"and {len(labels)} labels")
    for name, value in (("per_set", per_set), ("stroke_count", stroke_count)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value}")
    chosen = np.sort(set_rng(seed, "sample").choice(len(images), size=min(int(per_set), len(images)), replace=False))
    sample, sample_labels = images[chosen], labels[chosen].astype(np.uint8)
    suite = [DigitSet("clean", "clean", sample.copy(), sample_labels.copy())]
    for name, corrupt in corruptions.CORRUPTIONS.items():
        suite.append(DigitSet(name, "corruption", corrupt(sample, set_rng(seed, name)), sample_labels.copy()))
    font_images, font_labels, _ = fonts.render_set()
    suite.append(DigitSet("fonts", "fonts", font_images, font_labels))
    stroke_images, stroke_labels = strokes.draw_set(int(stroke_count), set_rng(seed, "strokes"))
    suite.append(DigitSet("strokes", "strokes", stroke_images, stroke_labels))
    return suite


def evaluate(model_predict_fn: Callable[[np.ndarray], np.ndarray], suite: list[DigitSet]) -> dict:
    """A model's accuracy on every set of `suite`, and their mean.

    The mean ("mean_accuracy") is the plain average of the per-set
    accuracies over every set but "clean": the fifteen corruptions, fonts
    and strokes, each counting once however many digits it holds (17 sets
    for the whole suite). "clean" is shown for reference: the same MNIST
    digits the corruptions start from.

    Args:
        model_predict_fn: takes uint8 (N, 28, 28) digits and returns class
            scores (N, 10) (probabilities or logits) or class indices (N,).
            It is called once, with every set's digits one after another.
        suite: from build_suite.

    Returns:
        {"sets": [{"name", "kind", "examples", "accuracy",
        "per_class_accuracy", "misread": the commonest mistakes,
        [{"label", "predicted", "count"}] (scoring.misread_pairs)}...],
        "mean_accuracy": float, "mean_over": names}.

    Example:
        result = evaluate(lambda digits: model.predict(digits / 255.0), sets)
    """
    rows = []
    # One call over every set: a Keras model's predict has a fixed cost per call, paid once instead of 18 times.
    everything = np.concatenate([digit_set.images for digit_set in suite]) if suite else np.zeros((0, 28, 28), np.uint8)
    scores = np.asarray(model_predict_fn(everything))
    all_predicted = scores.argmax(axis=1) if scores.ndim == 2 else scores.astype(np.int64)
    if len(all_predicted) != len(everything):
        raise ValueError(f"model_predict_fn returned {len(all_predicted)} predictions for {len(everything)} digits")
    ends = np.cumsum([len(digit_set.labels) for digit_set in suite])
    for digit_set, end in zip(suite, ends):
        predicted = all_predicted[end - len(digit_set.labels) : end]
        labels = digit_set.labels.astype(np.int64)
        correct = predicted == labels
        per_class = [float(correct[labels == digit].mean()) if (labels == digit).any() else None for digit in range(10)]
        rows.append({"name": digit_set.name, "kind": digit_set.kind, "examples": int(len(labels)),
                     "accuracy": float(correct.mean()) if len(labels) else 0.0, "per_class_accuracy": per_class,
                     "misread": scoring.misread_pairs(labels, predicted, MISREAD_PAIRS)})
    counted = [row for row in rows if row["kind"] != "clean"]
    mean = float(np.mean([row["accuracy"] for row in counted])) if counted else None
    return {"sets": rows, "mean_accuracy": mean, "mean_over": [row["name"] for row in counted]}


def samples(suite: list[DigitSet], per_set: int = 10) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """A few digits of each set for pictures: (name, uint8 (k, 28, 28), labels), one of each digit 0-9 in order.

    Example:
        for name, digits, labels in samples(sets, 8): ...
    """
    chosen = []
    for digit_set in suite:
        # A fixed pick, so the picture is the same every time; random within each digit, so fonts and
        # strokes show more than their first font or template.
        rng = np.random.default_rng(zlib.crc32(digit_set.name.encode("utf-8")))
        picks = []
        for digit in range(10):
            where = np.flatnonzero(digit_set.labels == digit)
            if len(where):
                picks.append(int(rng.choice(where)))
        picks = picks[:per_set]
        chosen.append((digit_set.name, digit_set.images[picks], digit_set.labels[picks]))
    return chosen
