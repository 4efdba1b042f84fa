"""Compare a newly scored population with the training baseline: score PSI and per-feature CSI.

The baseline (bin edges and shares of the training split's scores and input features) is
written to `model_dir/evidence.json` by training. PSI above 0.1 is flagged `watch`, above
0.25 `act`.
"""
from __future__ import annotations

import json
from pathlib import Path

from feature_columns.errors import UserError
from feature_columns.fitting import prepare_frame
from wide_deep.data import read_table
from wide_deep.evidence import compare_to_baseline
from wide_deep.scoring import Scorer


def monitor(model_dir: str | Path, input_path: str | Path, transactions: str | Path | None = None) -> dict:
    model_dir, input_path = Path(model_dir), Path(input_path)
    evidence_path = model_dir / "evidence.json"
    if not evidence_path.exists():
        raise UserError(f"{model_dir} has no evidence.json (train it with this version first)")
    baseline = json.loads(evidence_path.read_text())["stability"]["baseline"]
    scorer = Scorer(model_dir)
    frame = read_table(input_path)
    if transactions is None and scorer.spec.transactions is not None:
        transactions = input_path.parent / scorer.spec.transactions.path
    features = scorer.features(frame, transactions, str(input_path))
    arrays = prepare_frame(scorer.spec, features, str(input_path))   # prepared once: scored, and binned for CSI
    scores = scorer.score_arrays(arrays)["probability"]
    result = compare_to_baseline(baseline, scores, arrays)
    result["rows"] = int(len(frame))
    result["input"] = str(input_path)
    return result


def format_monitoring(result: dict) -> str:
    lines = [f"{result['rows']:,} rows from {result['input']}",
             f"score PSI {result['psi']:.4f}  [{result['psi_flag']}]   (watch > 0.1, act > 0.25)",
             f"{'feature':<40}{'CSI':>10}  flag"]
    for name, entry in sorted(result["csi"].items(), key=lambda kv: -kv[1]["csi"]):
        lines.append(f"{name:<40}{entry['csi']:>10.4f}  {entry['flag']}")
    return "\n".join(lines)

