"""Metrics: KS, thresholds, weighted F1, gains, PSI/CSI and Hosmer–Lemeshow on known inputs."""

import numpy as np
import pytest

from wide_deep.evidence import metrics


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


def test_gains_psi_and_hosmer_lemeshow():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.05, 0.6, 20000)
    labels = (rng.random(true.size) < true).astype(int)
    scores = true**0.5  # miscalibrated, same ranking
    gains = metrics.gains_table(labels, scores)
    assert [g["decile"] for g in gains] == list(range(1, 11)) and sum(g["count"] for g in gains) == len(labels)
    assert gains[0]["bad_rate"] > gains[-1]["bad_rate"] and gains[-1]["cumulative_bad_capture"] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=20000), rng.normal(size=20000)
    assert metrics.psi(a, b) < 0.01
    assert metrics.stability_flag(metrics.psi(a, b + 1.0)) == "act"
    categories = np.array(["x", "y"] * 100, dtype=object)
    assert metrics.psi(categories, np.array(["x"] * 150 + ["y"] * 50, dtype=object)) > 0.1
    p = rng.uniform(0.05, 0.9, 20000)
    y = (rng.random(p.size) < p).astype(int)
    assert metrics.hosmer_lemeshow(y, p)[1] > 0.01  # calibrated: not rejected
    assert metrics.hosmer_lemeshow(y, np.clip(p * 1.3, 0, 0.99))[1] < 1e-6


def test_the_calibration_slope_recovers_how_far_off_the_scores_are():
    rng = np.random.default_rng(2)
    z = rng.normal(-1.0, 1.5, 40000)
    labels = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    honest = metrics.calibration_slope(labels, 1 / (1 + np.exp(-z)))
    assert honest["calibration_slope_low"] < 1 < honest["calibration_slope_high"]
    assert abs(honest["calibration_in_the_large"]) < 0.05
    bold = metrics.calibration_slope(labels, 1 / (1 + np.exp(-2 * z)))  # twice as extreme in log-odds
    assert bold["calibration_slope_high"] < 0.55 and bold["calibration_slope_low"] > 0.45
    high = metrics.calibration_slope(labels, 1 / (1 + np.exp(-(z + 0.5))))  # default odds overstated by e^0.5
    assert high["calibration_in_the_large"] == pytest.approx(-0.5, abs=0.05)
    assert high["calibration_slope_low"] < 1 < high["calibration_slope_high"]
    summary = metrics.calibration_summary(labels, 1 / (1 + np.exp(-z)))
    assert summary["calibration_slope"] == honest["calibration_slope"]
    # undefined, not an error: one class, constant scores, scores that separate the classes
    assert metrics.calibration_slope(np.zeros(100), np.full(100, 0.3))["calibration_slope"] is None
    assert metrics.calibration_slope(labels[:100], np.full(100, 0.3))["calibration_slope"] is None
    separated = np.where(labels[:200] == 1, 0.9, 0.1)
    assert metrics.calibration_slope(labels[:200], separated)["calibration_slope"] is None


def test_psi_by_hand():
    expected = {"0": 0.5, "1": 0.5}
    actual = {"0": 0.25, "1": 0.75}
    by_hand = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert metrics.psi_from_distributions(expected, actual) == pytest.approx(by_hand)
    emptied = (1.0 - 0.5) * np.log(1.0 / 0.5) + (1e-4 - 0.5) * np.log(1e-4 / 0.5)  # an emptied bin counts as 0.0001
    assert metrics.psi_from_distributions(expected, {"0": 1.0}) == pytest.approx(emptied)
    assert [metrics.stability_flag(v) for v in (0.05, 0.2, 0.3)] == ["stable", "watch", "act"]


def test_cutoff_rules_give_the_decline_threshold():
    from feature_columns.errors import UserError
    from wide_deep.evidence.scorecard import Scaling

    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 1000), rng.random(1000)
    scaling = Scaling(600, 50, 20)
    assert metrics.decision_threshold("f1", labels, scores, scaling) == metrics.f1_threshold(labels, scores)
    assert metrics.decision_threshold("probability:0.3", labels, scores, scaling) == 0.3
    at_520 = metrics.decision_threshold("score:520", labels, scores, scaling)
    assert scaling.score(np.log(at_520 / (1 - at_520))) == pytest.approx(520)
    approval = metrics.decision_threshold("approval:0.7", labels, scores, scaling)
    assert np.mean(scores < approval) == pytest.approx(0.7, abs=0.002)  # 70 % of validation approved
    for bad in ("median", "f1:2", "probability:1.5", "score:x", "approval:0", "probability:"):
        with pytest.raises(UserError, match="cut-off"):
            metrics.parse_cutoff(bad)
