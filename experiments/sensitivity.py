"""The paper's Figure 2 sweeps for Wide & Deep + Cross: `make sensitivity` (DATASET=taiwan for another dataset).

Writes results/<dataset>/sensitivity.csv and sensitivity.png. Training flags of
experiments/train.py apply (they are the same flags).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from absl import app, flags

from experiments import train
from experiments.cli import run_reporting_user_errors

train.define_flags()
flags.DEFINE_integer("max_epochs", 50, "Length of the epoch curve (every epoch from 1 to this)")
flags.DEFINE_boolean("quick", False, "Smoke mode for tests: 3 epochs, two values per sweep, at most 3,000 training rows")
flags.DEFINE_string("results_dir", None, "Where sensitivity.csv/.png go (default results/<dataset>)")
flags.DEFINE_string("runs_dir", None, "Model dirs of the individual runs (default runs/sensitivity/<dataset>)")
FLAGS = flags.FLAGS


def sensitivity() -> None:
    from wide_deep.run import prepare_data
    from wide_deep.sensitivity import BATCH_SIZES, LEARNING_RATES, plot_sensitivity, run_sensitivity
    start = time.perf_counter()
    base = train.config_from_flags(FLAGS, streaming_allowed=False)
    epochs, batch_sizes, learning_rates = FLAGS.max_epochs, BATCH_SIZES, LEARNING_RATES
    if FLAGS.quick:
        epochs, batch_sizes, learning_rates = 3, (128, 256), (1e-4, 1e-3)
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=3))
    data = prepare_data(base, log=lambda m: print(m, flush=True))
    if FLAGS.quick:
        data.dataset.limit_rows(train=3000, valid=1000, test=1000, seed=base.split_seed)
    results = Path(FLAGS.results_dir or f"results/{data.info.name}")
    results.mkdir(parents=True, exist_ok=True)
    table = run_sensitivity(base, data, Path(FLAGS.runs_dir or f"runs/sensitivity/{data.info.name}"), epochs,
                            batch_sizes, learning_rates, log=lambda m: print(m, flush=True))
    table.to_csv(results / "sensitivity.csv", index=False)
    plot_sensitivity(table, results / "sensitivity.png", data.info.name)
    print(f"wrote {results}/sensitivity.csv and sensitivity.png in {(time.perf_counter() - start) / 60:.1f} min")


def main(argv):
    del argv
    run_reporting_user_errors(sensitivity)


if __name__ == "__main__":
    app.run(main)
