"""Training epochs: the compiled step functions of one model and the epochs that run them.

An epoch over held rows is a seeded in-graph shuffle of the encoded split and one `tf.function` call over all its
full batches (static shapes, no per-step Python), plus one call for the last, smaller batch: no row is dropped.
An epoch over streamed files runs over a tf.data pipeline that reads, preprocesses and shuffles them (one call per
epoch on one worker, one per step across workers).
"""

from __future__ import annotations

import tensorflow as tf


class EpochRunner:
    """Training epochs of one model: its compiled functions (one step, all full batches of a block, one batch) and
    the epochs over held rows or streamed files that call them.

    Full batches are sliced with a static size so every op sees fixed shapes; the last,
    smaller batch of an epoch gets its own call, so no row is dropped.
    """

    def __init__(self, estimator):
        """`estimator`: the `Estimator` whose core, optimizers, strategy and config the epochs use."""
        strategy = estimator.strategy
        workers = estimator.cluster.num_workers
        batch = estimator.config.batch_size // workers
        step = _train_step(estimator, workers)

        def batch_at(features, labels, i):
            start = i * batch
            return (
                {k: tf.ensure_shape(v[start : start + batch], [batch] + v.shape[1:]) for k, v in features.items()},
                tf.ensure_shape(labels[start : start + batch], [batch]),
            )

        def full_batches(features, labels):
            total = tf.constant(0.0)
            for i in tf.range(tf.shape(labels)[0] // batch):
                total += step(*batch_at(features, labels, i))
            return total

        @tf.function(reduce_retracing=True)
        def train_full_batches(features, labels):
            return strategy.reduce(
                tf.distribute.ReduceOp.SUM, strategy.run(full_batches, args=(features, labels)), axis=None
            )

        @tf.function(reduce_retracing=True)
        def train_full_batches_synchronised(features, labels):
            """Across workers each step is its own `strategy.run` (a gradient all-reduce cannot sit inside
            replica-side control flow), so the loop runs in cross-replica context."""
            total = tf.constant(0.0)
            for i in tf.range(tf.shape(labels)[0] // batch):
                sums = strategy.run(step, args=batch_at(features, labels, i))
                total += strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)
            return total

        @tf.function(reduce_retracing=True)
        def train_one_batch(features, labels):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=(features, labels)), axis=None)

        self.estimator, self.workers, self.batch = estimator, workers, batch
        self.step = step
        self.full_batches = train_full_batches_synchronised if workers > 1 else train_full_batches
        self.one_batch = train_one_batch
        self._stream_fn = None  # (stream, its epoch function), built on the first streamed epoch

    def epoch_order(self, encoded: dict[str, tf.Tensor], labels: tf.Tensor, epoch: int):
        """The split in this epoch's order: a permutation that depends only on (seed, epoch),
        so a resumed run replays exactly the order an uninterrupted one would have used."""
        n = int(labels.shape[0])
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=[self.estimator.config.seed, epoch]
        )
        return {k: tf.gather(v, order) for k, v in encoded.items()}, tf.gather(labels, order)

    def train_epoch(
        self, encoded: dict[str, tf.Tensor], labels: tf.Tensor, epoch: int, holds_own_share: bool = False
    ) -> float:
        """One epoch over held, encoded rows; the mean training loss.

        In a multi-worker run each worker trains its part of the shared epoch order, unless it
        holds only its own share of the rows (`holds_own_share`: sharded input).
        """
        features, ordered = self.epoch_order(encoded, labels, epoch)
        workers, index = self.workers, self.estimator.cluster.worker_index
        if workers > 1 and not holds_own_share:  # this worker's rows of the shared epoch order, equal counts
            rows = int(labels.shape[0]) // workers
            features = {k: v[index::workers][:rows] for k, v in features.items()}
            ordered = ordered[index::workers][:rows]
        n = int(ordered.shape[0])
        batch = self.batch
        full = n - n % batch
        total = float(self.full_batches({k: v[:full] for k, v in features.items()}, ordered[:full])) if full else 0.0
        if full < n:
            total += float(self.one_batch({k: v[full:] for k, v in features.items()}, ordered[full:]))
        return total / (n * workers)  # the losses were summed over every worker's rows

    def stream_epoch(self, stream, epoch: int) -> float:
        """One epoch over streamed files (`wide_deep.data.shards.TrainStream`); the data is read, not held.

        On one worker the tf.data pipeline is built inside the `tf.function` from the epoch
        number, so it is traced once and the whole epoch is one call. Across workers each step
        is its own call: inside a graph loop over a dataset, consecutive steps' gradient
        all-gathers were seen to pair one worker's step with another's (a shape mismatch on the
        last, smaller batch).
        """
        columns = [c.name for c in self.estimator.spec.input_columns]
        batch, seed, encode = self.batch, self.estimator.config.seed, self.estimator.encoder

        def make_dataset(epoch):
            return stream.dataset(lambda features: encode({k: features[k] for k in columns}), batch, seed, epoch)

        try:
            if self.workers > 1:
                total = 0.0
                for features, labels in make_dataset(epoch):
                    total += float(self.one_batch(features, labels))
            else:
                if self._stream_fn is None or self._stream_fn[0] is not stream:
                    strategy, step = self.estimator.strategy, self.step

                    @tf.function
                    def train_stream(epoch):
                        total = tf.constant(0.0)
                        for features, labels in make_dataset(epoch):
                            total += strategy.reduce(
                                tf.distribute.ReduceOp.SUM, strategy.run(step, args=(features, labels)), axis=None
                            )
                        return total

                    self._stream_fn = (stream, train_stream)
                total = float(self._stream_fn[1](tf.constant(epoch, tf.int64)))
        except tf.errors.OpError:
            stream.reraise_data_error()  # a user mistake in a training file, found while reading it
            raise
        return total / stream.total_rows


def _train_step(estimator, workers: int):
    """One optimizer step of the core on a batch, each branch by its own optimizer; the batch's summed loss."""
    core = estimator.core
    wide_vars, deep_vars = estimator.wide_vars, estimator.deep_vars
    wide_optimizer, deep_optimizer = estimator.wide_optimizer, estimator.deep_optimizer
    variables = wide_vars + deep_vars
    n_wide = len(wide_vars)

    def step(features, labels):
        with tf.GradientTape() as tape:
            logits = core(features, training=True)
            per_example = tf.nn.sigmoid_cross_entropy_with_logits(labels, logits)
            loss = tf.reduce_mean(per_example)
            if core.losses:
                loss += tf.add_n(core.losses)
            if workers > 1:  # the optimizers all-reduce gradients by SUM across workers: average instead
                loss = loss / workers
        grads = tape.gradient(loss, variables)
        if n_wide:
            wide_optimizer.apply_gradients(zip(grads[:n_wide], wide_vars))
        if len(variables) > n_wide:
            deep_optimizer.apply_gradients(zip(grads[n_wide:], deep_vars))
        return tf.reduce_sum(per_example)

    return step
