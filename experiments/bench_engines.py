"""The transaction aggregation on both engines, same log, same run: `make bench` calls it, or alone:

    python -m experiments.bench_engines --dataset=sme                  # the SME log (13M rows)
    python -m experiments.bench_engines --input=data/sme_1m/applications.parquet --repeats=1   # 100M rows

Each engine runs in its own process (`--engine_only`), the engines interleaved, `--repeats` times after one
untimed warm-up (Spark's JVM start and first query compilation are reported apart, as `startup s`): the median
seconds of the features and the sequences, rows/s, and peak memory (the process's peak RSS, plus for Spark the
JVM's own peak, VmHWM).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from absl import flags

from experiments.cli import command

flags.DEFINE_string("dataset", "sme", "Built-in dataset (its applications and transaction log)")
flags.DEFINE_string("input", None, "Applications file instead of the dataset's (its spec's log beside it)")
flags.DEFINE_string("spec", None, "Feature spec YAML (default: the dataset's)")
flags.DEFINE_integer("repeats", 3, "Timed runs per engine (median reported)", lower_bound=1)
flags.DEFINE_boolean(
    "sequences", True, "Also time the spec's log sequences (--nosequences: the aggregates alone, e.g. at 100M rows)"
)
flags.DEFINE_boolean("warmup", True, "One untimed run first (--nowarmup for logs where one run is long enough)")
flags.DEFINE_enum("engine_only", None, ["duckdb", "spark"], "Internal: time one engine in this process, print JSON")
flags.DEFINE_string("spark_master", "local[2]", "Spark master of the Spark rows")
FLAGS = flags.FLAGS


def _jvm_peak_mb(engine) -> float:
    """The Spark driver JVM's peak resident memory (0 when it cannot be read)."""
    try:
        pid = engine.session().sparkContext._gateway.proc.pid
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (AttributeError, OSError):
        pass
    return 0.0


def time_one_engine() -> None:
    from feature_columns.spec import FeatureSpec
    from wide_deep.data import registry
    from wide_deep.data.aggregation import aggregate_transactions
    from wide_deep.data.sequences import bin_transactions
    from wide_deep.data.sources import read_table, transactions_path
    from wide_deep.data.spark_engine import SparkEngine
    from wide_deep.record.resources import peak_rss_mb

    info = registry.resolve(FLAGS.dataset, FLAGS.input, FLAGS.spec)
    spec = FeatureSpec.from_yaml(info.spec)
    apps, log = read_table(info.data), transactions_path(spec.transactions, info.data)
    engine = SparkEngine(FLAGS.spark_master) if FLAGS.engine_only == "spark" else None
    result = {"features": [], "sequences": []}
    result["startup"] = float("nan")
    for attempt in range(FLAGS.repeats + 1) if FLAGS.warmup else range(1, FLAGS.repeats + 1):
        start = time.perf_counter()
        report = aggregate_transactions(log, apps, spec.transactions, spec.id_column, engine)[1]
        middle = time.perf_counter()
        if spec.log_sequences and FLAGS.sequences:
            bin_transactions(log, apps, spec.transactions, spec.id_column, spec.log_sequences, engine)
        end = time.perf_counter()
        if attempt == 0:
            result["startup"] = middle - start
            continue
        result["features"].append(middle - start)
        result["sequences"].append(end - middle)
    result["rows"] = report.rows_in_window
    result["peak_rss_mb"] = peak_rss_mb()
    result["jvm_peak_mb"] = _jvm_peak_mb(engine) if engine is not None else 0.0
    print(json.dumps(result))


def engine_rows(dataset: str, input_path: str | None, spec: str | None, repeats: int, master: str) -> None:
    """Both engines in their own processes, printed side by side with the ratio Spark / DuckDB."""
    args = [f"--dataset={dataset}", f"--repeats={repeats}", f"--spark_master={master}", f"--warmup={FLAGS.warmup}"]
    args += [f"--sequences={FLAGS.sequences}"]
    args += [f"--input={input_path}"] if input_path else []
    args += [f"--spec={spec}"] if spec else []
    results = {}
    for engine in ("duckdb", "spark"):
        done = subprocess.run(
            [sys.executable, "-m", "experiments.bench_engines", f"--engine_only={engine}", *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            print(f"{engine}: failed: {done.stderr.strip().splitlines()[-1:]}")
            return
        results[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    rows = results["duckdb"]["rows"]
    print(
        f"\ntransaction features of {rows:,} log rows, DuckDB (2 threads, 2 GB limit) vs Spark {master} "
        f"(median of {repeats}{' after a warm-up' if FLAGS.warmup else ', no warm-up'}; each engine its own process)"
    )
    print(f"{'':<26}{'DuckDB':>12}{'Spark':>12}{'Spark/DuckDB':>14}")
    figures = {
        "features s": lambda r: float(np.median(r["features"])),
        "features rows/s": lambda r: rows / float(np.median(r["features"])),
        "sequences s": lambda r: float(np.median(r["sequences"])),
        "warm-up (startup) s": lambda r: r["startup"],
        "peak RSS MB (process)": lambda r: r["peak_rss_mb"],
        "peak RSS MB (JVM)": lambda r: r["jvm_peak_mb"],
    }
    if not FLAGS.sequences:
        del figures["sequences s"]
    for name, read in figures.items():
        ours, spark = read(results["duckdb"]), read(results["spark"])
        ratio = f"{spark / ours:>14.2f}" if ours else f"{'':>14}"
        digits = 0 if "rows/s" in name or "MB" in name else 1
        print(f"{name:<26}{ours:>12,.{digits}f}{spark:>12,.{digits}f}{ratio}")


def bench_engines() -> None:
    if FLAGS.engine_only:
        time_one_engine()
    else:
        engine_rows(FLAGS.dataset, FLAGS.input, FLAGS.spec, FLAGS.repeats, FLAGS.spark_master)


main, run = command(bench_engines)


if __name__ == "__main__":
    run()
