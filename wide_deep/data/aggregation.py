"""Raw transaction log → per-enterprise transaction-flow features.

One SQL query, run by DuckDB, serves both training (a Parquet/CSV glob of any size,
streamed out of core under a memory limit) and scoring (a DataFrame with one applicant's
raw transactions), so the features cannot drift between the two.

DuckDB is used because it aggregates tens of millions of Parquet rows per second on two
cores with a bounded memory budget, spilling to disk when a group-by or sort does not fit;
a hand-written chunked pandas loop would need its own spill logic for the sorted gap
statistics.

Each transaction counts if it falls in (as_of - window_days, as_of]; transactions outside
the window or for unknown ids are counted and reported, never silently dropped.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import pandas as pd

from feature_columns.errors import DataError
from feature_columns.spec import TransactionSpec
from wide_deep.data.sources import duckdb_scan

FEATURES = {
    "txn_count": "number of transactions in the window",
    "txn_total_amount": "sum of amounts (both directions)",
    "txn_daily_avg_amount": "total amount / window days",
    "txn_amount_variance": "sample variance of amounts",
    "txn_mean_amount": "mean amount",
    "txn_max_amount": "largest amount",
    "txn_amount_cv": "std / mean of amounts (volatility relative to mean)",
    "txn_active_day_ratio": "distinct active days / window days",
    "txn_longest_gap_days": "longest run of days without a transaction (window edges included)",
    "txn_days_since_last": "days from the last transaction to the as-of date",
    "txn_inflow_share": "share of transactions that are inflows",
    "txn_net_flow_ratio": "(inflow - outflow) / total amount",
    "txn_count_trend": "(count in recent half - count in earlier half) / count",
    "txn_amount_trend": "OLS slope of amount on time, per 30 days, relative to the mean amount",
    "txn_recent_vs_earlier": "log((last-30-day amount + 1) / (earlier monthly average + 1))",
}


@dataclasses.dataclass
class AggregationReport:
    rows_in_window: int
    rows_outside_window: int
    rows_unknown_id: int
    enterprises_without_transactions: int

    def summary(self) -> str:
        return (f"aggregated {self.rows_in_window:,} transactions ({self.rows_outside_window:,} outside the window and "
                f"{self.rows_unknown_id:,} with unknown ids excluded; {self.enterprises_without_transactions:,} "
                f"enterprises without any)")


def _source_sql(source) -> str:
    return duckdb_scan(source, "transactions") if isinstance(source, (str, Path)) else "tx_frame"


def aggregate_transactions(source, applications: pd.DataFrame, spec: TransactionSpec, id_column: str,
                           memory_limit: str = "2GB", threads: int = 2) -> tuple[pd.DataFrame, AggregationReport]:
    """Features for every id in `applications` (ids with no transactions get counts of 0 and NULL ratios).

    `source` is a Parquet file/directory, a CSV file, or a DataFrame of raw transactions.
    """
    if spec.as_of_column not in applications.columns:
        raise DataError(f"applications: the as-of column '{spec.as_of_column}' (transactions.as_of_column in the spec) is missing")
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'; SET threads={int(threads)}; SET preserve_insertion_order=false")
    apps = pd.DataFrame({"id": applications[id_column].to_numpy(),
                         "as_of": pd.to_datetime(applications[spec.as_of_column], errors="coerce")})
    if apps["as_of"].isna().any():
        row = int(apps["as_of"].isna().to_numpy().nonzero()[0][0])
        raise DataError(f"applications: '{spec.as_of_column}' row {row} is not a date: {applications[spec.as_of_column].iloc[row]!r}")
    con.register("apps", apps)
    if not isinstance(source, (str, Path)):
        con.register("tx_frame", source)
    src = _source_sql(source)
    try:
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    except duckdb.Error as err:
        raise DataError(f"transactions: cannot read {source if isinstance(source, (str, Path)) else 'frame'}: {err}") from None
    needed = [spec.id_column, spec.timestamp_column, spec.amount_column] + ([spec.direction_column] if spec.direction_column else [])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(f"transactions: column(s) {missing} are missing (found {sorted(columns)}); see the spec's transactions block")
    w = float(spec.window_days)
    is_in = f"CASE WHEN CAST(t.\"{spec.direction_column}\" AS VARCHAR) = '{spec.inflow_value}' THEN 1.0 ELSE 0.0 END" if spec.direction_column else "NULL"
    query = f"""
    WITH tx AS (
        SELECT t."{spec.id_column}" AS id,
               epoch(a.as_of) - epoch(CAST(t."{spec.timestamp_column}" AS TIMESTAMP)) AS secs_before,
               CAST(t."{spec.amount_column}" AS DOUBLE) AS amount, {is_in} AS is_in
        FROM {src} t JOIN apps a ON t."{spec.id_column}" = a.id
    ), win AS (
        SELECT id, secs_before / 86400.0 AS d, amount, is_in FROM tx
        WHERE secs_before >= 0 AND secs_before < {w} * 86400
    ), gaps AS (
        SELECT id, d - lag(d) OVER (PARTITION BY id ORDER BY d) AS gap FROM win
    ), gap_stats AS (
        SELECT id, max(gap) AS max_inner_gap FROM gaps GROUP BY id
    ), stats AS (
        SELECT id, count(*) AS n, sum(amount) AS total, avg(amount) AS mean_amount, max(amount) AS max_amount,
               var_samp(amount) AS variance, stddev_samp(amount) AS sd,
               count(DISTINCT floor(d)) AS active_days, min(d) AS min_d, max(d) AS max_d,
               avg(is_in) AS inflow_share, sum(amount * is_in) AS inflow, sum(amount * (1 - is_in)) AS outflow,
               sum(CASE WHEN d < {w / 2} THEN 1 ELSE 0 END) AS n_recent,
               regr_slope(amount, -d) AS slope,
               coalesce(sum(CASE WHEN d < 30 THEN amount END), 0) AS recent_amount,
               coalesce(sum(CASE WHEN d >= 30 THEN amount END), 0) AS earlier_amount
        FROM win GROUP BY id
    )
    SELECT a.id,
           coalesce(s.n, 0) AS txn_count,
           coalesce(s.total, 0) AS txn_total_amount,
           coalesce(s.total, 0) / {w} AS txn_daily_avg_amount,
           s.variance AS txn_amount_variance,
           s.mean_amount AS txn_mean_amount,
           s.max_amount AS txn_max_amount,
           s.sd / nullif(s.mean_amount, 0) AS txn_amount_cv,
           coalesce(s.active_days, 0) / {w} AS txn_active_day_ratio,
           CASE WHEN s.n IS NULL THEN {w} ELSE greatest(s.min_d, {w} - s.max_d, coalesce(g.max_inner_gap, 0)) END AS txn_longest_gap_days,
           coalesce(s.min_d, {w}) AS txn_days_since_last,
           s.inflow_share AS txn_inflow_share,
           (s.inflow - s.outflow) / nullif(s.total, 0) AS txn_net_flow_ratio,
           (2.0 * s.n_recent - s.n) / nullif(s.n, 0) AS txn_count_trend,
           30.0 * s.slope / nullif(s.mean_amount, 0) AS txn_amount_trend,
           ln((coalesce(s.recent_amount, 0) + 1) / (coalesce(s.earlier_amount, 0) / {(w - 30) / 30} + 1)) AS txn_recent_vs_earlier
    FROM apps a LEFT JOIN stats s ON a.id = s.id LEFT JOIN gap_stats g ON a.id = g.id
    """
    features = con.execute(query).df()
    counts = con.execute(f"""
        SELECT count(*) FILTER (WHERE a.id IS NULL),
               count(*) FILTER (WHERE a.id IS NOT NULL AND (epoch(a.as_of) - epoch(CAST(t."{spec.timestamp_column}" AS TIMESTAMP)) < 0
                                 OR epoch(a.as_of) - epoch(CAST(t."{spec.timestamp_column}" AS TIMESTAMP)) >= {w} * 86400))
        FROM {src} t LEFT JOIN apps a ON t."{spec.id_column}" = a.id""").fetchone()
    con.close()
    features = features.rename(columns={"id": id_column})
    order = pd.Index(features[id_column]).get_indexer(applications[id_column])
    features = features.iloc[order].reset_index(drop=True)
    report = AggregationReport(rows_in_window=int(features["txn_count"].sum()), rows_outside_window=int(counts[1]),
                               rows_unknown_id=int(counts[0]),
                               enterprises_without_transactions=int((features["txn_count"] == 0).sum()))
    return features, report
