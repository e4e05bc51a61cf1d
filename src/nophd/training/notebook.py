"""Live training progress inside a Jupyter notebook, through IPython's display.

In a notebook, the terminal progress line (nophd.training.callbacks.Progress)
would print a line per quarter epoch into the cell. There, `fit_epochs` uses
`NotebookProgress` instead: one display in the cell's output that is updated
in place (IPython's `display(..., display_id=True)` and `update`), with a
progress bar, the step, the metrics and the time left, and under it the
training curves, redrawn after every epoch. No extra server, no widgets
package: plain HTML with the curves as an embedded PNG, so the notebook keeps
the last picture when it is saved or rendered on GitHub.

IPython is imported only when a kernel is running; nothing here loads it
otherwise.
"""

from __future__ import annotations

import base64
import html
import io
import time
from typing import Any

import keras

from nophd import runs, text
from nophd.reports import plots
from nophd.training import callbacks

# Redraw the bar at most this often (seconds): each update is a message to the front end.
UPDATE_INTERVAL = 0.5


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a notebook, JupyterLab, Colab, nbclient), False in a terminal or plain Python.

    IPython's terminal shell has no kernel, so `ipython` in a terminal keeps
    the text progress line.
    """
    import sys

    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class NotebookProgress(keras.callbacks.Callback):
    """One live display per training phase: a progress bar with ETA, the latest metrics and the curves so far.

    Args:
        epochs: the last epoch of the run (1-based count), as Progress takes it.
        steps_per_epoch: training steps in one epoch.
        history_rows: the run's history rows (nophd.training.callbacks.RunRecorder
            appends one per epoch before this callback sees the epoch end), so a
            resumed run's curves start at epoch 1, not where it resumed.
        prefix: the phase ("frozen", "fine-tune") or worker, shown in the title.
        initial_epoch: where this fit starts (a resumed run, the fine-tuning
            phase); the bar counts the epochs from there to `epochs`.
        display: IPython.display's `display` (a stand-in in tests).

    Example:
        model.fit(data, epochs=5, callbacks=[NotebookProgress(5, 469, history_rows)])
    """

    def __init__(self, epochs: int, steps_per_epoch: int, history_rows: list[dict], prefix: str = "",
                 initial_epoch: int = 0, display=None):
        super().__init__()
        self.epochs = epochs
        self.initial_epoch = initial_epoch
        self.steps_per_epoch = steps_per_epoch
        self.history_rows = history_rows
        self.prefix = prefix
        if display is None:
            from IPython.display import display
        self._display = display
        self._handle = None
        self._curves_png: bytes | None = None
        self.epoch_seconds: list[float] = []
        self.epoch = 0
        self.line = ""

    def on_train_begin(self, logs=None):
        if self.history_rows:
            self._curves_png = curves_png(self.history_rows)
        self.line = "starting"
        self._handle = self._display(self._bundle(self._done_fraction(self.initial_epoch, 0)), raw=True,
                                     display_id=True)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.epoch_start = time.monotonic()
        self.last_update = 0.0

    def on_train_batch_end(self, batch, logs=None):
        now = time.monotonic()
        step = batch + 1
        if step == self.steps_per_epoch or now - self.last_update < UPDATE_INTERVAL:
            return
        self.last_update = now
        step_seconds = (now - self.epoch_start) / step
        epoch_left = step_seconds * (self.steps_per_epoch - step)
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else step_seconds * self.steps_per_epoch
        run_left = epoch_left + per_epoch * (self.epochs - self.epoch - 1)
        self.line = (f"epoch {self.epoch + 1}/{self.epochs} · step {step}/{self.steps_per_epoch} · "
                     f"{callbacks.metric_text(logs or {})} · ETA {text.format_duration(run_left)}")
        self._update(self._done_fraction(self.epoch, step))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.monotonic() - self.epoch_start)
        run_left = sum(self.epoch_seconds) / len(self.epoch_seconds) * (self.epochs - epoch - 1)
        self.line = (f"epoch {epoch + 1}/{self.epochs} · {callbacks.metric_text(logs or {})}"
                     + (f" · {callbacks.metric_text(logs or {}, 'val_')}" if "val_accuracy" in (logs or {}) else "")
                     + f" · {self.epoch_seconds[-1]:.1f} s" + (f" · ETA {text.format_duration(run_left)}" if run_left else ""))
        self._curves_png = curves_png(self.history_rows or [{"epoch": epoch + 1, **(logs or {})}])
        self._update(self._done_fraction(epoch + 1, 0))

    def _done_fraction(self, epochs_done: int, step: int) -> float:
        total = max(1, (self.epochs - self.initial_epoch) * self.steps_per_epoch)
        return min(1.0, max(0.0, ((epochs_done - self.initial_epoch) * self.steps_per_epoch + step) / total))

    def _update(self, fraction: float) -> None:
        if self._handle is not None:
            self._handle.update(self._bundle(fraction), raw=True)

    def _bundle(self, fraction: float) -> dict[str, str]:
        """The display's MIME bundle: HTML for notebooks, the status line for front ends without HTML (a console)."""
        return {"text/html": self.render(fraction), "text/plain": f"{100 * fraction:.0f}% {self.line}"}

    def render(self, fraction: float) -> str:
        """The display's HTML: title, bar, status line, curves picture (when an epoch has ended)."""
        title = "training" + (f" ({self.prefix})" if self.prefix else "")
        picture = ""
        if self._curves_png:
            encoded = base64.b64encode(self._curves_png).decode("ascii")
            picture = f'<img alt="training curves" style="max-width:100%" src="data:image/png;base64,{encoded}">'
        return (
            f'<div class="nophd-progress"><b>{html.escape(title)}</b> '
            f'<progress value="{fraction:.4f}" max="1" style="width:40%;vertical-align:middle"></progress> '
            f"{100 * fraction:.0f}%<br><code>{html.escape(self.line)}</code>{picture}</div>"
        )


def curves_png(history_rows: list[dict[str, Any]]) -> bytes:
    """The run's loss and accuracy curves (nophd.reports.plots.curves_figure) as PNG bytes."""
    buffer = io.BytesIO()
    plots.curves_figure(runs.history_columns(history_rows)).savefig(buffer, format="png", dpi=72, facecolor="white")
    return buffer.getvalue()
