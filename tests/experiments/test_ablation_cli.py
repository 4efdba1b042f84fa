"""The ablation and sensitivity drivers, end to end on tiny data through their real entry points."""
from __future__ import annotations

import pandas as pd

from tests.experiments.test_train_cli import run_cli
from wide_deep.ablation import PAPER_TABLE_2, ROW_METRICS, VARIANTS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_ablation_driver_writes_every_row_and_column(small_sme, tmp_path):
    proc = run_cli("--quick", "--dataset=sme", f"--train_data={small_sme / 'applications.parquet'}",
                   f"--results_dir={tmp_path / 'results'}", f"--runs_dir={tmp_path / 'runs'}", "--seeds=2",
                   "--bootstrap_resamples=50", module="experiments.ablation")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "results" / "ablation.csv")
    names = [v[0] for v in VARIANTS]
    assert rows["model"].value_counts().reindex(names).tolist() == [2] * 6          # 6 variants × 2 seeds
    assert {"LightGBM (tuned)", "scikit-learn LR (wide + cross features)", "Oracle (true probability)"} <= set(rows["model"])
    assert set(ROW_METRICS) <= set(rows.columns)
    trained = rows[rows["model"].isin(names)]
    assert trained[list(ROW_METRICS)].notna().all().all()
    assert (trained["auc"] > 0.5).all()
    summary = pd.read_csv(tmp_path / "results" / "ablation_summary.csv")
    assert (summary["auc_ci_low"] <= summary["auc_mean"]).all() and (summary["auc_mean"] <= summary["auc_ci_high"]).all()
    p_values = summary.set_index("model")["delong_p_vs_reference"]
    assert p_values.drop("Wide & Deep + Cross").between(0, 1).all() and pd.isna(p_values["Wide & Deep + Cross"])
    table = (tmp_path / "results" / "ablation.md").read_text()
    for name, paper in PAPER_TABLE_2.items():
        assert f"| {name} |" in table and f"{paper[1]:.4f}" in table
    for image in ("roc.png", "calibration.png"):
        assert (tmp_path / "results" / image).read_bytes()[:8] == PNG_MAGIC


def test_sensitivity_driver_writes_three_sweeps(tmp_path):
    proc = run_cli("--quick", "--dataset=german", f"--results_dir={tmp_path / 'results'}", f"--runs_dir={tmp_path / 'runs'}",
                   module="experiments.sensitivity")
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results" / "sensitivity.csv")
    assert table[table["sweep"] == "epochs"]["value"].tolist() == [1, 2, 3]
    assert table[table["sweep"] == "batch_size"]["value"].tolist() == [128, 256]
    assert table[table["sweep"] == "learning_rate"]["value"].tolist() == [1e-4, 1e-3]
    assert table[["auc", "f1", "f1_weighted"]].notna().all().all()
    assert (tmp_path / "results" / "sensitivity.png").read_bytes()[:8] == PNG_MAGIC
