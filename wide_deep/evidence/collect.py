"""The credit-risk evidence every training run writes (metrics.json keys and evidence.json tables).

Rank ordering (KS, Gini, gains), stability (PSI of the score between train and test, CSI per
input feature), calibration (Brier, reliability, Hosmer–Lemeshow; before and after the
optional calibrator), the label definition (and accepted loans separately when rejections
are labelled defaults), fairness per protected column with the proxy test, the scorecard's
deep-branch share, reason-code completeness, and feature importance (wide weights and
permutation importance). Everything is computed on splits the model was not fitted on,
except the PSI/CSI baseline, which is the training split by definition.

`collect` works on the splits the pipeline encoded once; it encodes nothing again.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pandas as pd

from wide_deep.core.tensors import EncodedSplit
from wide_deep.evidence import fairness, metrics
from wide_deep.evidence.explain import Explainer, reason_codes
from wide_deep.evidence.scorecard import Scaling, add_binning_statistics, build_scorecard, scorecard_markdown

PERMUTATION_ROWS = 5000


@dataclasses.dataclass
class Evidence:
    """What `collect` found: plain metrics for metrics.json, tables for evidence.json, the scorecard, the test
    scores the report draws from, and the fitted Explainer (which the export's `serving_explain` uses)."""

    metrics: dict
    tables: dict
    scorecard: pd.DataFrame
    scorecard_markdown: str
    test_scores: pd.DataFrame
    explainer: Explainer


def label_definition(spec, metadata_path, rejected: np.ndarray | None) -> dict:
    rule = json.loads(metadata_path.read_text()).get("label_rule") if metadata_path.exists() else None
    return {
        "definition": rule
        or spec.label.definition
        or f"label column '{spec.label.column}': {list(spec.label.positive)} = default",
        "rejections_in_label": bool(rejected is not None and rejected.any()),
        "rejected_applications": int(rejected.sum()) if rejected is not None else None,
    }


def stability(train_x: dict, test_x: dict, train_scores, test_scores, columns) -> dict:
    """PSI of the score and CSI per input feature, test against the training baseline (kept for `make monitor`)."""
    baseline = {
        "score": metrics.baseline_distribution(train_scores),
        "features": {c: metrics.baseline_distribution(train_x[c]) for c in columns},
    }
    return {**compare_to_baseline(baseline, test_scores, test_x), "baseline": baseline}


def compare_to_baseline(baseline: dict, scores, arrays: dict) -> dict:
    score_psi = metrics.psi_from_distributions(
        baseline["score"]["shares"], metrics.distribution(scores, baseline["score"]["edges"])
    )
    csi = {
        c: metrics.psi_from_distributions(b["shares"], metrics.distribution(arrays[c], b["edges"]))
        for c, b in baseline["features"].items()
        if c in arrays
    }
    return {
        "psi": score_psi,
        "psi_flag": metrics.stability_flag(score_psi),
        "csi": {c: {"csi": v, "flag": metrics.stability_flag(v)} for c, v in csi.items()},
    }


def permutation_importance(estimator, arrays: dict, labels: np.ndarray, columns, seed: int) -> dict:
    """Test AUC lost when one raw feature is shuffled (the others intact), on up to PERMUTATION_ROWS rows.

    The intact sample and one copy per shuffled column are stacked and scored in one pass (one
    encoding and one batched prediction instead of one small pipeline per column)."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(labels), min(PERMUTATION_ROWS, len(labels)), replace=False)
    sample = {c: arrays[c][idx] for c in columns}
    y = labels[idx]
    orders = {column: rng.permutation(len(idx)) for column in columns}
    stacked = {
        c: np.concatenate([sample[c]] + [sample[c][orders[c]] if c == column else sample[c] for column in columns])
        for c in columns
    }
    scores = estimator.predict(stacked).reshape(len(columns) + 1, len(idx))
    base = metrics.auc(y, scores[0])
    out = {column: base - metrics.auc(y, scores[i + 1]) for i, column in enumerate(columns)}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def collect(
    estimator,
    data,
    config,
    reference: EncodedSplit,
    test: EncodedSplit,
    scores: dict,
    calibrator,
    threshold: float,
    log=print,
) -> Evidence:
    """The evidence for a trained estimator.

    `data` is the pipeline's PreparedData (raw splits, the dataset spec, the fitted state),
    `reference` the encoded training reference (the train split, or the fitting files when
    streamed), `test` the encoded test split, `scores` the test probabilities before
    (`raw_test`) and after (`test`) calibration.
    """
    started = [time.perf_counter()]

    def done(step: str) -> None:  # one progress line per step, with its seconds
        log(f"  {step} ({time.perf_counter() - started[0]:.1f} s)")
        started[0] = time.perf_counter()

    train_split, test_split = data.reference, data.splits["test"]
    train_x, train_y = train_split.arrays, train_split.labels
    test_x, test_y = test_split.arrays, test_split.labels
    model_spec = estimator.spec
    inputs = [c.name for c in model_spec.input_columns]
    plain, tables = {}, {}

    raw_test, final_test = scores["raw_test"], scores["test"]
    tables["gains"] = metrics.gains_table(test_y, final_test)
    tables["calibration_before"] = metrics.calibration_summary(test_y, raw_test)
    tables["calibration_after"] = (
        metrics.calibration_summary(test_y, final_test) if calibrator.method != "none" else None
    )
    calibration = tables["calibration_after"] or tables["calibration_before"]
    plain.update(
        {
            "hosmer_lemeshow": calibration["hosmer_lemeshow"],
            "hosmer_lemeshow_p": calibration["hosmer_lemeshow_p"],
            "calibration": calibrator.method,
            "brier_uncalibrated": tables["calibration_before"]["brier"],
            "hosmer_lemeshow_p_uncalibrated": tables["calibration_before"]["hosmer_lemeshow_p"],
        }
    )

    train_scores = calibrator.apply(estimator.predict_encoded(reference.features))
    scalars = [c.name for c in model_spec.input_columns if c.is_scalar]  # PSI per column
    tables["stability"] = stability(train_x, test_x, train_scores, final_test, scalars)
    plain["psi"] = tables["stability"]["psi"]
    plain["csi_max"] = max((v["csi"] for v in tables["stability"]["csi"].values()), default=0.0)
    done("calibration and stability (PSI, CSI)")

    parts = [data.reference.rejected, data.splits["valid"].rejected, test_split.rejected]
    all_rejected = None if any(r is None for r in parts) else np.concatenate(parts)
    tables["label"] = label_definition(data.spec, data.info.metadata, all_rejected)
    plain["label_definition"] = tables["label"]["definition"]
    if tables["label"]["rejections_in_label"]:
        accepted = ~test_split.rejected
        plain["auc_accepted_only"] = metrics.auc(test_y[accepted], final_test[accepted])
        tables["accepted_only"] = {
            **metrics.evaluate(test_y[accepted], final_test[accepted], threshold),
            "count": int(accepted.sum()),
        }

    tables["fairness"] = fairness.fairness_evidence(
        data.spec,
        model_spec,
        data.state,
        {"train": (train_x, train_y), "test": (test_x, test_y)},
        final_test,
        threshold,
        config.train.seed,
    )
    for name, entry in tables["fairness"].items():
        plain[f"proxy_auc_{name}"] = entry["proxy_auc"]
        plain[f"max_abs_statistical_parity_difference_{name}"] = max(
            abs(g["statistical_parity_difference"]) for g in entry["groups"].values()
        )
        plain[f"min_adverse_impact_ratio_{name}"] = entry["min_adverse_impact_ratio"]

    done("fairness by protected attribute, proxy AUCs")

    scaling = Scaling(*config.scorecard)
    table, summary = build_scorecard(estimator, scaling)
    if "wide_ids" in reference.features:  # binning statistics on the training rows
        table = add_binning_statistics(
            table, reference.features["wide_ids"].numpy(), reference.labels, estimator.layout.wide_segments
        )
    explainer = Explainer(estimator, reference.features)
    explained = explainer.contributions(test.features)
    deep_share = None
    if summary["has_deep_term"]:
        layout = estimator.layout
        wide_names = [s.name for s in layout.wide_segments] + [n.split(":")[0] for n in layout.wide_dense_names]
        deep_points = -scaling.factor * explained["deep_term"]
        wide_points = scaling.score(explained["logit"]) - deep_points
        deep_share = {
            "mean": float(deep_points.mean()),
            "std": float(deep_points.std()),
            "p5": float(np.percentile(deep_points, 5)),
            "p95": float(np.percentile(deep_points, 95)),
            "wide_std": float(wide_points.std()),
            "wide_characteristics": wide_names,
        }
    tables["scorecard"] = {**summary, "deep_share": deep_share, "rows": len(table)}
    gates = explainer.gates(test.features)
    if gates is not None:  # a fused model: how far each applicant's branch weights move from the paper's (1, 1)
        tables["fusion"] = {
            "mode": config.model.fusion,
            "baseline_wide_gate": explainer.wide_gate,
            **{
                f"{branch}_gate": {
                    "mean": float(gates[:, k].mean()),
                    "std": float(gates[:, k].std()),
                    "p5": float(np.percentile(gates[:, k], 5)),
                    "p95": float(np.percentile(gates[:, k], 95)),
                }
                for k, branch in enumerate(("wide", "deep"))
            },
        }
        plain["fusion_wide_gate_mean"] = tables["fusion"]["wide_gate"]["mean"]
        plain["fusion_deep_gate_mean"] = tables["fusion"]["deep_gate"]["mean"]
    plain["score_mean_test"] = float(scaling.score(explained["logit"]).mean())

    contributions = explained["contributions"]
    plain["reason_code_max_abs_residual"] = float(np.abs(explained["residual"]).max())
    tables["reason_codes"] = {
        "features": explainer.features,
        "intercept": explainer.intercept,
        "max_abs_residual": plain["reason_code_max_abs_residual"],
        "mean_abs_residual": float(np.abs(explained["residual"]).mean()),
        "mean_abs_contribution": dict(
            sorted(zip(explainer.features, np.abs(contributions).mean(axis=0).tolist()), key=lambda kv: -kv[1])
        ),
        "examples": [
            {"row": int(i), "probability": float(final_test[i]), "reasons": reasons}
            for i, reasons in enumerate(reason_codes(explainer.features, contributions[:10]))
        ],
    }
    done("scorecard and reason codes (integrated gradients on the test split)")
    tables["importance"] = {
        "wide_weights": table[["characteristic", "attribute", "weight", "points"]].to_dict(orient="records"),
        "permutation_auc_drop": permutation_importance(estimator, test_x, test_y, inputs, config.train.seed),
    }
    done("permutation importance")
    test_scores = pd.DataFrame({"label": test_y, "probability": final_test, "probability_uncalibrated": raw_test})
    return Evidence(plain, tables, table, scorecard_markdown(table, summary, deep_share), test_scores, explainer)
