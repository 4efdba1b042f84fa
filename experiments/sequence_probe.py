"""Could the raw transaction log tell more than the aggregates? `python -m experiments.sequence_probe`.

On the synthetic SME data (whose true transaction parameters are known), a tuned LightGBM on the same split
with the spec's features, plus the weekly sequence, plus log-amount statistics, plus the true parameters, and
the spec's features regressed on the true log-odds instead of the labels (`wide_deep.research.information`).
Prints one line per row and writes results/sme/sequences/probe.csv.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from experiments.cli import command

flags.DEFINE_integer("num_enterprises", 129_880, "Synthetic SME enterprises to generate when data/sme is absent")
flags.DEFINE_integer("seed", 42, "LightGBM seed")
flags.DEFINE_string("output", "results/sme/sequences/probe.csv", "Where to write the table")
FLAGS = flags.FLAGS


def sequence_probe() -> None:
    import dataclasses

    from wide_deep.core.config import ModelConfig
    from wide_deep.data.sources import read_table, transactions_path, write_frame
    from wide_deep.record.config import RunConfig
    from wide_deep.research.information import log_amount_stats, probe
    from wide_deep.run.prepared import prepare_data

    config = dataclasses.replace(
        RunConfig(dataset="sme", num_enterprises=FLAGS.num_enterprises), model=ModelConfig(sequences="both")
    )
    data = prepare_data(config, log=lambda m: print(m, flush=True))
    applications = read_table(data.info.data)
    amounts = log_amount_stats(transactions_path(data.spec.transactions, data.info.data), applications, data.spec)
    table = probe(data, data.info.truth, amounts, FLAGS.seed, log=lambda m: print(m, flush=True))
    Path(FLAGS.output).parent.mkdir(parents=True, exist_ok=True)
    write_frame(table, Path(FLAGS.output))
    print(f"wrote {FLAGS.output}")


main, run = command(sequence_probe)


if __name__ == "__main__":
    run()
