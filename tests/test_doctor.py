"""nophd doctor on this CPU machine: the CPU build, no GPU, and the data found where training finds it."""

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nophd import cli, doctor

REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cpu_build():
    """This suite runs on tensorflow-cpu; the assertions below describe that build."""
    try:
        version = importlib.metadata.version("tensorflow-cpu")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("tensorflow-cpu is not the installed TensorFlow here")
    return version


def test_report_names_the_cpu_build_and_no_gpu(cpu_build, tiny_mnist, tmp_path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "mobilenet_v2_1.0_224_no_top.weights.h5").write_bytes(b"not read by doctor")
    monkeypatch.setenv("NOPHD_DATA", str(tmp_path))
    monkeypatch.delenv("TPU_NAME", raising=False)

    report = doctor.collect(data_dir=tiny_mnist)

    import tensorflow as tf
    import keras

    assert report["tensorflow"]["version"] == tf.__version__
    assert report["tensorflow"]["distributions"] == [f"tensorflow-cpu {cpu_build}"]
    assert report["tensorflow"]["cuda_build"] is False
    assert report["tensorflow"]["warning"] is None
    assert report["keras"] == {"version": keras.__version__, "backend": "tensorflow"}
    assert report["devices"]["cpu"] == ["/physical_device:CPU:0"]
    assert report["devices"]["gpu"] == []
    assert report["devices"]["tpu"]["devices"] == []
    assert report["xla"]["available"] is True
    assert report["mixed_precision"]["device"] == "/CPU:0"
    assert report["mixed_precision"]["bfloat16"] is True
    assert report["mixed_precision"]["policy"] == "mixed_bfloat16"
    assert report["onednn"]["on"] in (True, False)
    # The same places training looks: --data-dir's MNIST, and the weights beside it in $NOPHD_DATA/weights.
    assert report["data"]["mnist"]["found"] == str(tiny_mnist)
    assert report["data"]["flowers"]["found"] is None
    assert report["data"]["weights"]["mobilenet_v2"] == str(weights / "mobilenet_v2_1.0_224_no_top.weights.h5")
    assert report["data"]["weights"]["mobilenet_v1_025"] == "imagenet"
    json.dumps(report)  # --json prints it as is

    lines = doctor.format_report(report).splitlines()
    assert f"tensorflow  {tf.__version__}: CPU build (no CUDA), from tensorflow-cpu {cpu_build}" in lines
    assert "gpu         none visible: this is a CPU build; install nophd[gpu] on a CUDA machine" in lines
    assert f"mnist       {tiny_mnist}" in lines


def test_two_tensorflow_distributions_are_flagged(monkeypatch):
    installed = {"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"}

    def version(name):
        if name not in installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed[name]

    monkeypatch.setattr(doctor.importlib.metadata, "version", version)
    build = doctor._tensorflow_build()
    assert build["distributions"] == ["tensorflow 2.21.0", "tensorflow-cpu 2.21.0"]
    assert "same tensorflow/ package" in build["warning"]


def test_cli_prints_the_report_and_json(cpu_build, capsys):
    assert cli.main(["doctor"]) == 0
    text = capsys.readouterr().out
    assert "CPU build (no CUDA)" in text
    assert "gpu         none visible" in text
    assert cli.main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["devices"]["gpu"] == []
    assert report["tensorflow"]["cuda_build"] is False


def test_without_tensorflow_doctor_still_reports_then_exits_2(tmp_path):
    shim = tmp_path / "no-tensorflow" / "tensorflow"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'tensorflow'\", name='tensorflow')\n", encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim.parent), str(REPOSITORY / "src")])}
    completed = subprocess.run([sys.executable, "-m", "nophd", "doctor"], capture_output=True, text=True,
                               env=environment, cwd=tmp_path, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "nophd: error: nophd needs TensorFlow: pip install 'nophd[cpu]' (or 'nophd[gpu]' on a CUDA machine)"]
    assert "tensorflow  not importable" in completed.stdout
    assert "mnist " in completed.stdout


def test_a_tensorflow_that_does_not_import_is_reported_not_raised(monkeypatch):
    def broken():
        raise ImportError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(doctor.quiet, "import_tensorflow", broken)
    report = doctor.collect()
    assert report["tensorflow"]["version"] is None
    assert "does not import (ImportError: libcudnn.so.9" in report["tensorflow"]["error"]
    assert report["devices"] is None
    assert "tensorflow  not importable" in doctor.format_report(report)


def test_gpu_lines_name_each_gpu_with_its_memory(cpu_build):
    """The GPU branch of the formatter, fed a report shaped as collect() makes it on a CUDA machine."""
    report = doctor.collect()
    report["tensorflow"].update(cuda_build=True, cuda_version="12.5.1", cudnn_version="9")
    report["devices"]["gpu"] = [{"name": "/physical_device:GPU:0", "device_name": "NVIDIA H200",
                                 "compute_capability": "9.0", "memory_limit_bytes": 130 * 2**30,
                                 "memory_in_use_bytes": 2**29}]
    lines = doctor.format_report(report).splitlines()
    assert any(line.endswith("GPU build (CUDA 12.5.1, cuDNN 9), from tensorflow-cpu " + cpu_build) for line in lines)
    assert ("gpu         /physical_device:GPU:0: NVIDIA H200, compute capability 9.0, 130.0 GiB for TensorFlow, "
            "0.5 GiB in use") in lines


@pytest.mark.parametrize("enabled, setting, machine, hinted", [
    (False, None, "x86_64", True),  # TensorFlow left them off by itself on an x86 CPU.
    (False, None, "AMD64", True),
    (True, None, "x86_64", False),  # On already.
    (False, "0", "x86_64", False),  # The user chose off.
    (False, None, "aarch64", False),  # Not measured on ARM.
    (None, None, "x86_64", False),  # Unknown.
])
def test_onednn_hint_only_where_tensorflow_left_the_kernels_off_on_x86(enabled, setting, machine, hinted):
    hint = doctor.onednn_hint(enabled, setting, machine)
    assert (hint is not None) == hinted
    if hinted:
        assert "TF_ENABLE_ONEDNN_OPTS=1" in hint and "benchmarks/scaling.py --onednn" in hint


def test_the_onednn_hint_is_printed_under_its_line(tiny_mnist):
    report = doctor.collect(data_dir=tiny_mnist)
    report["onednn"] = {"on": False, "detail": "TF_ENABLE_ONEDNN_OPTS unset: TensorFlow's default for this CPU",
                        "hint": doctor.onednn_hint(False, None, "x86_64")}
    lines = doctor.format_report(report).splitlines()
    at = lines.index("onednn      off (TF_ENABLE_ONEDNN_OPTS unset: TensorFlow's default for this CPU)")
    assert lines[at + 1].strip() == report["onednn"]["hint"]
    report["onednn"]["hint"] = None
    assert not any("TF_ENABLE_ONEDNN_OPTS=1" in line for line in doctor.format_report(report).splitlines())
