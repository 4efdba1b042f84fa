"""Calibrators fitted on validation: NumPy and TensorFlow agree, the ranking is kept, the JSON round-trips."""

import numpy as np
import pytest
import tensorflow as tf

from wide_deep.core.calibration import Calibrator, fit_calibrator
from wide_deep.evidence import metrics


@pytest.fixture
def miscalibrated():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.05, 0.6, 20000)
    labels = (rng.random(true.size) < true).astype(int)
    return labels, true**0.5  # systematically too high, same ranking


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
        metrics.auc(labels[check], scores[check]), abs=0.003 if method == "isotonic" else 1e-9
    )  # isotonic ties
    assert Calibrator.from_json(calibrator.to_json()) == calibrator


def test_no_calibration_is_the_identity(miscalibrated):
    labels, scores = miscalibrated
    calibrator = fit_calibrator("none", labels, scores)
    np.testing.assert_array_equal(calibrator.apply(scores), scores)
    with pytest.raises(ValueError, match="not one of"):
        fit_calibrator("magic", labels, scores)
