"""Shared test configuration: quiet TensorFlow, the real-data and slow markers."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Matplotlib must never try to open a window during tests.
os.environ.setdefault("MPLBACKEND", "Agg")

REPOSITORY = Path(__file__).resolve().parents[1]


def real_data_root() -> Path | None:
    """The folder holding the real datasets (NOPHD_DATA, else ../shared/data), or None."""
    candidates = [os.environ.get("NOPHD_DATA"), REPOSITORY.parent / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "mnist" / "train-images-idx3-ubyte.gz").exists():
            return Path(candidate).resolve()
    return None


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


# The files that take longest, longest first (worker seconds of one `make test`
# on a 2-core machine: 374, 282, 207, 164, 102, 100, 90, 68, 66, 66, 59).
# `make test` hands whole files to two workers in collection order
# (--dist loadfile --no-loadscope-reorder); starting with these, the short
# files even out the end and both workers finish together.
LONGEST_FIRST = (
    "training/test_photos.py", "training/test_distribute.py", "examples/test_notebooks.py", "test_cli.py",
    "models/test_lite_weights.py", "models/test_transfer.py", "training/test_schedule.py",
    "training/test_advanced_layers.py", "export/test_export_photos.py", "export/test_export.py",
    "test_run_folders.py",
)


def _file_rank(item) -> int:
    path, tests = item.path.resolve(), REPOSITORY / "tests"
    relative = path.relative_to(tests).as_posix() if path.is_relative_to(tests) else ""
    return LONGEST_FIRST.index(relative) if relative in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(config, items):
    root = real_data_root()
    for item in items:
        if "slow" in item.keywords and not config.getoption("--run-slow"):
            item.add_marker(pytest.mark.skip(reason="slow: pass --run-slow"))
        if "realdata" in item.keywords and root is None:
            item.add_marker(pytest.mark.skip(reason="real MNIST not found (set NOPHD_DATA)"))
    # A stable sort: each file's tests stay together and in order.
    items.sort(key=_file_rank)


@pytest.fixture
def real_data() -> Path:
    """The real data root (has mnist/); tests using it are marked realdata."""
    root = real_data_root()
    if root is None:
        pytest.skip("real MNIST not found (set NOPHD_DATA)")
    return root


@pytest.fixture(scope="session")
def tiny_mnist(tmp_path_factory) -> Path:
    """A folder with the four MNIST files holding 1,200 + 300 font-rendered digits."""
    from nophd.data import synthetic

    return synthetic.write_mnist_like(tmp_path_factory.mktemp("tiny-mnist"), train_count=1200, test_count=300, seed=0)


@pytest.fixture(autouse=True)
def isolated_data_locations(monkeypatch, tmp_path):
    """Tests never read the user's cache or NOPHD_DATA unless they ask for it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NOPHD_DATA", raising=False)
