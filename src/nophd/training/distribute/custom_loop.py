"""The custom multi-worker step: a hand-written training loop for where Model.fit fails.

The model is built and compiled inside `strategy.scope()` and trains
through the same `train.fit_epochs` for every strategy: `model.fit` with the
run's callbacks, except under "multiworker", where Keras 3's `Model.fit`
fails ("Attempt to convert a value (PerReplica...)", keras-team/keras#20585).
There `fit_custom` runs the same Keras model and optimizer with
`strategy.run` over `experimental_distribute_dataset` and drives the same
callbacks (RunRecorder, Progress, TensorBoard, the learning-rate schedule)
through `keras.callbacks.CallbackList`, so history.csv, checkpoints and the
report come out the same.
"""

from __future__ import annotations

from nophd.training.distribute import cluster, peers


def distribute_dataset(distribution: cluster.Distribution, dataset):
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
    distribution: cluster.Distribution,
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
    with peers.peer_failures(distribution):
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
