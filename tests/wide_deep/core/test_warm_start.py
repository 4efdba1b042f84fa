"""The warm start: the model before its first step is the logistic regression; the GBDT blend is exact."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import toy_estimator
from wide_deep.core import warm_start


def test_the_warm_started_model_is_the_logistic_regression(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path, "wide")
    split = estimator.encode_split(arrays, labels)
    start = warm_start.fit_logistic(split, split, estimator.layout, grid=(0.1, 1.0))
    assert start.c in (0.1, 1.0) and start.l2 == pytest.approx(1 / (2 * start.c * len(labels)))
    warm_start.apply(estimator.core, start)
    design = warm_start.wide_design(split.features, estimator.layout)
    reference = LogisticRegression(C=start.c, max_iter=2000).fit(design, labels)
    np.testing.assert_allclose(estimator.logits_encoded(split.features), reference.decision_function(design), atol=1e-3)
    assert start.valid_auc == pytest.approx(
        __import__("sklearn.metrics").metrics.roc_auc_score(labels, reference.decision_function(design)), abs=1e-6
    )


def test_blending_trees_writes_a_times_model_plus_b_times_trees(sme_run):
    """Done by training; here checked on the trained run: its logit is the blend of the model and the trees."""
    from feature_columns.fitting import GBDT
    from wide_deep.record.model_dir import ModelDir

    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=lambda *_: None)
    wide = estimator.core.get_layer("wide_ids_weights")
    start = estimator.layout.wide_segments[estimator.layout.column_segments].offset
    assert wide.tree_mask.numpy()[start:].min() == 1  # blended: the trees count
    trees = estimator.state[GBDT]
    table = wide.weights_table.numpy()[start:]
    values = warm_start.leaf_values(estimator.layout, trees)
    b = table[np.argmax(np.abs(values))] / values[np.argmax(np.abs(values))]
    np.testing.assert_allclose(table, b * values, rtol=1e-5, atol=1e-7)  # every leaf at b × its LightGBM value
    split = estimator.encode_split({k: v[:50] for k, v in _arrays(run).items()}, np.zeros(50))
    assert not warm_start.blend_trees(estimator, split, trees)  # already blended: nothing happens twice


def test_a_blend_that_would_lower_the_validation_auc_is_not_kept(sme_run, monkeypatch):
    import sklearn.linear_model

    from feature_columns.fitting import GBDT
    from wide_deep.record.model_dir import ModelDir

    class AgainstTheTrees:  # a blend that leans hard against the trees: the AUC must fall
        def __init__(self, **_):
            self.coef_, self.intercept_ = np.array([[1.0, -5.0]]), np.array([0.0])

        def fit(self, *_):
            return self

        def decision_function(self, margins):
            return margins @ self.coef_[0]

    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=lambda *_: None)
    wide = estimator.core.get_layer("wide_ids_weights")
    start = estimator.layout.wide_segments[estimator.layout.column_segments].offset
    mask = wide.tree_mask.numpy()
    mask[start:] = 0.0
    wide.tree_mask.assign(mask)  # as trained, before the blend
    split = estimator.encode_split({k: v[:400] for k, v in _arrays(run).items()}, np.zeros(400))
    logits = estimator.logits_encoded(split.features)
    split.labels[:] = logits + np.random.default_rng(0).normal(0, 0.3, 400) > np.median(logits)
    before = [w.numpy().copy() for w in estimator.core.weights]
    monkeypatch.setattr(sklearn.linear_model, "LogisticRegression", AgainstTheTrees)
    said = []
    assert not warm_start.blend_trees(estimator, split, estimator.state[GBDT], log=said.append)
    assert "GBDT not blended in: it would lower the validation AUC" in said[0]
    for old, new in zip(before, estimator.core.weights):
        np.testing.assert_array_equal(old, new.numpy())  # nothing written: the trees stay at zero


def _arrays(run):
    from feature_columns.inputs import prepare_frame
    from wide_deep.data.dataset import add_transaction_features
    from wide_deep.data.sources import read_table, transactions_path

    config, spec = run.load_config(), run.load_spec()
    frame = read_table(config.train_data)
    frame, _ = add_transaction_features(spec, frame, transactions_path(spec.transactions, config.train_data), "t")
    return prepare_frame(spec, frame)
