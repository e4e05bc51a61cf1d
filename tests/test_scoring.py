"""nophd.scoring: accuracy, loss, confusion and worst mistakes of softmax outputs, checked by hand."""

import math

import numpy as np
import pytest

from nophd import scoring


def test_score_counts_by_hand():
    probabilities = np.array([[0.9, 0.1, 0.0],   # true 0, predicted 0
                              [0.2, 0.7, 0.1],   # true 1, predicted 1
                              [0.6, 0.3, 0.1],   # true 2, predicted 0 (wrong)
                              [0.0, 0.4, 0.6]])  # true 2, predicted 2
    evaluation = scoring.score(probabilities, np.array([0, 1, 2, 2]))
    assert evaluation.accuracy == 0.75
    assert evaluation.confusion.tolist() == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert evaluation.per_class_accuracy == [1.0, 1.0, 0.5]
    assert evaluation.predictions.tolist() == [0, 1, 0, 2]
    # Cross-entropy of the true class; probabilities are clipped to [1e-7, 1 - 1e-7] as Keras does.
    expected = -(math.log(0.9) + math.log(0.7) + math.log(0.1) + math.log(0.6)) / 4
    assert math.isclose(evaluation.loss, expected, rel_tol=1e-9)


def test_a_class_never_seen_scores_zero_and_a_certain_mistake_has_a_finite_loss():
    evaluation = scoring.score(np.array([[1.0, 0.0]]), np.array([1]))
    assert evaluation.per_class_accuracy == [0.0, 0.0]
    assert math.isclose(evaluation.loss, -math.log(1e-7), rel_tol=1e-6)


def test_precision_recall_and_f1_by_hand():
    # True 0 0 1 2 2 2, predicted 0 1 1 2 2 0: class 0 is predicted twice (once right),
    # class 1 twice (once right), class 2 twice (both right).
    confusion = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    figures = scoring.class_figures(confusion)
    assert figures["per_class_precision"] == [0.5, 0.5, 1.0]
    assert figures["per_class_recall"] == pytest.approx([0.5, 1.0, 2 / 3])
    assert figures["per_class_f1"] == pytest.approx([0.5, 2 / 3, 0.8])
    assert figures["macro_precision"] == pytest.approx(2 / 3)
    assert figures["macro_recall"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert figures["macro_f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)


def test_a_class_never_predicted_or_never_seen_has_zero_precision_recall_and_f1_not_nan():
    figures = scoring.class_figures([[2, 0, 0], [1, 0, 0], [0, 0, 0]])  # class 1 never predicted, class 2 never seen
    assert figures["per_class_precision"] == pytest.approx([2 / 3, 0.0, 0.0])
    assert figures["per_class_recall"] == [1.0, 0.0, 0.0]
    assert figures["per_class_f1"] == pytest.approx([0.8, 0.0, 0.0])
    assert all(math.isfinite(value) for value in figures["per_class_f1"])


def test_an_evaluation_gives_metrics_json_its_per_class_figures():
    evaluation = scoring.score(np.eye(3)[[0, 1, 1, 2, 2, 0]], np.array([0, 0, 1, 2, 2, 2]))
    figures = evaluation.class_figures()
    assert figures["confusion"] == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert figures["per_class_accuracy"] == figures["per_class_recall"] == evaluation.per_class_accuracy
    assert figures["per_class_precision"] == [0.5, 0.5, 1.0]


def test_the_class_table_lists_every_class_then_the_macro_mean():
    table = scoring.class_table({"confusion": [[1, 1, 0], [0, 1, 0], [1, 0, 2]], "class_names": ["cat", "dog", "eel"]})
    lines = table.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "F1", "examples"]
    assert lines[1].split() == ["cat", "50.00%", "50.00%", "50.00%", "2"]
    assert lines[3].split() == ["eel", "100.00%", "66.67%", "80.00%", "3"]
    assert lines[4].split()[:2] == ["macro", "mean"] and lines[4].split()[-1] == "6"


def test_worst_mistakes_come_most_confident_first_with_class_names():
    probabilities = np.array([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7]])
    evaluation = scoring.score(probabilities, np.array([1, 1, 1, 0]))
    mistakes = scoring.worst_mistakes(evaluation, ["cat", "dog"], limit=2)
    assert [mistake["index"] for mistake in mistakes] == [2, 3]
    assert mistakes[0]["label"] == "dog" and mistakes[0]["predicted"] == "cat"
    assert mistakes[0]["top"] == [{"label": "cat", "probability": 0.95}, {"label": "dog", "probability": 0.05}]


def test_one_class_is_over_ninety_percent_of_the_predictions_in_the_confusion_matrix():
    names = ["cat", "dog", "fox"]
    message = scoring.one_class_warning(names, [[30, 0, 0], [29, 0, 1], [28, 0, 2]])
    assert message.startswith("The model predicts one class: 97% of the 90 evaluated examples are called 'cat'")
    # 90% exactly is not over 90%; a balanced matrix is fine.
    assert scoring.one_class_warning(names, [[30, 0, 0], [30, 0, 0], [21, 0, 9]]) is None
    assert scoring.one_class_warning(names, [[27, 2, 1], [3, 24, 3], [4, 5, 21]]) is None


def test_without_a_confusion_matrix_one_class_right_and_every_other_wrong_is_one_class():
    assert "'1'" in scoring.one_class_warning(["0", "1", "2"], per_class_accuracy=[0.0, 1.0, 0.02])
    assert scoring.one_class_warning(["0", "1", "2"], per_class_accuracy=[0.5, 1.0, 0.0]) is None


@pytest.mark.parametrize("figures", [
    {"per_class_accuracy": [1.0], "confusion": [[5]]},  # One class: nothing to tell apart.
    {"per_class_accuracy": [1.0, 0.0], "confusion": [[5, 0], [5]]},  # Ragged.
    {"per_class_accuracy": [1.0, 0.0], "confusion": [["5", "0"], ["5", "0"]]},  # Not counts.
    {"per_class_accuracy": [1.0, 0.0, 0.0], "confusion": [[5, 0], [5, 0]]},  # Wrong size.
    {"per_class_accuracy": ["1", None]},
    {"confusion": None},
    [],
])
def test_malformed_figures_give_no_warning(figures):
    assert scoring.one_class_warning_of(figures) is None


def test_figures_from_metrics_json_default_to_class_indices():
    message = scoring.one_class_warning_of({"per_class_accuracy": [0.0, 1.0], "confusion": [[0, 40], [0, 60]]})
    assert "100% of the 100 evaluated examples are called '1'" in message


def test_an_accuracy_on_few_examples_gets_its_95_percent_interval_in_a_warning():
    low, high = scoring.accuracy_interval(0.9, 20)
    assert low == pytest.approx(0.699, abs=1e-3) and high == pytest.approx(0.972, abs=1e-3)  # Wilson's interval.
    warning = scoring.few_examples_warning_of({"test_accuracy": 0.9, "test_examples": 20})
    assert "Only 20 examples" in warning and "70% to 97%" in warning and "\n" not in warning
    assert scoring.few_examples_warning(0.9, scoring.FEW_EXAMPLES) is None
    for accuracy, examples in ((None, 20), (0.9, None), ("x", 3), (0.9, 0), (True, 5), (1.5, 10)):
        assert scoring.few_examples_warning(accuracy, examples) is None


def test_one_sigmoid_column_is_scored_as_two_class_probabilities():
    sigmoid = np.array([[0.9], [0.2], [0.6]])
    both = scoring.as_class_probabilities(sigmoid)
    np.testing.assert_allclose(both, [[0.1, 0.9], [0.8, 0.2], [0.4, 0.6]])
    evaluation = scoring.score(sigmoid, np.array([1, 0, 0]))
    assert evaluation.accuracy == pytest.approx(2 / 3)
    assert evaluation.confusion.tolist() == [[1, 1], [0, 1]]
    # The loss is binary cross-entropy.
    assert evaluation.loss == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.4])))
    softmax = np.array([[0.2, 0.8]])
    assert np.array_equal(scoring.as_class_probabilities(softmax), softmax)


def test_misread_pairs_counts_mistakes_by_true_and_predicted_class_most_first():
    labels = [1, 1, 1, 0, 0, 2, 2, 4, 5]
    predictions = [7, 7, 1, 1, 1, 3, 2, 9, 6]
    assert scoring.misread_pairs(labels, predictions) == [
        {"label": 0, "predicted": 1, "count": 2}, {"label": 1, "predicted": 7, "count": 2},  # A tie: true 0 first.
        {"label": 2, "predicted": 3, "count": 1}]
    assert scoring.misread_pairs(labels, predictions, limit=1) == [{"label": 0, "predicted": 1, "count": 2}]
    assert scoring.misread_pairs([3, 4], [3, 4]) == []
    assert scoring.misread_pairs([], []) == []


def test_misread_text_words_the_pairs_and_skips_what_is_not_one():
    pairs = [{"label": 1, "predicted": 7, "count": 1038}, {"label": 0, "predicted": 1, "count": 5}]
    assert scoring.misread_text(pairs) == "1 as 7 (1,038), 0 as 1 (5)"
    assert scoring.misread_text(pairs + ["odd", {"label": True, "predicted": 1, "count": 2}, {"label": 2}]) == \
        "1 as 7 (1,038), 0 as 1 (5)"
    assert scoring.misread_text(None) == "" and scoring.misread_text([]) == ""
