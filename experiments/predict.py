"""Batch scoring with the latest export: `make predict INPUT=loans.csv OUTPUT=scores.csv [MODEL_DIR=runs/default]`.

With ENGINE=spark the transaction features and the scoring run on Apache Spark and OUTPUT is a
Parquet folder, committed only when every row is scored.
"""

from __future__ import annotations

from absl import flags

from experiments.cli import command
from experiments.engine import engine_from_flags

flags.DEFINE_string("model_dir", "runs/default", "Trained model_dir; its newest export/<version>/ is used")
flags.DEFINE_string("input", None, "CSV or Parquet file with the raw feature columns", required=True)
flags.DEFINE_string(
    "output",
    None,
    "Where id, probability and decision go (.csv or .parquet; a .parquet folder with --engine=spark)",
    required=True,
)
flags.DEFINE_integer("batch_rows", 100_000, "Rows per streamed batch (bounds memory)", lower_bound=1)
flags.DEFINE_string(
    "transactions",
    None,
    "Raw transaction log for specs with a transactions block (default: the spec's path, relative to the input file)",
)
flags.DEFINE_integer(
    "reasons",
    0,
    "Also write the top-k reason codes (features that raised the risk, with their contribution to the logit)",
    lower_bound=0,
)
flags.DEFINE_string(
    "cutoff", None, "Replace the export's cut-off for the decisions: probability:P (decline at P or above) or score:S"
)
flags.DEFINE_string(
    "reason_codes", None, "With --reasons: CSV of code,feature,text replacing rows of the export's reason-code table"
)
FLAGS = flags.FLAGS


def predict() -> None:
    from wide_deep.record.resources import peak_rss_mb
    from wide_deep.serving.scoring import ScoreOptions, score_file

    options = ScoreOptions(FLAGS.batch_rows, FLAGS.reasons, FLAGS.cutoff, FLAGS.reason_codes)
    engine = engine_from_flags()
    log = lambda m: print(m, flush=True)  # noqa: E731
    if engine is None:
        score_file(FLAGS.model_dir, FLAGS.input, FLAGS.output, options, FLAGS.transactions, log=log)
    else:
        from wide_deep.serving.spark_scoring import score_file_on_spark

        score_file_on_spark(FLAGS.model_dir, FLAGS.input, FLAGS.output, options, FLAGS.transactions, engine, log)
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


main, run = command(predict)


if __name__ == "__main__":
    run()
