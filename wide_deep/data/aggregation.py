"""Raw transaction log → per-enterprise transaction-flow features.

One SQL query (`wide_deep.data.transaction_sql`) serves both training (a Parquet/CSV glob of
any size, streamed out of core under a memory limit) and scoring (a DataFrame with one
applicant's raw transactions), so the features cannot drift between the two. It runs on an
engine: DuckDB in this process by default (`EmbeddedEngine`), or Apache Spark
(`wide_deep.data.spark_engine.SparkEngine`) for logs beyond one machine, with equal results.

DuckDB is the default because it aggregates tens of millions of Parquet rows per second on two
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
from wide_deep.data.transaction_sql import DAY_US, DUCKDB, excluded_counts_query, feature_query, window_us

SCAN_VECTORS = 256  # DuckDB vectors (2,048 rows each) per chunk of the ordered pass: about 0.5M rows


def _ordered_day_stats(
    con, src: str, spec: TransactionSpec, apps: pd.DataFrame, window_length_us: int
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
    as_of_us = apps["as_of_us"].to_numpy()[sorter]
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
            in_window = (us_before >= 0) & (us_before < window_length_us)
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


def application_keys(applications: pd.DataFrame, spec: TransactionSpec, id_column: str) -> pd.DataFrame:
    """`apps` of the transaction SQL: row, id, as_of, as_of_us (microseconds since the epoch), checked: the as-of
    column exists and every date parses."""
    if spec.as_of_column not in applications.columns:
        raise DataError(
            f"applications: the as-of column '{spec.as_of_column}' (transactions.as_of_column in the spec) is missing"
        )
    as_of = pd.to_datetime(applications[spec.as_of_column], errors="coerce")
    if as_of.isna().any():
        row = int(as_of.isna().to_numpy().nonzero()[0][0])
        raise DataError(
            f"applications: '{spec.as_of_column}' {data_row(row)} is not a date: "
            f"{applications[spec.as_of_column].iloc[row]!r}"
        )
    return pd.DataFrame(
        {
            "row": np.arange(len(applications), dtype=np.int64),
            "id": applications[id_column].to_numpy(),
            "as_of": as_of.to_numpy(),
            "as_of_us": as_of.to_numpy().astype("datetime64[us]").astype(np.int64),
        }
    )


def log_columns(spec: TransactionSpec) -> list[str]:
    """The columns the spec reads from the transaction log."""
    return [spec.id_column, spec.timestamp_column, spec.amount_column] + (
        [spec.direction_column] if spec.direction_column else []
    )


def check_log_columns(spec: TransactionSpec, columns: set[str]) -> None:
    missing = [c for c in log_columns(spec) if c not in columns]
    if missing:
        raise DataError(
            f"transactions: column(s) {missing} are missing (found {sorted(columns)}); see the spec's transactions "
            f"block"
        )


class EmbeddedLog:
    """A transaction log opened in DuckDB, with the applications registered as `apps`: what the transaction SQL
    (`wide_deep.data.transaction_sql`) runs on by default."""

    dialect = DUCKDB
    pivots_in_sql = False  # how the sequences are laid out: see wide_deep.data.sequences

    def __init__(self, source, apps: pd.DataFrame, spec: TransactionSpec, memory_limit: str, threads: int):
        self.source, self.apps, self.spec = source, apps, spec
        self.con = duckdb.connect()
        self.con.execute(
            f"SET memory_limit='{memory_limit}'; SET threads={int(threads)}; SET preserve_insertion_order=false"
        )
        self.con.register("apps", apps)
        if not isinstance(source, (str, Path)):
            self.con.register("tx_frame", source)
        self.src = duckdb_scan(source, "transactions") if isinstance(source, (str, Path)) else "tx_frame"
        try:
            columns = {r[0] for r in self.con.execute(f"DESCRIBE SELECT * FROM {self.src}").fetchall()}
            check_log_columns(spec, columns)
            if isinstance(source, (str, Path)):
                _check_every_file(source, log_columns(spec))
        except duckdb.Error as err:
            self.close()
            raise DataError(f"transactions: cannot read {self.where}: {err}") from None
        except DataError:
            self.close()
            raise

    @property
    def where(self) -> str:
        return str(self.source) if isinstance(self.source, (str, Path)) else "the given frame"

    def query(self, sql: str) -> pd.DataFrame:
        """`sql`'s result; a DuckDB error (a value that will not cast, a file that changed under the run) becomes a
        DataError naming the log."""
        try:
            return self.con.execute(sql).df()
        except duckdb.Error as err:
            raise DataError(f"transactions: cannot aggregate {self.where}: {first_line(err)}") from None

    def order_stats(self) -> tuple[pd.DataFrame, int, int] | None:
        """Active days, longest inner gap and the excluded counts from one streamed pass in file order, registered
        as `order_stats`; None when the log is not stored by id and time (the SQL window then computes them)."""
        try:
            ordered = _ordered_day_stats(self.con, self.src, self.spec, self.apps, window_us(self.spec))
        except duckdb.Error as err:
            raise DataError(f"transactions: cannot read {self.where}: {first_line(err)}") from None
        if ordered is not None:
            self.con.register("order_stats", ordered[0])
        return ordered

    def close(self) -> None:
        self.con.close()


@dataclasses.dataclass(frozen=True)
class EmbeddedEngine:
    """The default engine: DuckDB in this process, out of core under `memory_limit`."""

    memory_limit: str = "2GB"
    threads: int = 2

    def open(self, source, applications: pd.DataFrame, spec: TransactionSpec, id_column: str) -> EmbeddedLog:
        return EmbeddedLog(
            source, application_keys(applications, spec, id_column), spec, self.memory_limit, self.threads
        )


def open_log(source, applications: pd.DataFrame, spec: TransactionSpec, id_column: str, engine=None):
    """The log opened on `engine` (default: the embedded DuckDB engine) with the applications registered."""
    return (engine or EmbeddedEngine()).open(source, applications, spec, id_column)


def transaction_source(
    source,
    applications: pd.DataFrame,
    spec: TransactionSpec,
    id_column: str,
    memory_limit: str = "2GB",
    threads: int = 2,
) -> tuple[duckdb.DuckDBPyConnection, str, pd.DataFrame]:
    """(a DuckDB connection with the applications registered as `apps`, the log's SQL source, `apps`), checked:
    for analyses that write their own DuckDB SQL over the log."""
    log = EmbeddedEngine(memory_limit, threads).open(source, applications, spec, id_column)
    return log.con, log.src, log.apps


def _check_every_file(source: str | Path, needed: list[str]) -> None:
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
            raise DataError(f"transactions: {file} is not a readable Parquet file ({first_line(err)})") from None
        missing = [c for c in needed if c not in names]
        if missing:
            raise DataError(
                f"transactions: {file} lacks the log's column(s) {missing}: it is not part of the transaction log "
                f"(move it out of {file.parent})"
            )


def aggregate_transactions(
    source,
    applications: pd.DataFrame,
    spec: TransactionSpec,
    id_column: str,
    engine=None,
) -> tuple[pd.DataFrame, AggregationReport]:
    """Features for every id in `applications`, in its order (ids with no transactions get counts of 0 and NULL
    ratios), computed by `engine` (default: DuckDB here; `wide_deep.data.spark_engine.SparkEngine` on Spark).

    `source` is a Parquet file/directory, a CSV file, or a DataFrame of raw transactions.
    """
    log = open_log(source, applications, spec, id_column, engine)
    try:
        ordered = log.order_stats()
        features = log.query(feature_query(spec, log.src, log.dialect, windowed_order_stats=ordered is None))
        if ordered is not None:
            rows_unknown_id, rows_outside_window = ordered[1:]
        else:
            counts = log.query(excluded_counts_query(spec, log.src, log.dialect))
            rows_unknown_id, rows_outside_window = counts["unknown"].iloc[0], counts["outside"].iloc[0]
    finally:
        log.close()
    features = features.sort_values("row").drop(columns="row").rename(columns={"id": id_column})
    features = features.reset_index(drop=True)
    report = AggregationReport(
        rows_in_window=int(features["txn_count"].sum()),
        rows_outside_window=int(rows_outside_window),
        rows_unknown_id=int(rows_unknown_id),
        enterprises_without_transactions=int((features["txn_count"] == 0).sum()),
    )
    return features, report
