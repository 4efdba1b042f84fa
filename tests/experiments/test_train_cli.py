"""End-to-end runs of the real CLI (`python -m experiments.train`) on small data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.conftest import PROJECT_ROOT, run_cli

REQUIRED_KEYS = {"auc", "precision", "recall", "f1", "precision_weighted", "recall_weighted", "f1_weighted", "accuracy",
                 "log_loss", "brier", "ks", "gini", "threshold", "n_train", "n_valid", "n_test",
                 "train_examples_per_sec", "oracle_auc", "f1_at_0_5"}


def test_cli_trains_evaluates_and_exports(sme_run):
    model_dir, proc = sme_run
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert REQUIRED_KEYS <= set(metrics)
    history = pd.read_csv(model_dir / "history.csv")
    assert len(history) == 8
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]      # loss falls
    assert metrics["auc"] > 0.62                                     # clearly better than chance on 600 test rows
    assert 0.65 < metrics["oracle_auc"] < 0.85
    assert metrics["n_train"] == 1800 and metrics["n_test"] == 600
    assert "oracle_auc" in proc.stdout and "examples/s" in proc.stdout
    for name in ("spec.yaml", "preprocessing.json", "config.json", "checkpoints", "best", "summaries"):
        assert (model_dir / name).exists(), name
    assert len(list((model_dir / "export").glob("*/saved_model.pb"))) == 1


FRESH_PROCESS_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    rows = json.load(open(sys.argv[2]))
    loaded = tf.saved_model.load(sys.argv[1])
    fn = loaded.signatures["serving_default"]
    inputs = {}
    for name, spec in fn.structured_input_signature[1].items():
        values = rows[name]
        inputs[name] = tf.constant([str(v) for v in values]) if spec.dtype == tf.string else \\
            tf.constant([np.nan if v is None else v for v in values], tf.float32)
    out = fn(**inputs)
    # the same rows as serialized tf.Example protos; missing values are simply left out
    examples = []
    for i in range(len(rows[next(iter(rows))])):
        feature = {}
        for name, spec in fn.structured_input_signature[1].items():
            value = rows[name][i]
            if spec.dtype == tf.string and value != "":
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
            elif spec.dtype != tf.string and value is not None:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    from_examples = loaded.signatures["serving_tf_example"](examples=tf.constant(examples))
    assert not [m for m in sys.modules if m.split(".")[0] in ("wide_deep", "feature_columns", "experiments")]
    print(json.dumps({"probability": out["probability"].numpy().tolist(), "decision": out["decision"].numpy().tolist(),
                      "probability_from_examples": from_examples["probability"].numpy().tolist()}))
""")


def test_export_scores_raw_rows_in_a_fresh_process(sme_run, small_sme, tmp_path):
    from wide_deep.export import latest_export
    from wide_deep.run import load_estimator
    model_dir, _ = sme_run
    estimator = load_estimator(model_dir, log=lambda *_: None)
    from feature_columns.fitting import prepare_frame
    from wide_deep.aggregation import aggregate_transactions
    apps = pd.read_parquet(small_sme / "applications.parquet").head(40).copy()
    feats, _ = aggregate_transactions(small_sme / "transactions", apps, estimator_spec(model_dir).transactions, "enterprise_id")
    frame = pd.concat([apps, feats.drop(columns="enterprise_id")], axis=1)
    frame.loc[0:4, "city"] = "city_never_seen"
    frame.loc[5:9, "industry_primary"] = None
    frame.loc[10:14, ["txn_amount_cv", "txn_count_trend"]] = np.nan
    frame.loc[15:19, "avg_days_overdue"] = np.nan
    arrays = prepare_frame(estimator.spec, frame)
    expected = estimator.predict(arrays)
    rows = {k: [None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v) for v in a]
            for k, a in arrays.items()}
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    (tmp_path / "score.py").write_text(FRESH_PROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(tmp_path / "score.py"), str(latest_export(model_dir)), str(tmp_path / "rows.json")],
                          cwd=tmp_path, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["probability"], expected, atol=1e-5)
    np.testing.assert_allclose(served["probability_from_examples"], served["probability"], atol=1e-6)
    threshold = json.loads((model_dir / "metrics.json").read_text())["threshold"]
    assert served["decision"] == [int(p >= threshold) for p in served["probability"]]


def estimator_spec(model_dir):
    from feature_columns import FeatureSpec
    return FeatureSpec.from_yaml(model_dir / "spec.yaml")


def test_rerun_resumes_and_changed_settings_are_refused(tmp_path):
    model_dir = tmp_path / "german"
    first = run_cli("--dataset=german", f"--model_dir={model_dir}", "--epochs=2", "--export=false", "--noevidence")
    assert first.returncode == 0, first.stderr[-3000:]
    second = run_cli("--dataset=german", f"--model_dir={model_dir}", "--epochs=4", "--export=false",
                     "--early_stopping_patience=0", "--noevidence")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "resuming from" in second.stdout and "(epoch 2," in second.stdout
    assert pd.read_csv(model_dir / "history.csv")["epoch"].tolist() == [1, 2, 3, 4]
    changed = run_cli("--dataset=german", f"--model_dir={model_dir}", "--epochs=4", "--hidden_units=32")
    assert changed.returncode == 2 and "different settings (model)" in changed.stderr
    assert "Traceback" not in changed.stderr


def test_same_seed_same_metrics(tmp_path):
    results = []
    for name in ("a", "b"):
        proc = run_cli("--dataset=german", f"--model_dir={tmp_path / name}", "--epochs=3", "--export=false",
                       "--learning_rate=1e-3", "--seed=7", "--noevidence")
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.append(json.loads((tmp_path / name / "metrics.json").read_text()))
    for key in ("auc", "log_loss", "brier", "f1", "threshold"):
        assert results[0][key] == results[1][key], key


def test_user_csv_with_a_spec_and_bad_input_errors(tmp_path, toy_frame):
    spec = textwrap.dedent("""
        label: {column: y, positive: [1]}
        id: id
        columns:
          - {name: city, type: categorical}
          - {name: amount, type: numeric, encoding: log1p_zscore}
          - {name: age, type: bucketized, num_buckets: 4}
        crosses:
          - {keys: [city, age], min_frequency: 2}
    """)
    (tmp_path / "spec.yaml").write_text(spec)
    toy_frame.to_csv(tmp_path / "loans.csv", index=False)
    ok = run_cli(f"--dataset={tmp_path / 'loans.csv'}", f"--spec={tmp_path / 'spec.yaml'}", f"--model_dir={tmp_path / 'm'}",
                 "--epochs=2", "--export=false", "--noevidence")
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["oracle_auc"] is None

    bad = toy_frame.astype({"amount": object})
    bad.loc[3, "amount"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    proc = run_cli(f"--dataset={tmp_path / 'bad.csv'}", f"--spec={tmp_path / 'spec.yaml'}", f"--model_dir={tmp_path / 'n'}")
    assert proc.returncode == 2 and "column 'amount'" in proc.stderr and "row 3" in proc.stderr
    assert "Traceback" not in proc.stderr

    # the same one-line error path, checked in process (a CLI start costs ~10 s)
    from feature_columns.errors import UserError
    from wide_deep.config import RunConfig
    from wide_deep.run import prepare_data
    with pytest.raises(UserError, match="--spec"):
        prepare_data(RunConfig(dataset=str(tmp_path / "loans.csv"), model_dir=str(tmp_path / "o")), log=lambda *_: None)
    (tmp_path / "dup.yaml").write_text(spec.replace("crosses:", "  - {name: city, type: numeric}\ncrosses:"))
    with pytest.raises(UserError, match="'city' is named twice"):
        prepare_data(RunConfig(dataset=str(tmp_path / "loans.csv"), spec=str(tmp_path / "dup.yaml")), log=lambda *_: None)


def test_batch_scoring_streams_raw_applications_and_matches_the_model(sme_run, small_sme, tmp_path):
    """`experiments.predict` aggregates raw transactions per batch and scores through the export."""
    from feature_columns.fitting import prepare_frame
    from wide_deep.aggregation import aggregate_transactions
    from wide_deep.run import load_estimator
    from wide_deep.scoring import batch_probabilities
    model_dir, _ = sme_run
    out = tmp_path / "scores.parquet"
    proc = run_cli(f"--model_dir={model_dir}", f"--input={small_sme / 'applications.parquet'}", f"--output={out}",
                   "--batch_rows=700", module="experiments.predict")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "scored 3,000 rows" in proc.stdout
    scored = pd.read_parquet(out)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    assert scored["enterprise_id"].tolist() == apps["enterprise_id"].tolist()
    estimator = load_estimator(model_dir, log=lambda *_: None)
    feats, _ = aggregate_transactions(small_sme / "transactions", apps, estimator_spec(model_dir).transactions, "enterprise_id")
    expected = estimator.predict(prepare_frame(estimator.spec, pd.concat([apps, feats.drop(columns="enterprise_id")], axis=1)))
    np.testing.assert_allclose(batch_probabilities(out), expected, atol=1e-5)

    bad = apps.drop(columns=["city"])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    proc = run_cli(f"--model_dir={model_dir}", f"--input={tmp_path / 'bad.csv'}", f"--output={tmp_path / 'x.csv'}",
                   f"--transactions={small_sme / 'transactions'}", module="experiments.predict")
    assert proc.returncode == 2 and "['city']" in proc.stderr and "Traceback" not in proc.stderr
