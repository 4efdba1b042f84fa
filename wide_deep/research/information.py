"""How much could any model gain from the raw transaction log beyond the aggregates? A probe on synthetic data.

A tuned LightGBM (`wide_deep.core.gbdt.tune` on `TreeMatrix`: the baseline's routine and inputs) is fitted on
the same split with the spec's features, then with one addition at a time, and each is DeLong-tested against the first:

- `sequence`: every value of the spec's sequences (one column per step and channel);
- `log_amount_stats`: each id's standard deviation and mean of log amounts in the window (for log-normal
  amounts, the sufficient statistics of their spread, which the aggregates only approximate);
- `latent`: the generator's true transaction-process parameters (`truth.parquet`: trend, volatility,
  dormant spell), which no model can see: the ceiling of what the log could tell;
- `truth_as_target`: the spec's features again, but the LightGBM regresses the true log-odds (the best a model
  without the protected columns can do, as the features leave them out) instead of learning from 0/1 labels.
  With no label noise to learn through, it shows how far any function of the features can rank: a lower
  bound on their ceiling. Between it and the oracle lies what the features do not hold; between a model
  and it, what learning from labels costs on this many rows.

If the first two add nothing while the third does, the gap is the noise of estimating each enterprise's
process from its own few transactions, not information the aggregation throws away.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from wide_deep.core.gbdt import TreeMatrix, tune
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


def probe(data, truth_path, log_amounts: pd.DataFrame, seed: int = 42, log=print) -> pd.DataFrame:
    """Test AUC of the tuned LightGBM for each feature set, its gain over the spec's features and the DeLong p."""
    labels = {k: data.splits[k].labels for k in SPLITS}
    ids = {k: data.splits[k].ids for k in SPLITS}
    matrix = TreeMatrix(data.spec.for_model("wide", use_crosses=False), data.state)  # the LightGBM baseline's inputs
    base = {k: matrix(data.splits[k].arrays) for k in SPLITS}
    truth = pd.read_parquet(truth_path).set_index(data.spec.id_column)
    additions = {  # feature set → the columns added to the spec's features, per split
        "features": lambda k: np.empty((len(base[k]), 0)),
        "sequence": lambda k: np.column_stack(
            [data.splits[k].arrays[seq.name].reshape(len(base[k]), -1) for seq in data.spec.sequences]
        ),
        "log_amount_stats": lambda k: log_amounts.loc[ids[k]].to_numpy(),
        "latent": lambda k: truth.loc[ids[k], list(LATENT)].to_numpy(),
    }
    rows, reference = [], None

    def compared(name: str, columns: int, valid_auc: float, scores: np.ndarray) -> dict:
        """A row of the table: its test AUC, gain and DeLong p against the first row's (the spec's features)."""
        row = {"features": name, "columns": columns, "valid_auc": valid_auc}
        row["test_auc"] = metrics.auc(labels["test"], scores)
        row["gain"] = row["test_auc"] - rows[0]["test_auc"] if rows else 0.0
        row["delong_p"] = stats.delong_test(labels["test"], reference, scores)["p_value"] if rows else np.nan
        log(
            f"{name:18s} {columns:4d} columns  test AUC {row['test_auc']:.4f}  gain {row['gain']:+.4f}  "
            f"DeLong p {row['delong_p']:.3g}"
        )
        return row

    for name, added in additions.items():
        x = {k: np.column_stack([base[k], added(k)]).astype("float64") for k in SPLITS}
        tuned = tune(x["train"], labels["train"], x["valid"], labels["valid"], matrix.categorical, seed)
        scores = tuned.proba(x["test"])
        reference = scores if reference is None else reference
        rows.append(compared(name, x["test"].shape[1], tuned.valid_auc, scores))
    x = {k: v.astype("float64") for k, v in base.items()}
    valid_auc, scores = truth_regression(x, {k: data.splits[k] for k in SPLITS}, matrix.categorical, seed)
    rows.append(compared("truth_as_target", x["test"].shape[1], valid_auc, scores))
    return pd.DataFrame(rows)


def truth_regression(x: dict, splits: dict, categorical: list[int], seed: int) -> tuple[float, np.ndarray]:
    """LightGBM regression of the true log-odds on `x` (train; early stopping on validation): its validation AUC
    and test scores."""
    import lightgbm as lgb
    from scipy.special import logit

    def log_odds(split):
        truth = split.oracle_permitted if split.oracle_permitted is not None else split.oracle
        return logit(np.clip(np.asarray(truth, "float64"), 1e-9, 1 - 1e-9))

    model = lgb.LGBMRegressor(
        n_estimators=5000,
        learning_rate=0.03,
        num_leaves=31,
        min_child_samples=50,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        verbose=-1,
    )
    model.fit(
        x["train"],
        log_odds(splits["train"]),
        eval_X=(x["valid"],),
        eval_y=(log_odds(splits["valid"]),),
        categorical_feature=categorical or "auto",
        callbacks=[lgb.early_stopping(100, verbose=False)],
    )
    return metrics.auc(splits["valid"].labels, model.predict(x["valid"])), model.predict(x["test"])
