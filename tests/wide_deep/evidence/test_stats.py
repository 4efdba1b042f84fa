import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from wide_deep.evidence import stats


def _psi(x, y):
    return 1.0 if x > y else 0.5 if x == y else 0.0


def brute_force_delong(labels, scores):
    """Placement values straight from DeLong et al. (1988), O(m·n)."""
    labels = np.asarray(labels).astype(bool)
    aucs, v10s, v01s = [], [], []
    for s in scores:
        pos, neg = s[labels], s[~labels]
        kernel = np.array([[_psi(p, q) for q in neg] for p in pos])
        aucs.append(kernel.mean())
        v10s.append(kernel.mean(axis=1))
        v01s.append(kernel.mean(axis=0))
    v10s, v01s = np.array(v10s), np.array(v01s)
    k = len(scores)
    s10 = np.array(
        [[np.sum((v10s[r] - aucs[r]) * (v10s[c] - aucs[c])) / (v10s.shape[1] - 1) for c in range(k)] for r in range(k)]
    )
    s01 = np.array(
        [[np.sum((v01s[r] - aucs[r]) * (v01s[c] - aucs[c])) / (v01s.shape[1] - 1) for c in range(k)] for r in range(k)]
    )
    return np.array(aucs), s10 / v10s.shape[1] + s01 / v01s.shape[1]


def test_fast_delong_matches_brute_force_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 120)
    a = np.round(rng.random(120) + 0.4 * labels, 1)  # rounding creates ties
    b = np.round(a + rng.normal(0, 0.3, 120), 1)
    aucs, cov = stats.delong_covariance(labels, np.vstack([a, b]))
    ref_aucs, ref_cov = brute_force_delong(labels, [a, b])
    np.testing.assert_allclose(aucs, ref_aucs, atol=1e-12)
    np.testing.assert_allclose(cov, ref_cov, atol=1e-12)
    assert aucs[0] == pytest.approx(roc_auc_score(labels, a))


def test_delong_test_behaviour():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    strong = rng.normal(size=2000) + 1.0 * labels
    weak = rng.normal(size=2000) + 0.2 * labels
    result = stats.delong_test(labels, strong, weak)
    assert result["difference"] > 0 and result["p_value"] < 1e-6
    same = stats.delong_test(labels, strong, strong)
    assert same["p_value"] == 1.0 and same["difference"] == 0.0
    noisy = stats.delong_test(labels, strong, strong + rng.normal(0, 0.01, 2000))
    assert noisy["p_value"] > 0.05


def test_bootstrap_interval_covers_the_estimate_and_is_seeded():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 1000)
    scores = rng.normal(size=1000) + 0.8 * labels
    lo, hi = stats.bootstrap_ci(labels, scores, roc_auc_score, n_resamples=300, seed=5)
    auc = roc_auc_score(labels, scores)
    assert lo < auc < hi and 0.02 < hi - lo < 0.12
    assert (lo, hi) == stats.bootstrap_ci(labels, scores, roc_auc_score, n_resamples=300, seed=5)


def test_fast_bootstrap_auc_matches_the_generic_bootstrap():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 600)
    scores = np.round(np.column_stack([rng.normal(size=600) + 0.7 * labels, rng.normal(size=600) + 0.5 * labels]), 1)

    def mean_auc(y, s):
        return float(np.mean([roc_auc_score(y, s[:, j]) for j in range(s.shape[1])]))

    slow = stats.bootstrap_ci(labels, scores, mean_auc, n_resamples=200, seed=9)
    fast = stats.bootstrap_auc_ci(labels, scores, n_resamples=200, seed=9, chunk=64)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
