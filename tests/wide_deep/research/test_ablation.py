"""The ablation study (the paper's Table 2) on tiny data, in process through `ablation_study`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import UserError
from tests.conftest import quiet, sme_config
from wide_deep.research.ablation import (
    ACCURATE,
    BASELINES,
    ENSEMBLE,
    LIGHTGBM,
    ORACLE,
    PAPER_TABLE_2,
    QUICK_BEYOND,
    REFERENCE,
    ROW_METRICS,
    SEQUENCE_VARIANTS,
    VARIANTS,
    AblationPlan,
    ablation_study,
    curve_models,
    replot,
    scores_path,
    write_scores,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_ablation_writes_every_row_and_column(small_sme, tmp_path):
    config = sme_config(small_sme, tmp_path / "unused", accurate=False)
    plan = AblationPlan(1, tmp_path / "runs", tmp_path / "results", 50, quick=True, command="test", rows="paper")
    results = ablation_study(config, plan, log=quiet)
    rows = pd.read_csv(results / "ablation.csv")
    names = [v[0] for v in VARIANTS] + list(QUICK_BEYOND)
    # 6 paper variants and 2 accurate ones, one seed each (seeds × rows is a loop; one seed keeps the suite short);
    # one ensemble of 2 members (an ensemble has at least 2)
    assert rows["model"].value_counts().reindex(names).tolist() == [1] * 9
    assert {name for name, _ in BASELINES} | {"Oracle (true probability)"} <= set(rows["model"])
    assert rows.set_index("model").loc["Explainable Boosting Machine (defaults)", "readable_share"] == 1.0
    assert set(ROW_METRICS) <= set(rows.columns)
    trained = rows[rows["model"].isin(names)]
    assert trained[[m for m in ROW_METRICS if m != "serve_ms"]].notna().all().all()
    first = trained[(trained["seed"] == config.train.seed) & (trained["model"] != ENSEMBLE)]
    assert (first["serve_ms"] > 0).all()  # a single-row latency per variant (its first seed)
    members = trained["model"].map(lambda name: 2 if name == ENSEMBLE else 1)  # quick: a 2-member ensemble
    assert (trained["auc"] > 0.5).all() and (trained["epochs_trained"] == 3 * members).all()
    summary = pd.read_csv(results / "ablation_summary.csv")
    assert (summary["auc_ci_low"] <= summary["auc_mean"]).all() and (
        summary["auc_mean"] <= summary["auc_ci_high"]
    ).all()
    p_values = summary.set_index("model")["delong_p_vs_reference"]
    assert p_values.drop("Wide & Deep + Cross").between(0, 1).all() and pd.isna(p_values["Wide & Deep + Cross"])
    versus_lightgbm = summary.set_index("model")["delong_p_vs_lightgbm"]
    assert versus_lightgbm.drop("LightGBM (tuned)").between(0, 1).all() and pd.isna(versus_lightgbm["LightGBM (tuned)"])
    assert summary.set_index("model").loc[ACCURATE, "auc_mean"] > 0.6
    assert scores_path(tmp_path / "runs", "sme", "paper").exists()  # for redrawing the figures (`--replot`)
    table = (results / "ablation.md").read_text()
    for name, paper in PAPER_TABLE_2.items():
        assert f"| {name} |" in table and f"{paper[1]:.4f}" in table
    for image in ("roc.png", "calibration.png"):
        assert (results / image).read_bytes()[:8] == PNG_MAGIC


def test_sequence_rows_compare_with_the_accurate_model(small_sme, tmp_path):
    """`--rows=sequences`: the accurate model, each sequence and fusion row (DeLong-tested against it), with training
    throughput and single-row latency, into results/<dataset>/sequences unless told otherwise."""
    config = sme_config(small_sme, tmp_path / "unused", accurate=False)
    plan = AblationPlan(1, tmp_path / "runs", tmp_path / "results", 50, baselines=False, quick=True, rows="sequences")
    results = ablation_study(config, plan, log=quiet)
    summary = pd.read_csv(results / "ablation_summary.csv").set_index("model")
    names = [ACCURATE] + [v[0] for v in SEQUENCE_VARIANTS]
    assert list(summary.index) == names + ["Oracle (true probability)"]
    assert summary.loc[names[1:], "delong_p_vs_accurate"].between(0, 1).all()
    assert pd.isna(summary.loc[ACCURATE, "delong_p_vs_accurate"])
    assert (summary.loc[names, "serve_ms_mean"] > 0).all() and (
        summary.loc[names, "train_examples_per_sec_mean"] > 0
    ).all()
    assert "DeLong p vs accurate" in (results / "ablation.md").read_text()


def test_the_ablation_refuses_streamed_input(tmp_path):
    from wide_deep.record.config import RunConfig

    with pytest.raises(UserError, match="--streaming is for experiments.train: the ablation"):
        ablation_study(RunConfig(streaming=True), AblationPlan(1, tmp_path, tmp_path, 50), log=quiet)


def test_the_curves_drawn_are_the_extremes_the_reference_and_the_baselines():
    mean_auc = {
        "Logistic Regression": 0.70,
        REFERENCE: 0.73,
        "DNN + Cross": 0.729,
        ACCURATE: 0.735,
        LIGHTGBM: 0.72,
        ORACLE: 0.74,
    }
    assert curve_models(mean_auc) == ["Logistic Regression", REFERENCE, ACCURATE, LIGHTGBM, ORACLE]
    assert curve_models({"a": 0.6, "b": 0.7}) == ["a", "b"]  # the sequence rows: no reference, no baselines


def test_figures_are_redrawn_from_the_saved_scores(tmp_path):
    rng = np.random.default_rng(0)
    test_y = rng.integers(0, 2, 400)
    scores = {name: rng.random((400, k)) for name, k in ((REFERENCE, 2), (LIGHTGBM, 1), (ORACLE, 1))}
    write_scores(scores_path(tmp_path / "runs", "sme", "paper"), scores, test_y)
    results = replot(tmp_path / "runs", tmp_path / "results", "sme", "paper")
    assert results == tmp_path / "results"
    for image in ("roc.png", "calibration.png"):
        assert (results / image).read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(UserError, match="test_scores_sequences.npz does not exist"):
        replot(tmp_path / "runs", tmp_path / "results", "sme", "sequences")
