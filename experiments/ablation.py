"""The paper's Table 2: six variants × seeds through the training path, plus baselines and the oracle.

    make ablation                      # SME data, 5 seeds → results/sme/
    make ablation DATASET=taiwan
    python -m experiments.ablation --quick --dataset=german --results_dir=/tmp/r

Every training flag of experiments/train.py applies (they are the same flags).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from absl import app, flags

from experiments import train
from experiments.cli import run_reporting_user_errors

train.define_flags()
flags.DEFINE_integer("seeds", 5, "Seeds per variant (seed, seed+1, ...)")
flags.DEFINE_boolean("quick", False, "Smoke mode for tests: 2 seeds, 3 epochs, at most 3,000 training rows, 200 bootstrap resamples")
flags.DEFINE_string("results_dir", None, "Where ablation.csv/.md and plots go (default results/<dataset>)")
flags.DEFINE_string("runs_dir", None, "Model dirs of the individual runs (default runs/ablation/<dataset>)")
flags.DEFINE_integer("bootstrap_resamples", 1000, "Bootstrap resamples for the AUC confidence intervals")
flags.DEFINE_boolean("baselines", True, "Also run LightGBM and scikit-learn logistic regression")
FLAGS = flags.FLAGS


def ablation() -> None:
    from wide_deep.ablation import markdown_table, plot_roc_and_calibration, run_ablation, summarize
    from wide_deep.run import prepare_data
    start = time.perf_counter()
    base = train.config_from_flags(FLAGS, streaming_allowed=False)
    seeds, resamples = FLAGS.seeds, FLAGS.bootstrap_resamples
    if FLAGS.quick:
        seeds, resamples = min(seeds, 2), min(resamples, 200)
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=min(base.train.epochs, 3)))
    data = prepare_data(base, log=lambda m: print(m, flush=True))
    if FLAGS.quick:
        data.dataset.limit_rows(train=3000, valid=1000, test=1000, seed=base.split_seed)
    name = data.info.name
    results = Path(FLAGS.results_dir or f"results/{name}")
    results.mkdir(parents=True, exist_ok=True)
    rows, scores = run_ablation(base, data, seeds, Path(FLAGS.runs_dir or f"runs/ablation/{name}"),
                                baselines=FLAGS.baselines, log=lambda m: print(m, flush=True))
    test_y = data.split("test")[1]
    summary = summarize(rows, scores, test_y, resamples, seed=base.train.seed)
    rows.to_csv(results / "ablation.csv", index=False)
    summary.to_csv(results / "ablation_summary.csv", index=False)
    command = "python -m experiments.ablation " + " ".join(sys.argv[1:])
    (results / "ablation.md").write_text(markdown_table(summary, name, command.strip(), time.perf_counter() - start))
    plot_roc_and_calibration(scores, test_y, results, name)
    print((results / "ablation.md").read_text())
    print(f"wrote {results}/ablation.csv, ablation_summary.csv, ablation.md, roc.png, calibration.png "
          f"in {(time.perf_counter() - start) / 60:.1f} min")


def main(argv):
    del argv
    run_reporting_user_errors(ablation)


if __name__ == "__main__":
    app.run(main)
