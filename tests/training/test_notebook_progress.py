"""The live notebook display: one display updated in place, with bar, ETA, metrics and curves."""

from __future__ import annotations

import base64
import re

import pytest

pytest.importorskip("IPython")

from nophd.training import notebook  # noqa: E402


class FakeHandle:
    def __init__(self, display):
        self.display = display

    def update(self, bundle, raw=False):
        assert raw is True
        self.display.record(bundle)


class FakeDisplay:
    """Stands in for IPython.display.display(bundle, raw=True, display_id=True): records what is shown."""

    def __init__(self):
        self.shown: list[str] = []  # The HTML of each display and update.
        self.plain: list[str] = []  # What a front end without HTML shows.
        self.calls = 0

    def __call__(self, bundle, raw=False, display_id=False):
        assert raw is True and display_id is True
        self.calls += 1
        self.record(bundle)
        return FakeHandle(self)

    def record(self, bundle):
        self.shown.append(bundle["text/html"])
        self.plain.append(bundle["text/plain"])


def _run_epochs(progress, history_rows, epochs, steps):
    progress.set_params({"epochs": epochs, "steps": steps})  # What Keras' fit gives a callback.
    progress.on_train_begin()
    for epoch in range(epochs):
        progress.on_epoch_begin(epoch)
        for step in range(steps):
            progress.last_update = -1e9  # every step is due for a redraw
            progress.on_train_batch_end(step, {"loss": 1.0 / (step + 1), "accuracy": 0.5})
        history_rows.append({"epoch": epoch + 1, "loss": 0.5 / (epoch + 1), "accuracy": 0.8 + 0.05 * epoch,
                             "val_loss": 0.6 / (epoch + 1), "val_accuracy": 0.75 + 0.05 * epoch})
        progress.on_epoch_end(epoch, history_rows[-1])


def test_one_display_updated_in_place_with_bar_eta_and_curves():
    display, rows = FakeDisplay(), []
    progress = notebook.NotebookProgress(2, 3, rows, prefix="fine-tune", display=display)
    _run_epochs(progress, rows, epochs=2, steps=3)

    assert display.calls == 1  # one display, then updates of it
    during = [shown for shown in display.shown if "step 2/3" in shown]
    assert during and "ETA" in during[0] and "<progress" in during[0] and "training (fine-tune)" in during[0]
    last = display.shown[-1]
    assert 'value="1.0000"' in last and "epoch 2/2" in last and "val_acc 80.00%" in last
    png = base64.b64decode(re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", last).group(1))
    assert png.startswith(b"\x89PNG")
    assert display.plain[-1].startswith("100% epoch 2/2") and "<" not in display.plain[-1]


def test_a_resumed_run_shows_its_earlier_epochs_and_counts_the_bar_from_where_it_resumed():
    display = FakeDisplay()
    rows = [{"epoch": 1, "loss": 0.4, "accuracy": 0.9, "val_loss": 0.3, "val_accuracy": 0.91}]
    progress = notebook.NotebookProgress(3, 2, rows, initial_epoch=1, display=display)
    progress.set_params({"epochs": 3, "steps": 2})
    progress.on_train_begin()
    assert "data:image/png;base64," in display.shown[0] and 'value="0.0000"' in display.shown[0]
    progress.on_epoch_begin(1)
    rows.append({"epoch": 2, "loss": 0.3, "accuracy": 0.92})
    progress.on_epoch_end(1, rows[-1])
    assert 'value="0.5000"' in display.shown[-1]  # One of the two epochs left is done.


def test_text_from_the_run_is_escaped():
    display = FakeDisplay()
    progress = notebook.NotebookProgress(1, 1, [], prefix="<script>x</script>", display=display)
    progress.set_params({"epochs": 1, "steps": 1})
    progress.on_train_begin()
    assert "<script>" not in display.shown[0] and "&lt;script&gt;" in display.shown[0]


def test_outside_a_kernel_the_text_progress_line_stays():
    assert notebook.in_notebook() is False
