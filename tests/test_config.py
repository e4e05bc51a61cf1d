"""Presets, overrides and saved configs."""

import dataclasses
import json

import pytest

from nophd import config, presets
from nophd.errors import ConfigError


def test_preset_carries_the_codelab_batch_norm_recipe():
    preset = presets.preset("conv-bn")
    assert (preset.optimizer, preset.learning_rate, preset.lr_decay, preset.batch_size, preset.epochs) == (
        "adam", 0.01, 0.666, 64, 10)
    assert preset.loss == "categorical_crossentropy"


def test_schedule_is_exponential_decay_per_epoch():
    schedule = presets.preset("dense-lrdecay").schedule()
    assert schedule[0] == pytest.approx(0.01)
    assert schedule[3] == pytest.approx(0.01 * 0.6**3)
    assert len(schedule) == 10
    assert presets.preset("dense").schedule() == [0.001] * 10


def test_override_checks_types_and_ignores_none():
    base = presets.preset("dense")
    changed = config.override(base, epochs=3, seed=None, learning_rate=0.002)
    assert (changed.epochs, changed.seed, changed.learning_rate) == (3, base.seed, 0.002)


@pytest.mark.parametrize("changes, field", [
    ({"epochs": 0}, "epochs"),
    ({"epochs": 2.5}, "epochs"),
    ({"batch_size": "big"}, "batch_size"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"lr_decay": 1.5}, "lr_decay"),
    ({"validation_split": 1.0}, "validation_split"),
    ({"optimizer": "rmsprop"}, "optimizer"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_overrides_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        config.override(presets.preset("dense"), **changes)


def test_saved_config_round_trips_and_rejects_unknown_keys():
    original = config.override(presets.preset("rnn-bigru"), epochs=2)
    assert config.from_dict(original.to_dict()) == original
    with pytest.raises(ConfigError, match="unknown fields extra"):
        config.from_dict({**original.to_dict(), "extra": 1})
    values = original.to_dict()
    del values["model"]
    with pytest.raises(ConfigError, match="missing fields model"):
        config.from_dict(values)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ConfigError) as raised:
        presets.preset("resnet")
    message = str(raised.value)
    assert "resnet" in message and "conv-bn" in message and "dense1" in message and "\n" not in message


def test_digit_augmentation_fields_are_declared_once_and_every_rung_is_off():
    from nophd.data import augment

    for kind in (config.Recipe, config.TrainConfig, augment.DigitAugmentation):
        # Inherited from one declaration, so a new strength reaches recipes, config.json and flags at once.
        assert issubclass(kind, augment.AugmentationFields), kind.__name__
        names = [field.name for field in dataclasses.fields(kind)]
        assert set(augment.FIELDS) <= set(names), kind.__name__
        assert all(field.kw_only for field in dataclasses.fields(kind) if field.name in augment.FIELDS)
    for name in presets.names():  # The codelab's rungs train exactly as before.
        if presets.get(name).family != "beyond":
            assert not presets.preset(name).augmentation.enabled, name


def test_digit_augmentation_overrides_round_trip_through_config_json():
    changed = config.override(presets.preset("conv-bn"), rotate_degrees=10, elastic_alpha=34, elastic_sigma=4,
                              thickness_pixels=1, noise_std=0.05)
    assert changed.augmentation == augment_of(rotate_degrees=10.0, elastic_alpha=34.0, elastic_sigma=4.0,
                                              thickness_pixels=1, noise_std=0.05)
    saved = json.loads(json.dumps(changed.to_dict()))
    assert saved["rotate_degrees"] == 10.0 and saved["thickness_pixels"] == 1
    assert config.from_dict(saved) == changed


def augment_of(**strengths):
    from nophd.data import augment

    return augment.DigitAugmentation(**strengths)


def test_a_config_json_from_before_augmentation_loads_with_it_off():
    from nophd.data import augment

    values = config.override(presets.preset("conv-bn"), epochs=2).to_dict()
    for name in augment.FIELDS:
        del values[name]
    loaded = config.from_dict(values)
    assert loaded.augmentation == augment.DigitAugmentation() and loaded.shift_pixels == 2


@pytest.mark.parametrize("changes, field", [
    ({"rotate_degrees": 120}, "rotate_degrees"),
    ({"scale_range": -0.1}, "scale_range"),
    ({"thickness_pixels": 1.5}, "thickness_pixels"),
    ({"elastic_alpha": 34}, "elastic_sigma"),
    ({"noise_std": "lots"}, "noise_std"),
])
def test_bad_augmentation_overrides_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=f"^{field}: expected"):
        config.override(presets.preset("dense"), **changes)


def test_override_ignores_none_unsets_with_unset_and_cosine_drops_the_recipes_decay():
    decaying = presets.preset("conv-bn")
    assert decaying.lr_decay is not None
    assert config.override(decaying, lr_decay=None).lr_decay == decaying.lr_decay  # None: not given.
    assert config.override(decaying, lr_decay=config.UNSET).lr_decay is None
    cosine = config.override(decaying, lr_schedule="cosine", warmup_epochs=0.5)
    assert cosine.lr_schedule == "cosine" and cosine.lr_decay is None
    with pytest.raises(ConfigError, match="lr_decay"):  # Both named: the conflict is the caller's, and said.
        config.override(decaying, lr_schedule="cosine", lr_decay=0.9)


def test_a_config_json_of_your_own_model_reads_back():
    # What nophd.RunFolder writes: only what a callback can know, user settings kept as given.
    record = config.CustomConfig(model="my-cnn", dataset="random", optimizer="rmsprop", loss="mse", epochs=3,
                                 class_names=("a", "b"), user_config={"dropout": 0.3, "layers": [16, 8]})
    saved = record.to_dict()
    assert saved["task"] == "custom" and "shuffle_buffer" not in saved and "lr_schedule" not in saved
    assert saved["learning_rate"] is None and saved["batch_size"] is None and saved["seed"] is None
    assert config.class_for(saved) is config.CustomConfig
    assert config.from_dict(json.loads(json.dumps(saved))) == record
    assert config.evaluated_split_of(saved) == "validation"
    with pytest.raises(ConfigError, match="^batch_size: expected a whole number >= 1, got 0$"):
        config.from_dict({**saved, "batch_size": 0})


def test_two_class_digit_runs_and_the_binary_loss_are_checked():
    binary = presets.preset("dense-binary")
    assert (binary.loss, binary.classes, binary.output_units) == ("binary_crossentropy", "even-odd", 1)
    assert config.override(presets.preset("dense"), classes="even-odd").output_units == 2
    assert presets.preset("dense").output_units == 10 and presets.preset("dense").classes == "digits"
    with pytest.raises(ConfigError, match="binary_crossentropy needs two classes"):
        config.override(binary, classes="digits")
    with pytest.raises(ConfigError, match="classes: expected one of digits, even-odd"):
        config.override(presets.preset("dense"), classes="vowels")
    with pytest.raises(ConfigError, match="binary_crossentropy trains on one device"):
        config.override(binary, strategy="mirrored")
    with pytest.raises(ConfigError, match="label_smoothing: needs loss categorical_crossentropy"):
        config.override(binary, label_smoothing=0.1)
    # A photo folder's classes are known when the run starts: two are needed for one sigmoid.
    assert config.photo_config("two-folders", loss="binary_crossentropy").loss == "binary_crossentropy"
    with pytest.raises(ConfigError, match="needs exactly two classes, not 3"):
        config.photo_config("flowers", loss="binary_crossentropy", class_names=("a", "b", "c"))
    assert config.from_dict(binary.to_dict()) == binary


def test_flags_go_on_the_1s_of_ten_digit_runs_only():
    fast = presets.preset("conv-bn-fast")
    assert fast.flag_share > 0 and presets.preset("conv-bn-best").flag_share == fast.flag_share
    # Two classes drop the rung's flags, as the cosine schedule drops a decay; the rest of the recipe stays.
    two = config.override(fast, classes="even-odd")
    assert two.flag_share == 0 and two.band_share == fast.band_share
    # Asked for by name, they are refused in one line naming the field.
    with pytest.raises(ConfigError, match=r"^flag_share: flags go on the 1s, which classes even-odd does not tell "
                                          r"apart; set it to 0 \(--flag-share 0\)$"):
        config.override(fast, classes="even-odd", flag_share=0.2)
    with pytest.raises(ConfigError, match="^flag_share: "):
        config.override(two, flag_share=0.2)
    assert config.override(two, classes="digits", flag_share=0.15).flag_share == 0.15
    # A config.json from before two-class runs reads as the ten digits.
    values = presets.preset("dense").to_dict()
    del values["classes"]
    assert config.from_dict(values).classes == "digits"
