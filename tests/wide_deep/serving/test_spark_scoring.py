"""`make predict ENGINE=spark` and `make monitor ENGINE=spark`: Spark's results equal the local ones."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError, UserError
from wide_deep.data.spark_engine import SparkEngine
from wide_deep.serving.monitoring import monitor
from wide_deep.serving.scoring import ScoreOptions, score_file
from wide_deep.serving.spark_scoring import SUCCESS_FILE, score_file_on_spark

ENGINE = SparkEngine("local[2]")


@pytest.fixture(scope="module")
def raw_applications(small_sme, tmp_path_factory):
    """600 raw applications (no transaction features: they come from the log) as Parquet."""
    path = tmp_path_factory.mktemp("spark_input") / "applications.parquet"
    pd.read_parquet(small_sme / "applications.parquet").iloc[::5].to_parquet(path, index=False)
    return path


def test_spark_scores_equal_the_local_scorer(sme_run, small_sme, raw_applications, tmp_path):
    options = ScoreOptions(batch_rows=256, reasons=2)
    log = small_sme / "transactions"
    score_file(sme_run, raw_applications, tmp_path / "local.parquet", options, log, log=lambda m: None)
    done = score_file_on_spark(
        sme_run, raw_applications, tmp_path / "spark.parquet", options, log, ENGINE, lambda m: None
    )
    assert (tmp_path / "spark.parquet" / SUCCESS_FILE).exists() and done["rows"] == 600
    local = pd.read_parquet(tmp_path / "local.parquet").set_index("enterprise_id")
    spark = pd.read_parquet(tmp_path / "spark.parquet").set_index("enterprise_id").loc[local.index]
    assert list(spark.columns) == list(local.columns)
    np.testing.assert_allclose(spark["probability"], local["probability"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(spark["reason_1_contribution"], local["reason_1_contribution"], atol=1e-6)
    assert (spark["decision"] == local["decision"]).all() and (spark["reason_1"] == local["reason_1"]).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_bad_row_fails_the_job_in_one_line_and_writes_nothing(sme_run, small_sme, raw_applications, tmp_path):
    frame = pd.read_parquet(raw_applications)
    frame["past_loan_count"] = frame["past_loan_count"].astype(str)
    frame.loc[300, "past_loan_count"] = "many"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="past_loan_count.*'many'") as caught:
        score_file_on_spark(
            sme_run, tmp_path / "bad.csv", tmp_path / "out.parquet", ScoreOptions(), small_sme / "transactions", ENGINE
        )
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]  # no output, no staging folder


def test_an_unfinished_folder_is_not_overwritten(sme_run, small_sme, raw_applications, tmp_path):
    (tmp_path / "out.parquet").mkdir()
    (tmp_path / "out.parquet" / "part-0.parquet").write_text("someone's file")
    with pytest.raises(UserError, match="not a finished Spark output"):
        score_file_on_spark(
            sme_run, raw_applications, tmp_path / "out.parquet", transactions=small_sme / "transactions"
        )
    assert (tmp_path / "out.parquet" / "part-0.parquet").read_text() == "someone's file"


def assert_close(expected, actual, path="result"):
    """Equal nested results, floats to 1e-9."""
    if isinstance(expected, dict):
        assert sorted(expected) == sorted(actual), path
        for key in expected:
            assert_close(expected[key], actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert len(expected) == len(actual), path
        for i, (e, a) in enumerate(zip(expected, actual)):
            assert_close(e, a, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-12), path
    else:
        assert expected == actual, path


def test_monitoring_on_spark_equals_monitoring_here(sme_run, small_sme, raw_applications, tmp_path):
    """Counted partition by partition on Spark, the same figures: PSI, CSI, unseen values (new codes in 6 % of the
    rows), the approval shift and the back-test of the labelled input."""
    frame = pd.read_parquet(raw_applications)
    frame.loc[frame.sample(frac=0.06, random_state=0).index, "prev_delinquency_count"] = 97
    frame.to_parquet(tmp_path / "new.parquet", index=False)
    local = monitor(sme_run, tmp_path / "new.parquet", small_sme / "transactions")
    spark = monitor(sme_run, tmp_path / "new.parquet", small_sme / "transactions", engine=ENGINE)
    assert local["unseen"]["prev_delinquency_count"]["rows"] == 36 and local["backtest"] is not None
    assert_close(local, spark)


def scoring_workers() -> list[int]:
    """The pids of the forked Python workers of this process's Spark: children of a `pyspark.daemon` whose parent
    (the JVM) this process started. Another process's Spark (the other pytest worker's) is left alone."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = open(f"/proc/{entry}/cmdline", "rb").read()
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            procs[int(entry)] = (cmdline, ppid)
    jvms = {pid for pid, (_, ppid) in procs.items() if ppid == os.getpid()}
    daemons = {pid for pid, (cmdline, ppid) in procs.items() if b"pyspark.daemon" in cmdline and ppid in jvms}
    return [pid for pid, (_, ppid) in procs.items() if ppid in daemons]


def test_a_killed_worker_fails_the_job_in_one_line_and_writes_nothing(sme_run, small_sme, tmp_path):
    """Python workers SIGKILLed while the job runs (as when an executor's container is killed): one error line, and
    neither the output nor the staging folder exists."""
    killed, done = [], threading.Event()

    def kill_workers():
        while not done.is_set():
            for pid in scoring_workers():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_workers, daemon=True)
    killer.start()
    try:
        with pytest.raises(UserError) as caught:
            score_file_on_spark(
                sme_run,
                small_sme / "applications.parquet",
                tmp_path / "out.parquet",
                transactions=small_sme / "transactions",
            )
    finally:
        done.set()
        killer.join()
    assert killed and "\n" not in str(caught.value) and "the Spark job failed, nothing was written" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
