"""Credit-risk evidence from a real `experiments.train` run: metrics keys, protected columns,
scorecard files, `make report` HTML, `make monitor`, and reason codes from the batch scorer."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from tests.conftest import run_cli

EVIDENCE_KEYS = {"ks", "ks_score", "gini", "psi", "csi_max", "brier", "hosmer_lemeshow", "hosmer_lemeshow_p",
                 "label_definition", "auc_accepted_only", "proxy_auc_gender", "reason_code_max_abs_residual"}


def test_training_writes_the_credit_risk_evidence(sme_run):
    model_dir, _ = sme_run
    metrics = json.loads((model_dir / "metrics.json").read_text())
    assert EVIDENCE_KEYS <= set(metrics)
    assert metrics["gini"] == 2 * metrics["auc"] - 1 and 0 <= metrics["psi"] < 0.1
    assert 0 < metrics["hosmer_lemeshow_p"] <= 1 and "rejected" in metrics["label_definition"]
    evidence = json.loads((model_dir / "evidence.json").read_text())
    assert len(evidence["gains"]) == 10 and evidence["label"]["rejections_in_label"]
    gender = evidence["fairness"]["gender"]
    assert gender["in_model"] is False and set(gender["groups"]) == {"F", "M"}
    assert 0.4 < gender["proxy_auc"] < 0.6          # the generator draws gender independently of everything else
    for group in gender["groups"].values():
        assert {"auc", "approval_rate", "tpr", "fpr", "statistical_parity_difference", "equal_opportunity_difference",
                "average_odds_difference", "brier"} <= set(group)
    card = pd.read_csv(model_dir / "scorecard.csv")
    assert {"characteristic", "attribute", "weight", "points"} <= set(card.columns) and "gender" not in set(card["characteristic"])
    assert "higher score means lower risk" in (model_dir / "scorecard.md").read_text()


def test_protected_column_is_not_a_model_input(sme_run):
    import tensorflow as tf
    from wide_deep.export import latest_export
    model_dir, _ = sme_run
    inputs = tf.saved_model.load(str(latest_export(model_dir))).signatures["serving_default"].structured_input_signature[1]
    assert "gender" not in inputs and "city" in inputs


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.current, self.images = {}, None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs["id"]
            self.sections[self.current] = ""
        if tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1
        if tag in ("script", "link") or (tag == "img" and not attrs.get("src", "").startswith("data:")):
            raise AssertionError(f"report loads an external resource: <{tag} {attrs}>")

    def handle_data(self, data):
        if self.current:
            self.sections[self.current] += data


def test_report_has_every_section_with_numbers(sme_run):
    from wide_deep.report import SECTIONS
    model_dir, _ = sme_run
    proc = run_cli(f"--model_dir={model_dir}", "--bootstrap_resamples=100", module="experiments.report")
    assert proc.returncode == 0, proc.stderr[-2000:]
    parser = _Sections()
    parser.feed((model_dir / "report.html").read_text())
    assert list(parser.sections) == list(SECTIONS)
    for name, text in parser.sections.items():
        assert re.search(r"\d\.\d{2}", text), f"section {name} has no figures"
    assert parser.images >= 4      # ROC, KS, gains and calibration plots, embedded
    assert "gender" in parser.sections["fairness"] and "Proxy test" in parser.sections["fairness"]


def test_report_needs_a_trained_model_dir(tmp_path):
    proc = run_cli(f"--model_dir={tmp_path}", module="experiments.report")
    assert proc.returncode == 2 and "lacks" in proc.stderr and "Traceback" not in proc.stderr


def test_monitor_flags_a_shifted_population(sme_run, small_sme, tmp_path):
    from wide_deep.monitoring import monitor
    model_dir, _ = sme_run
    apps = pd.read_parquet(small_sme / "applications.parquet")
    baseline_like = monitor(model_dir, small_sme / "applications.parquet")   # in process; the CLI runs below
    assert baseline_like["psi_flag"] == "stable" and all(c["flag"] == "stable" for c in baseline_like["csi"].values())
    shifted = apps.copy()
    shifted["prev_delinquency_count"] = shifted["prev_delinquency_count"] + 3    # a much riskier population
    shifted.to_parquet(small_sme / "shifted.parquet")
    try:
        proc = run_cli(f"--model_dir={model_dir}", f"--input={small_sme / 'shifted.parquet'}", "--fail_on_act",
                       f"--output={tmp_path / 'shifted.json'}", module="experiments.monitor")
    finally:
        (small_sme / "shifted.parquet").unlink()
    result = json.loads((tmp_path / "shifted.json").read_text())
    assert result["csi"]["prev_delinquency_count"]["flag"] == "act" and result["csi"]["city"]["flag"] == "stable"
    assert result["psi"] > baseline_like["psi"]
    assert proc.returncode == (1 if result["psi_flag"] == "act" else 0)


def test_batch_scorer_writes_reason_codes_that_match_the_export(sme_run, small_sme, tmp_path):
    model_dir, _ = sme_run
    out = tmp_path / "reasons.parquet"
    proc = run_cli(f"--model_dir={model_dir}", f"--input={small_sme / 'applications.parquet'}", f"--output={out}",
                   "--reasons=3", "--batch_rows=1000", module="experiments.predict")
    assert proc.returncode == 0, proc.stderr[-2000:]
    scored = pd.read_parquet(out)
    assert {"reason_1", "reason_1_contribution", "reason_3"} <= set(scored.columns)
    top = scored["reason_1_contribution"].to_numpy()
    assert (top >= 0).all() and (scored.loc[top > 0, "reason_1"] != "").all()
    assert (scored["reason_1_contribution"] >= scored["reason_2_contribution"]).all()
    evidence = json.loads((model_dir / "evidence.json").read_text())
    assert set(scored["reason_1"].replace("", np.nan).dropna()) <= set(evidence["reason_codes"]["features"])


def test_serving_explain_signature_decomposes_the_logit(sme_run, small_sme):
    """The export's reason-code output: contributions + intercept = logit up to the integrated-gradients residual,
    and the same probability as `serving_default`."""
    from feature_columns.fitting import prepare_frame
    from wide_deep.export import EXPLAIN_FILE, SIDECAR_DIR
    from wide_deep.scoring import Scorer
    from wide_deep.trainer import to_tensors
    model_dir, _ = sme_run
    scorer = Scorer(model_dir)
    frame = scorer.features(pd.read_parquet(small_sme / "applications.parquet").head(300), small_sme / "transactions")
    tensors = to_tensors(prepare_frame(scorer.spec, frame))
    explained = {k: v.numpy() for k, v in scorer.signatures["serving_explain"](**tensors).items()}
    plain = scorer.signature(**tensors)["probability"].numpy()
    np.testing.assert_allclose(explained["probability"], plain, atol=1e-6)
    sidecar = json.loads((scorer.export / SIDECAR_DIR / EXPLAIN_FILE).read_text())
    assert explained["contributions"].shape == (300, len(sidecar["contribution_features"]))
    total = sidecar["intercept"] + explained["contributions"].sum(axis=1) + explained["residual"]
    np.testing.assert_allclose(total, explained["logit"], atol=1e-4)
    assert np.abs(explained["residual"]).max() < 0.1 and np.abs(explained["residual"]).mean() < 0.01
    np.testing.assert_allclose(1 / (1 + np.exp(-explained["logit"])), plain, atol=1e-5)   # no calibrator in this run
