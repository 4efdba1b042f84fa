"""The exported SavedModel: raw features in, scored in a process that never imports the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from feature_columns.inputs import prepare_frame, to_tensors
from tests.conftest import quiet
from wide_deep.record.export_layout import EXPLAIN
from wide_deep.record.model_dir import ModelDir
from wide_deep.serving.saved_model import LoadedExport

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
    run = ModelDir(sme_run)
    estimator = run.load_estimator(log=quiet)
    from wide_deep.data.dataset import add_transaction_features

    apps = pd.read_parquet(small_sme / "applications.parquet").head(40).copy()
    frame, _ = add_transaction_features(estimator.spec, apps, small_sme / "transactions", "test")
    frame.loc[0:4, "city"] = "city_never_seen"
    frame.loc[5:9, "industry_primary"] = None
    frame.loc[10:14, ["txn_amount_cv", "txn_count_trend"]] = np.nan
    frame.loc[15:19, "avg_days_overdue"] = np.nan
    arrays = prepare_frame(estimator.spec, frame)
    expected = estimator.predict(arrays)
    rows = {
        k: [None if isinstance(v, float) and np.isnan(v) else (v.item() if hasattr(v, "item") else v) for v in a]
        for k, a in arrays.items()
    }
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    (tmp_path / "score.py").write_text(FRESH_PROCESS_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "score.py"), str(run.latest_export()), str(tmp_path / "rows.json")],
        cwd=tmp_path,
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    served = json.loads(proc.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(served["probability"], expected, atol=1e-5)
    np.testing.assert_allclose(served["probability_from_examples"], served["probability"], atol=1e-6)
    threshold = run.read_metrics()["threshold"]
    assert served["decision"] == [int(p >= threshold) for p in served["probability"]]


def test_protected_column_is_not_a_model_input(sme_run):
    export = LoadedExport(ModelDir(sme_run).latest_export())
    assert "gender" not in export.input_specs and "city" in export.input_specs
    assert [c.name for c in export.spec.input_columns] == list(export.input_specs)  # the spec's order


def test_serving_explain_signature_decomposes_the_logit(sme_run, small_sme):
    """Contributions + intercept = logit up to the integrated-gradients residual; the same probability as
    `serving_default`."""
    from wide_deep.serving.scoring import Scorer

    scorer = Scorer(sme_run)
    frame = scorer.features(pd.read_parquet(small_sme / "applications.parquet").head(300), small_sme / "transactions")
    tensors = to_tensors(prepare_frame(scorer.spec, frame))
    explained = {k: v.numpy() for k, v in scorer.export.require(EXPLAIN)(**tensors).items()}
    plain = scorer.signature(**tensors)["probability"].numpy()
    np.testing.assert_allclose(explained["probability"], plain, atol=1e-6)
    info = scorer.export.explain_info()
    assert explained["contributions"].shape == (300, len(info["contribution_features"]))
    total = info["intercept"] + explained["contributions"].sum(axis=1) + explained["residual"]
    np.testing.assert_allclose(total, explained["logit"], atol=1e-4)
    assert np.abs(explained["residual"]).max() < 0.1 and np.abs(explained["residual"]).mean() < 0.01
    np.testing.assert_allclose(1 / (1 + np.exp(-explained["logit"])), plain, atol=1e-5)  # no calibrator in this run


def test_a_failed_export_leaves_no_staging_folder(sme_run, tmp_path, monkeypatch):
    from wide_deep.serving import export

    estimator = ModelDir(sme_run).load_estimator(log=quiet)

    def disk_full(state):  # fails after the SavedModel itself is written to the staging folder
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "state_to_json", disk_full)
    with pytest.raises(OSError, match="No space left"):
        exported = export.ExportedModel(estimator.serving_model(), estimator.spec, estimator.state, 0.5)
        export.export_saved_model(exported, tmp_path / "export")
    assert list((tmp_path / "export").iterdir()) == []
