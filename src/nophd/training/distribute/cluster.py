"""Devices and cluster: which tf.distribute strategy a run trains under, and where this process stands in it.

A run trains under one `tf.distribute.Strategy`:

- "one": TensorFlow's default strategy: one device, the first GPU, else the
  CPU. (Not OneDeviceStrategy: with it Keras 3.15's Model.fit stops with
  StopIteration in the second epoch's validation.)
- "mirrored": MirroredStrategy over every local GPU, or over the logical CPU
  devices made by `cpu_devices` (for testing scale-out on one CPU).
- "multiworker": MultiWorkerMirroredStrategy over the workers named in
  TF_CONFIG (or by `workers` + `worker_index`, which write TF_CONFIG).
- "tpu": TPUStrategy through a TPUClusterResolver (TPU_NAME, else "local").
- "auto": multiworker when TF_CONFIG names several workers, mirrored when
  several GPUs (or several logical CPU devices) are visible, else one.

A multi-worker run is set up so that it never waits forever for its peers
(see `peers`): registration has a deadline and silent peers are declared
dead.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from nophd.errors import ConfigError
from nophd.training.distribute import peers

STRATEGIES = ("auto", "one", "mirrored", "multiworker", "tpu")
# Seconds a worker waits for its peers: to register at start-up, and for a
# collective (an all-reduce) to complete. A dead peer is declared after a
# third of it without heartbeats.
DEFAULT_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to spread a run over devices and machines (not part of the recipe).

    Args:
        strategy: one of STRATEGIES.
        cpu_devices: split the CPU into this many logical devices (before
            TensorFlow starts); with "auto", more than one means mirrored.
        workers: "host:port" of every worker, in order; with worker_index,
            written into TF_CONFIG (alternatively set TF_CONFIG yourself).
        worker_index: this process's position in `workers` (0 is the chief).
        timeout_seconds: see DEFAULT_TIMEOUT_SECONDS.

    Example:
        setup(Settings(strategy="mirrored", cpu_devices=2)).replicas  # 2
    """

    strategy: str = "auto"
    cpu_devices: int | None = None
    workers: tuple[str, ...] = ()
    worker_index: int = 0
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A resolved strategy and where this process stands in it.

    Args:
        strategy: the tf.distribute.Strategy.
        name: "one", "mirrored", "multiworker" or "tpu".
        replicas: replicas in sync over all workers.
        workers: processes taking part (1 unless multiworker).
        worker_index: this process's index; 0 is the chief.
        device: "gpu", "tpu" or "cpu": what the replicas run on.
    """

    strategy: Any
    name: str
    replicas: int
    workers: int = 1
    worker_index: int = 0
    device: str = "cpu"

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    @property
    def custom_loop(self) -> bool:
        """Whether fit_epochs must use custom_loop.fit_custom instead of Model.fit (see custom_loop)."""
        return self.name == "multiworker"

    def describe(self) -> str:
        text = f"{self.name} strategy, {self.replicas} replica{'s' if self.replicas != 1 else ''} on {self.device}"
        if self.workers > 1:
            text += f", worker {self.worker_index} of {self.workers}"
        return text


# One Distribution per settings and process: MultiWorkerMirroredStrategy
# starts a server and can be created only once per process.
_resolved: dict[Settings, Distribution] = {}


def split_cpu(count: int) -> None:
    """Splits the first CPU into `count` logical devices (/cpu:0 .. /cpu:count-1).

    Must run before TensorFlow initialises its devices (before any op runs).

    Raises:
        ConfigError: TensorFlow already started with another device layout.
    """
    import tensorflow as tf

    if count < 1:
        raise ConfigError(f"--cpu-devices: expected a whole number >= 1, got {count}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == count:
            return
        raise ConfigError(f"--cpu-devices {count}: TensorFlow already started with {have} CPU device(s) in this "
                          "process; set it before anything else runs (a new process)") from None


def parse_workers(text: str) -> tuple[str, ...]:
    """"127.0.0.1:2222,127.0.0.1:2223" -> ("127.0.0.1:2222", "127.0.0.1:2223"), checked."""
    workers = tuple(part.strip() for part in text.split(",") if part.strip())
    for worker in workers:
        host, _, port = worker.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"--workers: expected host:port[,host:port...], got {worker!r}")
    if len(workers) < 2:
        raise ConfigError(f"--workers: a multi-worker run needs at least 2 workers, got {len(workers)}")
    if len(set(workers)) != len(workers):
        raise ConfigError("--workers: the same host:port appears twice")
    return workers


def tf_config(workers: tuple[str, ...], worker_index: int) -> dict:
    """The TF_CONFIG of worker `worker_index` in a cluster of `workers` (no separate chief)."""
    if not 0 <= worker_index < len(workers):
        raise ConfigError(f"--worker-index: expected 0 to {len(workers) - 1} for {len(workers)} workers, got {worker_index}")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": worker_index}}


def _read_tf_config() -> dict | None:
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        value = json.loads(text)
        cluster, task = value["cluster"], value["task"]
        if set(cluster) - {"worker", "chief"} or task["type"] not in cluster:
            raise ValueError
        int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError('TF_CONFIG: expected {"cluster": {"worker": ["host:port", ...]}, '
                          '"task": {"type": "worker", "index": I}} (an optional "chief" job too)') from None
    return value


def _cluster_size(tf_config_value: dict | None) -> int:
    if not tf_config_value:
        return 1
    return sum(len(addresses) for addresses in tf_config_value["cluster"].values())


def setup(settings: Settings = Settings()) -> Distribution:
    """Applies `settings` (devices, TF_CONFIG) and creates the strategy.

    Raises:
        ConfigError: inconsistent settings, or no device of the kind asked for.
        WorkerLostError: the other workers did not come up in time.
    """
    if settings in _resolved:
        return _resolved[settings]
    if settings.strategy not in STRATEGIES:
        raise ConfigError(f"--strategy: expected one of {', '.join(STRATEGIES)}, got {settings.strategy!r}")
    import tensorflow as tf

    if settings.cpu_devices:
        split_cpu(settings.cpu_devices)
    if settings.workers:
        if settings.strategy not in ("auto", "multiworker"):
            raise ConfigError(f"--workers: only for --strategy multiworker (or auto), not {settings.strategy}")
        os.environ["TF_CONFIG"] = json.dumps(tf_config(settings.workers, settings.worker_index))
    elif settings.worker_index:
        raise ConfigError("--worker-index: only with --workers")
    cluster = _read_tf_config()
    gpus = tf.config.list_physical_devices("GPU")
    name = settings.strategy
    if name == "auto":
        if _cluster_size(cluster) > 1:
            name = "multiworker"
        elif len(gpus) > 1 or (not gpus and (settings.cpu_devices or 1) > 1):
            name = "mirrored"
        else:
            name = "one"
    device = "gpu" if gpus else "cpu"
    if name == "one":
        distribution = Distribution(tf.distribute.get_strategy(), name, 1, device=device)
    elif name == "mirrored":
        devices = [f"/gpu:{index}" for index in range(len(gpus))] if gpus else [
            device.name for device in tf.config.list_logical_devices("CPU")]
        # On CPUs NCCL is not there; reducing to one device is what works.
        cross_device_ops = None if gpus else tf.distribute.ReductionToOneDevice()
        strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)
        distribution = Distribution(strategy, name, strategy.num_replicas_in_sync, device=device)
    elif name == "multiworker":
        distribution = _multi_worker(cluster, settings.timeout_seconds, device)
    else:
        distribution = _tpu()
    _resolved[settings] = distribution
    return distribution


def _multi_worker(cluster: dict | None, timeout_seconds: int, device: str) -> Distribution:
    import tensorflow as tf
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    if _cluster_size(cluster) < 2:
        raise ConfigError("--strategy multiworker: needs --workers HOST:PORT,HOST:PORT... and --worker-index, "
                          "or a TF_CONFIG naming at least 2 workers")
    jobs = cluster["cluster"]
    leader = "chief" if "chief" in jobs else "worker"
    # TensorFlow's default coordination service waits for missing workers and
    # silent peers forever. Configured here, before the strategy starts it:
    # registration is a barrier with a deadline, and a peer that stops
    # sending heartbeats is declared dead (measured on loopback: a killed
    # worker fails its peer's next all-reduce within seconds; a stopped one
    # within about heartbeat + 10 s).
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=timeout_seconds * 1000,
        heartbeat_timeout_in_ms=max(5, timeout_seconds // 3) * 1000,
        shutdown_barrier_timeout_in_ms=max(5, timeout_seconds // 3) * 1000,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(addresses))
                          for job, addresses in jobs.items()],
    )
    context.context().coordination_service.cluster_register_with_barrier = True
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except tf.errors.OpError as error:
        raise peers.WorkerLostError(
            f"the workers in TF_CONFIG did not all come up within {timeout_seconds} s "
            f"({peers.first_line(error)}); start every worker, each with its own --worker-index") from None
    task = cluster["task"]
    index = int(task["index"]) + (len(jobs.get("chief", [])) if task["type"] == "worker" else 0)
    return Distribution(strategy, "multiworker", strategy.num_replicas_in_sync, workers=_cluster_size(cluster),
                        worker_index=index, device=device)


def _tpu() -> Distribution:
    import tensorflow as tf

    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise ConfigError(f"--strategy tpu: no TPU found ({peers.first_line(error)}); set TPU_NAME, "
                          "or use --strategy auto") from None
    return Distribution(strategy, "tpu", strategy.num_replicas_in_sync, device="tpu")


def worker_folder_name(name: str, distribution: Distribution) -> str:
    """A non-chief worker's run folder: the chief's name + "-worker<I>"."""
    return name if distribution.is_chief else f"{name}-worker{distribution.worker_index}"
