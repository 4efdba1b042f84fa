import numpy as np
import pytest

from wide_deep import metrics


def test_ks_matches_brute_force():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    s = rng.random(500) + 0.3 * y
    ks, _ = metrics.ks_statistic(y, s)
    brute = max(abs((s[y == 1] <= t).mean() - (s[y == 0] <= t).mean()) for t in np.unique(s))
    assert ks == pytest.approx(brute, abs=1e-9)


def test_threshold_and_weighted_metrics():
    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])
    s = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8, 0.4, 0.65])
    t = metrics.f1_threshold(y, s)
    assert t == pytest.approx(0.4)
    out = metrics.evaluate(y, s, t)
    assert out["recall"] == 1.0 and out["precision"] == pytest.approx(0.8)
    assert out["gini"] == pytest.approx(2 * out["auc"] - 1)
    # support-weighted F1 averages the per-class F1s by class counts
    f1_pos = 2 * 0.8 * 1.0 / 1.8
    f1_neg = 2 * 1.0 * 0.75 / 1.75
    assert out["f1_weighted"] == pytest.approx((4 * f1_pos + 4 * f1_neg) / 8)
