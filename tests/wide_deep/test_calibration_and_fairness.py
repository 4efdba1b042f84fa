"""Calibrators (NumPy and TensorFlow agree), credit-risk metrics and fairness evidence on known inputs."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from feature_columns import numeric_column
from wide_deep import fairness, metrics
from wide_deep.calibration import fit_calibrator


@pytest.fixture
def miscalibrated():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.05, 0.6, 20000)
    labels = (rng.random(true.size) < true).astype(int)
    return labels, true ** 0.5          # systematically too high, same ranking


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_fixes_a_miscalibrated_score(miscalibrated, method):
    labels, scores = miscalibrated
    fit, check = slice(0, 10000), slice(10000, None)
    calibrator = fit_calibrator(method, labels[fit], scores[fit])
    before = metrics.calibration_summary(labels[check], scores[check])
    after = metrics.calibration_summary(labels[check], calibrator.apply(scores[check]))
    assert after["brier"] < before["brier"] and before["hosmer_lemeshow_p"] < 1e-6 < after["hosmer_lemeshow_p"]
    in_graph = calibrator.apply_tf(tf.constant(scores[check], tf.float32)).numpy()
    np.testing.assert_allclose(in_graph, calibrator.apply(scores[check]), atol=1e-4)  # float32 in the graph
    assert metrics.auc(labels[check], calibrator.apply(scores[check])) == pytest.approx(
        metrics.auc(labels[check], scores[check]), abs=0.003 if method == "isotonic" else 1e-9)  # isotonic ties


def test_gains_psi_and_hosmer_lemeshow(miscalibrated):
    labels, scores = miscalibrated
    gains = metrics.gains_table(labels, scores)
    assert [g["decile"] for g in gains] == list(range(1, 11)) and sum(g["count"] for g in gains) == len(labels)
    assert gains[0]["bad_rate"] > gains[-1]["bad_rate"] and gains[-1]["cumulative_bad_capture"] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=20000), rng.normal(size=20000)
    assert metrics.psi(a, b) < 0.01
    assert metrics.stability_flag(metrics.psi(a, b + 1.0)) == "act"
    assert metrics.psi(np.array(["x", "y"] * 100, dtype=object), np.array(["x"] * 150 + ["y"] * 50, dtype=object)) > 0.1
    p = rng.uniform(0.05, 0.9, 20000)
    y = (rng.random(p.size) < p).astype(int)
    assert metrics.hosmer_lemeshow(y, p)[1] > 0.01                   # calibrated: not rejected
    assert metrics.hosmer_lemeshow(y, np.clip(p * 1.3, 0, 0.99))[1] < 1e-6


def test_group_metrics_by_hand():
    labels = np.array([1, 0, 0, 1, 0, 0, 1, 1])
    scores = np.array([.9, .2, .6, .4, .1, .3, .8, .7])
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    out = fairness.group_metrics(labels, scores, threshold=0.5, groups=groups)
    a, b = out["groups"]["a"], out["groups"]["b"]
    assert out["reference_group"] in ("a", "b")
    assert a["approval_rate"] == 0.5 and b["approval_rate"] == 0.5          # scores < 0.5 are approved
    assert a["tpr"] == 0.5 and a["fpr"] == 0.5 and b["tpr"] == 1.0 and b["fpr"] == 0.0
    ref = out["groups"][out["reference_group"]]
    assert ref["statistical_parity_difference"] == 0
    other = b if out["reference_group"] == "a" else a
    assert other["equal_opportunity_difference"] == pytest.approx(other["approval_rate_non_defaulters"] - ref["approval_rate_non_defaulters"])


def test_numeric_groups_and_proxy_auc():
    age = numeric_column("age")
    object.__setattr__(age, "group_boundaries", (25.0,))
    assert fairness.group_labels(age, np.array([20.0, 30.0, np.nan]), np.array([1.0])).tolist() == ["< 25", ">= 25", "(missing)"]
    rng = np.random.default_rng(0)
    n = 4000
    sex = rng.choice(["f", "m"], n)
    from feature_columns.spec import FeatureSpec
    proxy = np.where(rng.random(n) < 0.9, sex, rng.choice(["f", "m"], n))    # a strong proxy of sex
    noise = rng.normal(size=n).astype("float32")
    spec = FeatureSpec.from_dict({"label": "y", "columns": [{"name": "proxy", "type": "categorical"},
                                                            {"name": "noise", "type": "numeric"}]})
    state = {"proxy": {"vocabulary": ["f", "m"]}, "noise": {}}
    arrays = {"proxy": proxy.astype(object), "noise": noise}
    half = {k: v[: n // 2] for k, v in arrays.items()}, {k: v[n // 2:] for k, v in arrays.items()}
    strong = fairness.proxy_auc(spec, state, half[0], half[1], sex[: n // 2], sex[n // 2:])
    assert strong > 0.85
    only_noise = FeatureSpec.from_dict({"label": "y", "columns": [{"name": "noise", "type": "numeric"}]})
    weak = fairness.proxy_auc(only_noise, state, half[0], half[1], sex[: n // 2], sex[n // 2:])
    assert abs(weak - 0.5) < 0.06
