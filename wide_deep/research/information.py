"""How much could any model gain from the raw transaction log beyond the aggregates? A probe on synthetic data.

A tuned LightGBM (`wide_deep.core.gbdt.tune`, the baseline's routine) is fitted on the same split with the
spec's features, then with one addition at a time, and each is DeLong-tested against the first:

- `sequence`: every value of the spec's sequences (one column per step and channel);
- `log_amount_stats`: each id's standard deviation and mean of log amounts in the window (for log-normal
  amounts, the sufficient statistics of their spread, which the aggregates only approximate);
- `latent`: the generator's true transaction-process parameters (`truth.parquet`: trend, volatility,
  dormant spell), which no model can see: the ceiling of what the log could tell.

If the first two add nothing while the third does, the gap is the noise of estimating each enterprise's
process from its own few transactions, not information the aggregation throws away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wide_deep.core.gbdt import tune
from wide_deep.data.tabular import tree_frame
from wide_deep.evidence import metrics, stats

LATENT = ("trend", "volatility", "gap_days")
SPLITS = ("train", "valid", "test")


def log_amount_stats(transactions, applications: pd.DataFrame, spec) -> pd.DataFrame:
    """Per id (the index): the sample standard deviation and the mean of log amounts in the window, over positive
    amounts, by the aggregates' window rule."""
    from wide_deep.data.aggregation import DAY_US, transaction_source

    tx = spec.transactions
    con, src, _ = transaction_source(transactions, applications, tx, spec.id_column)
    window_us = int(round(float(tx.window_days) * DAY_US))
    try:
        frame = con.execute(f"""
            SELECT id, stddev_samp(ln(amount)) AS log_amount_sd, avg(ln(amount)) AS log_amount_mean FROM (
                SELECT a.id, epoch_us(a.as_of) - epoch_us(CAST(t."{tx.timestamp_column}" AS TIMESTAMP)) AS us_before,
                       CAST(t."{tx.amount_column}" AS DOUBLE) AS amount
                FROM {src} t JOIN apps a ON t."{tx.id_column}" = a.id)
            WHERE us_before >= 0 AND us_before < {window_us} AND amount > 0 GROUP BY id""").df()
    finally:
        con.close()
    return frame.set_index("id").reindex(applications[spec.id_column].to_numpy())


def _matrix(frame: pd.DataFrame) -> tuple[np.ndarray, list[int]]:
    """A tree frame as LightGBM's float matrix (categories as their positions, unseen missing) and the
    categorical columns' indices."""
    categorical = [j for j, c in enumerate(frame.columns) if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    columns = [
        frame[c].cat.codes.replace(-1, np.nan) if isinstance(frame[c].dtype, pd.CategoricalDtype) else frame[c]
        for c in frame.columns
    ]
    return np.column_stack([np.asarray(c, dtype="float64") for c in columns]), categorical


def probe(data, truth_path, log_amounts: pd.DataFrame, seed: int = 42, log=print) -> pd.DataFrame:
    """Test AUC of the tuned LightGBM for each feature set, its gain over the spec's features and the DeLong p."""
    labels = {k: data.splits[k].labels for k in SPLITS}
    ids = {k: data.splits[k].ids for k in SPLITS}
    plain = data.spec.for_model("wide_deep", use_crosses=False)
    sequences = data.spec.for_model("wide_deep", use_crosses=False, sequences="both")
    truth = pd.read_parquet(truth_path).set_index(data.spec.id_column)
    extras = {
        "features": lambda k: tree_frame(plain, data.state, data.splits[k].arrays),
        "sequence": lambda k: tree_frame(sequences, data.state, data.splits[k].arrays),
        "log_amount_stats": lambda k: pd.concat(
            [tree_frame(plain, data.state, data.splits[k].arrays), log_amounts.loc[ids[k]].reset_index(drop=True)],
            axis=1,
        ),
        "latent": lambda k: pd.concat(
            [
                tree_frame(plain, data.state, data.splits[k].arrays),
                truth.loc[ids[k], list(LATENT)].reset_index(drop=True),
            ],
            axis=1,
        ),
    }
    rows, reference = [], None
    for name, frame_of in extras.items():
        x = {k: frame_of(k) for k in SPLITS}
        (train, categorical), valid, test = _matrix(x["train"]), _matrix(x["valid"])[0], _matrix(x["test"])[0]
        tuned = tune(train, labels["train"], valid, labels["valid"], categorical, seed)
        scores = tuned.proba(test)
        reference = scores if reference is None else reference
        row = {
            "features": name,
            "columns": x["test"].shape[1],
            "valid_auc": tuned.valid_auc,
            "test_auc": metrics.auc(labels["test"], scores),
        }
        row["gain"] = row["test_auc"] - rows[0]["test_auc"] if rows else 0.0
        row["delong_p"] = stats.delong_test(labels["test"], reference, scores)["p_value"] if rows else np.nan
        rows.append(row)
        log(
            f"{name:18s} {row['columns']:4d} columns  test AUC {row['test_auc']:.4f}  gain {row['gain']:+.4f}  "
            f"DeLong p {row['delong_p']:.3g}"
        )
    return pd.DataFrame(rows)
