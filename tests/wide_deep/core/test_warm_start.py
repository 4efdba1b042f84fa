"""The warm start: the model before its first step is the logistic regression."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.conftest import toy_estimator
from wide_deep.core import warm_start
from wide_deep.ranking import auc


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


def _ordered_layout():
    from feature_columns.preprocessor import EncodedLayout, WideSegment

    segments = (WideSegment("city", 0, 3), WideSegment("amount", 3, 5, ordered=True))  # amount: 4 ranges, missing
    return EncodedLayout(segments, ("rate",), (), ())


def test_an_ordered_characteristic_is_fitted_in_steps_and_trained_with_the_same_penalty():
    from wide_deep.core.model import StepL2

    layout = _ordered_layout()
    assert layout.ordered_steps() == ((3, 4), (4, 5), (5, 6))  # adjacent ranges; the missing row 7 is no step
    basis = warm_start.step_basis(layout).toarray()
    assert basis.shape == (9, 8)  # the first range's weight is the intercept's
    steps = np.array([0.4, -0.1, 0.3, 0.2, 0.5, 0.7, 0.9, -1.2])  # city 3, amount steps 3, missing, rate
    weights = basis @ steps
    np.testing.assert_allclose(weights[3:7], [0.0, 0.2, 0.7, 1.4])  # each range: the sum of the steps below it
    assert weights[7] == 0.9 and weights[8] == -1.2 and list(weights[:3]) == [0.4, -0.1, 0.3]
    penalty = float(StepL2(0.5, 8, layout.ordered_steps())(weights[:8].astype("float32")))
    assert penalty == pytest.approx(0.5 * float((steps[:7] ** 2).sum()), rel=1e-6)  # the regression's own penalty


def test_fine_bins_of_a_smooth_effect_get_smooth_points():
    from wide_deep.core.tensors import EncodedSplit

    rng = np.random.default_rng(0)
    layout = _ordered_layout()
    n = 1500
    ranges = rng.integers(0, 4, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-(ranges - 1.5)))).astype("int64")  # risk rises range by range
    ids = np.stack([rng.integers(0, 3, n), 3 + ranges], axis=1)
    split = EncodedSplit({"wide_ids": ids, "wide_dense": rng.normal(0, 1, (n, 1))}, labels)
    start = warm_start.fit_logistic(split, split, layout, grid=(0.003,))
    points = start.table[3:7]
    design = warm_start.wide_design(split.features, layout)
    plain = LogisticRegression(C=0.003, max_iter=2000).fit(design, labels).coef_[0][3:7]
    assert (np.diff(points) > 0).all()  # the steps are shrunk, not the ranges' points towards zero
    assert np.ptp(points) > 1.3 * np.ptp(plain)  # one-hot L2 pulls every range to 0: a flatter shape


def test_the_offset_regression_is_scikit_learns_with_a_fixed_term_per_row():
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    x = sp.csr_matrix(rng.normal(size=(400, 3)))
    labels = (rng.random(400) < 0.3).astype("float64")
    reference = LogisticRegression(C=0.5, max_iter=2000, tol=1e-10).fit(x, labels)
    coef, intercept = warm_start.offset_logistic(x, labels, np.zeros(400), c=0.5)
    np.testing.assert_allclose(coef, reference.coef_[0], atol=1e-4)
    assert intercept == pytest.approx(reference.intercept_[0], abs=1e-4)
    shifted, shifted_intercept = warm_start.offset_logistic(x, labels, np.full(400, 2.0), c=0.5)
    np.testing.assert_allclose(shifted, coef, atol=1e-4)  # a constant offset is absorbed by the intercept
    assert shifted_intercept == pytest.approx(intercept - 2.0, abs=1e-4)
    # a row's own term is held fixed, not refitted: the coefficients answer for what it leaves unexplained
    offset = 3.0 * x[:, 0].toarray().ravel()
    held, _ = warm_start.offset_logistic(x, labels, offset, c=0.5)
    assert held[0] == pytest.approx(coef[0] - 3.0, abs=0.3) and abs(held[0] - coef[0]) > 2.0


def test_a_refit_on_more_rows_is_the_regression_fitted_on_all_of_them(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path, "wide")
    half = len(labels) // 2
    first, second = (
        estimator.encode_split({k: v[part] for k, v in arrays.items()}, labels[part])
        for part in (slice(0, half), slice(half, None))
    )
    start = warm_start.fit_logistic(first, second, estimator.layout, grid=(0.3,))
    warm_start.apply(estimator.core, start)
    from wide_deep.evidence.scorecard import wide_weights

    logits = [estimator.logits_encoded(split.features) for split in (first, second)]
    refit = warm_start.refit([first, second], logits, wide_weights(estimator), estimator.layout, 0.3)
    assert refit.rows == len(labels) and refit.c == 0.3
    warm_start.apply_refit(estimator.core, refit)
    both = estimator.encode_split(arrays, labels)
    on_all = warm_start.fit_logistic(both, both, estimator.layout, grid=(0.3,))  # the same regression, all rows
    before = warm_start.logits(start, both.features, estimator.layout)
    assert np.abs(before - warm_start.logits(on_all, both.features, estimator.layout)).max() > 0.2  # half the rows
    # (to scikit-learn's tolerance, 1e-4 on the gradient of the mean loss, looser than the refit's L-BFGS)
    np.testing.assert_allclose(
        estimator.logits_encoded(both.features), warm_start.logits(on_all, both.features, estimator.layout), atol=2e-2
    )
    assert abs(auc(labels, estimator.logits_encoded(both.features)) - on_all.valid_auc) < 2e-3
    again = warm_start.Refit.from_json(refit.to_json())
    np.testing.assert_array_equal(again.table, refit.table)
    np.testing.assert_array_equal(again.dense, refit.dense)
    assert again.bias == refit.bias
