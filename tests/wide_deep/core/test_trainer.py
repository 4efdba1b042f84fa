"""The trainer: seeded epoch order, every row trained, best weights restored, resume, early stopping."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests.conftest import toy_estimator, train_toy
from wide_deep.evidence.metrics import auc


def test_epoch_order_is_a_seeded_permutation(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path)
    encoded = estimator.encode(arrays)
    ids = tf.constant(np.arange(len(labels), dtype="float32"))
    first = estimator.epoch_order(encoded, ids, epoch=1)[1].numpy()
    assert sorted(first.tolist()) == list(range(len(labels)))
    np.testing.assert_array_equal(first, estimator.epoch_order(encoded, ids, epoch=1)[1].numpy())
    assert not np.array_equal(first, estimator.epoch_order(encoded, ids, epoch=2)[1].numpy())


def test_every_row_is_trained_including_the_last_partial_batch(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path, batch_size=64)
    assert len(labels) % 64 != 0
    encoded = estimator.encode(arrays)
    iterations_before = int(estimator.deep_optimizer.iterations.numpy())
    loss = estimator.train_epoch(encoded, tf.constant(labels.astype("float32")), epoch=1)
    steps = int(estimator.deep_optimizer.iterations.numpy()) - iterations_before
    assert steps == -(-len(labels) // 64)  # ceil: full batches plus the tail
    assert 0 < loss < 2


def test_train_keeps_best_weights_and_history(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path, epochs=4, early_stopping_patience=0)
    history = train_toy(estimator, arrays, labels)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] == [h["epoch"] for h in estimator.history_log.read()]
    best = max(h["val_auc"] for h in history)
    assert abs(auc(labels, estimator.predict(arrays)) - best) < 1e-9  # the best epoch's weights are restored
    assert pd.read_csv(tmp_path / "history.csv").shape[0] == 4


def test_a_new_estimator_resumes_where_the_last_stopped(toy_spec, toy_frame, tmp_path):
    first, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path, epochs=2, early_stopping_patience=0)
    train_toy(first, arrays, labels)
    logs = []
    second, _, _ = toy_estimator(toy_spec, toy_frame, tmp_path, epochs=4, early_stopping_patience=0)
    second.log = logs.append
    history = train_toy(second, arrays, labels)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert any("resuming from" in line and "(epoch 2," in line for line in logs)


def test_early_stopping_ends_the_run_and_says_so(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(
        toy_spec, toy_frame, tmp_path, epochs=40, early_stopping_patience=2, learning_rate=0.3
    )
    logs = []
    estimator.log = logs.append
    history = train_toy(estimator, arrays, labels)
    assert len(history) < 40 and estimator.early_stopping.should_stop
    assert "early stopping: no validation AUC gain for 2 epochs" in logs[-1]
    best = int(np.argmax([h["val_auc"] for h in history]))
    assert len(history) - 1 - best == 2


def test_batch_size_must_divide_among_workers(toy_spec, toy_frame, tmp_path):
    from feature_columns.errors import UserError
    from wide_deep.core.cluster import ClusterIdentity

    class TwoReplicas:  # only what the Estimator asks of a strategy before it builds anything
        num_replicas_in_sync = 2
        cluster_resolver = None

    assert ClusterIdentity.from_strategy(TwoReplicas()).num_workers == 2
    with pytest.raises(UserError, match="must be divisible by the number of workers"):
        from wide_deep.core.config import ModelConfig, TrainConfig
        from wide_deep.core.trainer import Estimator
        from wide_deep.run.model_dir import ModelDir

        estimator, _, _ = toy_estimator(toy_spec, toy_frame, tmp_path)
        Estimator(
            ModelDir(tmp_path / "x").training_files(),
            estimator.spec,
            estimator.state,
            ModelConfig(),
            TrainConfig(batch_size=255),
            strategy=TwoReplicas(),
        )
