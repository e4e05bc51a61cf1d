"""Shared helpers of the training tests."""

import pytest

from nophd.training import callbacks


@pytest.fixture
def interrupted_after_first_epoch(monkeypatch):
    """Calls train(), which must stop with KeyboardInterrupt right after its first epoch's files are written."""

    def run(train, *args, **kwargs):
        original = callbacks.RunRecorder.on_epoch_end

        def on_epoch_end(self, epoch, logs=None):
            original(self, epoch, logs)
            if epoch == 0:
                raise KeyboardInterrupt

        with monkeypatch.context() as patch:
            patch.setattr(callbacks.RunRecorder, "on_epoch_end", on_epoch_end)
            with pytest.raises(KeyboardInterrupt):
                train(*args, **kwargs)

    return run
