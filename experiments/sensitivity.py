"""The paper's Figure 2 sweeps for Wide & Deep + Cross: `make sensitivity` (DATASET=taiwan for another dataset).

Writes results/<dataset>/sensitivity.csv and sensitivity.png. Training flags of
experiments/train.py apply (they are the same flags).
"""

from __future__ import annotations

import time
from pathlib import Path

from absl import flags

from experiments import train
from experiments.cli import command, define_study_flags, drop_retracing_warnings

train.define_flags(preset="paper", include_protected=True)  # the paper's setup
flags.DEFINE_integer("max_epochs", 50, "Length of the epoch curve (every epoch from 1 to this)")
define_study_flags("sensitivity", "3 epochs, two values per sweep, at most 3,000 training rows")
FLAGS = flags.FLAGS


def sensitivity() -> None:
    drop_retracing_warnings()
    from wide_deep.research.sensitivity import sensitivity_study

    start = time.perf_counter()
    results = sensitivity_study(
        train.config_from_flags(FLAGS),
        FLAGS.max_epochs,
        Path(FLAGS.runs_dir) if FLAGS.runs_dir else None,
        Path(FLAGS.results_dir) if FLAGS.results_dir else None,
        quick=FLAGS.quick,
        log=lambda m: print(m, flush=True),
    )
    print(f"wrote {results}/sensitivity.csv and sensitivity.png in {(time.perf_counter() - start) / 60:.1f} min")


main, run = command(sensitivity)


if __name__ == "__main__":
    run()
