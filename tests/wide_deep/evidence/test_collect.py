"""The credit-risk evidence a real (small, in-process) training run writes: metrics keys, tables, scorecard files."""

from __future__ import annotations

from wide_deep.evidence.fairness import GROUP_METRICS
from wide_deep.record.model_dir import SCORECARD_MD, ModelDir

EVIDENCE_KEYS = {
    "ks",
    "ks_score",
    "gini",
    "psi",
    "csi_max",
    "brier",
    "hosmer_lemeshow",
    "hosmer_lemeshow_p",
    "calibration_slope",
    "calibration_in_the_large",
    "label_definition",
    "auc_accepted_only",
    "proxy_auc_gender",
    "reason_code_max_abs_residual",
    "score_mean_test",
    "max_abs_statistical_parity_difference_gender",
}


def test_training_writes_the_credit_risk_evidence(sme_run):
    run = ModelDir(sme_run)
    metrics = run.read_metrics()
    assert EVIDENCE_KEYS <= set(metrics)
    assert metrics["gini"] == 2 * metrics["auc"] - 1 and 0 <= metrics["psi"] < 0.1
    assert 0 < metrics["hosmer_lemeshow_p"] <= 1 and "rejected" in metrics["label_definition"]
    assert metrics["calibration_slope_low"] < metrics["calibration_slope"] < metrics["calibration_slope_high"]
    assert metrics["reason_code_max_abs_residual"] < 0.1
    evidence = run.read_evidence()
    assert len(evidence["gains"]) == 10 and evidence["label"]["rejections_in_label"]
    assert evidence["label"]["rejected_applications"] > 0
    gender = evidence["fairness"]["gender"]
    assert gender["in_model"] is False and set(gender["groups"]) == {"F", "M"}
    assert 0.4 < gender["proxy_auc"] < 0.6  # the generator draws gender independently of everything else
    for group in gender["groups"].values():
        assert set(GROUP_METRICS) <= set(group)
    assert set(evidence["stability"]["baseline"]["features"]) >= {"city", "txn_count"}
    assert evidence["importance"]["permutation_auc_drop"] and evidence["scorecard"]["deep_share"]["std"] > 0
    card = run.read_scorecard()
    assert {"characteristic", "attribute", "weight", "points"} <= set(card.columns)
    assert "gender" not in set(card["characteristic"])
    assert "higher score means lower risk" in run.file(SCORECARD_MD).read_text()
    scores = run.read_test_scores()
    assert len(scores) == metrics["n_test"] and {"label", "probability", "probability_uncalibrated"} <= set(scores)
