"""The paper's Table 2: six variants × seeds through the training path, plus baselines and the oracle.

    make ablation                      # SME data, 5 seeds → results/sme/
    make ablation DATASET=taiwan
    make ablation FLAGS=--rows=sequences   # the sequence towers and fusion options → results/sme/sequences/
    python -m experiments.ablation --quick --dataset=german --results_dir=/tmp/r

Every training flag of experiments/train.py applies (they are the same flags).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from absl import flags

from experiments import train
from experiments.cli import command, define_study_flags, drop_retracing_warnings

train.define_flags(preset="paper", include_protected=True)  # the paper's setup
flags.DEFINE_integer("seeds", 5, "Seeds per variant (seed, seed+1, ...)", lower_bound=1)
define_study_flags("ablation", "2 seeds, 3 epochs, at most 3,000 training rows, 200 bootstrap resamples")
flags.DEFINE_integer("bootstrap_resamples", 1000, "Bootstrap resamples for the AUC confidence intervals")
flags.DEFINE_boolean("baselines", True, "Also run LightGBM and scikit-learn logistic regression")
flags.DEFINE_enum(
    "rows",
    "all",
    ["all", "paper", "sequences"],
    "Which rows to train: all, paper (the six variants and the accurate ones), or sequences (the accurate model "
    "with and without the spec's sequence towers and fusion options, into results/<dataset>/sequences/)",
)
flags.DEFINE_boolean(
    "replot",
    False,
    "Only redraw roc.png and calibration.png from the test scores the last study with the same --rows saved "
    "(runs/ablation/<dataset>/test_scores_<rows>.npz); trains nothing",
)
FLAGS = flags.FLAGS


def ablation() -> None:
    drop_retracing_warnings()
    from wide_deep.research.ablation import AblationPlan, ablation_study, replot

    start = time.perf_counter()
    if FLAGS.replot:
        from wide_deep.data.registry import resolve

        config = train.config_from_flags(FLAGS)
        dataset = resolve(config.dataset, config.train_data, config.spec).name
        results = replot(
            Path(FLAGS.runs_dir) if FLAGS.runs_dir else None,
            Path(FLAGS.results_dir) if FLAGS.results_dir else None,
            dataset,
            FLAGS.rows,
        )
        print(f"redrew {results}/roc.png and calibration.png from the saved test scores")
        return
    command = ("python -m experiments.ablation " + " ".join(sys.argv[1:])).strip()
    plan = AblationPlan(
        seeds=FLAGS.seeds,
        runs_dir=Path(FLAGS.runs_dir) if FLAGS.runs_dir else None,
        results_dir=Path(FLAGS.results_dir) if FLAGS.results_dir else None,
        resamples=FLAGS.bootstrap_resamples,
        baselines=FLAGS.baselines,
        quick=FLAGS.quick,
        command=command,
        rows=FLAGS.rows,
    )
    results = ablation_study(train.config_from_flags(FLAGS), plan, log=lambda m: print(m, flush=True))
    print((results / "ablation.md").read_text())
    print(
        f"wrote {results}/ablation.csv, ablation_summary.csv, ablation.md, roc.png, calibration.png "
        f"in {(time.perf_counter() - start) / 60:.1f} min"
    )


main, run = command(ablation)


if __name__ == "__main__":
    run()
