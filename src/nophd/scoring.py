"""Scoring softmax outputs against true labels: accuracy, loss, confusion, per-class precision/recall/F1, worst mistakes.

A leaf module (numpy only): training, evaluation, reports and the server
all score through it, and it imports nothing of nophd.

Example:
    evaluation = score(probabilities, labels)  # probabilities (N, K), labels (N,)
    print(evaluation.accuracy, evaluation.confusion)
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Keras clips probabilities to [eps, 1 - eps] in its cross-entropy; so do we.
_EPSILON = 1e-7


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """A model's results on a labelled set.

    Args:
        accuracy: share of correct top-1 predictions (0..1).
        loss: mean categorical cross-entropy.
        probabilities: float (N, K) softmax outputs.
        labels: int (N,) true classes.
        confusion: int (K, K), rows = true class, columns = predicted.
        per_class_accuracy: recall of each class (0..1).
    """

    accuracy: float
    loss: float
    probabilities: np.ndarray
    labels: np.ndarray
    confusion: np.ndarray
    per_class_accuracy: list[float]

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    def class_figures(self) -> dict[str, list | float]:
        """The per-class figures metrics.json and evaluation.json keep (see `class_figures`), confusion included."""
        return {"per_class_accuracy": self.per_class_accuracy, **class_figures(self.confusion),
                "confusion": self.confusion.tolist()}


def class_figures(confusion) -> dict[str, list | float]:
    """Precision, recall and F1 of every class, and their macro averages, from a confusion matrix.

    Precision is the share of a class's predictions that are right, recall the
    share of its examples found (what `per_class_accuracy` calls accuracy),
    F1 their harmonic mean. A class nobody predicted has precision 0, one
    with no examples recall 0 (scikit-learn's `zero_division=0`), and either
    gives F1 0. The macro averages weigh every class the same, so a rare
    class that is always missed shows in them, not in the accuracy.

    Args:
        confusion: K x K counts; rows are true classes, columns predicted.

    Returns:
        {"per_class_precision", "per_class_recall", "per_class_f1": K floats
        in 0..1, "macro_precision", "macro_recall", "macro_f1": floats}.

    Example:
        class_figures([[8, 2], [0, 10]])["per_class_precision"]  # [1.0, 0.8333...]
    """
    matrix = np.asarray(confusion, dtype=np.float64)
    right = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(right, predicted, out=np.zeros_like(right), where=predicted > 0)
    recall = np.divide(right, actual, out=np.zeros_like(right), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(right), where=both > 0)
    return {
        "per_class_precision": [float(value) for value in precision],
        "per_class_recall": [float(value) for value in recall],
        "per_class_f1": [float(value) for value in f1],
        "macro_precision": float(precision.mean()) if len(right) else 0.0,
        "macro_recall": float(recall.mean()) if len(right) else 0.0,
        "macro_f1": float(f1.mean()) if len(right) else 0.0,
    }


def as_class_probabilities(outputs) -> np.ndarray:
    """A model's outputs as (N, K) class probabilities: one sigmoid column p (N, 1) becomes [1 - p, p] (N, 2).

    nophd's own two-class runs save their model with that conversion inside
    (nophd.models.two_class); this keeps a Keras model of the user's own
    with one sigmoid output (recorded by nophd.RunFolder) scored the same way.

    Example:
        as_class_probabilities([[0.9], [0.2]])  # [[0.1, 0.9], [0.8, 0.2]]
    """
    outputs = np.asarray(outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        return np.concatenate([1.0 - outputs, outputs], axis=1)
    return outputs


def score(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Accuracy, loss, confusion matrix and per-class accuracy of softmax outputs.

    Args:
        probabilities: float (N, K), one row per example; (N, 1), one
            sigmoid probability of class 1 per example, is read as the two
            classes' probabilities [1 - p, p] (see `as_class_probabilities`).
        labels: int (N,) true classes.
    """
    probabilities = as_class_probabilities(probabilities)
    labels = np.asarray(labels).astype(np.int64)
    classes = probabilities.shape[1]
    predictions = probabilities.argmax(axis=1)
    confusion = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    true_counts = confusion.sum(axis=1)
    per_class = [float(confusion[index, index] / true_counts[index]) if true_counts[index] else 0.0
                 for index in range(classes)]
    picked = np.clip(probabilities[np.arange(len(labels)), labels], _EPSILON, 1 - _EPSILON)
    return Evaluation(
        accuracy=float((predictions == labels).mean()),
        loss=float(-np.log(picked).mean()),
        probabilities=probabilities,
        labels=labels,
        confusion=confusion,
        per_class_accuracy=per_class,
    )


def class_table(figures) -> str:
    """Per-class precision, recall, F1 and example counts as a text table (`nophd evaluate`), macro averages last.

    Args:
        figures: an evaluation.json or metrics.json mapping with "class_names",
            "confusion" (K x K) and "per_class_accuracy".

    Example:
        print(class_table(nophd.evaluate("runs/conv-bn")))
    """
    confusion = np.asarray(figures["confusion"])
    names = [str(name) for name in figures["class_names"]]
    computed = class_figures(confusion)
    width = max([len(name) for name in names] + [len("macro mean")])
    lines = [f"{'class':<{width}}  {'precision':>9}  {'recall':>7}  {'F1':>7}  {'examples':>8}"]
    for index, name in enumerate(names):
        lines.append(f"{name:<{width}}  {100 * computed['per_class_precision'][index]:>8.2f}%  "
                     f"{100 * computed['per_class_recall'][index]:>6.2f}%  {100 * computed['per_class_f1'][index]:>6.2f}%  "
                     f"{int(confusion[index].sum()):>8,}")
    lines.append(f"{'macro mean':<{width}}  {100 * computed['macro_precision']:>8.2f}%  "
                 f"{100 * computed['macro_recall']:>6.2f}%  {100 * computed['macro_f1']:>6.2f}%  {int(confusion.sum()):>8,}")
    return "\n".join(lines)


def worst_mistakes(evaluation: Evaluation, class_names: list[str], limit: int) -> list[dict]:
    """The wrong predictions, the most confident first (they say the most about a model).

    Returns:
        Up to `limit` of {"index", "label", "predicted", "top": the three
        likeliest [{"label", "probability"}]}; labels are class names.
    """
    probabilities, labels, predictions = evaluation.probabilities, evaluation.labels, evaluation.predictions
    wrong = np.flatnonzero(predictions != labels)
    wrong = wrong[np.argsort(-probabilities[wrong, predictions[wrong]], kind="stable")]
    mistakes = []
    for index in wrong[:limit]:
        row = probabilities[index]
        mistakes.append({
            "index": int(index),
            "label": class_names[int(labels[index])],
            "predicted": class_names[int(predictions[index])],
            "top": [{"label": class_names[int(top)], "probability": float(row[top])} for top in np.argsort(-row, kind="stable")[:3]],
        })
    return mistakes


def misread_pairs(labels, predictions, limit: int = 3) -> list[dict[str, int]]:
    """The commonest mistakes as (true class, predicted class) pairs, the most frequent first.

    Where a model goes wrong, in a form a table can show: on stroke-drawn
    digits, for example, "1 read as 7" can be most of the errors. Ties go to
    the smaller true class, then the smaller predicted one.

    Args:
        labels, predictions: class indices, one per example.
        limit: at most this many pairs.

    Returns:
        [{"label", "predicted", "count"}], class indices and how many examples; [] when nothing is wrong.

    Example:
        misread_pairs([1, 1, 0], [7, 7, 0])  # [{"label": 1, "predicted": 7, "count": 2}]
    """
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    wrong = labels != predictions
    pairs, counts = np.unique(np.stack([labels[wrong], predictions[wrong]], axis=1), axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:limit]  # np.unique sorts the pairs, so ties keep that order.
    return [{"label": int(pairs[index, 0]), "predicted": int(pairs[index, 1]), "count": int(counts[index])}
            for index in order]


def misread_text(pairs) -> str:
    """misread_pairs' pairs in words: "1 as 7 (38), 0 as 1 (5)"; "" for none (or rows written before them).

    Example:
        misread_text([{"label": 1, "predicted": 7, "count": 38}])  # "1 as 7 (38)"
    """
    if not isinstance(pairs, list):
        return ""
    words = [f"{pair['label']} as {pair['predicted']} ({pair['count']:,})" for pair in pairs
             if isinstance(pair, dict) and all(type(pair.get(key)) is int for key in ("label", "predicted", "count"))]
    return ", ".join(words)


# A model that calls more than this share of the evaluated examples one class
# has not learned to tell the classes apart (a short conv-bn run whose batch
# norm statistics lag called 98% of the MNIST test set "1").
ONE_CLASS_SHARE = 0.9
# Without a confusion matrix: one class at least this right, every other at most ONE_CLASS_WRONG.
ONE_CLASS_RIGHT = 0.95
ONE_CLASS_WRONG = 0.05


def one_class_warning(class_names, confusion=None, per_class_accuracy=None) -> str | None:
    """The one-class warning (one line) when a model predicts one class for most of the evaluated examples, else None.

    The one rule the CLI, the run report and the dashboard share. From the
    confusion matrix (rows true classes, columns predicted): over
    ONE_CLASS_SHARE of the examples predicted as one class. Without one (old
    metrics.json files), from the per-class accuracies: one class right and
    every other wrong. Fewer than two classes, or figures of the wrong
    shape, give None.

    Args:
        class_names: K names.
        confusion: K x K counts, or None.
        per_class_accuracy: K recalls (0..1; None entries allowed), used without a confusion matrix.

    Example:
        one_class_warning(["0", "1"], [[0, 50], [0, 50]])  # "The model predicts one class: 100% of ..."
    """
    names = [str(name) for name in class_names or []]
    count = len(names)
    if count < 2:
        return None
    if confusion is not None:
        try:
            matrix = np.asarray(confusion)
        except ValueError:  # Ragged rows.
            return None
        if matrix.shape != (count, count) or not np.issubdtype(matrix.dtype, np.number) or (matrix < 0).any():
            return None
        predicted = matrix.sum(axis=0)
        total = float(predicted.sum())
        top = int(np.argmax(predicted))
        if total > 0 and predicted[top] / total > ONE_CLASS_SHARE:
            return (f"The model predicts one class: {predicted[top] / total:.0%} of the {int(total):,} evaluated "
                    f"examples are called {names[top]!r}. It has not learned to tell the classes apart: check the "
                    "labels and the class balance, lower the learning rate or train longer.")
        return None
    if not isinstance(per_class_accuracy, (list, tuple, np.ndarray)) or len(per_class_accuracy) != count:
        return None
    per_class_accuracy = [float(value) if isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                          else None for value in per_class_accuracy]
    right = [index for index, value in enumerate(per_class_accuracy) if value is not None and value >= ONE_CLASS_RIGHT]
    wrong = [index for index, value in enumerate(per_class_accuracy) if value is not None and value <= ONE_CLASS_WRONG]
    if len(right) == 1 and len(wrong) == count - 1:
        return (f"The model gets only {names[right[0]]!r} right and every other class wrong: it probably predicts "
                "that one class for everything. Check the labels and the class balance, lower the learning rate "
                "or train longer.")
    return None


def one_class_warning_of(figures) -> str | None:
    """one_class_warning from a metrics.json or evaluation.json mapping ("class_names", "confusion", "per_class_accuracy").

    Class names default to the class indices; anything malformed gives None.
    """
    if not isinstance(figures, dict):
        return None
    accuracies = figures.get("per_class_accuracy")
    confusion = figures.get("confusion")
    count = len(accuracies) if isinstance(accuracies, list) else len(confusion) if isinstance(confusion, list) else 0
    names = figures.get("class_names")
    if not isinstance(names, list) or len(names) != count:
        names = [str(index) for index in range(count)]
    return one_class_warning(names, confusion, accuracies)


# Below this many evaluated examples an accuracy is too rough to trust as a
# figure (with 100, a 90% accuracy's 95% interval is already 83-95%).
FEW_EXAMPLES = 100
_Z95 = 1.959964


def accuracy_interval(accuracy: float, examples: int) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy measured on `examples` examples (0..1 each).

    Example:
        accuracy_interval(0.9, 20)  # (0.699, 0.972)
    """
    if examples <= 0:
        return 0.0, 1.0
    centre = (accuracy + _Z95 ** 2 / (2 * examples)) / (1 + _Z95 ** 2 / examples)
    spread = _Z95 * np.sqrt(accuracy * (1 - accuracy) / examples + _Z95 ** 2 / (4 * examples ** 2)) / (1 + _Z95 ** 2 / examples)
    return float(max(0.0, centre - spread)), float(min(1.0, centre + spread))


def few_examples_warning(accuracy, examples) -> str | None:
    """The too-few-examples warning (one line) when an accuracy was measured on under FEW_EXAMPLES examples, else None.

    The rule the CLI, the run report and the dashboard share: a small photo
    folder (10-20 photos a class, Teachable Machine's size) trains, but its
    validation split of a few photos a class cannot measure it.

    Example:
        few_examples_warning(0.9, 20)  # "Only 20 examples were evaluated: the accuracy of 90.0% could be ..."
    """
    if isinstance(accuracy, bool) or isinstance(examples, bool):
        return None
    try:
        accuracy, examples = float(accuracy), int(examples)
    except (TypeError, ValueError):
        return None
    if not (0 < examples < FEW_EXAMPLES) or not 0 <= accuracy <= 1:
        return None
    low, high = accuracy_interval(accuracy, examples)
    return (f"Only {examples} examples were evaluated: the accuracy of {100 * accuracy:.1f}% could be anywhere from "
            f"{100 * low:.0f}% to {100 * high:.0f}% (95% interval). Read it as rough: at least {FEW_EXAMPLES} "
            "evaluated examples (more photos per class) make it a figure.")


def few_examples_warning_of(figures) -> str | None:
    """few_examples_warning from a metrics.json or evaluation.json mapping ("test_accuracy", "test_examples")."""
    if not isinstance(figures, dict):
        return None
    return few_examples_warning(figures.get("test_accuracy"), figures.get("test_examples"))
