"""The Python API (nophd.train_dataset, train, train_photos) refuses the flag mistakes `nophd train` refuses."""

import pytest

import nophd
from nophd.errors import ConfigError


@pytest.mark.parametrize("dataset, options, message", [
    ("mnist", {"model": "dense1", "base": "mobilenet_v2"}, "--base: only for photo datasets, not mnist"),
    ("mnist", {"model": "dense1", "lr_decay": 0.5}, "--lr-decay: only for photo datasets, not mnist"),
    ("mnist", {"image_size": 96}, "--image-size: only for photo datasets, not mnist"),  # Before --model.
    ("mnist", {}, "--model: required for mnist (see `nophd models`)"),
    ("flowers", {"model": "dense1"}, "--model: only for mnist; photo runs use --base and --head"),
    ("flowers", {"train_limit": 10}, "--train-limit: only for mnist; photo runs use --base and --head"),
    ("flowers", {"workers": "127.0.0.1:1,127.0.0.1:2"}, "--workers: photo runs do not support multi-worker training yet"),
])
def test_train_dataset_refuses_options_of_the_other_kind_of_run(tmp_path, dataset, options, message):
    with pytest.raises(ConfigError) as caught:
        nophd.train_dataset(dataset, out=tmp_path / "run", progress=False, **options)
    assert str(caught.value) == message
    assert not (tmp_path / "run").exists()


def test_none_means_unset(tmp_path):
    # The CLI passes every flag, unset ones as None: those are not "set".
    with pytest.raises(ConfigError, match="--model: required"):
        nophd.train_dataset("mnist", base=None, out=tmp_path / "run", progress=False)


def test_train_and_train_photos_refuse_the_same_options(tmp_path):
    # Before, the first said "unknown config field 'base'" and the second
    # silently ignored the model name.
    with pytest.raises(ConfigError, match="^--base: only for photo datasets, not mnist$"):
        nophd.train("dense1", base="mobilenet_v2", out=tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="^--model: only for mnist; photo runs use --base and --head$"):
        nophd.train_photos("flowers", model="dense1", out=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_photo_run_refuses_a_worker_index_without_workers(tmp_path):
    # As an MNIST run does; before, a photo run ignored --worker-index.
    with pytest.raises(ConfigError, match="--worker-index: only with --workers"):
        nophd.train_photos("flowers", worker_index=1, out=tmp_path / "run", progress=False)


def test_open_run_reads_a_run_folder_and_shows_its_report_inline(tmp_path):
    import json

    from nophd.errors import RunError

    with pytest.raises(RunError, match="not a run folder"):
        nophd.open_run(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model": "dense1", "dataset": "mnist"}))
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "dense1", "test_accuracy": 0.9, "status": "finished"}))
    run = nophd.open_run(tmp_path)
    assert run.test_accuracy == 0.9 and run.run_directory == tmp_path
    inline = run._repr_html_()
    assert inline.startswith('<div class="nophd-report">') and "<html" not in inline and "90.00%" in inline
