"""`make monitor`: PSI/CSI of a new population against the training baseline."""

from __future__ import annotations

import pandas as pd

from wide_deep.serving.monitoring import format_monitoring, monitor
from wide_deep.serving.scoring import Scorer


def shifted_population(model_dir, small_sme, folder):
    """The riskiest third of the applications by the model's own score, with 3 more previous delinquencies each:
    a population whose score and `prev_delinquency_count` distributions are both far from the training ones."""
    apps = pd.read_parquet(small_sme / "applications.parquet")
    scores = Scorer(model_dir).score_frame(apps, small_sme / "transactions")["probability"]
    riskiest = apps[scores >= pd.Series(scores).quantile(2 / 3)].copy()
    riskiest["prev_delinquency_count"] = riskiest["prev_delinquency_count"] + 3
    riskiest.to_parquet(folder / "shifted.parquet")
    return folder / "shifted.parquet"


def test_the_training_population_is_stable_and_a_shifted_one_is_flagged(sme_run, small_sme, tmp_path):
    baseline_like = monitor(sme_run, small_sme / "applications.parquet")
    assert baseline_like["psi_flag"] == "stable" and all(c["flag"] == "stable" for c in baseline_like["csi"].values())
    assert baseline_like["rows"] == 3000
    result = monitor(sme_run, shifted_population(sme_run, small_sme, tmp_path), transactions=small_sme / "transactions")
    assert result["rows"] == 1000 and result["psi"] > 0.25 and result["psi_flag"] == "act"
    assert result["csi"]["prev_delinquency_count"]["flag"] == "act"
    assert result["csi"]["prev_delinquency_count"]["csi"] > 5 * result["csi"]["real_name_verification"]["csi"]
    text = format_monitoring(result)
    assert "[act]" in text and text.index("prev_delinquency_count") < text.index("real_name_verification")
