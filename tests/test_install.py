"""Each documented install has exactly one TensorFlow; without one, nophd says how to get it.

The resolution tests ask pip what it would install (`--dry-run --report`),
which needs the package index: they skip, saying so, where it cannot be
reached. Where the index serves no separate wheel metadata (PEP 658), a plain
dry run downloads every wheel whole, about 3 GB for the `gpu` extra's
TensorFlow and NVIDIA wheels; `--use-feature=fast-deps` reads the metadata
with HTTP range requests instead (measured: the same 68 distributions, 24-31 s
instead of 46-77 s), so the tests use it when this pip has it.
"""

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
TENSORFLOW_DISTRIBUTIONS = {"tensorflow", "tensorflow-cpu"}


def _index_url() -> str:
    """The index pip uses here: PIP_INDEX_URL, else pip's configured one, else PyPI."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    configured = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                capture_output=True, text=True, timeout=60)
    url = configured.stdout.strip() if configured.returncode == 0 else ""
    return url or "https://pypi.org/simple"


def _index_unreachable_reason() -> str | None:
    """None when the index answers within a few seconds, else why not."""
    url = _index_url().rstrip("/") + "/tensorflow/"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5):
            return None
    except (urllib.error.URLError, OSError) as error:
        return f"package index {url} not reachable ({error})"


@pytest.fixture(scope="module")
def package_index():
    reason = _index_unreachable_reason()
    if reason:
        pytest.skip(reason)


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def resolve(extras: str, report: Path) -> set[str]:
    """The distribution names `pip install -e '<repository>[extras]'` would install into an empty environment."""
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
               "--report", str(report), "-e", f"{REPOSITORY}[{extras}]"]
    completed = subprocess.run([*command, "--use-feature=fast-deps"], capture_output=True, text=True, timeout=900)
    if completed.returncode != 0 and "fast-deps" in completed.stderr:
        # A pip without the feature: the same question, answered by downloading the wheels.
        completed = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, completed.stderr[-2000:]
    installs = json.loads(report.read_text(encoding="utf-8"))["install"]
    return {_normalise(item["metadata"]["name"]) for item in installs}


# The README's installs: a CPU machine, the tests and CI (the Makefile), a CUDA machine.
DOCUMENTED_INSTALLS = {"cpu": "tensorflow-cpu", "cpu,test": "tensorflow-cpu", "gpu": "tensorflow"}


@pytest.fixture(scope="module")
def resolved(package_index, tmp_path_factory) -> dict:
    """What each documented install resolves to, asked of pip for all of them at once.

    Each resolution mostly waits on the index, so the three run side by side
    (21 s together instead of 28 s one after the other, measured here with a benchmark running).
    """
    import concurrent.futures

    folder = tmp_path_factory.mktemp("pip-reports")
    with concurrent.futures.ThreadPoolExecutor(len(DOCUMENTED_INSTALLS)) as pool:
        futures = {extras: pool.submit(resolve, extras, folder / f"{extras.replace(',', '-')}.json")
                   for extras in DOCUMENTED_INSTALLS}
        return {extras: future.result() for extras, future in futures.items()}


@pytest.mark.parametrize("extras, expected", DOCUMENTED_INSTALLS.items())
def test_documented_install_has_exactly_one_tensorflow(resolved, extras, expected):
    names = resolved[extras]
    assert "nophd" in names
    assert names & TENSORFLOW_DISTRIBUTIONS == {expected}
    if extras == "gpu":
        assert "nvidia-cudnn-cu12" in names


def test_base_install_has_no_tensorflow():
    """The base dependencies leave the TensorFlow build to an extra; nothing in them may pull one in."""
    import tomllib

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = [requirement.split("=")[0].split("[")[0].strip() for requirement in project["dependencies"]]
    assert not TENSORFLOW_DISTRIBUTIONS & {_normalise(name) for name in base}
    extras = project["optional-dependencies"]
    assert extras["cpu"] == ["tensorflow-cpu==2.21.0"]
    assert extras["gpu"] == ["tensorflow[and-cuda]==2.21.0"]
    makefile = (REPOSITORY / "Makefile").read_text(encoding="utf-8")
    assert "-e '.[cpu,test]'" in makefile


def run_without_tensorflow(tmp_path, *arguments):
    """Runs `python -m nophd ARGUMENTS` where `import tensorflow` fails as it does when none is installed."""
    shim = tmp_path / "no-tensorflow" / "tensorflow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n", encoding="utf-8")
    python_path = [str(shim.parent), str(REPOSITORY / "src"), os.environ.get("PYTHONPATH", "")]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(part for part in python_path if part)}
    environment.pop("NOPHD_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "nophd", *map(str, arguments)], capture_output=True, text=True,
                          env=environment, cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("arguments", [
    ("train", "mnist", "--model", "dense", "--epochs", "1", "--quiet"),
    ("models",),
    ("export", "no-such-run", "--format", "savedmodel"),
])
def test_missing_tensorflow_is_one_line_and_exit_2(tmp_path, arguments):
    completed = run_without_tensorflow(tmp_path, *arguments)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines() == [
        "nophd: error: nophd needs TensorFlow: pip install 'nophd[cpu]' (or 'nophd[gpu]' on a CUDA machine)"]
    assert completed.stdout == ""


def test_installed_tensorflow_that_fails_to_import_is_not_called_missing(tmp_path):
    """A module missing inside TensorFlow is a broken install, not the missing-extra case."""
    shim = tmp_path / "broken" / "tensorflow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("import tensorflow_no_such_dependency\n", encoding="utf-8")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from nophd import quiet\n"
            "try:\n    quiet.import_tensorflow()\nexcept ModuleNotFoundError as error:\n    print(error.name)\n")
    completed = subprocess.run([sys.executable, "-c", code, str(shim.parent)], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(REPOSITORY / "src")}, timeout=60)
    assert completed.stdout.strip() == "tensorflow_no_such_dependency", completed.stderr
