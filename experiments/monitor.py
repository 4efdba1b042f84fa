"""Population stability: `make monitor INPUT=new_applications.parquet [MODEL_DIR=runs/default]`.

Scores the input with the newest export and compares score and feature distributions with
the training baseline; prints PSI/CSI with watch (> 0.1) and act (> 0.25) flags, values training never saw,
the approval rate at the run's cut-off and, when the input holds the label column, a back-test.
"""

from __future__ import annotations

import sys

from absl import flags

from experiments.cli import command
from experiments.engine import engine_from_flags

flags.DEFINE_string("model_dir", "runs/default", "Trained model_dir (its evidence.json holds the baseline)")
flags.DEFINE_string("input", None, "CSV or Parquet file of new applications (raw features)", required=True)
flags.DEFINE_string("transactions", None, "Raw transaction log, for specs with a transactions block")
flags.DEFINE_string("output", None, "Also write the result as JSON here")
flags.DEFINE_boolean("fail_on_act", False, "Exit with status 1 when a check is flagged act (see --fail_on)")
flags.DEFINE_enum(
    "fail_on",
    "any",
    ["any", "score"],
    "With --fail_on_act: 'any' fails on any check at act (score PSI, a feature's CSI, unseen values, approval "
    "shift, back-test); 'score' on the score PSI alone",
)
FLAGS = flags.FLAGS


def monitor() -> None:
    from wide_deep.serving.monitoring import format_monitoring, monitor

    engine = engine_from_flags()
    result = monitor(FLAGS.model_dir, FLAGS.input, FLAGS.transactions, FLAGS.output, engine)
    print(format_monitoring(result))
    flag = result["psi_flag"] if FLAGS.fail_on == "score" else result["flag"]
    if FLAGS.fail_on_act and flag == "act":
        sys.exit(1)


main, run = command(monitor)


if __name__ == "__main__":
    run()
