"""Gradient clipping: clipnorm and clipvalue are checked, reach the optimizer and are saved with the run."""

import json

import keras
import numpy as np
import pytest

from nophd import cli, config, presets
from nophd.errors import ConfigError
from nophd.training import loop


@pytest.mark.parametrize("field", ["clipnorm", "clipvalue"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("inf"), float("nan")])
def test_clipping_must_be_a_positive_finite_number(field, value):
    with pytest.raises(ConfigError, match=f"{field}: expected a positive number"):
        config.override(presets.preset("dense"), **{field: value})


def test_each_clipping_reaches_the_optimizer_and_round_trips_through_config_json():
    for changes, expected in (({"clipnorm": 2.0}, (2.0, None)), ({"clipvalue": 0.5}, (None, 0.5))):
        run_config = config.override(presets.preset("dense"), **changes)
        optimizer = loop.make_optimizer(run_config)
        assert (optimizer.clipnorm, optimizer.clipvalue) == expected
        assert config.from_dict(run_config.to_dict()) == run_config
    # rnn-bigru's clipnorm stays, and a clipvalue beside it is refused: Keras takes one.
    assert loop.make_optimizer(presets.preset("rnn-bigru")).clipnorm == 1.0
    with pytest.raises(ConfigError, match="clipvalue: .*not both"):
        config.override(presets.preset("rnn-bigru"), clipvalue=0.5)
    plain = loop.make_optimizer(presets.preset("dense"))
    assert (plain.clipnorm, plain.clipvalue) == (None, None)


def test_clipvalue_bounds_every_gradient_element():
    # SGD at learning rate 1 moves each weight by its (clipped) gradient: a
    # squared error of about 10^4 has gradients far beyond 1e-3.
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros")])
    run_config = config.override(presets.preset("dense1"), learning_rate=1.0, clipvalue=1e-3)
    model.compile(optimizer=loop.make_optimizer(run_config), loss="mse")
    model.fit(np.full((4, 3), 10.0, np.float32), np.full((4, 2), 100.0, np.float32), batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(np.asarray(model.layers[0].kernel), 1e-3, rtol=1e-5)


def test_the_train_flags_set_and_save_the_clipping(tiny_mnist, tmp_path, capsys):
    run_directory = tmp_path / "clipped"
    code = cli.main(["train", "mnist", "--model", "dense1", "--epochs", "1", "--train-limit", "256", "--test-limit",
                     "64", "--clipvalue", "0.5", "--data-dir", str(tiny_mnist), "--out", str(run_directory), "--quiet"])
    assert code == 0, capsys.readouterr().err
    saved = json.loads((run_directory / "config.json").read_text())
    assert (saved["clipnorm"], saved["clipvalue"]) == (None, 0.5)
    for flags in (("--clipvalue", "inf"), ("--clipnorm", "1", "--clipvalue", "0.5")):
        capsys.readouterr()
        code = cli.main(["train", "mnist", "--model", "dense1", *flags, "--data-dir", str(tiny_mnist),
                         "--out", str(tmp_path / "refused"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2 and "clipvalue" in err and len(err.strip().splitlines()) == 1, err
