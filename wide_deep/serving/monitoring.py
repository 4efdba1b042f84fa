"""Compare a newly scored population with the training baseline: score PSI and per-feature CSI, values training
never saw, the approval rate at the run's cut-off, and on a labelled batch a back-test (`wide_deep.evidence.outcomes`).

The baseline (bin edges and shares of the training split's scores and input features, and what values each held)
is in the run's evidence.json, written by training. PSI above 0.1 is flagged `watch`, above 0.25 `act`; the other
checks' rules are in `wide_deep.evidence.outcomes`. `flag` is the most severe of them all.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from feature_columns.errors import UserError
from feature_columns.inputs import prepare_frame
from wide_deep.data.dataset import add_transaction_features, encode_labels, labelled
from wide_deep.data.sources import check_output, check_readable, read_table, write_atomically
from wide_deep.data.spark_engine import SparkEngine
from wide_deep.evidence import outcomes
from wide_deep.evidence.population import PopulationCounts
from wide_deep.evidence.scorecard import Scaling
from wide_deep.record.model_dir import EVIDENCE, ModelDir, refuse_inside_runs
from wide_deep.serving.scoring import Scorer
from wide_deep.serving.spark_scoring import population_on_spark


def monitor(
    model_dir: str | Path,
    input_path: str | Path,
    transactions: str | Path | None = None,
    output: str | Path | None = None,
    engine=None,
) -> dict:
    """Score `input_path` and compare it with the training baseline; with `output`, also write the result as
    JSON there (checked before any work: it must not be the input, nor a directory). With a `SparkEngine`, the
    features, scores and counts are computed on Spark, partition by partition (`population_on_spark`)."""
    run, input_path = ModelDir(model_dir), check_readable(input_path, "input file")
    run.require(EVIDENCE, hint="train it with this version first")
    scorer = Scorer(run.path)
    if output is not None:
        log_folder = scorer.transactions_for(input_path, transactions)
        refuse_inside_runs(output, "--output")
        output = check_output(output, "--output", [input_path, transactions, log_folder], (".json",))
    evidence = run.read_evidence()
    if evidence.get("model_fingerprint") != scorer.export.fingerprint:
        raise UserError(
            f"{run}: the monitoring baseline in evidence.json was computed for another model than export "
            f"version {scorer.export.version} (the run was continued without --evidence, or the export "
            f"is older); rerun training with the evidence, or monitor with the export it belongs to"
        )
    baseline = evidence["stability"]["baseline"]
    info, run_metrics = scorer.export.model_info, run.read_metrics()
    tx = scorer.transactions_for(input_path, transactions)
    if isinstance(engine, SparkEngine):
        counts, labels, scores = population_on_spark(scorer, baseline, info["threshold"], input_path, tx, engine)
    else:
        frame = read_table(input_path)
        features, _ = add_transaction_features(scorer.spec, frame, tx, str(input_path), engine)
        arrays = prepare_frame(scorer.spec, features, str(input_path))  # prepared once: scored, and binned for CSI
        scores = scorer.score_arrays(arrays)["probability"]
        counts = PopulationCounts.of(baseline, scores, arrays, info["threshold"])
        labels = frame
    result = counts.stability(baseline)
    result["rows"] = counts.rows
    result["input"] = str(input_path)
    result["unseen"] = counts.unseen_values(baseline)
    result["approval"] = counts.approval(run_metrics.get("cutoff_approval_rate"))
    result["backtest"] = _backtest(run, labels, scores, run_metrics, info, str(input_path))
    result["flag"] = outcomes.worst(_flags(result))
    if output is not None:
        write_atomically(output, json.dumps(result, indent=1))
    return result


def _backtest(run: ModelDir, frame, scores, run_metrics: dict, info: dict, source: str) -> dict | None:
    """The back-test of a batch that holds the spec's label column (None without it); unlabelled rows (with the
    spec's `label.missing: drop`) are left out of it."""
    spec = run.load_spec()
    if frame is None or spec.label.column not in frame.columns:
        return None
    labels = encode_labels(frame, spec, source, require_both_classes=False)
    keep = labelled(labels)
    if keep is not None:
        labels, scores = labels[keep], np.asarray(scores)[keep]
    if labels.size == 0:
        return None
    return outcomes.backtest(labels, scores, run_metrics, Scaling(**info["scorecard"]), info.get("score_bands"))


def _flags(result: dict) -> list[str]:
    """Every flag of the monitoring result: score PSI, feature CSI, unseen values, approval shift, back-test."""
    flags = [result["psi_flag"], result["approval"]["flag"]]
    flags += [entry["flag"] for entry in result["csi"].values()]
    flags += [entry["flag"] for entry in result["unseen"].values()]
    if result.get("backtest"):
        flags.append(result["backtest"]["flag"])
    return flags


def format_monitoring(result: dict) -> str:
    approval = result["approval"]
    shift = "" if approval["shift"] is None else f" against {approval['test_rate']:.1%} on test"
    lines = [
        f"{result['rows']:,} rows from {result['input']}: overall [{result['flag']}]",
        f"score PSI {result['psi']:.4f}  [{result['psi_flag']}]   (watch > 0.1, act > 0.25)",
        f"approval rate at the run's cut-off {approval['rate']:.1%}{shift}  [{approval['flag']}]   (watch beyond 5 "
        f"points, act beyond 10)",
    ]
    lines += _format_backtest(result.get("backtest"))
    flagged = {name: entry for name, entry in result["unseen"].items() if entry["flag"] != "stable"}
    for name, entry in flagged.items():
        examples = ", ".join(str(v) for v in entry["examples"])
        lines.append(
            f"unseen values in {name}: {entry['rows']:,} rows ({entry['share']:.1%}; e.g. {examples})  "
            f"[{entry['flag']}]   (watch > 1 %, act > 5 %)"
        )
    if len(result["unseen"]) > len(flagged):
        lines.append(
            f"unseen values in {len(result['unseen']) - len(flagged)} more column(s), in at most 1 % of rows "
            f"[stable] (listed in --output)"
        )
    lines.append(f"{'feature':<40}{'CSI':>10}  flag")
    for name, entry in sorted(result["csi"].items(), key=lambda kv: -kv[1]["csi"]):
        lines.append(f"{name:<40}{entry['csi']:>10.4f}  {entry['flag']}")
    return "\n".join(lines)


def _format_backtest(backtest: dict | None) -> list[str]:
    if backtest is None:
        return ["back-test: none (the input has no label column)"]
    calibration = backtest["calibration"]
    lines = [
        f"back-test on {backtest['rows']:,} labelled rows: default rate {backtest['default_rate']:.4f}, mean "
        f"predicted {backtest['mean_predicted']:.4f} (binomial p {calibration['p_value']:.4g})  "
        f"[{calibration['flag']}]   (watch p < 0.05, act p < 0.0001)"
    ]
    if "auc" in backtest:
        test = backtest.get("test_auc")
        against = f" against {test:.4f} on test" if test is not None else ""
        lines.append(
            f"back-test AUC {backtest['auc']:.4f}{against}, KS {backtest['ks']:.4f}, Gini ratio "
            f"{backtest.get('gini_ratio', float('nan')):.3f}  [{backtest.get('ranking_flag', 'stable')}]   "
            f"(watch < 0.90, act < 0.80)"
        )
    lines.append(f"{'score band':<20}{'count':>10}{'default rate':>14}{'approval rate':>15}")
    for band in backtest["bands"]:
        lines.append(f"{band['band']:<20}{band['count']:>10,}{band['bad_rate']:>14.4f}{band['approval_rate']:>15.4f}")
    return lines
