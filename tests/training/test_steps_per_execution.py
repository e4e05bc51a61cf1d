"""Several training steps per call of the compiled step: the same run, bit for bit."""

import keras
import numpy as np
import pytest

import nophd
from nophd import runs
from nophd.training import loop


@pytest.mark.parametrize("steps, expected", [(468, 6), (421, 1), (8, 8), (16, 8), (12, 6), (7, 7), (1, 1), (None, 1)])
def test_steps_per_execution_is_the_largest_divisor_of_the_epoch_up_to_eight(steps, expected):
    # It must divide the epoch: Keras rounds an epoch up to whole calls.
    assert loop.steps_per_execution(steps) == expected


def _train(tiny_mnist, out):
    # 256 images in batches of 32: 8 steps an epoch, so 8 a call.
    return nophd.train("conv-bn-fast", epochs=2, train_limit=256, test_limit=100, batch_size=32, seed=1,
                       data_dir=tiny_mnist, out=out, progress=False)


def test_a_run_with_several_steps_a_call_equals_one_with_one(tiny_mnist, tmp_path, monkeypatch):
    several = _train(tiny_mnist, tmp_path / "several")
    monkeypatch.setattr(loop, "MAX_STEPS_PER_EXECUTION", 1)
    one = _train(tiny_mnist, tmp_path / "one")
    models = [keras.models.load_model(run.run_directory / runs.MODEL) for run in (several, one)]
    assert [model.steps_per_execution for model in models] == [8, 1]  # Kept in the saved compile config.

    def figures(run):
        return [{key: row[key] for key in ("loss", "accuracy", "val_loss", "val_accuracy")}
                for row in runs.read_history(run.run_directory)]

    assert figures(several) == figures(one)
    assert several.test_accuracy == one.test_accuracy
    for left, right in zip(models[0].get_weights(), models[1].get_weights(), strict=True):
        np.testing.assert_array_equal(left, right)
