"""Raw transaction log → per-id time-binned sequences (the spec's log sequences).

One DuckDB query bins each id's transactions in the window (as_of - window_days, as_of] into
`bin_days`-day bins counted back from the as-of date, with the same window rule, id join and
time arithmetic as the aggregates (`wide_deep.data.aggregation`), for a Parquet/CSV log of any
size (out of core, under a memory limit) or an applicant's own transactions at scoring time:
training and serving run this same code. The result is written into the data as flat columns
(`feature_columns.sequences.log_column_name`), step 0 the oldest bin.

A bin without transactions has amounts and counts of 0 and no mean/max (missing, imputed by
the model's training mean): inactivity is information, not a gap in the record.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_columns.errors import DataError
from feature_columns.kinds.sequence import SequenceColumn
from feature_columns.spec import TransactionSpec
from wide_deep.data.aggregation import DAY_US, run_query, transaction_source

# channel → the SQL aggregate over one bin's transactions, and its value for an empty bin
BIN_AGGREGATES = {
    "inflow_amount": ("sum(amount * is_in)", 0.0),
    "outflow_amount": ("sum(amount * (1 - is_in))", 0.0),
    "amount": ("sum(amount)", 0.0),
    "inflow_count": ("sum(is_in)", 0.0),
    "outflow_count": ("sum(1 - is_in)", 0.0),
    "count": ("count(*)", 0.0),
    "mean_log_amount": ("avg(ln(amount)) FILTER (WHERE amount > 0)", np.nan),
    "max_amount": ("max(amount)", np.nan),
}
DIRECTED = {"inflow_amount", "outflow_amount", "inflow_count", "outflow_count"}


def log_sequence_columns(spec) -> list[str]:
    """Every data column the spec's log sequences are written to."""
    return [c for seq in spec.log_sequences for c in seq.source_columns]


def bin_transactions(
    source,
    applications: pd.DataFrame,
    tx: TransactionSpec,
    id_column: str,
    sequences: list[SequenceColumn],
    memory_limit: str = "2GB",
    threads: int = 2,
) -> pd.DataFrame:
    """The log sequences' columns for every row of `applications`, in its order."""
    directed = sorted({c for seq in sequences for c in seq.channels} & DIRECTED)
    if directed and not tx.direction_column:
        raise DataError(
            f"sequences: channel(s) {directed} need the transactions' direction_column, which the spec does not name"
        )
    con, src, _ = transaction_source(source, applications, tx, id_column, memory_limit, threads)
    try:
        out: dict[str, np.ndarray] = {}
        for bin_days in sorted({seq.bin_days for seq in sequences}):
            group = [seq for seq in sequences if seq.bin_days == bin_days]
            channels = sorted({c for seq in group for c in seq.channels})
            steps = group[0].steps
            binned = _binned(con, src, tx, bin_days, steps, channels)
            position = binned["row"].to_numpy(dtype=np.int64)
            step = steps - 1 - binned["back"].to_numpy(dtype=np.int64)
            for channel in channels:
                values = np.full((len(applications), steps), BIN_AGGREGATES[channel][1], dtype="float64")
                values[position, step] = binned[channel].to_numpy(dtype="float64", na_value=np.nan)
                for seq in group:
                    if channel in seq.channels:
                        names = seq.columns[seq.channels.index(channel)]
                        out.update({name: values[:, t] for t, name in enumerate(names)})
    finally:
        con.close()
    return pd.DataFrame(out)


def _binned(con, src: str, tx: TransactionSpec, bin_days: int, steps: int, channels: list[str]) -> pd.DataFrame:
    """One row per (application row, bin back from the as-of date) with transactions."""
    is_in = (
        f"CASE WHEN CAST(t.\"{tx.direction_column}\" AS VARCHAR) = '{tx.inflow_value}' THEN 1.0 ELSE 0.0 END"
        if tx.direction_column
        else "NULL"
    )
    window_us = int(round(float(tx.window_days) * DAY_US))
    bin_us = bin_days * DAY_US
    aggregates = ", ".join(f"{BIN_AGGREGATES[c][0]} AS {c}" for c in channels)
    query = f"""
    WITH tx AS (
        SELECT a.row, epoch_us(a.as_of) - epoch_us(CAST(t."{tx.timestamp_column}" AS TIMESTAMP)) AS us_before,
               CAST(t."{tx.amount_column}" AS DOUBLE) AS amount, {is_in} AS is_in
        FROM {src} t JOIN apps a ON t."{tx.id_column}" = a.id
    )
    SELECT row, least(us_before // {bin_us}, {steps - 1}) AS back, {aggregates}
    FROM tx WHERE us_before >= 0 AND us_before < {window_us}
    GROUP BY ALL
    """
    return run_query(con, query, src)
