"""The warm start: the model before its first step is the logistic regression."""

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


def _arrays(run):
    from feature_columns.inputs import prepare_frame
    from wide_deep.data.dataset import add_transaction_features
    from wide_deep.data.sources import read_table, transactions_path

    config, spec = run.load_config(), run.load_spec()
    frame = read_table(config.train_data)
    frame, _ = add_transaction_features(spec, frame, transactions_path(spec.transactions, config.train_data), "t")
    return prepare_frame(spec, frame)
