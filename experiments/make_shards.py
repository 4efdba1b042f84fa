"""Write streamable training shards: `make shards DATASET=sme OUTPUT=data/sme_shards FLAGS=--num_shards=8`.

Aggregates the transaction log once (on Spark with ENGINE=spark), splits 60/20/20 exactly as training does for one file,
and writes train-*-of-*.parquet, valid.parquet and test.parquet for
`make train FLAGS="--streaming --train_data='OUTPUT/train-*.parquet' ..."` (see README, "At scale").
"""

from __future__ import annotations

from absl import flags

from experiments.cli import command
from experiments.engine import engine_from_flags

flags.DEFINE_string(
    "dataset", "sme", "sme | taiwan | german, or a path to a CSV/Parquet file (then --spec is required)"
)
flags.DEFINE_string(
    "input", None, "Data file to read instead of the dataset's default (e.g. data/sme_1m/applications.parquet)"
)
flags.DEFINE_string("spec", None, "Feature spec YAML (default: data/specs/<dataset>.yaml)")
flags.DEFINE_string("output_dir", None, "Where the shard files go (make shards OUTPUT=...)", required=True)
flags.register_validator("output_dir", bool, message="--output_dir (make shards OUTPUT=dir) must name a directory")
flags.DEFINE_integer("num_shards", 8, "Number of training shard files (at least the number of workers)", lower_bound=1)
flags.DEFINE_integer("split_seed", 42, "Seed of the stratified 60/20/20 split (the training default)")
FLAGS = flags.FLAGS


def make_shards() -> None:
    from pathlib import Path

    from feature_columns.spec import FeatureSpec
    from wide_deep.data import registry
    from wide_deep.data.shards import write_shards
    from wide_deep.data.sources import check_output, transactions_path
    from wide_deep.record.model_dir import refuse_inside_runs

    engine = engine_from_flags()
    info = registry.resolve(FLAGS.dataset, FLAGS.input, FLAGS.spec)
    spec = FeatureSpec.from_yaml(info.spec)
    log_folder = transactions_path(spec.transactions, info.data) if spec.transactions is not None else None
    a_shard = Path(FLAGS.output_dir) / "train-00000.parquet"  # what the folder will hold
    refuse_inside_runs(a_shard, "--output_dir")
    check_output(a_shard, "--output_dir", [info.data, log_folder])
    write_shards(
        spec,
        info.data,
        FLAGS.output_dir,
        FLAGS.num_shards,
        FLAGS.split_seed,
        log=lambda m: print(m, flush=True),
        engine=engine,
    )


main, run = command(make_shards)


if __name__ == "__main__":
    run()
