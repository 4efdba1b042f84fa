"""The SQL of the transaction features and log sequences, written once for two engines.

Every transaction feature and every sequence bin is defined here, once, as SQL over two tables:
the raw log (`src`) and the applications (`apps`: row, id, as_of_us = the as-of date in
microseconds since the epoch). The few places where DuckDB's and Spark SQL's dialects differ
(identifier quotes, the timestamp-to-microseconds function, the text type, integer division)
go through a `Dialect`; everything else is standard SQL both run as written. Numbers enter as
`CAST(... AS DOUBLE)`, never as bare decimal literals, which Spark would read as DECIMAL and
round. The same text thus runs on the embedded engine (`wide_deep.data.aggregation`) and on
Apache Spark (`wide_deep.data.spark_engine`); a test runs both on one log and requires equal
results.

Each transaction counts if it falls in (as_of - window_days, as_of]; a bin counts `bin_days`
days back from the as-of date.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from feature_columns.spec import TransactionSpec

DAY_US = 86_400_000_000


@dataclasses.dataclass(frozen=True)
class Dialect:
    """How one engine spells the few things SQL dialects disagree on."""

    name: str
    quote_char: str
    epoch_us_function: str
    text_type: str
    int_div_operator: str

    def quoted(self, name: str) -> str:
        escaped = name.replace(self.quote_char, self.quote_char * 2)
        return f"{self.quote_char}{escaped}{self.quote_char}"

    def column(self, table: str, name: str) -> str:
        return f"{table}.{self.quoted(name)}"

    def epoch_us(self, expression: str) -> str:
        return f"{self.epoch_us_function}(CAST({expression} AS TIMESTAMP))"

    def text(self, expression: str) -> str:
        return f"CAST({expression} AS {self.text_type})"

    def int_div(self, dividend: str, divisor: int) -> str:
        return f"({dividend} {self.int_div_operator} {int(divisor)})"


DUCKDB = Dialect("duckdb", '"', "epoch_us", "VARCHAR", "//")
SPARK = Dialect("spark", "`", "unix_micros", "STRING", "div")


def number(value: float) -> str:
    """A literal both engines read as a DOUBLE."""
    return f"CAST({float(value)!r} AS DOUBLE)"


def window_us(spec: TransactionSpec) -> int:
    return int(round(float(spec.window_days) * DAY_US))


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


def joined_transactions(spec: TransactionSpec, src: str, dialect: Dialect) -> str:
    """SELECT: every log row joined to its application: row, id, us_before (microseconds from the transaction to
    the as-of date), amount, is_in (1.0 inflow, 0.0 outflow, NULL without a direction column)."""
    t = lambda name: dialect.column("t", name)  # noqa: E731
    is_in = (
        f"CASE WHEN {dialect.text(t(spec.direction_column))} = '{spec.inflow_value}' THEN {number(1)} "
        f"ELSE {number(0)} END"
        if spec.direction_column
        else "CAST(NULL AS DOUBLE)"
    )
    return f"""SELECT a.row, a.id, a.as_of_us - {dialect.epoch_us(t(spec.timestamp_column))} AS us_before,
               CAST({t(spec.amount_column)} AS DOUBLE) AS amount, {is_in} AS is_in
        FROM {src} t JOIN apps a ON {t(spec.id_column)} = a.id"""


def excluded_counts_query(spec: TransactionSpec, src: str, dialect: Dialect) -> str:
    """One row: log rows with an unknown id, and rows of known ids outside the window."""
    t = dialect.column("t", spec.id_column)
    us_before = f"a.as_of_us - {dialect.epoch_us(dialect.column('t', spec.timestamp_column))}"
    return f"""
    SELECT count(*) FILTER (WHERE a.id IS NULL) AS unknown,
           count(*) FILTER (WHERE a.id IS NOT NULL AND ({us_before} < 0 OR {us_before} >= {window_us(spec)}))
               AS outside
    FROM {src} t LEFT JOIN apps a ON {t} = a.id"""


def feature_query(spec: TransactionSpec, src: str, dialect: Dialect, windowed_order_stats: bool = True) -> str:
    """The transaction features per application (`apps`) over the log `src`: one row per application row, with its
    `row` and `id`, in no particular order. The
    active days and the longest gap come from a window over each id's transactions in time order, or (not
    `windowed_order_stats`) from a table `order_stats` (id, active_days, max_inner_gap) the caller registered."""
    w = number(spec.window_days)
    order_sql = ""
    if windowed_order_stats:
        order_sql = """, order_stats AS (
        SELECT id, count(DISTINCT floor(d)) AS active_days, max(gap) AS max_inner_gap FROM (
            SELECT id, d, d - lag(d) OVER (PARTITION BY id ORDER BY d) AS gap FROM win) g GROUP BY id
    )"""
    return f"""
    WITH tx AS ({joined_transactions(spec, src, dialect)}
    ), win AS (
        SELECT id, us_before / {number(DAY_US)} AS d, amount, is_in FROM tx
        WHERE us_before >= 0 AND us_before < {window_us(spec)}
    ){order_sql}, stats AS (
        SELECT id, count(*) AS n, sum(amount) AS total, avg(amount) AS mean_amount, max(amount) AS max_amount,
               var_samp(amount) AS variance, stddev_samp(amount) AS sd,
               min(d) AS min_d, max(d) AS max_d,
               avg(is_in) AS inflow_share, sum(amount * is_in) AS inflow, sum(amount * (1 - is_in)) AS outflow,
               sum(CASE WHEN d < {number(spec.window_days / 2)} THEN 1 ELSE 0 END) AS n_recent,
               regr_slope(amount, -d) AS slope,
               coalesce(sum(CASE WHEN d < {number(30)} THEN amount END), {number(0)}) AS recent_amount,
               coalesce(sum(CASE WHEN d >= {number(30)} THEN amount END), {number(0)}) AS earlier_amount
        FROM win GROUP BY id
    )
    SELECT a.row, a.id,
           coalesce(s.n, 0) AS txn_count,
           coalesce(s.total, {number(0)}) AS txn_total_amount,
           coalesce(s.total, {number(0)}) / {w} AS txn_daily_avg_amount,
           s.variance AS txn_amount_variance,
           s.mean_amount AS txn_mean_amount,
           s.max_amount AS txn_max_amount,
           s.sd / nullif(s.mean_amount, {number(0)}) AS txn_amount_cv,
           coalesce(o.active_days, 0) / {w} AS txn_active_day_ratio,
           CASE WHEN s.n IS NULL THEN {w}
                ELSE greatest(s.min_d, {w} - s.max_d, coalesce(o.max_inner_gap, {number(0)})) END
               AS txn_longest_gap_days,
           coalesce(s.min_d, {w}) AS txn_days_since_last,
           s.inflow_share AS txn_inflow_share,
           (s.inflow - s.outflow) / nullif(s.total, {number(0)}) AS txn_net_flow_ratio,
           ({number(2)} * s.n_recent - s.n) / nullif(CAST(s.n AS DOUBLE), {number(0)}) AS txn_count_trend,
           {number(30)} * s.slope / nullif(s.mean_amount, {number(0)}) AS txn_amount_trend,
           ln((coalesce(s.recent_amount, {number(0)}) + {number(1)})
              / (coalesce(s.earlier_amount, {number(0)}) / {number((spec.window_days - 30) / 30)} + {number(1)}))
               AS txn_recent_vs_earlier
    FROM apps a LEFT JOIN stats s ON a.id = s.id LEFT JOIN order_stats o ON a.id = o.id
    """


def binned_query(
    spec: TransactionSpec, src: str, dialect: Dialect, bin_days: int, steps: int, channels: list[str]
) -> str:
    """One row per (application row, bin `back` from the as-of date, 0 the newest) that holds transactions, with
    each channel's aggregate; the oldest `steps - 1` bin also takes everything older inside the window."""
    aggregates = ", ".join(f"{BIN_AGGREGATES[c][0]} AS {c}" for c in channels)
    back = f"least({dialect.int_div('us_before', bin_days * DAY_US)}, {steps - 1})"
    return f"""
    WITH tx AS ({joined_transactions(spec, src, dialect)})
    SELECT row, {back} AS back, {aggregates}
    FROM tx WHERE us_before >= 0 AND us_before < {window_us(spec)}
    GROUP BY row, {back}
    """


def sequence_columns_query(spec: TransactionSpec, src: str, dialect: Dialect, sequences) -> str:
    """One row per application row (`apps`), in no particular order: `row` and every data column of `sequences`
    (which share one `bin_days` and `steps`), step 0 the oldest bin. A bin without transactions takes its channel's
    empty value (0 for amounts and counts, NULL for means and maxima)."""
    first = sequences[0]
    channels = sorted({c for seq in sequences for c in seq.channels})
    binned = binned_query(spec, src, dialect, first.bin_days, first.steps, channels)
    columns = []
    for seq in sequences:
        for channel_index, channel in enumerate(seq.channels):
            empty = BIN_AGGREGATES[channel][1]
            for step, name in enumerate(seq.columns[channel_index]):
                value = f"max(CASE WHEN b.back = {first.steps - 1 - step} THEN b.{channel} END)"
                value = value if np.isnan(empty) else f"coalesce({value}, {number(empty)})"
                columns.append(f"{value} AS {dialect.quoted(name)}")
    return f"""
    SELECT a.row, {", ".join(columns)}
    FROM apps a LEFT JOIN ({binned}) b ON a.row = b.row
    GROUP BY a.row
    """
