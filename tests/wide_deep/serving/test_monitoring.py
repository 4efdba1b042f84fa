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


def test_a_new_code_is_counted_as_unseen_even_where_its_bucket_absorbs_it(sme_run, small_sme, tmp_path):
    apps = pd.read_parquet(small_sme / "applications.parquet").drop(columns=["label"])
    changed = apps.sample(frac=0.06, random_state=0).index
    apps.loc[changed, "prev_delinquency_count"] = 97  # a code training never saw, in 6 % of rows
    apps.to_parquet(tmp_path / "new_code.parquet")
    result = monitor(sme_run, tmp_path / "new_code.parquet", transactions=small_sme / "transactions")
    entry = result["unseen"]["prev_delinquency_count"]
    assert entry["rows"] == len(changed) and entry["examples"] == [97.0] and entry["flag"] == "act"
    assert result["flag"] == "act" and result["backtest"] is None  # no label column: no back-test
    text = format_monitoring(result)
    assert "unseen values in prev_delinquency_count: 180 rows" in text and "back-test: none" in text


def test_a_labelled_batch_is_back_tested_against_the_run(sme_run, small_sme, tmp_path):
    from wide_deep.record.model_dir import ModelDir

    result = monitor(sme_run, small_sme / "applications.parquet", transactions=small_sme / "transactions")
    backtest, run_metrics = result["backtest"], ModelDir(sme_run).read_metrics()
    labels = pd.read_parquet(small_sme / "applications.parquet")["label"]
    assert backtest["rows"] == 3000 and backtest["default_rate"] == labels.mean()
    assert backtest["test_auc"] == run_metrics["auc"] and 0.6 < backtest["auc"] < 1
    assert sum(band["count"] for band in backtest["bands"]) == 3000
    assert backtest["ranking_flag"] == "stable"  # the same population: ranking holds
    assert result["approval"]["test_rate"] == run_metrics["cutoff_approval_rate"]
    assert abs(result["approval"]["shift"]) < 0.05 and result["approval"]["flag"] == "stable"
    # outcomes that no longer follow the score: the ranking is flagged
    flipped = pd.read_parquet(small_sme / "applications.parquet")
    flipped["label"] = flipped["label"].sample(frac=1.0, random_state=0).to_numpy()
    flipped.to_parquet(tmp_path / "flipped.parquet")
    broken = monitor(sme_run, tmp_path / "flipped.parquet", transactions=small_sme / "transactions")
    assert broken["backtest"]["ranking_flag"] == "act" and broken["flag"] == "act"
    assert "back-test AUC" in format_monitoring(broken)
