import numpy as np
import pandas as pd
import tensorflow as tf

from feature_columns.fitting import fit_state, prepare_frame
from wide_deep.model import ModelConfig
from wide_deep.trainer import Estimator, TrainConfig, read_history


def _estimator(toy_spec, toy_frame, tmp_path, **train):
    arrays = prepare_frame(toy_spec, toy_frame)
    config = TrainConfig(**{"batch_size": 64, "learning_rate": 1e-2, "epochs": 3, **train})
    return Estimator(tmp_path, toy_spec, fit_state(toy_spec, arrays), ModelConfig(hidden_units=(8,)), config,
                     log=lambda *_: None), arrays, toy_frame["y"].to_numpy()


def test_epoch_order_is_a_seeded_permutation(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = _estimator(toy_spec, toy_frame, tmp_path)
    encoded = estimator.encode(arrays)
    ids = tf.constant(np.arange(len(labels), dtype="float32"))
    first = estimator._epoch_order(encoded, ids, epoch=1)[1].numpy()
    assert sorted(first.tolist()) == list(range(len(labels)))
    np.testing.assert_array_equal(first, estimator._epoch_order(encoded, ids, epoch=1)[1].numpy())
    assert not np.array_equal(first, estimator._epoch_order(encoded, ids, epoch=2)[1].numpy())


def test_every_row_is_trained_including_the_last_partial_batch(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = _estimator(toy_spec, toy_frame, tmp_path, batch_size=64)
    assert len(labels) % 64 != 0
    encoded = estimator.encode(arrays)
    fns = estimator._make_train_fns()
    iterations_before = int(estimator.deep_optimizer.iterations.numpy())
    estimator._train_epoch(fns, encoded, tf.constant(labels.astype("float32")), epoch=1)
    steps = int(estimator.deep_optimizer.iterations.numpy()) - iterations_before
    assert steps == -(-len(labels) // 64)  # ceil: full batches plus the tail


def test_train_keeps_best_weights_and_history(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = _estimator(toy_spec, toy_frame, tmp_path, epochs=4, early_stopping_patience=0)
    history = estimator.train(arrays, labels, arrays, labels)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4] == [h["epoch"] for h in read_history(tmp_path)]
    best = max(h["val_auc"] for h in history)
    from wide_deep.metrics import auc
    assert abs(auc(labels, estimator.predict(arrays)) - best) < 1e-9  # the best epoch's weights are restored
    assert pd.read_csv(tmp_path / "history.csv").shape[0] == 4
