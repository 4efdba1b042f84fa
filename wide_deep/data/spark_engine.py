"""Apache Spark as the engine of the transaction SQL, for logs beyond one machine.

`SparkEngine` runs the same SQL text as the embedded DuckDB engine (`wide_deep.data.transaction_sql`,
the Spark dialect) on a Spark session: `local[2]` in the tests, a cluster's master URL (or
`spark-submit`'s) in production. Only the per-application results come back to the driver
(as Arrow, so Spark's own pandas conversion is never used).

Spark 4 runs on Java 17 or newer: `check_java` says so in one line, with the Debian package,
before any JVM is started. The default engine needs no Java at all.

Spark's failures (an executor lost, a value that will not cast, a file that changed) become
one `error:` line naming the log or the job (`spark_errors`), never a JVM stack trace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa

from feature_columns.errors import DataError, UserError, first_line
from feature_columns.spec import TransactionSpec
from wide_deep.data.aggregation import application_keys, check_log_columns
from wide_deep.data.sources import is_uri
from wide_deep.data.transaction_sql import SPARK

MIN_JAVA = 17
LOCAL_DRIVER_MEMORY = "3g"
# in a Spark error: an executor or a Python worker went away (killed, out of memory), not a bad value
LOST_MARKERS = (
    "ExecutorLostFailure",
    "SparkContext was shut down",
    "Connection refused",
    "Python worker exited unexpectedly",
    "java.io.EOFException",
)
JAVA_HINT = (
    "Spark needs Java 17 or newer (Debian: sudo apt-get install openjdk-17-jre-headless; or set JAVA_HOME); "
    "the default engine (no ENGINE=) needs no Java"
)
LOG4J_FILE = Path(__file__).with_name("spark_log4j2.properties")


class SparkJobError(UserError):
    """A Spark job failed (an executor lost, the cluster unreachable): one line, no JVM stack trace."""


def java_major_version(java: str | None = None) -> int | None:
    """The major version of the Java Spark would start (JAVA_HOME's, else the one on PATH); None without one."""
    home = os.environ.get("JAVA_HOME")
    java = java or (str(Path(home) / "bin" / "java") if home else shutil.which("java"))
    if not java or not Path(java).exists():
        return None
    try:
        banner = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major  # "1.8.0" is Java 8


def check_java(java: str | None = None) -> int:
    """Java's major version, or a UserError saying how to get Java 17."""
    major = java_major_version(java)
    if major is None:
        raise UserError(f"no Java found: {JAVA_HINT}")
    if major < MIN_JAVA:
        raise UserError(f"Java {major} found: {JAVA_HINT}")
    return major


def worker_error(error: BaseException) -> str | None:
    """A Python worker's own DataError / UserError line inside a Spark error (it names the column and row)."""
    raised = re.findall(r"^\s*[\w.]*\.?(?:DataError|UserError|SpecError): (.*)$", str(error), flags=re.MULTILINE)
    return raised[-1].strip()[:500] if raised else None


def spark_message(error: BaseException) -> str:
    """The one line that says what a Spark error was: a worker's own error line; for another Python worker error
    its exception line; for a JVM error (py4j's "An error occurred while calling o123.x") the innermost Java cause;
    else the error's first line."""
    text = str(error)
    ours = worker_error(error)
    if ours:
        return ours
    if "thrown from the Python worker" in text:
        raised = re.findall(r"^([A-Za-z_][\w.]*: .*)$", text, flags=re.MULTILINE)
        if raised:
            return raised[-1].strip()[:300]
    causes = re.findall(r"^(?::|Caused by:) [\w.$]+: (.+)$", text, flags=re.MULTILINE)
    causes = [c for c in causes if not c.startswith("Exception thrown in awaitResult")]
    return causes[-1].strip()[:300] if causes else first_line(error, 300)


@contextlib.contextmanager
def spark_errors(what: str, data: bool = True):
    """Spark's exceptions inside the block as one line: a worker's own DataError as it is, a bad value or file as a
    DataError `what: ...`, and (with `data` False, or when an executor was lost) a SparkJobError."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    try:
        yield
    except (PySparkException, Py4JError) as err:
        ours = worker_error(err)
        lost = any(marker in str(err) for marker in LOST_MARKERS)
        if ours is not None and not lost:
            raise DataError(ours) from None
        if data and not lost:
            raise DataError(f"{what}: {spark_message(err)}") from None
        raise SparkJobError(
            f"{what}: the Spark job failed, nothing was written: {spark_message(err)} (a lost executor or worker: "
            f"rerun; Spark's own log: {spark_log_path()})"
        ) from None


def spark_log_path() -> Path:
    """Where the Spark JVM's console output goes (kept off the run's console)."""
    return Path(tempfile.gettempdir()) / f"wide-deep-credit-spark-{os.getpid()}.log"


@contextlib.contextmanager
def stderr_into(path: Path):
    """File descriptor 2 pointed at `path` inside the block: a JVM started here keeps writing there."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@dataclasses.dataclass(frozen=True)
class SparkEngine:
    """Spark as the engine of the transaction SQL. `master`: `local[N]`, a cluster URL, or None for what
    `spark-submit` (or SPARK_REMOTE) set up."""

    master: str | None = "local[2]"
    app_name: str = "wide-deep-credit"

    def session(self):
        return spark_session(self.master, self.app_name)

    def open(self, source, applications: pd.DataFrame, spec: TransactionSpec, id_column: str) -> SparkLog:
        return SparkLog(self.session(), source, application_keys(applications, spec, id_column), spec)


@functools.cache
def spark_session(master: str | None, app_name: str):
    """The process's Spark session (started once): UTC timestamps (as DuckDB's), no UI or progress bars, Spark's
    log at FATAL and the JVM's console in `spark_log_path()` (failures surface as exceptions, reported in one
    line), the Python workers on this interpreter."""
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile=file:{LOG4J_FILE}",
        "spark.executor.extraJavaOptions": f"-Dlog4j.configurationFile=file:{LOG4J_FILE}",
        "spark.sql.legacy.parquet.nanosAsLong": "true",  # pandas' nanosecond timestamps: see `nanosecond_times`
    }
    if master and master.startswith("local"):
        settings["spark.sql.shuffle.partitions"] = "8"  # 200 tiny tasks per shuffle cost seconds on one machine
        # the executors live in the driver's JVM: Spark's 1 GB default loses task results of a 13M-row log
        settings["spark.driver.memory"] = LOCAL_DRIVER_MEMORY
        settings["spark.driver.maxResultSize"] = "0"  # the driver is the machine: its heap is the only limit
    for key, value in settings.items():
        builder = builder.config(key, value)
    with spark_errors("Spark", data=False), stderr_into(spark_log_path()):
        session = builder.getOrCreate()
    session.sparkContext.setLogLevel("FATAL")
    return session


def read_table_on_spark(spark, source, what: str):
    """A Spark DataFrame of a Parquet file, folder or glob, a CSV file, or an in-memory DataFrame."""
    if isinstance(source, pd.DataFrame):
        return spark.createDataFrame(pa.Table.from_pandas(source, preserve_index=False))
    path = str(source)
    if not is_uri(path) and not any(ch in path for ch in "*?[") and not Path(path).exists():
        raise DataError(f"{what}: {path} does not exist")
    with spark_errors(f"{what}: cannot read {path}"):
        if path.lower().endswith((".csv", ".csv.gz")):
            return spark.read.option("header", True).option("inferSchema", True).csv(path)
        return spark.read.parquet(path)


def nanosecond_times(frame, source, column: str):
    """`frame` with a Parquet nanosecond timestamp column (pandas' default unit, which Spark reads only as a count
    of nanoseconds) turned into a timestamp of whole microseconds, as DuckDB's CAST to TIMESTAMP does. Any other
    integer time column is refused: read as seconds, it would silently move every transaction."""
    if isinstance(source, pd.DataFrame) or dict(frame.dtypes).get(column) != "bigint":
        return frame
    if not is_uri(source):
        import pyarrow.parquet as pq

        path = Path(source)
        files = sorted(path.glob("*.parquet")) if path.is_dir() else sorted(Path(p) for p in glob.glob(str(path)))
        field = pq.read_schema(files[0]).field(column) if files and files[0].suffix == ".parquet" else None
        if field is not None and pa.types.is_timestamp(field.type) and field.type.unit == "ns":
            from pyspark.sql import functions as F

            return frame.withColumn(column, F.expr(f"timestamp_micros(`{column}` div 1000)"))
    raise DataError(
        f"transactions: the timestamp column '{column}' of {source} holds integers on Spark (nanosecond timestamps "
        f"in a log Spark reads from storage, or epoch numbers); write it as a timestamp in microseconds (pandas: "
        f"to_parquet(..., coerce_timestamps='us'))"
    )


def register_log(spark, source, spec: TransactionSpec) -> None:
    """The transaction log as the view `tx_log` the transaction SQL reads (`SparkLog.src`), checked: the spec's
    columns are there, and nanosecond times are read as microseconds."""
    log = read_table_on_spark(spark, source, "transactions")
    check_log_columns(spec, set(log.columns))
    nanosecond_times(log, source, spec.timestamp_column).createOrReplaceTempView(SparkLog.src)


class SparkLog:
    """A transaction log opened on Spark as the view `tx_log`, with the applications as `apps`."""

    dialect = SPARK
    pivots_in_sql = True  # how the sequences are laid out: see wide_deep.data.sequences
    src = "tx_log"

    def __init__(self, spark, source, apps: pd.DataFrame, spec: TransactionSpec):
        self.spark, self.source, self.spec = spark, source, spec
        self.where = str(source) if isinstance(source, (str, Path)) else "the given frame"
        keys = apps[["row", "id", "as_of_us"]]
        self.spark.createDataFrame(pa.Table.from_pandas(keys, preserve_index=False)).createOrReplaceTempView("apps")
        register_log(spark, source, spec)

    def query(self, sql: str) -> pd.DataFrame:
        with spark_errors(f"transactions: cannot aggregate {self.where} on Spark"):
            return self.spark.sql(sql).toArrow().to_pandas()

    def order_stats(self) -> None:
        """Spark computes the ordered statistics with the SQL window (no file-order pass)."""
        return None

    def close(self) -> None:
        for view in ("apps", self.src):
            self.spark.catalog.dropTempView(view)


def java_notice() -> str | None:
    """What `make setup` says when ENGINE=spark could not start here (None when it could)."""
    try:
        check_java()
    except UserError as err:
        return f"note: ENGINE=spark will not start here: {err}"
    return None


if __name__ == "__main__" and sys.argv[1:] == ["--notice"]:
    notice = java_notice()
    if notice:
        print(notice)


def applications_with_features(engine: SparkEngine, input_path, spec, log_path, row_column: str):
    """The applications of `input_path` as a Spark DataFrame with a unique `row_column` and, when the spec
    aggregates a transaction log the input lacks, the transaction features and log sequences joined on: the same
    SQL as `add_transaction_features`, kept distributed (nothing is collected to the driver)."""
    from pyspark.sql import functions as F

    from wide_deep.data.dataset import needs_transactions
    from wide_deep.data.transaction_sql import feature_query, sequence_columns_query

    spark = engine.session()
    applications = read_table_on_spark(spark, input_path, "input file").withColumn(
        row_column, F.monotonically_increasing_id()
    )
    if not needs_transactions(spec, applications.columns):
        return applications
    tx, where = spec.transactions, f"input file {input_path}"
    for column, what in ((spec.id_column, "id"), (tx.as_of_column, "as-of (transactions.as_of_column)")):
        if column not in applications.columns:
            raise DataError(f"{where}: the {what} column '{column}' is missing; the transaction features need it")
    as_of_us = SPARK.epoch_us(SPARK.quoted(tx.as_of_column))
    keys = applications.select(
        F.col(row_column).alias("row"), F.col(spec.id_column).alias("id"), F.expr(as_of_us).alias("as_of_us")
    )
    with spark_errors(where):
        undated = keys.filter("as_of_us IS NULL").select("id").limit(1).collect()
    if undated:
        raise DataError(f"{where}: '{tx.as_of_column}' of the application with id {undated[0]['id']!r} is not a date")
    keys.createOrReplaceTempView("apps")
    register_log(spark, log_path, tx)
    features = spark.sql(feature_query(tx, SparkLog.src, SPARK)).drop("id")
    joined = applications.join(features.withColumnRenamed("row", row_column), row_column)
    for bin_days in sorted({seq.bin_days for seq in spec.log_sequences}):
        group = [seq for seq in spec.log_sequences if seq.bin_days == bin_days]
        columns = spark.sql(sequence_columns_query(tx, SparkLog.src, SPARK, group))
        joined = joined.join(columns.withColumnRenamed("row", row_column), row_column)
    return joined
