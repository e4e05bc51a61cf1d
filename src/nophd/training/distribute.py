"""Scale-out: devices, tf.distribute strategies, batch and learning-rate scaling, the multi-worker loop.

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

The model is built and compiled inside `strategy.scope()` and trains
through the same `loop.fit_epochs` for every strategy: `model.fit` with the
run's callbacks, except under "multiworker", where Keras 3's `Model.fit`
fails ("Attempt to convert a value (PerReplica...)", keras-team/keras#20585).
There `fit_custom` runs the same Keras model and optimizer with
`strategy.run` over `experimental_distribute_dataset` and drives the same
callbacks (RunRecorder, Progress, TensorBoard, the learning-rate schedule)
through `keras.callbacks.CallbackList`, so history.csv, checkpoints and the
report come out the same.

Batch size and learning rate: the recipe's batch size is per replica. With
N replicas the global batch is N times larger and an epoch has N times fewer
steps, so the learning rate is scaled too: linearly by default (Goyal et
al., "Accurate, Large Minibatch SGD"), or by sqrt(N), or not at all
(`lr_scaling`). The scaled values are what config.json holds, next to the
strategy and replica count; a resume with another replica count is refused.

Failures: a multi-worker run never waits forever. Workers must all register
within `timeout_seconds`, the coordination service declares a worker that
stops sending heartbeats dead after `timeout_seconds` / 3, and collectives
time out after `timeout_seconds`; the survivors then stop with a one-line
WorkerLostError (restart every worker with --resume).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from typing import Any

from nophd.errors import ConfigError, NophdError

STRATEGIES = ("auto", "one", "mirrored", "multiworker", "tpu")
LR_SCALINGS = ("linear", "sqrt", "none")
# Seconds a worker waits for its peers: to register at start-up, and for a
# collective (an all-reduce) to complete. A dead peer is declared after a
# third of it without heartbeats.
DEFAULT_TIMEOUT_SECONDS = 60


class WorkerLostError(NophdError):
    """A peer of a multi-worker run died, hung or never came up."""


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
        """Whether fit_epochs must use fit_custom instead of Model.fit (see the module docstring)."""
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
        raise WorkerLostError(f"the workers in TF_CONFIG did not all come up within {timeout_seconds} s "
                              f"({_first_line(error)}); start every worker, each with its own --worker-index") from None
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
        raise ConfigError(f"--strategy tpu: no TPU found ({_first_line(error)}); set TPU_NAME, "
                          "or use --strategy auto") from None
    return Distribution(strategy, "tpu", strategy.num_replicas_in_sync, device="tpu")


# Lines of a TensorFlow error that say where, not what.
_NOT_THE_CAUSE = ("Graph execution error", "Detected at node", "File ", "<module>", "[[", "Additional GRPC")


def _first_line(error: BaseException) -> str:
    """The line of a (TensorFlow) error that says what went wrong, shortened."""
    text = getattr(error, "message", None) or str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if not line.startswith(_NOT_THE_CAUSE) and not line.endswith(":")]
    return ((causes or lines or [type(error).__name__])[0])[:200]


def learning_rate_factor(replicas: int, lr_scaling: str) -> float:
    """How much the learning rate grows with `replicas` (the global batch grows by `replicas`)."""
    if lr_scaling == "linear":
        return float(replicas)
    if lr_scaling == "sqrt":
        return math.sqrt(replicas)
    return 1.0


def scale_config(config, distribution: Distribution):
    """`config` with its per-replica batch and learning rate(s) scaled for `distribution`.

    The result records the strategy and replica count; its batch_size is the
    global batch. A config that already records a replica count (read back
    from config.json) must match and is returned unchanged.

    Example:
        scale_config(registry.preset("dense1"), mirrored_over_2)  # batch 100 -> 200, lr 0.003 -> 0.006
    """
    from nophd.config import PhotoConfig, override

    if config.replicas != 1 or config.strategy != "one":
        check_replicas(config, distribution, "the config")
        return config
    factor = learning_rate_factor(distribution.replicas, config.lr_scaling)
    changes = {"strategy": distribution.name, "replicas": distribution.replicas,
               "batch_size": config.batch_size * distribution.replicas,
               "learning_rate": config.learning_rate * factor}
    if isinstance(config, PhotoConfig):
        changes["fine_tune_learning_rate"] = config.fine_tune_learning_rate * factor
    return override(config, **changes)


def per_replica_value(config, key: str, value):
    """What `config`'s field `key` was before scale_config, for comparing with a flag on resume."""
    if value is None:
        return value
    if key == "batch_size":
        return value // config.replicas
    if key in ("learning_rate", "fine_tune_learning_rate"):
        return value / learning_rate_factor(config.replicas, config.lr_scaling)
    return value


def check_replicas(config, distribution: Distribution, what: str) -> None:
    """Refuses to continue `config` (trained on config.replicas) with another replica count."""
    if config.replicas != distribution.replicas:
        raise ConfigError(
            f"{what} trained on {config.replicas} replica(s) ({config.strategy}), this process has "
            f"{distribution.replicas} ({distribution.describe()}): its batch size and learning rate are scaled "
            "for its count; resume with the same --strategy, --cpu-devices and --workers, or start a new run"
        )


def check_supported(config, distribution: Distribution) -> None:
    """Rejects combinations that do not work yet, with what to do instead."""
    from nophd.config import PhotoConfig

    if isinstance(config, PhotoConfig):
        if distribution.name == "multiworker":
            raise ConfigError("--strategy multiworker: photo runs do not support it yet (Keras 3 predict and fit "
                              "fail under MultiWorkerMirroredStrategy); use one or mirrored")
        if config.jit:
            raise ConfigError("--jit: only for mnist runs")
    if config.jit and distribution.custom_loop:
        raise ConfigError("--jit: not with --strategy multiworker (its hand-written loop is not XLA-compiled)")


def precision_policy(config, distribution: Distribution) -> str:
    """The Keras dtype policy for the run: float32, or mixed_float16 on GPU / mixed_bfloat16 on TPU and CPU."""
    if not config.mixed_precision:
        return "float32"
    return "mixed_float16" if distribution.device == "gpu" else "mixed_bfloat16"


@contextlib.contextmanager
def precision(policy: str):
    """Sets Keras' global dtype policy for models built inside; restores the previous one after."""
    import keras

    previous = keras.mixed_precision.dtype_policy().name
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def distribute_dataset(distribution: Distribution, dataset):
    """`dataset` (batched by the global batch) split over the replicas, sharded per worker.

    tf.data auto-sharding with the DATA policy: every worker reads the same
    files and keeps its share of each global batch (MNIST is two files, too
    few to shard by file).
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return distribution.strategy.experimental_distribute_dataset(dataset.with_options(options))


def _label_indices(labels, predictions):
    import tensorflow as tf

    if labels.shape.rank == predictions.shape.rank:  # One-hot labels.
        return tf.argmax(labels, axis=-1, output_type=tf.int32)
    return tf.cast(tf.reshape(labels, [-1]), tf.int32)


def replicated(model) -> bool:
    """Whether `model` was built under a strategy with more than one replica."""
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    return strategy.num_replicas_in_sync > 1


def validation_callback(validation_dataset, loss: str):
    """A callback that adds val_loss and val_accuracy to each epoch's logs, as Model.fit's validation does.

    The loss is the mean over examples of the per-example loss, the accuracy
    the share of argmax hits; the model runs outside the replicas (in
    cross-replica context it reads the replicas' shared weights), on this
    process only.
    """
    import keras
    import tensorflow as tf

    loss_function = keras.losses.get(loss)

    class Validation(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            model = self.model

            @tf.function
            def validation_step(images, labels):
                predictions = tf.cast(model(images, training=False), tf.float32)
                per_example = loss_function(labels, predictions)
                correct = tf.equal(tf.argmax(predictions, axis=-1, output_type=tf.int32),
                                   _label_indices(labels, predictions))
                return (tf.reduce_sum(per_example), tf.reduce_sum(tf.cast(correct, tf.float32)),
                        tf.cast(tf.size(correct), tf.float32))

            self.validation_step = validation_step

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            totals = [0.0, 0.0, 0.0]
            for images, labels in validation_dataset:
                for index, value in enumerate(self.validation_step(images, labels)):
                    totals[index] += float(value)
            loss_sum, correct, count = totals
            logs["val_loss"] = loss_sum / count
            logs["val_accuracy"] = correct / count

    return Validation()


def fit_custom(
    model,
    distribution: Distribution,
    train_dataset,
    callbacks: list,
    *,
    steps_per_epoch: int,
    global_batch_size: int,
    initial_epoch: int,
    final_epoch: int,
    loss: str,
    class_weight: dict[int, float] | None = None,
) -> None:
    """Trains epochs [initial_epoch, final_epoch) as Model.fit would, with a hand-written step.

    Each step runs `strategy.run` on the next global batch: the replica's
    loss is averaged over the global batch (`tf.nn.compute_average_loss`),
    the Keras optimizer applies the all-reduced gradients. At the end of each
    epoch the replicas' floating-point non-trainable variables (batch-norm
    moving statistics, which each replica updates from its own examples) are
    averaged, so every worker holds the same model, and the callbacks see
    the logs Model.fit gives them: loss and accuracy (validation_callback,
    placed first, adds val_loss and val_accuracy).

    Raises:
        WorkerLostError: a peer died or stopped answering.
    """
    import keras
    import tensorflow as tf

    strategy = distribution.strategy
    loss_function = keras.losses.get(loss)
    weights_table = None
    if class_weight:
        weights_table = tf.constant([class_weight.get(index, 1.0) for index in range(max(class_weight) + 1)],
                                    tf.float32)

    def replica_step(inputs):
        images, labels = inputs
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            per_example = tf.cast(loss_function(labels, predictions), tf.float32)
            weighted = per_example
            if weights_table is not None:
                weighted = per_example * tf.gather(weights_table, _label_indices(labels, predictions))
            total = tf.nn.compute_average_loss(weighted, global_batch_size=global_batch_size)
            if model.losses:
                total += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = model.optimizer.scale_loss(total)
        gradients = tape.gradient(scaled, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        correct = tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(predictions, axis=-1, output_type=tf.int32), _label_indices(labels, predictions)),
            tf.float32))
        return total, correct, tf.cast(tf.shape(per_example)[0], tf.float32)

    @tf.function
    def train_step(iterator):
        results = strategy.run(replica_step, args=(next(iterator),))
        return [strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for value in results]

    floating = [variable for variable in model.non_trainable_variables if keras.backend.is_float_dtype(variable.dtype)]

    def replica_average():
        context = tf.distribute.get_replica_context()
        for variable in floating:
            variable.assign(context.all_reduce(tf.distribute.ReduceOp.MEAN, tf.identity(variable.value)))

    @tf.function
    def average_non_trainable():
        strategy.run(replica_average)

    callback_list = keras.callbacks.CallbackList(callbacks, model=model, add_history=False, add_progbar=False,
                                                 epochs=final_epoch, steps=steps_per_epoch, verbose=0)
    model.stop_training = False
    logs: dict[str, float] = {}
    with peer_failures(distribution):
        iterator = iter(distribute_dataset(distribution, train_dataset))
        callback_list.on_train_begin()
        for epoch in range(initial_epoch, final_epoch):
            callback_list.on_epoch_begin(epoch)
            loss_sum = correct_sum = count = 0.0
            for step in range(steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                step_loss, step_correct, step_count = (float(value) for value in train_step(iterator))
                loss_sum += step_loss
                correct_sum += step_correct
                count += step_count
                logs = {"loss": loss_sum / (step + 1), "accuracy": correct_sum / count}
                callback_list.on_train_batch_end(step, logs)
            if floating:
                average_non_trainable()
            logs = dict(logs)
            callback_list.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        callback_list.on_train_end(logs)


@contextlib.contextmanager
def peer_failures(distribution: Distribution):
    """Turns a multi-worker run's collective failures anywhere (not only in
    fit_custom: also while loading and broadcasting a resumed model) into the
    one-line WorkerLostError."""
    import tensorflow as tf

    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.InternalError) as error:
        if distribution.workers < 2:
            raise
        raise WorkerLostError(
            f"worker {distribution.worker_index} of {distribution.workers}: a peer died or stopped answering "
            f"({_first_line(error)}); restart every worker with --resume"
        ) from None


def common_epoch(distribution: Distribution, held: list[int]) -> int:
    """The latest epoch whose checkpoint every worker holds (`held`: this
    worker's, at most two); 0 when there is none."""
    if distribution.workers < 2:
        return max(held, default=0)
    import tensorflow as tf

    slots = (sorted(held, reverse=True) + [-1, -1])[:2]
    strategy = distribution.strategy
    try:
        gathered = strategy.gather(strategy.run(lambda: tf.constant([slots])), axis=0).numpy().tolist()
    except tf.errors.OpError as error:
        raise WorkerLostError(f"the workers could not compare their checkpoints ({_first_line(error)}); "
                              "restart every worker with --resume") from None
    return latest_common(gathered)


def latest_common(held_by_worker: list[list[int]]) -> int:
    """The latest epoch in every worker's list (-1 pads a list); 0 when none.

    Example:
        latest_common([[2, 1], [1, -1]]) == 1
    """
    common = set.intersection(*({epoch for epoch in row if epoch >= 0} for row in held_by_worker))
    return max(common, default=0)


def worker_folder_name(name: str, distribution: Distribution) -> str:
    """A non-chief worker's run folder: the chief's name + "-worker<I>"."""
    return name if distribution.is_chief else f"{name}-worker{distribution.worker_index}"

