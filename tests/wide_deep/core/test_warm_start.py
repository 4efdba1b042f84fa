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
    from wide_deep.run.model_dir import ModelDir

    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=lambda *_: None)
    wide = estimator.core.get_layer("wide_ids_weights")
    start = estimator.layout.wide_segments[warm_start.column_segments(estimator.layout)].offset
    assert wide.tree_mask.numpy()[start:].min() == 1  # blended: the trees count
    trees = estimator.state[GBDT]
    table = wide.weights_table.numpy()[start:]
    values = warm_start.leaf_values(estimator.layout, trees)
    b = table[np.argmax(np.abs(values))] / values[np.argmax(np.abs(values))]
    np.testing.assert_allclose(table, b * values, rtol=1e-5, atol=1e-7)  # every leaf at b × its LightGBM value
    split = estimator.encode_split({k: v[:50] for k, v in _arrays(run).items()}, np.zeros(50))
    assert not warm_start.blend_trees(estimator, split, trees)  # already blended: nothing happens twice


def _arrays(run):
    from feature_columns.inputs import prepare_frame
    from wide_deep.data.dataset import add_transaction_features
    from wide_deep.data.sources import read_table, transactions_path

    config, spec = run.load_config(), run.load_spec()
    frame = read_table(config.train_data)
    frame, _ = add_transaction_features(spec, frame, transactions_path(spec.transactions, config.train_data), "t")
    return prepare_frame(spec, frame)
