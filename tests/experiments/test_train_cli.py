"""End-to-end runs of the real command-line entry points on small data: train → predict → report → monitor.

The library behind them is tested in process under tests/wide_deep; these check what only a
process shows: flags, the files a user gets, exit codes and one-line errors without a traceback.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def cli_run(small_sme, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("cli") / "sme"
    proc = run_cli(
        "--dataset=sme",
        f"--train_data={small_sme / 'applications.parquet'}",
        f"--model_dir={model_dir}",
        "--epochs=3",
        "--learning_rate=1e-3",
        "--early_stopping_patience=0",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model_dir, proc


def test_train_prints_the_table_and_writes_a_run(cli_run):
    model_dir, proc = cli_run
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert "oracle_auc" in proc.stdout and "gap_to_permitted" in proc.stdout and "examples/s" in proc.stdout
    assert "exported SavedModel to" in proc.stdout
    # the spec's sequence gets a tower only when the probe finds the steps pay; the run says which, in one line
    [choice] = [line for line in proc.stdout.splitlines() if line.startswith("sequences (weekly_flows): ")]
    tower = "sequence weekly_flows (26 steps × 4 channels) → GRU 16" in proc.stdout
    assert ("a tower over the steps" in choice) == tower and ("the aggregates only" in choice) != tower, choice
    state = json.loads((model_dir / "preprocessing.json").read_text())["columns"]
    assert state["__sequence_choice__"]["use_sequences"] == tower
    assert f"{metrics['auc']:.4f}" in proc.stdout and metrics["epochs_trained"] == 3
    assert len(list((model_dir / "export").glob("*/saved_model.pb"))) == 1
    assert (model_dir / "evidence.json").exists() and not proc.stderr.count("Traceback")
    for false_alarm in ("triggered tf.function retracing", "oneDNN supports", "RuntimeWarning", "UserWarning"):
        assert false_alarm not in proc.stderr, proc.stderr[-3000:]


def test_predict_scores_a_file_and_a_bad_file_is_one_line(cli_run, small_sme, tmp_path):
    from wide_deep.serving.scoring import Scorer

    model_dir, _ = cli_run
    out = tmp_path / "scores.csv"
    proc = run_cli(
        f"--model_dir={model_dir}",
        f"--input={small_sme / 'applications.parquet'}",
        f"--output={out}",
        "--batch_rows=1000",
        module="experiments.predict",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scored 3,000 rows" in proc.stdout and "peak RSS" in proc.stdout
    scored = pd.read_csv(out)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    assert scored["enterprise_id"].tolist() == apps["enterprise_id"].tolist()
    expected = Scorer(model_dir).score_frame(apps.head(100), small_sme / "transactions")["probability"]
    np.testing.assert_allclose(scored["probability"].head(100), expected, atol=1e-6)

    apps.drop(columns=["city"]).to_csv(tmp_path / "bad.csv", index=False)
    proc = run_cli(
        f"--model_dir={model_dir}",
        f"--input={tmp_path / 'bad.csv'}",
        f"--output={tmp_path / 'x.csv'}",
        f"--transactions={small_sme / 'transactions'}",
        module="experiments.predict",
    )
    assert proc.returncode == 2 and "['city']" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and not (tmp_path / "x.csv").exists()


def test_report_writes_a_self_contained_page(cli_run):
    model_dir, _ = cli_run
    proc = run_cli(f"--model_dir={model_dir}", "--bootstrap_resamples=50", module="experiments.report")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (model_dir / "report.html").read_text().startswith("<!doctype html>")


def test_monitor_fails_on_act_only_for_a_shifted_population(cli_run, small_sme, tmp_path):
    from tests.wide_deep.serving.test_monitoring import shifted_population

    model_dir, _ = cli_run
    shifted = shifted_population(model_dir, small_sme, tmp_path)
    common = [f"--model_dir={model_dir}", f"--transactions={small_sme / 'transactions'}", "--fail_on_act"]
    proc = run_cli(*common, f"--input={shifted}", f"--output={tmp_path / 'shifted.json'}", module="experiments.monitor")
    result = json.loads((tmp_path / "shifted.json").read_text())
    assert result["psi_flag"] == "act" and proc.returncode == 1, proc.stderr[-2000:]
    assert "score PSI" in proc.stdout and "[act]" in proc.stdout
    assert {"unseen", "approval", "backtest", "flag"} <= set(result)  # all the printed report shows
    proc = run_cli(*common, f"--input={small_sme / 'applications.parquet'}", module="experiments.monitor")
    assert proc.returncode == 0 and "[stable]" in proc.stdout, proc.stderr[-2000:]
    # a feature at act fails the run too, unless only the score is asked for (--fail_on=score)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    apps.loc[apps.index[:300], "prev_delinquency_count"] = 97
    apps.to_parquet(tmp_path / "new_code.parquet")
    proc = run_cli(*common, f"--input={tmp_path / 'new_code.parquet'}", module="experiments.monitor")
    assert proc.returncode == 1 and "unseen values in prev_delinquency_count" in proc.stdout, proc.stderr[-2000:]
    proc = run_cli(*common, "--fail_on=score", f"--input={tmp_path / 'new_code.parquet'}", module="experiments.monitor")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_a_user_mistake_in_training_is_one_line(tmp_path):
    proc = run_cli(f"--dataset={tmp_path / 'loans.csv'}", f"--model_dir={tmp_path / 'm'}")
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: ") and "--spec" in last and "Traceback" not in proc.stderr
