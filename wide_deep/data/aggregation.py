"""Raw transaction log → per-enterprise transaction-flow features.

One SQL query, run by DuckDB, serves both training (a Parquet/CSV glob of any size,
streamed out of core under a memory limit) and scoring (a DataFrame with one applicant's
raw transactions), so the features cannot drift between the two.

DuckDB is used because it aggregates tens of millions of Parquet rows per second on two
cores with a bounded memory budget, spilling to disk when a group-by or sort does not fit.
The two statistics that need each id's transactions in time order (active days, longest
gap) would cost a sort of the whole log; a log stored by id and time (as the generator and
`make shards` write it) gets them from one streamed pass in file order instead, and any
other log from DuckDB's window sort, with the same results (tested).

Each transaction counts if it falls in (as_of - window_days, as_of]; transactions outside
the window or for unknown ids are counted and reported, never silently dropped.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from feature_columns.errors import DataError, data_row, first_line
from feature_columns.spec import TransactionSpec
from wide_deep.data.sources import duckdb_scan

DAY_US = 86_400_000_000
SCAN_VECTORS = 256  # DuckDB vectors (2,048 rows each) per chunk of the ordered pass: about 0.5M rows


def _ordered_day_stats(
    con, src: str, spec: TransactionSpec, apps: pd.DataFrame, window_us: int
) -> tuple[pd.DataFrame, int, int] | None:
    """Active days and the longest gap between consecutive transactions per id, and the counts of
    rows with unknown ids and outside the window, in one streamed pass.

    Both need each id's transactions in time order: a window sort of the whole log in SQL. Logs
    are usually stored by id and time (the generator and `make shards` write them so), and then
    one pass in file order with bounded memory gives the same numbers several times faster.
    Returns None as soon as the order is broken (an id seen again after another, or time going
    backwards within an id); the caller then uses the SQL window.
    """
    app_ids = apps["id"].to_numpy()
    sorter = np.argsort(app_ids, kind="stable")
    sorted_ids = app_ids[sorter]
    as_of_us = apps["as_of"].to_numpy().astype("datetime64[us]").astype(np.int64)[sorter]
    active_days = np.zeros(len(app_ids), dtype=np.int64)
    max_gap = np.full(len(app_ids), np.nan)
    con.execute("SET preserve_insertion_order=true")
    result = con.execute(
        f'SELECT "{spec.id_column}", epoch_us(CAST("{spec.timestamp_column}" AS TIMESTAMP)) FROM {src}'
    )
    carry_pos, carry_d = np.empty(0, dtype=np.int64), np.empty(0)
    unknown = outside = 0
    try:
        while True:
            chunk = result.fetch_df_chunk(SCAN_VECTORS)
            if chunk.empty:
                stats = pd.DataFrame({"id": sorted_ids, "active_days": active_days, "max_inner_gap": max_gap})
                return stats, unknown, outside
            ids = chunk.iloc[:, 0].to_numpy()
            ts_us = chunk.iloc[:, 1].to_numpy(dtype=np.float64, na_value=np.nan)
            run_starts = np.flatnonzero(np.concatenate([[True], ids[1:] != ids[:-1]]))
            try:
                head_pos = np.searchsorted(sorted_ids, ids[run_starts]).clip(0, len(sorted_ids) - 1)
            except TypeError:  # ids of another type than the applications' (the SQL join decides)
                return None
            run_lengths = np.diff(np.append(run_starts, len(ids)))
            pos = np.repeat(head_pos, run_lengths)
            known = np.repeat(sorted_ids[head_pos] == ids[run_starts], run_lengths)
            us_before = as_of_us[pos] - ts_us
            in_window = (us_before >= 0) & (us_before < window_us)
            keep = known & in_window
            unknown += int(np.count_nonzero(~known))
            outside += int(np.count_nonzero(known & ~in_window & ~np.isnan(us_before)))
            pos = np.concatenate([carry_pos, pos[keep]])
            d = np.concatenate([carry_d, us_before[keep] / DAY_US])
            if len(pos) == 0:
                continue
            step = np.diff(pos)
            same = step == 0
            gaps = d[:-1][same] - d[1:][same]
            if (step < 0).any() or (gaps < 0).any():
                return None
            day = np.floor(d)
            new_day = np.ones(len(pos), dtype=bool)
            new_day[1:] = ~same | (day[1:] != day[:-1])
            if len(carry_pos):
                new_day[0] = False
            active_days += np.bincount(pos[new_day], minlength=len(sorted_ids))
            np.fmax.at(max_gap, pos[1:][same], gaps)
            carry_pos, carry_d = pos[-1:], d[-1:]
    finally:
        con.execute("SET preserve_insertion_order=false")


@dataclasses.dataclass
class AggregationReport:
    rows_in_window: int
    rows_outside_window: int
    rows_unknown_id: int
    enterprises_without_transactions: int

    def summary(self) -> str:
        return (
            f"aggregated {self.rows_in_window:,} transactions ({self.rows_outside_window:,} outside the window and "
            f"{self.rows_unknown_id:,} with unknown ids excluded; {self.enterprises_without_transactions:,} "
            f"enterprises without any)"
        )


def _source_sql(source) -> str:
    return duckdb_scan(source, "transactions") if isinstance(source, (str, Path)) else "tx_frame"


def transaction_source(
    source,
    applications: pd.DataFrame,
    spec: TransactionSpec,
    id_column: str,
    memory_limit: str = "2GB",
    threads: int = 2,
) -> tuple[duckdb.DuckDBPyConnection, str, pd.DataFrame]:
    """(a DuckDB connection with the applications registered as `apps`, the log's SQL source, `apps`: row,
    id, as_of), checked: the as-of dates parse, the log can be read and has the spec's columns."""
    if spec.as_of_column not in applications.columns:
        raise DataError(
            f"applications: the as-of column '{spec.as_of_column}' (transactions.as_of_column in the spec) is missing"
        )
    apps = pd.DataFrame(
        {
            "row": np.arange(len(applications), dtype=np.int64),
            "id": applications[id_column].to_numpy(),
            "as_of": pd.to_datetime(applications[spec.as_of_column], errors="coerce"),
        }
    )
    if apps["as_of"].isna().any():
        row = int(apps["as_of"].isna().to_numpy().nonzero()[0][0])
        raise DataError(
            f"applications: '{spec.as_of_column}' {data_row(row)} is not a date: "
            f"{applications[spec.as_of_column].iloc[row]!r}"
        )
    con = duckdb.connect()
    con.execute(f"SET memory_limit='{memory_limit}'; SET threads={int(threads)}; SET preserve_insertion_order=false")
    con.register("apps", apps)
    if not isinstance(source, (str, Path)):
        con.register("tx_frame", source)
    src = _source_sql(source)
    try:
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    except duckdb.Error as err:
        con.close()
        raise DataError(
            f"transactions: cannot read {source if isinstance(source, (str, Path)) else 'frame'}: {err}"
        ) from None
    needed = [spec.id_column, spec.timestamp_column, spec.amount_column] + (
        [spec.direction_column] if spec.direction_column else []
    )
    missing = [c for c in needed if c not in columns]
    if missing:
        con.close()
        raise DataError(
            f"transactions: column(s) {missing} are missing (found {sorted(columns)}); see the spec's transactions "
            f"block"
        )
    if isinstance(source, (str, Path)):
        _check_every_file(source, needed, con)
    return con, src, apps


def _check_every_file(source: str | Path, needed: list[str], con: duckdb.DuckDBPyConnection) -> None:
    """Every Parquet file of a folder or glob log has the log's columns: a stray file (a scores file written into
    the folder, say) is named, not met as a DuckDB schema error halfway through the aggregation."""
    import pyarrow.parquet as pq

    path = Path(source)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else sorted(Path(p) for p in glob.glob(str(path)))
    for file in files if len(files) > 1 else []:
        if file.suffix.lower() != ".parquet":
            continue
        try:
            names = set(pq.read_schema(file).names)
        except (OSError, ValueError) as err:
            con.close()
            raise DataError(f"transactions: {file} is not a readable Parquet file ({first_line(err)})") from None
        missing = [c for c in needed if c not in names]
        if missing:
            con.close()
            raise DataError(
                f"transactions: {file} lacks the log's column(s) {missing}: it is not part of the transaction log "
                f"(move it out of {file.parent})"
            )


def run_query(con: duckdb.DuckDBPyConnection, query: str, source) -> pd.DataFrame:
    """`query`'s result as a frame; a DuckDB error (a value that will not cast, a file that changed under the
    run) becomes a DataError naming the log."""
    try:
        return con.execute(query).df()
    except duckdb.Error as err:
        con.close()
        where = source if isinstance(source, (str, Path)) else "the given frame"
        raise DataError(f"transactions: cannot aggregate {where}: {first_line(err)}") from None


def aggregate_transactions(
    source,
    applications: pd.DataFrame,
    spec: TransactionSpec,
    id_column: str,
    memory_limit: str = "2GB",
    threads: int = 2,
) -> tuple[pd.DataFrame, AggregationReport]:
    """Features for every id in `applications` (ids with no transactions get counts of 0 and NULL ratios).

    `source` is a Parquet file/directory, a CSV file, or a DataFrame of raw transactions.
    """
    con, src, apps = transaction_source(source, applications, spec, id_column, memory_limit, threads)
    window_us = int(round(float(spec.window_days) * DAY_US))
    try:
        ordered = _ordered_day_stats(con, src, spec, apps, window_us)
    except duckdb.Error as err:
        con.close()
        raise DataError(f"transactions: cannot read {source}: {first_line(err)}") from None
    if ordered is not None:
        con.register("order_stats", ordered[0])
    features = run_query(con, _feature_query(spec, src, windowed_order_stats=ordered is None), source)
    if ordered is not None:
        rows_unknown_id, rows_outside_window = ordered[1:]
    else:
        us_before = _us_before(spec)
        rows_unknown_id, rows_outside_window = con.execute(f"""
            SELECT count(*) FILTER (WHERE a.id IS NULL),
                   count(*) FILTER (WHERE a.id IS NOT NULL AND ({us_before} < 0 OR {us_before} >= {window_us}))
            FROM {src} t LEFT JOIN apps a ON t."{spec.id_column}" = a.id""").fetchone()
    con.close()
    features = features.rename(columns={"id": id_column})
    order = pd.Index(features[id_column]).get_indexer(applications[id_column])
    features = features.iloc[order].reset_index(drop=True)
    report = AggregationReport(
        rows_in_window=int(features["txn_count"].sum()),
        rows_outside_window=int(rows_outside_window),
        rows_unknown_id=int(rows_unknown_id),
        enterprises_without_transactions=int((features["txn_count"] == 0).sum()),
    )
    return features, report


def _us_before(spec: TransactionSpec) -> str:
    """SQL: microseconds from a transaction `t` to its application's as-of date `a.as_of`."""
    return f'epoch_us(a.as_of) - epoch_us(CAST(t."{spec.timestamp_column}" AS TIMESTAMP))'


def _feature_query(spec: TransactionSpec, src: str, windowed_order_stats: bool) -> str:
    """The SQL of the transaction features per application (`apps`) over the log `src`. The active days and the
    longest gap come from `order_stats`, registered by the ordered pass, or (`windowed_order_stats`) computed
    here with a window function."""
    w = float(spec.window_days)
    window_us = int(round(w * DAY_US))
    us_before = _us_before(spec)
    is_in = (
        f"CASE WHEN CAST(t.\"{spec.direction_column}\" AS VARCHAR) = '{spec.inflow_value}' THEN 1.0 ELSE 0.0 END"
        if spec.direction_column
        else "NULL"
    )
    order_sql = ""
    if windowed_order_stats:
        order_sql = """, order_stats AS (
        SELECT id, count(DISTINCT floor(d)) AS active_days, max(gap) AS max_inner_gap FROM (
            SELECT id, d, d - lag(d) OVER (PARTITION BY id ORDER BY d) AS gap FROM win) GROUP BY id
    )"""
    return f"""
    WITH tx AS (
        SELECT t."{spec.id_column}" AS id, {us_before} AS us_before,
               CAST(t."{spec.amount_column}" AS DOUBLE) AS amount, {is_in} AS is_in
        FROM {src} t JOIN apps a ON t."{spec.id_column}" = a.id
    ), win AS (
        SELECT id, us_before / {DAY_US:.1f} AS d, amount, is_in FROM tx
        WHERE us_before >= 0 AND us_before < {window_us}
    ){order_sql}, stats AS (
        SELECT id, count(*) AS n, sum(amount) AS total, avg(amount) AS mean_amount, max(amount) AS max_amount,
               var_samp(amount) AS variance, stddev_samp(amount) AS sd,
               min(d) AS min_d, max(d) AS max_d,
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
           coalesce(o.active_days, 0) / {w} AS txn_active_day_ratio,
           CASE WHEN s.n IS NULL THEN {w}
                ELSE greatest(s.min_d, {w} - s.max_d, coalesce(o.max_inner_gap, 0)) END AS txn_longest_gap_days,
           coalesce(s.min_d, {w}) AS txn_days_since_last,
           s.inflow_share AS txn_inflow_share,
           (s.inflow - s.outflow) / nullif(s.total, 0) AS txn_net_flow_ratio,
           (2.0 * s.n_recent - s.n) / nullif(s.n, 0) AS txn_count_trend,
           30.0 * s.slope / nullif(s.mean_amount, 0) AS txn_amount_trend,
           ln((coalesce(s.recent_amount, 0) + 1) / (coalesce(s.earlier_amount, 0) / {(w - 30) / 30} + 1))
               AS txn_recent_vs_earlier
    FROM apps a LEFT JOIN stats s ON a.id = s.id LEFT JOIN order_stats o ON a.id = o.id
    """
