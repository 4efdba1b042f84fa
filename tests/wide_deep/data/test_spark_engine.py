"""One definition, two engines: the transaction SQL on Spark (`local[2]`) equals the embedded DuckDB engine's.

The log is built to hit every edge: ids spread over several Parquet files (so over Spark partitions), rows
before and after the window, unknown ids, an application without transactions, empty bins, and NULL amounts,
timestamps and directions.
"""

import stat

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError, UserError
from feature_columns.kinds.sequence import parse_sequence
from tests.conftest import toy_transactions
from wide_deep.data.aggregation import aggregate_transactions
from wide_deep.data.sequences import bin_transactions
from wide_deep.data.spark_engine import SparkEngine, check_java, java_major_version, spark_message

TX = toy_transactions(63)
ALL_CHANNELS = [
    "inflow_amount",
    "outflow_amount",
    "amount",
    "inflow_count",
    "outflow_count",
    "count",
    "mean_log_amount",
    "max_amount",
]


@pytest.fixture(scope="module")
def engine():
    return SparkEngine("local[2]")


def applications() -> pd.DataFrame:
    as_of = pd.to_datetime(
        ["2024-04-10", "2024-03-01", "2024-04-10", "2024-02-15 12:30", "2024-04-10"], format="ISO8601"
    )
    return pd.DataFrame({"eid": ["e3", "e1", "e2", "e4", "e5"], "as_of": as_of})


def edge_log(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3_000
    ids = rng.choice(["e1", "e2", "e3", "e4", "zz"], n, p=[0.3, 0.3, 0.2, 0.15, 0.05])  # zz: an unknown id
    days_back = rng.uniform(-5, 75, n)  # before the as-of date, inside and outside the 63-day window, and after
    ts = pd.Timestamp("2024-04-10") - pd.to_timedelta(days_back, unit="D")
    amount = np.round(rng.lognormal(5, 1.2, n), 2)
    amount[rng.random(n) < 0.02] = np.nan
    amount[rng.random(n) < 0.02] = 0.0
    direction = rng.choice(["in", "out"], n).astype(object)
    direction[rng.random(n) < 0.02] = None
    frame = pd.DataFrame({"eid": ids, "ts": ts, "amt": amount, "dir": direction})
    frame.loc[rng.random(n) < 0.01, "ts"] = pd.NaT
    frame = frame[~((frame["eid"] == "e3") & (frame["ts"] > pd.Timestamp("2024-02-20")))]  # e3: empty bins
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory):
    """The edge log as four Parquet files in random order: every id's rows lie in several files."""
    folder = tmp_path_factory.mktemp("log")
    frame = edge_log().sample(frac=1.0, random_state=1)
    for k, rows in enumerate(np.array_split(np.arange(len(frame)), 4)):
        frame.iloc[rows].to_parquet(folder / f"part-{k}.parquet", index=False)
    return folder


def assert_equal_frames(expected: pd.DataFrame, actual: pd.DataFrame) -> None:
    assert list(expected.columns) == list(actual.columns)
    for column in expected.columns:
        if expected[column].dtype.kind in "if":
            x = expected[column].to_numpy(dtype="float64", na_value=np.nan)
            y = actual[column].to_numpy(dtype="float64", na_value=np.nan)
            np.testing.assert_allclose(y, x, rtol=1e-9, atol=0, equal_nan=True, err_msg=column)
        else:
            assert expected[column].tolist() == actual[column].tolist(), column


def test_features_are_equal_on_both_engines(engine, log_folder):
    apps = applications()
    local, local_report = aggregate_transactions(log_folder, apps, TX, "eid")
    spark, spark_report = aggregate_transactions(log_folder, apps, TX, "eid", engine=engine)
    assert_equal_frames(local, spark)
    assert local_report == spark_report
    assert local_report.rows_unknown_id > 0 and local_report.rows_outside_window > 0
    assert local.set_index("eid").loc["e5", "txn_count"] == 0  # no transactions at all


def test_sequences_are_equal_on_both_engines(engine, log_folder):
    sequences = [
        parse_sequence({"name": "weekly", "bin_days": 7, "channels": ALL_CHANNELS}, "test", TX.window_days),
        parse_sequence({"name": "fortnight", "bin_days": 14, "channels": ["amount", "count"]}, "test", TX.window_days),
    ]
    apps = applications()
    local = bin_transactions(log_folder, apps, TX, "eid", sequences)
    spark = bin_transactions(log_folder, apps, TX, "eid", sequences, engine=engine)
    assert_equal_frames(local, spark)
    e3 = local.iloc[0][[c for c in local.columns if c.startswith("weekly") and "count" in c]]
    assert (e3 == 0).any()  # empty bins are part of the comparison


def test_an_in_memory_log_gives_the_same_features(engine):
    apps, raw = applications(), edge_log(seed=3)
    local, _ = aggregate_transactions(raw, apps, TX, "eid")
    spark, _ = aggregate_transactions(raw, apps, TX, "eid", engine=engine)
    assert_equal_frames(local, spark)


def test_a_value_that_will_not_cast_is_one_data_error_on_both_engines(engine, tmp_path):
    raw = edge_log().head(50).astype({"ts": str})
    raw.loc[7, "ts"] = "yesterday"
    path = tmp_path / "log.csv"
    raw.to_csv(path, index=False)
    for chosen in (None, engine):
        with pytest.raises(DataError, match=r"transactions: cannot (read|aggregate) .*log\.csv") as caught:
            aggregate_transactions(path, applications(), TX, "eid", engine=chosen)
        assert "\n" not in str(caught.value) and "yesterday" in str(caught.value)


def test_a_log_without_the_spec_columns_is_named(engine, tmp_path):
    edge_log().drop(columns=["amt"]).to_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"column\(s\) \['amt'\] are missing"):
        aggregate_transactions(tmp_path / "log.parquet", applications(), TX, "eid", engine=engine)


def fake_java(tmp_path, banner: str) -> str:
    java = tmp_path / "java"
    java.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return str(java)


def test_java_is_checked_before_spark_starts(tmp_path):
    assert java_major_version(fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')) == 17
    with pytest.raises(UserError, match="Java 8 found: Spark needs Java 17 .*openjdk-17-jre-headless"):
        check_java(fake_java(tmp_path, 'java version "1.8.0_292"'))
    with pytest.raises(UserError, match="no Java found: .*the default engine .* needs no Java"):
        check_java(str(tmp_path / "missing" / "java"))


def test_a_python_worker_error_is_reported_by_its_own_line():
    text = "An exception was thrown from the Python worker:\nTraceback...\nfeature_columns.errors.DataError: row 3\n"
    assert spark_message(RuntimeError(text)) == "row 3"


def test_shards_written_with_spark_equal_the_embedded_engines(engine, small_sme, sme_spec, tmp_path):
    """`make shards ENGINE=spark` writes the same files: the same rows, split and features (1e-9 relative)."""
    from wide_deep.data.shards import write_shards

    data = small_sme / "applications.parquet"
    local = write_shards(sme_spec, data, tmp_path / "duckdb", 2, log=lambda m: None)
    spark = write_shards(sme_spec, data, tmp_path / "spark", 2, log=lambda m: None, engine=engine)
    assert local == spark
    for name in ("train-00000-of-00002", "train-00001-of-00002", "valid", "test"):
        expected = pd.read_parquet(tmp_path / "duckdb" / f"{name}.parquet")
        assert_equal_frames(expected, pd.read_parquet(tmp_path / "spark" / f"{name}.parquet"))


def test_integer_times_are_refused_not_read_as_seconds(engine, tmp_path):
    raw = edge_log().dropna(subset=["ts"]).head(100)
    raw["ts"] = raw["ts"].astype("datetime64[s]").astype("int64")  # epoch seconds
    raw.to_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match="timestamp column 'ts' .* holds integers"):
        aggregate_transactions(tmp_path / "log.parquet", applications(), TX, "eid", engine=engine)
