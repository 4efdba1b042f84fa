"""Compare a newly scored population with the training baseline: score PSI and per-feature CSI.

The baseline (bin edges and shares of the training split's scores and input features) is
in the run's evidence.json, written by training. PSI above 0.1 is flagged `watch`, above
0.25 `act`.
"""

from __future__ import annotations

import json
from pathlib import Path

from feature_columns.errors import UserError
from feature_columns.inputs import prepare_frame
from wide_deep.data.dataset import add_transaction_features
from wide_deep.data.sources import check_output, check_readable, read_table, transactions_path, write_atomically
from wide_deep.evidence.collect import compare_to_baseline
from wide_deep.record.model_dir import EVIDENCE, ModelDir, refuse_inside_runs
from wide_deep.serving.scoring import Scorer


def monitor(
    model_dir: str | Path,
    input_path: str | Path,
    transactions: str | Path | None = None,
    output: str | Path | None = None,
) -> dict:
    """Score `input_path` and compare it with the training baseline; with `output`, also write the result as
    JSON there (checked before any work: it must not be the input, nor a directory)."""
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
    spec = scorer.spec
    frame = read_table(input_path)
    tx = transactions_path(spec.transactions, input_path, transactions) if spec.transactions is not None else None
    features, _ = add_transaction_features(spec, frame, tx, str(input_path))
    arrays = prepare_frame(spec, features, str(input_path))  # prepared once: scored, and binned for CSI
    scores = scorer.score_arrays(arrays)["probability"]
    result = compare_to_baseline(baseline, scores, arrays)
    result["rows"] = int(len(frame))
    result["input"] = str(input_path)
    if output is not None:
        write_atomically(output, json.dumps(result, indent=1))
    return result


def format_monitoring(result: dict) -> str:
    lines = [
        f"{result['rows']:,} rows from {result['input']}",
        f"score PSI {result['psi']:.4f}  [{result['psi_flag']}]   (watch > 0.1, act > 0.25)",
        f"{'feature':<40}{'CSI':>10}  flag",
    ]
    for name, entry in sorted(result["csi"].items(), key=lambda kv: -kv[1]["csi"]):
        lines.append(f"{name:<40}{entry['csi']:>10.4f}  {entry['flag']}")
    return "\n".join(lines)
