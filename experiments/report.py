"""Self-contained HTML model report: `make report [MODEL_DIR=runs/default]` writes MODEL_DIR/report.html."""

from __future__ import annotations

from absl import flags

from experiments.cli import command

flags.DEFINE_string("model_dir", "runs/default", "Trained model_dir; the report is written inside it")
flags.DEFINE_integer("bootstrap_resamples", 500, "Resamples for the metrics' confidence intervals", lower_bound=50)
FLAGS = flags.FLAGS


def report() -> None:
    from wide_deep.evidence.report import render_report

    print(f"wrote {render_report(FLAGS.model_dir, FLAGS.bootstrap_resamples)}")


main, run = command(report)


if __name__ == "__main__":
    run()
