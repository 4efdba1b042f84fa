"""The engine flags of the data commands (`make shards`, `make predict`, `make monitor`): `ENGINE=spark`.

`--engine=duckdb` (the default) runs the transaction SQL in this process and needs no Java;
`--engine=spark` runs the same SQL on Apache Spark (`--spark_master`, default `local[2]`; empty
when `spark-submit` or SPARK_REMOTE names the cluster).
"""

from __future__ import annotations

from absl import flags

flags.DEFINE_enum(
    "engine",
    "duckdb",
    ["duckdb", "spark"],
    "Where the transaction features are computed (and, for make predict, the scoring runs): duckdb (in this "
    "process, the default) or spark (Apache Spark; needs Java 17)",
)
flags.DEFINE_string(
    "spark_master",
    "local[2]",
    "With --engine=spark: the Spark master (local[N], spark://host:7077, yarn, ...); empty: what spark-submit set",
)
FLAGS = flags.FLAGS


def engine_from_flags():
    """None for the embedded engine (the library default), else a SparkEngine, Java checked first: a machine
    without Java 17 is told so before any work."""
    if FLAGS.engine != "spark":
        return None
    from wide_deep.data.spark_engine import SparkEngine, check_java

    check_java()
    return SparkEngine(FLAGS.spark_master or None)
