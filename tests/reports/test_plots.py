"""Tests of the report figures: every figure draws for normal, empty and single-epoch inputs."""

import matplotlib.colors
import matplotlib.figure
import matplotlib.text
import numpy as np
import PIL.Image
import pytest

from nophd.reports import plots

HISTORY = {
    "epoch": [1, 2, 3],
    "loss": [0.4, 0.2, 0.1],
    "accuracy": [0.90, 0.95, 0.97],
    "val_loss": [0.3, 0.15, 0.12],
    "val_accuracy": [0.93, 0.96, 0.9712],
}

LADDER_ROWS = [
    {"model": "dense", "description": "softmax", "parameters": 7850, "epochs": 10, "wall_seconds": 31.0,
     "test_accuracy": 0.9231, "codelab_accuracy": 0.92, "run": "dense"},
    {"model": "conv-bn", "description": "batch norm", "parameters": 300_000, "epochs": 10, "wall_seconds": 252.0,
     "test_accuracy": 0.9951, "codelab_accuracy": None, "run": "conv-bn"},
]


def texts_of(figure):
    return [text for text in figure.findobj(matplotlib.text.Text) if text.get_text()]


def render(figure):
    # Drawing catches layout and formatting errors that building alone does not.
    figure.canvas.draw()
    return figure


@pytest.mark.parametrize(
    "history",
    [HISTORY, {key: values[:1] for key, values in HISTORY.items()}, {key: [] for key in HISTORY}, {},
     {"epoch": [1, 2], "loss": [0.5, 0.3], "accuracy": [0.8, 0.9]},
     {"epoch": [1, 2], "loss": [0.5, None], "accuracy": [0.8, float("nan")], "val_accuracy": [None, None]}],
    ids=["full", "one-epoch", "empty-lists", "no-keys", "no-validation", "missing-values"],
)
def test_curves_figure_draws(history):
    figure = render(plots.curves_figure(history))
    assert isinstance(figure, matplotlib.figure.Figure)
    assert len(figure.axes) == 2


def test_curves_figure_annotates_final_validation_accuracy_and_zooms():
    figure = render(plots.curves_figure(HISTORY))
    assert any("97.12%" in text.get_text() for text in texts_of(figure))
    bottom, top = figure.axes[1].get_ylim()
    assert 0.85 < bottom < 0.90 and 0.97 < top <= 1.01


@pytest.mark.parametrize(
    "rates, done",
    [([0.01 * 0.666**n for n in range(10)], 3), ([0.01] * 4, 0), ([0.02], 1), ([], 0), ([0.1, 0.01, 0.001], 99)],
)
def test_learning_rate_figure_draws(rates, done):
    figure = render(plots.learning_rate_figure(rates, epochs_done=done))
    assert isinstance(figure, matplotlib.figure.Figure)


def test_learning_rate_figure_uses_log_axis_for_wide_range_only():
    assert plots.learning_rate_figure([0.1, 0.01, 0.001]).axes[0].get_yscale() == "log"
    assert plots.learning_rate_figure([0.01, 0.008, 0.006]).axes[0].get_yscale() == "linear"


def test_learning_rate_figure_draws_done_solid_and_rest_dashed():
    axes = plots.learning_rate_figure([0.01, 0.005, 0.002, 0.001], epochs_done=2).axes[0]
    styles = {line.get_label(): line.get_linestyle() for line in axes.get_lines()}
    assert styles == {"done": "-", "planned": "--"}


def fake_digits(count, dtype=float):
    rng = np.random.default_rng(count)
    images = rng.random((count, 28, 28))
    return (images * 255).astype(np.uint8) if dtype == np.uint8 else images


def test_predictions_figure_colours_wrong_labels_red():
    font_labels = np.arange(10)
    font_predictions = font_labels.copy()
    font_predictions[3] = 8
    labels = np.array([1, 2, 7, 4])
    predictions = np.array([1, 2, 1, 4])  # The third is a 7 predicted as 1.
    figure = render(plots.predictions_figure(
        fake_digits(10), font_labels, font_predictions, fake_digits(4, np.uint8), labels, predictions
    ))
    texts = {text.get_text(): text for text in texts_of(figure)}
    red = matplotlib.colors.to_rgb("red")
    assert matplotlib.colors.to_rgb(texts["1 ≠ 7"].get_color()) == red
    assert matplotlib.colors.to_rgb(texts["8 ≠ 3"].get_color()) == red
    right = [text for text in texts_of(figure) if text.get_text() == "4"]
    assert len(right) == 2  # The font 4 and the validation 4.
    for text in right:
        assert matplotlib.colors.to_rgb(text.get_color()) != red
        assert sum(matplotlib.colors.to_rgb(text.get_color())) < 0.5  # Dark.


def test_predictions_figure_uses_class_names_and_colour_images():
    names = ["daisy", "dandelion", "roses", "sunflowers", "tulips"]
    images = np.random.default_rng(0).random((3, 16, 16, 3))
    figure = render(plots.predictions_figure([], [], [], images, [0, 3, 4], [0, 3, 2], class_names=names, columns=5))
    shown = [text.get_text() for text in texts_of(figure)]
    assert "daisy" in shown and "sunflowers" in shown
    assert any("roses" in text and "tulips" in text for text in shown)
    assert any("validation images" in text for text in shown)


def test_predictions_figure_takes_a_validation_title():
    figure = render(plots.predictions_figure(
        [], [], [], fake_digits(2), [1, 2], [1, 3], validation_title="the first 1 test digits, then 1 mistake"))
    shown = [text.get_text() for text in texts_of(figure)]
    assert "the first 1 test digits, then 1 mistake" in shown
    assert not any("of 2 right" in text for text in shown)


def test_predictions_figure_accepts_one_hot_labels_and_probabilities():
    labels = np.eye(10)[[3, 5]]
    probabilities = np.eye(10)[[3, 6]] * 0.9 + 0.01
    figure = render(plots.predictions_figure([], [], [], fake_digits(2)[..., np.newaxis], labels, probabilities))
    assert "6 ≠ 5" in [text.get_text() for text in texts_of(figure)]


@pytest.mark.parametrize("font_count, validation_count", [(10, 0), (0, 1), (1, 1), (0, 0)])
def test_predictions_figure_draws_empty_and_single_groups(font_count, validation_count):
    figure = render(plots.predictions_figure(
        fake_digits(font_count), np.arange(font_count), np.arange(font_count),
        fake_digits(validation_count), np.zeros(validation_count, int), np.zeros(validation_count, int),
    ))
    assert isinstance(figure, matplotlib.figure.Figure)


def test_predictions_figure_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        plots.predictions_figure([], [], [], fake_digits(3), [1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="columns"):
        plots.predictions_figure([], [], [], [], [], [], columns=0)


def test_confusion_figure_annotates_counts_and_accuracy():
    matrix = np.array([[50, 2, 0], [3, 45, 0], [0, 0, 0]])
    figure = render(plots.confusion_figure(matrix, ["cat", "dog", "bird"]))
    texts = [text.get_text() for text in texts_of(figure)]
    for count in ("50", "2", "3", "45", "0"):
        assert count in texts
    assert any("95.00%" in text for text in texts)  # 95 of 100 on the diagonal.
    assert "dog" in texts


@pytest.mark.parametrize("size", [10, 5, 1])
def test_confusion_figure_draws_sizes(size):
    matrix = np.diag(np.arange(1, size + 1) * 100) + 1
    figure = render(plots.confusion_figure(matrix))
    assert len([text for text in texts_of(figure) if text.get_text().isdigit()]) >= size * size


def test_confusion_figure_draws_empty_and_rejects_non_square():
    assert isinstance(render(plots.confusion_figure(np.zeros((0, 0), int))), matplotlib.figure.Figure)
    assert isinstance(render(plots.confusion_figure(np.zeros((3, 3), int))), matplotlib.figure.Figure)
    with pytest.raises(ValueError, match="square"):
        plots.confusion_figure(np.zeros((2, 3)))


@pytest.mark.parametrize("rows", [LADDER_ROWS, LADDER_ROWS[:1], [], [{"model": "new", "test_accuracy": None}]])
def test_ladder_figure_draws(rows):
    figure = render(plots.ladder_figure(rows))
    assert isinstance(figure, matplotlib.figure.Figure)


def test_ladder_figure_shows_measured_and_codelab_figures():
    texts = [text.get_text() for text in texts_of(render(plots.ladder_figure(LADDER_ROWS)))]
    assert any("92.31%" in text and "codelab 92.00%" in text for text in texts)
    assert any("99.51%" in text for text in texts)
    assert "conv-bn" in texts


def test_save_figure_writes_a_png_atomically(tmp_path):
    path = tmp_path / "curves.png"
    plots.save_figure(plots.curves_figure(HISTORY), path, dpi=50)
    with PIL.Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (550, 210)  # figsize (11, 4.2) at 50 dpi.
    assert sorted(item.name for item in tmp_path.iterdir()) == ["curves.png"]


def test_save_figure_replaces_an_existing_file_and_leaves_nothing_on_failure(tmp_path):
    path = tmp_path / "lr.png"
    plots.save_figure(plots.learning_rate_figure([0.1, 0.01]), path)
    plots.save_figure(plots.learning_rate_figure([0.1, 0.05]), path)
    with pytest.raises(ValueError):
        plots.save_figure(plots.learning_rate_figure([0.1]), tmp_path / "lr.unknown-format")
    assert sorted(item.name for item in tmp_path.iterdir()) == ["lr.png"]
    with PIL.Image.open(path) as image:
        image.verify()


def test_augmentation_figure_shows_originals_then_one_row_per_draw(tmp_path):
    originals = np.zeros((5, 28, 28), np.uint8)
    originals[:, 10:18, 13:15] = 255
    augmented = [np.full((5, 28, 28, 1), 0.5, np.float32), np.zeros((5, 28, 28, 1), np.float32)]
    figure = plots.augmentation_figure(originals, augmented, title="rotate_degrees=10")
    assert len(figure.axes) == 15
    labels = [axes.get_ylabel() for axes in figure.axes if axes.get_ylabel()]
    assert labels == ["original", "draw 1", "draw 2"]
    assert "rotate_degrees=10" in [text.get_text() for text in texts_of(figure)]
    shown = figure.axes[0].images[0].get_array()
    assert shown.max() == 1.0 and shown.shape == (28, 28)  # uint8 shown as 0..1, ink dark on the binary map.
    plots.save_figure(figure, tmp_path / "a.png")
    assert PIL.Image.open(tmp_path / "a.png").size[0] > PIL.Image.open(tmp_path / "a.png").size[1]
