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
from wide_deep.evidence import fairness, metrics, outcomes, strategy
from wide_deep.evidence.explain import Explainer, reason_codes
from wide_deep.evidence.population import PopulationCounts
from wide_deep.evidence.scorecard import (
    Scaling,
    add_binning_statistics,
    build_scorecard,
    readable_share,
    scorecard_markdown,
)

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
        "features": {
            c: {**metrics.baseline_distribution(train_x[c]), "seen": outcomes.seen_values(train_x[c])} for c in columns
        },
    }
    return {**compare_to_baseline(baseline, test_scores, test_x), "baseline": baseline}


def compare_to_baseline(baseline: dict, scores, arrays: dict) -> dict:
    return PopulationCounts.of(baseline, scores, arrays).stability(baseline)


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


@dataclasses.dataclass(frozen=True)
class EvidenceInputs:
    """What the evidence is collected from: the trained estimator, the pipeline's PreparedData (raw splits, the
    dataset spec, the fitted state), the run's config, the encoded training reference (the train split, or the
    fitting files when streamed) and test split, the test probabilities before and after calibration, the
    calibrator, the decision threshold and the score bands."""

    estimator: object
    data: object
    config: object
    reference: EncodedSplit
    test: EncodedSplit
    raw_test: np.ndarray
    test_scores: np.ndarray
    calibrator: object
    threshold: float
    score_bands: tuple[float, ...]  # the strategy table's inner band edges in points (fitted on validation)
    challengers: dict = dataclasses.field(default_factory=dict)  # name → test probabilities (report's benchmark)

    @property
    def test_split(self):
        return self.data.splits["test"]


@dataclasses.dataclass
class Found:
    """The evidence as its steps find it."""

    plain: dict = dataclasses.field(default_factory=dict)
    tables: dict = dataclasses.field(default_factory=dict)
    scorecard: pd.DataFrame | None = None
    markdown: str = ""
    explainer: Explainer | None = None


def _calibration_and_stability(e: EvidenceInputs, found: Found) -> None:
    y, tables = e.test_split.labels, found.tables
    tables["gains"] = metrics.gains_table(y, e.test_scores)
    tables["calibration_before"] = metrics.calibration_summary(y, e.raw_test)
    tables["calibration_after"] = (
        metrics.calibration_summary(y, e.test_scores) if e.calibrator.method != "none" else None
    )
    calibration = tables["calibration_after"] or tables["calibration_before"]
    found.plain.update(
        {
            "hosmer_lemeshow": calibration["hosmer_lemeshow"],
            "hosmer_lemeshow_p": calibration["hosmer_lemeshow_p"],
            **{k: calibration[k] for k in metrics.CALIBRATION_SLOPE_KEYS},
            "calibration": e.calibrator.method,
            "brier_uncalibrated": tables["calibration_before"]["brier"],
            "hosmer_lemeshow_p_uncalibrated": tables["calibration_before"]["hosmer_lemeshow_p"],
        }
    )
    train_scores = e.calibrator.apply(e.estimator.predict_encoded(e.reference.features))
    scalars = [c.name for c in e.estimator.spec.input_columns if c.is_scalar]  # PSI per column
    tables["stability"] = stability(e.data.reference.arrays, e.test_split.arrays, train_scores, e.test_scores, scalars)
    found.plain["psi"] = tables["stability"]["psi"]
    found.plain["csi_max"] = max((v["csi"] for v in tables["stability"]["csi"].values()), default=0.0)


def _strategy(e: EvidenceInputs, found: Found) -> None:
    scaling = Scaling(*e.config.scorecard)  # the cut-off policy itself is in metrics.json (`cutoff`)
    found.tables["strategy"] = strategy.strategy_table(e.test_split.labels, e.test_scores, scaling, e.score_bands)


def _label(e: EvidenceInputs, found: Found) -> None:
    data, test_split = e.data, e.test_split
    parts = [data.reference.rejected, data.splits["valid"].rejected, test_split.rejected]
    all_rejected = None if any(r is None for r in parts) else np.concatenate(parts)
    found.tables["label"] = label = label_definition(data.spec, data.info.metadata, all_rejected)
    found.plain["label_definition"] = label["definition"]
    if label["rejections_in_label"]:
        accepted = ~test_split.rejected
        y, p = test_split.labels[accepted], e.test_scores[accepted]
        found.plain["auc_accepted_only"] = metrics.auc(y, p)
        found.tables["accepted_only"] = {**metrics.evaluate(y, p, e.threshold), "count": int(accepted.sum())}


def _fairness(e: EvidenceInputs, found: Found) -> None:
    data, train, test = e.data, e.data.reference, e.test_split
    found.tables["fairness"] = fairness.fairness_evidence(
        data.spec,
        e.estimator.spec,
        data.state,
        {"train": (train.arrays, train.labels), "test": (test.arrays, test.labels)},
        e.test_scores,
        e.threshold,
        e.config.train.seed,
    )
    for name, entry in found.tables["fairness"].items():
        found.plain[f"proxy_auc_{name}"] = entry["proxy_auc"]
        found.plain[f"max_abs_statistical_parity_difference_{name}"] = max(
            abs(g["statistical_parity_difference"]) for g in entry["groups"].values()
        )
        found.plain[f"min_adverse_impact_ratio_{name}"] = entry["min_adverse_impact_ratio"]


def _scorecard_and_reasons(e: EvidenceInputs, found: Found) -> None:
    estimator, reference = e.estimator, e.reference
    scaling = Scaling(*e.config.scorecard)
    table, summary = build_scorecard(estimator, scaling)
    if "wide_ids" in reference.features:  # binning statistics on the training rows
        table = add_binning_statistics(
            table, reference.features["wide_ids"].numpy(), reference.labels, estimator.layout.wide_segments
        )
    found.explainer = explainer = Explainer(estimator, reference.features)
    explained = explainer.contributions(e.test.features)
    deep_share = _deep_share(estimator.layout, scaling, explained) if summary["has_deep_term"] else None
    found.tables["scorecard"] = {**summary, "deep_share": deep_share, "rows": len(table)}
    gates = explainer.gates(e.test.features)
    if gates is not None:  # a fused model: how far each applicant's branch weights move from the paper's (1, 1)
        found.tables["fusion"] = _fusion(e.config.model.fusion, explainer.wide_gate, gates)
        found.plain["fusion_wide_gate_mean"] = found.tables["fusion"]["wide_gate"]["mean"]
        found.plain["fusion_deep_gate_mean"] = found.tables["fusion"]["deep_gate"]["mean"]
    found.plain["score_mean_test"] = float(scaling.score(explained["logit"]).mean())
    found.tables["scorecard"]["readability"] = readable_share(estimator, e.test.features, explained["logit"])
    found.plain["reason_code_max_abs_residual"] = float(np.abs(explained["residual"]).max())
    found.tables["reason_codes"] = _reason_code_table(explainer, explained, e.test_scores)
    found.scorecard, found.markdown = table, scorecard_markdown(table, summary, deep_share)


def _deep_share(layout, scaling: Scaling, explained: dict) -> dict:
    """The deep term in points on the test split, against the spread of the wide points."""
    wide_names = [s.name for s in layout.wide_segments] + [n.split(":")[0] for n in layout.wide_dense_names]
    deep_points = -scaling.factor * explained["deep_term"]
    wide_points = scaling.score(explained["logit"]) - deep_points
    return {
        "mean": float(deep_points.mean()),
        "std": float(deep_points.std()),
        "p5": float(np.percentile(deep_points, 5)),
        "p95": float(np.percentile(deep_points, 95)),
        "wide_std": float(wide_points.std()),
        "wide_characteristics": wide_names,
    }


def _fusion(mode: str, baseline_wide_gate: float, gates: np.ndarray) -> dict:
    return {
        "mode": mode,
        "baseline_wide_gate": baseline_wide_gate,
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


def _reason_code_table(explainer: Explainer, explained: dict, test_scores: np.ndarray) -> dict:
    contributions = explained["contributions"]
    return {
        "features": explainer.features,
        "intercept": explainer.intercept,
        "max_abs_residual": float(np.abs(explained["residual"]).max()),
        "mean_abs_residual": float(np.abs(explained["residual"]).mean()),
        "mean_abs_contribution": dict(
            sorted(zip(explainer.features, np.abs(contributions).mean(axis=0).tolist()), key=lambda kv: -kv[1])
        ),
        "examples": [
            {"row": int(i), "probability": float(test_scores[i]), "reasons": reasons}
            for i, reasons in enumerate(reason_codes(explainer.features, contributions[:10]))
        ],
    }


def _importance(e: EvidenceInputs, found: Found) -> None:
    test = e.test_split
    inputs = [c.name for c in e.estimator.spec.input_columns]
    found.tables["importance"] = {
        "wide_weights": found.scorecard[["characteristic", "attribute", "weight", "points"]].to_dict(orient="records"),
        "permutation_auc_drop": permutation_importance(
            e.estimator, test.arrays, test.labels, inputs, e.config.train.seed
        ),
    }


# the evidence's steps in order, each with the progress line it logs when done (None: its time is the next one's)
STEPS = (
    (_calibration_and_stability, "calibration and stability (PSI, CSI)"),
    (_label, None),
    (_strategy, None),
    (_scorecard_and_reasons, "scorecard and reason codes (integrated gradients on the test split)"),
    (_importance, "permutation importance"),
)
# a step that reads only the inputs and spends its time outside Python (LightGBM's proxy models), run on a
# thread beside the others: on two cores the evidence of the SME run took about a second less
BESIDE = (_fairness, "fairness by protected attribute, proxy AUCs")


def _timed(step, inputs: EvidenceInputs, found: Found) -> float:
    started = time.perf_counter()
    step(inputs, found)
    return time.perf_counter() - started


def collect(inputs: EvidenceInputs, log=print) -> Evidence:
    """The evidence for a trained estimator, one progress line per step with its seconds."""
    from concurrent.futures import ThreadPoolExecutor

    found, beside, started = Found(), Found(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=1) as pool:
        side = pool.submit(_timed, BESIDE[0], inputs, beside)
        for step, said in STEPS:
            step(inputs, found)
            if said is not None:
                log(f"  {said} ({time.perf_counter() - started:.1f} s)")
                started = time.perf_counter()
        log(f"  {BESIDE[1]} ({side.result():.1f} s, beside the steps above)")
    found.plain.update(beside.plain)
    found.tables.update(beside.tables)
    test_scores = pd.DataFrame(
        {
            "label": inputs.test_split.labels,
            "probability": inputs.test_scores,
            "probability_uncalibrated": inputs.raw_test,
            **{f"challenger_{name}": scores for name, scores in inputs.challengers.items()},
        }
    )
    return Evidence(found.plain, found.tables, found.scorecard, found.markdown, test_scores, found.explainer)
