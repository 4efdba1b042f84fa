"""The credit-risk evidence every training run writes (metrics.json keys and evidence.json tables).

Rank ordering (KS, Gini, gains), stability (PSI of the score between train and test, CSI per
input feature), calibration (Brier, reliability, Hosmer–Lemeshow; before and after the
optional calibrator), the label definition (and accepted loans separately when rejections
are labelled defaults), fairness per protected column with the proxy test, the scorecard's
deep-branch share, reason-code completeness, and feature importance (wide weights and
permutation importance). Everything is computed on splits the model was not fitted on,
except the PSI/CSI baseline, which is the training split by definition.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from wide_deep import fairness, metrics
from wide_deep.explain import Explainer, reason_codes
from wide_deep.scorecard import Scaling, build_scorecard, write_scorecard

PERMUTATION_ROWS = 5000


def label_definition(data) -> dict:
    spec, info = data.spec, data.info
    meta = Path(info.data).parent / "metadata.json"
    rule = json.loads(meta.read_text()).get("label_rule") if meta.exists() else None
    rejected = data.dataset.rejected
    return {"definition": rule or spec.label.definition or
            f"label column '{spec.label.column}': {list(spec.label.positive)} = default",
            "rejections_in_label": bool(rejected is not None and rejected.any()),
            "rejected_applications": int(rejected.sum()) if rejected is not None else None}


def stability(train_x: dict, test_x: dict, train_scores, test_scores, columns) -> dict:
    """PSI of the score and CSI per input feature, test against the training baseline (kept for `make monitor`)."""
    baseline = {"score": metrics.baseline_distribution(train_scores),
                "features": {c: metrics.baseline_distribution(train_x[c]) for c in columns}}
    return {**compare_to_baseline(baseline, test_scores, test_x), "baseline": baseline}


def compare_to_baseline(baseline: dict, scores, arrays: dict) -> dict:
    score_psi = metrics.psi_from_distributions(baseline["score"]["shares"], metrics.distribution(scores, baseline["score"]["edges"]))
    csi = {c: metrics.psi_from_distributions(b["shares"], metrics.distribution(arrays[c], b["edges"]))
           for c, b in baseline["features"].items() if c in arrays}
    return {"psi": score_psi, "psi_flag": metrics.stability_flag(score_psi),
            "csi": {c: {"csi": v, "flag": metrics.stability_flag(v)} for c, v in csi.items()}}


def permutation_importance(estimator, arrays: dict, labels: np.ndarray, columns, seed: int) -> dict:
    """Test AUC lost when one raw feature is shuffled (the others intact), on up to PERMUTATION_ROWS rows."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), min(PERMUTATION_ROWS, len(labels)), replace=False)
    sample = {k: v[idx] for k, v in arrays.items()}
    y = labels[idx]
    base = metrics.auc(y, estimator.predict(sample))
    out = {}
    for column in columns:
        shuffled = dict(sample)
        shuffled[column] = sample[column][rng.permutation(len(idx))]
        out[column] = base - metrics.auc(y, estimator.predict(shuffled))
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def collect(estimator, data, config, scores: dict, calibrator, threshold: float, model_dir: Path, log=print):
    """(plain metrics for metrics.json, tables for evidence.json, the fitted Explainer); writes scorecard.csv/.md."""
    train_x, train_y = data.split("train")
    test_x, test_y = data.split("test")
    model_spec = estimator.spec
    inputs = [c.name for c in model_spec.input_columns]
    plain, tables = {}, {}

    raw_test, final_test = scores["raw_test"], scores["test"]
    tables["gains"] = metrics.gains_table(test_y, final_test)
    tables["calibration_before"] = metrics.calibration_summary(test_y, raw_test)
    tables["calibration_after"] = metrics.calibration_summary(test_y, final_test) if calibrator.method != "none" else None
    calibration = tables["calibration_after"] or tables["calibration_before"]
    plain.update({"hosmer_lemeshow": calibration["hosmer_lemeshow"], "hosmer_lemeshow_p": calibration["hosmer_lemeshow_p"],
                  "calibration": calibrator.method,
                  "brier_uncalibrated": tables["calibration_before"]["brier"],
                  "hosmer_lemeshow_p_uncalibrated": tables["calibration_before"]["hosmer_lemeshow_p"]})

    train_encoded, test_encoded = estimator.encode(train_x), estimator.encode(test_x)   # once, for scores and reasons
    train_scores = calibrator.apply(estimator._predict_encoded(train_encoded))
    tables["stability"] = stability(train_x, test_x, train_scores, final_test, inputs)
    plain["psi"] = tables["stability"]["psi"]
    plain["csi_max"] = max((v["csi"] for v in tables["stability"]["csi"].values()), default=0.0)

    tables["label"] = label_definition(data)
    plain["label_definition"] = tables["label"]["definition"]
    rejected = data.dataset.rejected
    if tables["label"]["rejections_in_label"]:
        accepted = ~rejected[data.dataset.split_indices["test"]]
        plain["auc_accepted_only"] = metrics.auc(test_y[accepted], final_test[accepted])
        tables["accepted_only"] = {**metrics.evaluate(test_y[accepted], final_test[accepted], threshold),
                                   "count": int(accepted.sum())}

    tables["fairness"] = fairness.fairness_evidence(data.spec, model_spec, data.state, {"train": (train_x, train_y),
                                                    "test": (test_x, test_y)}, final_test, threshold, config.train.seed)
    for name, entry in tables["fairness"].items():
        plain[f"proxy_auc_{name}"] = entry["proxy_auc"]
        plain[f"max_abs_statistical_parity_difference_{name}"] = max(
            abs(g["statistical_parity_difference"]) for g in entry["groups"].values())

    scaling = Scaling(*config.scorecard)
    table, summary = build_scorecard(estimator, scaling)
    explainer = Explainer(estimator, train_encoded)
    explained = explainer.contributions(test_encoded)
    deep_share = None
    if summary["has_deep_term"]:
        wide_names = [s.name for s in estimator.layout.wide_segments] + [n.split(":")[0] for n in estimator.layout.wide_dense_names]
        deep_logit = estimator_deep_logit(estimator, explainer, test_encoded)
        deep_points = -scaling.factor * deep_logit
        wide_points = scaling.score(explained["logit"]) - deep_points
        deep_share = {"mean": float(deep_points.mean()), "std": float(deep_points.std()),
                      "p5": float(np.percentile(deep_points, 5)), "p95": float(np.percentile(deep_points, 95)),
                      "wide_std": float(wide_points.std()), "wide_characteristics": wide_names}
    write_scorecard(table, summary, model_dir, deep_share)
    tables["scorecard"] = {**summary, "deep_share": deep_share, "rows": len(table)}
    plain["score_mean_test"] = float(scaling.score(explained["logit"]).mean())

    contributions = explained["contributions"]
    plain["reason_code_max_abs_residual"] = float(np.abs(explained["residual"]).max())
    tables["reason_codes"] = {
        "features": explainer.features, "intercept": explainer.intercept,
        "max_abs_residual": plain["reason_code_max_abs_residual"],
        "mean_abs_residual": float(np.abs(explained["residual"]).mean()),
        "mean_abs_contribution": dict(sorted(zip(explainer.features, np.abs(contributions).mean(axis=0).tolist()),
                                             key=lambda kv: -kv[1])),
        "examples": [{"row": int(i), "probability": float(final_test[i]), "reasons": reasons}
                     for i, reasons in enumerate(reason_codes(explainer.features, contributions[:10]))],
    }
    tables["importance"] = {
        "wide_weights": table[["characteristic", "attribute", "weight", "points"]].to_dict(orient="records"),
        "permutation_auc_drop": permutation_importance(estimator, test_x, test_y, inputs, config.train.seed),
    }
    return plain, tables, explainer


def estimator_deep_logit(estimator, explainer: Explainer, encoded: dict, chunk: int = 65536) -> np.ndarray:
    n = int(next(iter(encoded.values())).shape[0])
    return np.concatenate([explainer.deep_logit(explainer.deep_input({k: v[s:s + chunk] for k, v in encoded.items()})).numpy()
                           for s in range(0, n, chunk)]).astype("float64")
