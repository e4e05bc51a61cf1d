"""What this environment gives nophd: the TensorFlow build, its devices, and where data and weights are.

`collect()` returns a JSON-ready dict; `format_report()` turns it into the
lines `nophd doctor` prints. Every probe is local and quick: nothing is
downloaded and no TPU or remote host is contacted. A probe that fails
records its error in the report rather than raising, so the report is
always complete.

Example:
    from nophd import doctor
    report = doctor.collect()
    print(doctor.format_report(report))
    report["devices"]["gpu"]  # [] on a machine without a GPU
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import sys

from nophd import quiet, version
from nophd.errors import NophdError

# The distributions that install the tensorflow/ package. Two of them in one
# environment overwrite each other's files.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tensorflow-intel", "tensorflow-macos",
                            "tf-nightly", "tf-nightly-cpu")


def collect(data_dir=None) -> dict:
    """Probes TensorFlow, Keras, the devices, and the data and weights locations.

    Args:
        data_dir: a folder as `nophd train --data-dir` takes; None searches
            the default places ($NOPHD_DATA, then the cache).

    Returns:
        A dict of plain values (see format_report for their meaning). When
        no TensorFlow is installed, report["tensorflow"]["error"] says how to
        install one and the device probes are None.

    Example:
        collect()["tensorflow"]["distributions"]  # ['tensorflow-cpu 2.21.0']
    """
    report = {
        "python": f"{platform.python_version()} ({sys.executable})",
        "nophd": version.__version__,
        "tensorflow": _tensorflow_build(),
        "keras": {"version": _installed_version("keras"), "backend": None},
        "devices": None,
        "onednn": None,
        "xla": None,
        "mixed_precision": None,
        "data": _data_locations(data_dir),
    }
    if report["tensorflow"]["error"] is None:
        tf = quiet.import_tensorflow()
        report["tensorflow"].update(_build_info(tf))
        report["keras"]["backend"] = _keras_backend()
        report["devices"] = _devices(tf)
        report["onednn"] = _onednn()
        report["xla"] = _xla(tf)
        report["mixed_precision"] = _mixed_precision(tf, report["devices"])
        report["data"]["weights"] = _weights(data_dir)
    return report


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _tensorflow_build() -> dict:
    """Which TensorFlow distributions are installed, and whether `import tensorflow` works."""
    installed = [f"{name} {version}" for name in TENSORFLOW_DISTRIBUTIONS
                 if (version := _installed_version(name)) is not None]
    build = {"version": None, "distributions": installed, "error": None, "warning": None}
    if len(installed) > 1:
        build["warning"] = (f"{len(installed)} TensorFlow distributions installed ({', '.join(installed)}): they write "
                            "the same tensorflow/ package; uninstall them all, then install nophd[cpu] or nophd[gpu]")
    try:
        tf = quiet.import_tensorflow()
    except quiet.MissingTensorFlowError as error:
        build["error"] = str(error)
        return build
    except ImportError as error:
        # Installed but broken (a missing shared library, a half-removed
        # second distribution): the very case a user runs doctor for.
        build["error"] = (f"TensorFlow is installed but does not import ({_first_line(error)}); "
                          "uninstall it and install nophd[cpu] or nophd[gpu] again")
        return build
    build["version"] = tf.__version__
    return build


def _build_info(tf) -> dict:
    """CUDA/cuDNN versions the build was made with (None for a CPU build)."""
    info = dict(tf.sysconfig.get_build_info())
    cuda = bool(info.get("is_cuda_build"))
    return {
        "cuda_build": cuda,
        "rocm_build": bool(info.get("is_rocm_build")),
        "cuda_version": info.get("cuda_version") if cuda else None,
        "cudnn_version": info.get("cudnn_version") if cuda else None,
    }


def _keras_backend() -> str | None:
    try:
        import keras
    except ImportError:
        return None
    return keras.backend.backend()


def _first_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return f"{type(error).__name__}: {text[:200]}"


def _devices(tf) -> dict:
    """The CPUs and GPUs TensorFlow sees, with GPU names and memory, and any TPU sign on this host."""
    devices = {"cpu": [device.name for device in tf.config.list_physical_devices("CPU")], "gpu": [], "tpu": None}
    gpus = tf.config.list_physical_devices("GPU")
    memory_limits = _gpu_memory_limits() if gpus else {}
    for index, gpu in enumerate(gpus):
        entry = {"name": gpu.name, "device_name": None, "compute_capability": None,
                 "memory_limit_bytes": memory_limits.get(index), "memory_in_use_bytes": None}
        try:
            details = tf.config.experimental.get_device_details(gpu)
            entry["device_name"] = details.get("device_name")
            capability = details.get("compute_capability")
            entry["compute_capability"] = ".".join(map(str, capability)) if capability else None
        except (RuntimeError, ValueError) as error:
            entry["error"] = _first_line(error)
        try:
            entry["memory_in_use_bytes"] = tf.config.experimental.get_memory_info(f"GPU:{index}")["current"]
        except (RuntimeError, ValueError) as error:
            entry.setdefault("error", _first_line(error))
        devices["gpu"].append(entry)
    devices["tpu"] = _tpu(tf)
    return devices


def _gpu_memory_limits() -> dict[int, int]:
    """Bytes TensorFlow may allocate on each GPU, by index (what device_lib reports as memory_limit)."""
    try:
        from tensorflow.python.client import device_lib

        local = device_lib.list_local_devices()
    except Exception:  # A private API: any failure only loses the memory figure.
        return {}
    limits = {}
    for device in local:
        if device.device_type == "GPU":
            limits[int(device.name.rsplit(":", 1)[-1])] = int(device.memory_limit)
    return limits


def _tpu(tf) -> dict:
    """Whether a TPU is attached or named, without contacting one (initializing a TPU system can take minutes)."""
    local = [device.name for device in tf.config.list_physical_devices("TPU")]
    accelerators = sorted(glob.glob("/dev/accel*")) + sorted(glob.glob("/dev/vfio/[0-9]*"))
    tpu_name = os.environ.get("TPU_NAME")
    found = bool(local or tpu_name or accelerators)
    if local:
        detail = f"{len(local)} TPU device(s) visible"
    elif tpu_name:
        detail = f"TPU_NAME={tpu_name} set; `--strategy tpu` connects to it at the start of a run"
    elif accelerators:
        detail = f"{', '.join(accelerators)} present (a TPU VM?); `--strategy tpu` initializes it"
    else:
        detail = "none (no TPU device, no TPU_NAME, no /dev/accel*)"
    return {"found": found, "devices": local, "detail": detail}


def _onednn() -> dict:
    """Whether TensorFlow's oneDNN CPU kernels are on: TF_ENABLE_ONEDNN_OPTS, else TensorFlow's own choice for this CPU."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    try:
        from tensorflow.python.util import _pywrap_util_port

        enabled = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        enabled = None
    reason = (f"TF_ENABLE_ONEDNN_OPTS={setting}" if setting is not None
              else "TF_ENABLE_ONEDNN_OPTS unset: TensorFlow's default for this CPU")
    return {"on": enabled, "detail": reason, "hint": onednn_hint(enabled, setting, platform.machine())}


def onednn_hint(enabled: bool | None, setting: str | None, machine: str) -> str | None:
    """What to try when TensorFlow left its oneDNN kernels off on an x86 CPU by itself, else None.

    TensorFlow turns them on by itself only on some x86 CPUs (those with
    AVX-512, for one). On a 2-core AMD EPYC with AVX2 only, where it leaves
    them off, `benchmarks/scaling.py --onednn --rounds 3` measured
    conv-bn-fast training 1.30x as many images a second with them on
    (README, "Is the GPU used?"). The user's own choice (the variable set)
    is left alone.

    Example:
        onednn_hint(False, None, "x86_64")  # "export TF_ENABLE_ONEDNN_OPTS=1 may train faster ..."
    """
    if enabled is not False or setting is not None or machine.lower() not in ("x86_64", "amd64"):
        return None
    return ("export TF_ENABLE_ONEDNN_OPTS=1 may train faster here: 1.30x the images a second on a 2-core AVX2 CPU "
            "where TensorFlow also left oneDNN off (README); measure it with benchmarks/scaling.py --onednn")


def _xla(tf) -> dict:
    """Whether a tiny function compiles and runs with XLA (what `nophd train --jit` needs)."""
    try:
        result = tf.function(lambda x: x * 2.0 + 1.0, jit_compile=True)(tf.constant([1.0]))
        works = float(result[0]) == 3.0
        return {"available": works, "detail": "tf.function(jit_compile=True) runs" if works else "wrong result"}
    except Exception as error:  # Any failure means XLA is not usable here; say which.
        return {"available": False, "detail": _first_line(error)}


def _mixed_precision(tf, devices: dict) -> dict:
    """Whether float16 and bfloat16 matrix products run on the device training would use (first GPU, else CPU)."""
    device = "/GPU:0" if devices["gpu"] else "/CPU:0"
    support = {"device": device}
    for dtype_name in ("float16", "bfloat16"):
        try:
            with tf.device(device):
                matrix = tf.ones((4, 4), dtype=getattr(tf, dtype_name))
                product = tf.linalg.matmul(matrix, matrix)
            support[dtype_name] = float(product[0, 0]) == 4.0
        except Exception as error:  # An unsupported dtype raises one of several TF errors.
            support[dtype_name] = False
            support[f"{dtype_name}_error"] = _first_line(error)
    # What `nophd train --mixed-precision` picks (training/distribute.precision_policy).
    support["policy"] = "mixed_float16" if devices["gpu"] else "mixed_bfloat16"
    return support


def _data_locations(data_dir) -> dict:
    """Where MNIST and the flower photos are found, using the same search as training (no download)."""
    from nophd.data import flowers, mnist

    locations = {}
    for name, module in (("mnist", mnist), ("flowers", flowers)):
        searched = [str(folder) for folder in module.search_dirs(data_dir)]
        try:
            found = str(module.locate(data_dir, download=False))
        except NophdError:
            found = None
        locations[name] = {"found": found, "searched": searched}
    locations["weights"] = None
    return locations


def _weights(data_dir) -> dict:
    """Which backbone weights `nophd train flowers --weights auto` would load (needs Keras, so TensorFlow)."""
    from nophd.models import transfer

    found = {}
    for base in transfer.BACKBONES:
        try:
            found[base] = transfer.resolve_weights(base, transfer.AUTO, data_dir)
        except NophdError as error:
            found[base] = f"error: {error}"
    return found


def _bytes(count: int | None) -> str:
    return "?" if count is None else f"{count / 2**30:.1f} GiB"


def format_report(report: dict) -> str:
    """The report as the lines `nophd doctor` prints, one finding per line.

    Example:
        print(format_report(collect()))
    """
    tf_build = report["tensorflow"]
    distributions = ", ".join(tf_build["distributions"]) or "none"
    lines = [f"nophd       {report['nophd']}", f"python      {report['python']}"]
    if tf_build["error"]:
        lines.append(f"tensorflow  not importable (distributions installed: {distributions}): {tf_build['error']}")
    else:
        if tf_build["cuda_build"]:
            build = f"GPU build (CUDA {tf_build['cuda_version']}, cuDNN {tf_build['cudnn_version']})"
        elif tf_build["rocm_build"]:
            build = "ROCm build"
        else:
            build = "CPU build (no CUDA)"
        lines.append(f"tensorflow  {tf_build['version']}: {build}, from {distributions}")
    if tf_build["warning"]:
        lines.append(f"  WARNING   {tf_build['warning']}")
    keras = report["keras"]
    backend = f", backend {keras['backend']}" if keras["backend"] else ""
    lines.append(f"keras       {keras['version'] or 'not installed'}{backend}")
    devices = report["devices"]
    if devices is not None:
        lines.append(f"cpu         {', '.join(devices['cpu'])}")
        if not devices["gpu"]:
            gpu_note = "none visible" + ("" if tf_build["cuda_build"] else ": this is a CPU build; install nophd[gpu] "
                                                                            "on a CUDA machine")
            lines.append(f"gpu         {gpu_note}")
        for gpu in devices["gpu"]:
            capability = f", compute capability {gpu['compute_capability']}" if gpu["compute_capability"] else ""
            error = f" ({gpu['error']})" if gpu.get("error") else ""
            lines.append(f"gpu         {gpu['name']}: {gpu['device_name'] or '?'}{capability}, "
                         f"{_bytes(gpu['memory_limit_bytes'])} for TensorFlow, "
                         f"{_bytes(gpu['memory_in_use_bytes'])} in use{error}")
        lines.append(f"tpu         {devices['tpu']['detail']}")
        onednn = report["onednn"]
        state = {True: "on", False: "off", None: "unknown"}[onednn["on"]]
        lines.append(f"onednn      {state} ({onednn['detail']})")
        if onednn.get("hint"):
            lines.append(f"            {onednn['hint']}")
        xla = report["xla"]
        lines.append(f"xla         {'available' if xla['available'] else 'not available'} ({xla['detail']})")
        mixed = report["mixed_precision"]
        kinds = [name for name in ("float16", "bfloat16") if mixed[name]]
        lines.append(f"mixed       {', '.join(kinds) or 'neither float16 nor bfloat16'} run on {mixed['device']}; "
                     f"--mixed-precision uses {mixed['policy']}")
    for name in ("mnist", "flowers"):
        location = report["data"][name]
        where = location["found"] or f"not found (looked in {', '.join(location['searched'])}; downloaded on first use)"
        lines.append(f"{name:11s} {where}")
    weights = report["data"]["weights"]
    if weights is not None:
        for base, found in weights.items():
            if found == "imagenet":
                found = "not found locally: Keras' ImageNet weights (its cache, else a download)"
            lines.append(f"weights     {base}: {found}")
    return "\n".join(lines)
