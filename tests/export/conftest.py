"""Shared fixtures of the export tests: one tiny digit run per test module, and its Keras reference."""

import numpy as np
import pytest

import nophd
from nophd import cli, runs
from nophd.data import mnist


@pytest.fixture(scope="module")
def digit_run(tmp_path_factory):
    """A conv run on the tiny font digits (about 90% test accuracy), and its data folder.

    One per test module: the modules export into it and damage copies of it on their own.
    """
    from nophd.data import synthetic

    data = synthetic.write_mnist_like(tmp_path_factory.mktemp("data"), train_count=1200, test_count=300, seed=0)
    run = tmp_path_factory.mktemp("runs") / "conv"
    # The CLI tests' recipe: a gentler learning rate than 0.01, which can kill every relu on 1,200 images.
    nophd.train("conv", epochs=5, learning_rate=0.002, seed=1, data_dir=data, out=run, progress=False)
    return run, data


@pytest.fixture(scope="module")
def keras_reference(digit_run):
    """The run's Keras model's probabilities on the tiny test set, the test images and labels."""
    import keras

    run, data = digit_run
    test = mnist.load(data)
    model = keras.models.load_model(run / runs.MODEL)
    probabilities = model.predict(test.test_images.astype(np.float32)[..., np.newaxis] / 255.0, verbose=0)
    return probabilities, test.test_images, test.test_labels.astype(np.int64)


def run_cli(capsys, *arguments):
    """nophd's CLI in-process: (exit status, stdout, stderr)."""
    code = cli.main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
