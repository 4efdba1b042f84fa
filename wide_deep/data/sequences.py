"""Raw transaction log → per-id time-binned sequences (the spec's log sequences).

One SQL query (`wide_deep.data.transaction_sql`, on DuckDB or Spark) bins each id's
transactions in the window (as_of - window_days, as_of] into `bin_days`-day bins counted back
from the as-of date, with the same window rule, id join and time arithmetic as the aggregates
(`wide_deep.data.aggregation`), for a Parquet/CSV log of any size (out of core, under a memory
limit) or an applicant's own transactions at scoring time: training and serving run this same
code. The result is written into the data as flat columns
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
from wide_deep.data.aggregation import open_log
from wide_deep.data.transaction_sql import BIN_AGGREGATES, DIRECTED, binned_query, sequence_columns_query


def log_sequence_columns(spec) -> list[str]:
    """Every data column the spec's log sequences are written to."""
    return [c for seq in spec.log_sequences for c in seq.source_columns]


def bin_transactions(
    source,
    applications: pd.DataFrame,
    tx: TransactionSpec,
    id_column: str,
    sequences: list[SequenceColumn],
    engine=None,
) -> pd.DataFrame:
    """The log sequences' columns for every row of `applications`, in its order, binned by `engine` (default:
    DuckDB here)."""
    directed = sorted({c for seq in sequences for c in seq.channels} & DIRECTED)
    if directed and not tx.direction_column:
        raise DataError(
            f"sequences: channel(s) {directed} need the transactions' direction_column, which the spec does not name"
        )
    log = open_log(source, applications, tx, id_column, engine)
    parts = []
    try:
        for bin_days in sorted({seq.bin_days for seq in sequences}):
            group = [seq for seq in sequences if seq.bin_days == bin_days]
            parts.append(
                _pivoted(log, tx, group) if log.pivots_in_sql else _scattered(log, tx, group, len(applications))
            )
    finally:
        log.close()
    return pd.concat(parts, axis=1)


def _pivoted(log, tx: TransactionSpec, group: list[SequenceColumn]) -> pd.DataFrame:
    """The group's columns laid out by the SQL itself (`sequence_columns_query`): what Spark does, so that the
    columns can stay distributed and be joined to the applications where they are."""
    part = log.query(sequence_columns_query(tx, log.src, log.dialect, group))
    return part.sort_values("row").drop(columns="row").reset_index(drop=True).astype("float64")


def _scattered(log, tx: TransactionSpec, group: list[SequenceColumn], rows: int) -> pd.DataFrame:
    """The same columns from the non-empty bins (`binned_query`) scattered into arrays here: on DuckDB, whose
    result is in this process anyway, a NumPy scatter is faster than a hundred conditional aggregates."""
    steps = group[0].steps
    channels = sorted({c for seq in group for c in seq.channels})
    binned = log.query(binned_query(tx, log.src, log.dialect, group[0].bin_days, steps, channels))
    position = binned["row"].to_numpy(dtype=np.int64)
    step = steps - 1 - binned["back"].to_numpy(dtype=np.int64)
    out: dict[str, np.ndarray] = {}
    for seq in group:
        for channel, names in zip(seq.channels, seq.columns):
            values = np.full((rows, steps), BIN_AGGREGATES[channel][1], dtype="float64")
            values[position, step] = binned[channel].to_numpy(dtype="float64", na_value=np.nan)
            out.update({name: values[:, t] for t, name in enumerate(names)})
    return pd.DataFrame(out)
