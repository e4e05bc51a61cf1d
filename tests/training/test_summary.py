"""summary.txt keeps every column of model.summary()."""

from __future__ import annotations

import os

import keras

from nophd.models import registry
from nophd.training import loop


def test_the_summary_keeps_the_parameter_column_without_a_terminal(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)  # As under nohup, CI or a pipe: rich falls back to 80 columns.
    text = loop.model_summary(registry.build("conv-bn"))
    assert "Param #" in text
    assert "313,600" in text  # The big Dense layer's parameter count, in the last column.
    assert "Total params: 354,538" in text


def test_a_functional_model_keeps_its_connected_to_column(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    inputs = keras.Input((8,))
    merged = keras.layers.Add()([keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)])
    text = loop.model_summary(keras.Model(inputs, merged))
    assert "Param #" in text and "Connected to" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert os.environ["COLUMNS"] == "80"  # Put back as it was.
