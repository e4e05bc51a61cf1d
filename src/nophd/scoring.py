"""Scoring softmax outputs against true labels: accuracy, loss, confusion, worst mistakes.

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


def score(probabilities: np.ndarray, labels: np.ndarray) -> Evaluation:
    """Accuracy, loss, confusion matrix and per-class accuracy of softmax outputs.

    Args:
        probabilities: float (N, K), one row per example.
        labels: int (N,) true classes.
    """
    probabilities = np.asarray(probabilities)
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
