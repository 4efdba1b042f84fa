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
        from wide_deep.record.model_dir import ModelDir

        estimator, _, _ = toy_estimator(toy_spec, toy_frame, tmp_path)
        Estimator(
            ModelDir(tmp_path / "x").training_files(),
            estimator.spec,
            estimator.state,
            ModelConfig(),
            TrainConfig(batch_size=255),
            strategy=TwoReplicas(),
        )


def _run(toy_spec, toy_frame, folder, epochs, logs=None):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, folder, epochs=epochs, early_stopping_patience=0)
    if logs is not None:
        estimator.log = logs.append
    history = train_toy(estimator, arrays, labels)
    return estimator, history, estimator.predict(arrays)


@pytest.mark.parametrize("damage", ["truncated", "deleted", "garbage index"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(toy_spec, toy_frame, tmp_path, damage):
    _, reference_history, reference_scores = _run(toy_spec, toy_frame, tmp_path / "straight", epochs=6)
    _run(toy_spec, toy_frame, tmp_path / "run", epochs=4)
    checkpoints = tmp_path / "run" / "checkpoints"
    if damage == "truncated":
        data = next(checkpoints.glob("ckpt-4.data-*"))
        data.write_bytes(data.read_bytes()[:100])
    elif damage == "deleted":
        for path in checkpoints.glob("ckpt-4.*"):
            path.unlink()
    else:
        (checkpoints / "checkpoint").write_text("this is not a checkpoint index {{{")
    logs = []
    _, history, scores = _run(toy_spec, toy_frame, tmp_path / "run", epochs=6, logs=logs)
    said = " | ".join(logs)
    if damage == "garbage index":
        assert "missing or unreadable; resuming from the checkpoint files" in said and "(epoch 4," in said
    else:
        assert "ckpt-4 is unreadable" in said and "(epoch 3," in said  # resumed from the one before
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert [h["val_auc"] for h in history] == [h["val_auc"] for h in reference_history]  # as if never damaged
    np.testing.assert_array_equal(scores, reference_scores)


def test_unreadable_best_weights_are_a_clear_error(toy_spec, toy_frame, tmp_path):
    from feature_columns.errors import UserError

    estimator, _, _ = _run(toy_spec, toy_frame, tmp_path, epochs=2)
    for path in (tmp_path / "best").glob("ckpt-*.data-*"):
        path.write_bytes(b"")
    with pytest.raises(UserError, match="the best weights .* are unreadable"):
        estimator.restore_best()


def test_a_diverging_run_stops_with_a_message_and_keeps_its_last_good_checkpoint(toy_spec, toy_frame, tmp_path):
    from wide_deep.core.trainer import TrainingDiverged

    estimator, arrays, labels = toy_estimator(
        toy_spec, toy_frame, tmp_path, epochs=5, learning_rate=1e35, early_stopping_patience=0
    )
    with pytest.raises(TrainingDiverged, match="training diverged in epoch .*lower --learning_rate"):
        train_toy(estimator, arrays, labels)
    assert len(estimator.history_log.read()) == len(estimator.checkpoints.manager.checkpoints)  # nothing half-written
