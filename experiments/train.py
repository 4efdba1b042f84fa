"""Train, evaluate and export a Wide & Deep model: `python -m experiments.train --flagfile=...`.

Flags are defined in one function and turned into one RunConfig; see README for examples.
"""
from __future__ import annotations

import sys

from absl import app, flags

from experiments.cli import run_reporting_user_errors


def define_flags() -> None:
    flags.DEFINE_string("dataset", "sme", "sme | taiwan | german, or a path to a CSV/Parquet file (then --spec is required)")
    flags.DEFINE_string("train_data", None, "Data file to read instead of the dataset's default; a glob "
                        "(e.g. 'data/big/train-*.parquet') reads sharded training files, each worker its own share")
    flags.DEFINE_string("valid_data", None, "With sharded --train_data: the validation file(s), read by every worker")
    flags.DEFINE_string("test_data", None, "With sharded --train_data: the test file(s), read by every worker")
    flags.DEFINE_integer("fit_shards", 0, "Sharded input: fit the preprocessing on the first N training files (0: all)",
                         lower_bound=0)
    flags.DEFINE_boolean("streaming", False, "Sharded input: read the training files again every epoch through tf.data "
                         "instead of holding them in memory (needs --fit_shards)")
    flags.DEFINE_integer("shuffle_window", 65_536, "With --streaming: rows shuffled together (each window in a seeded random order)", lower_bound=1)
    flags.DEFINE_boolean("evidence", True, "Compute the credit-risk evidence (scorecard, reason codes, fairness, "
                         "stability) after training")
    flags.DEFINE_string("spec", None, "Feature spec YAML (default: data/specs/<dataset>.yaml)")
    flags.DEFINE_string("model_dir", "runs/default", "Checkpoints, summaries, metrics and exports go here; rerun to resume")
    flags.DEFINE_enum("model_type", "wide_deep", ["wide", "deep", "wide_deep"], "Which branches the model has")
    flags.DEFINE_boolean("use_crosses", True, "Include the spec's crossed columns")
    flags.DEFINE_boolean("include_protected", False, "Keep columns marked `protected: true` (and crosses on them) in the "
                         "model, as the paper did; by default they are used only for the fairness report")
    flags.DEFINE_enum("calibration", "none", ["none", "platt", "isotonic"],
                      "Calibrate probabilities on the validation split; the calibrator is part of the export")
    flags.DEFINE_float("base_score", 600.0, "Scorecard: the score at --base_odds (higher score = lower risk)")
    flags.DEFINE_float("base_odds", 50.0, "Scorecard: good:bad odds at --base_score")
    flags.DEFINE_float("pdo", 20.0, "Scorecard: points to double the good:bad odds")
    flags.DEFINE_integer("epochs", 50, "Maximum training epochs (early stopping usually ends sooner)")
    flags.DEFINE_integer("batch_size", 256, "Training batch size")
    flags.DEFINE_float("learning_rate", 1e-4, "Learning rate (deep branch, and wide unless --wide_learning_rate)")
    flags.DEFINE_float("wide_learning_rate", None, "Learning rate of the wide branch's optimizer")
    flags.DEFINE_enum("wide_optimizer", "adam", ["adam", "adagrad", "ftrl", "sgd"], "Optimizer of the wide branch")
    flags.DEFINE_enum("deep_optimizer", "adam", ["adam", "adagrad", "ftrl", "sgd"], "Optimizer of the deep branch")
    flags.DEFINE_list("hidden_units", ["256", "128", "64"], "Deep branch layer sizes")
    flags.DEFINE_float("dropout", 0.0, "Dropout after each hidden layer")
    flags.DEFINE_boolean("batch_norm", False, "Batch normalisation in the deep branch")
    flags.DEFINE_float("l2_wide", 0.0, "L2 penalty on wide weights")
    flags.DEFINE_float("l2_deep", 0.0, "L2 penalty on deep kernels")
    flags.DEFINE_integer("early_stopping_patience", 5, "Stop after this many epochs without a validation AUC gain (0: never)")
    flags.DEFINE_integer("seed", 42, "Seed for initialisation and shuffling")
    flags.DEFINE_integer("split_seed", 42, "Seed of the stratified 60/20/20 split")
    flags.DEFINE_integer("num_enterprises", 129_880, "Synthetic SME enterprises to generate when data/sme is absent")
    flags.DEFINE_integer("data_seed", 2024, "Seed of the synthetic SME generator")
    flags.DEFINE_boolean("deterministic", True, "Deterministic TensorFlow ops (same seed and flags → same metrics)")
    flags.DEFINE_boolean("export", True, "Export a SavedModel at the end")
    flags.DEFINE_enum("distribution", "default", ["default", "multi_worker"],
                      "multi_worker: tf.distribute.MultiWorkerMirroredStrategy, cluster from the TF_CONFIG variable "
                      "(run the same command on every worker)")

    @flags.validator("epochs", message="--epochs must be at least 1")
    def _epochs(value):
        return value >= 1

    @flags.validator("batch_size", message="--batch_size must be at least 1")
    def _batch(value):
        return value >= 1

    @flags.validator("learning_rate", message="--learning_rate must be positive")
    def _lr(value):
        return value > 0

    @flags.validator("pdo", message="--pdo must be positive")
    def _pdo(value):
        return value > 0

    @flags.validator("base_odds", message="--base_odds must be positive")
    def _odds(value):
        return value > 0

    @flags.validator("hidden_units", message="--hidden_units must be positive integers, e.g. 256,128,64")
    def _units(value):
        return all(v.strip().isdigit() and int(v) > 0 for v in value)


def config_from_flags(values: flags.FlagValues, streaming_allowed: bool = True):
    """One RunConfig from the flags; drivers that need every training row in memory pass `streaming_allowed=False`."""
    from feature_columns.errors import UserError
    from wide_deep.config import RunConfig
    from wide_deep.model import ModelConfig
    from wide_deep.trainer import TrainConfig
    if values.streaming and not streaming_allowed:
        raise UserError("--streaming is for experiments.train: this driver's baselines and sweeps hold the training "
                        "split in memory; run it without --streaming")
    return RunConfig(
        dataset=values.dataset, train_data=values.train_data, valid_data=values.valid_data, test_data=values.test_data,
        fit_shards=values.fit_shards, streaming=values.streaming, shuffle_window=values.shuffle_window,
        evidence=values.evidence, spec=values.spec, model_dir=values.model_dir,
        use_crosses=values.use_crosses, include_protected=values.include_protected, calibration=values.calibration,
        scorecard=(values.base_score, values.base_odds, values.pdo), split_seed=values.split_seed,
        num_enterprises=values.num_enterprises, data_seed=values.data_seed, export=values.export,
        distribution=values.distribution,
        model=ModelConfig(model_type=values.model_type, hidden_units=tuple(int(u) for u in values.hidden_units),
                          dropout=values.dropout, batch_norm=values.batch_norm, l2_wide=values.l2_wide, l2_deep=values.l2_deep),
        train=TrainConfig(epochs=values.epochs, batch_size=values.batch_size, learning_rate=values.learning_rate,
                          wide_learning_rate=values.wide_learning_rate, wide_optimizer=values.wide_optimizer,
                          deep_optimizer=values.deep_optimizer, early_stopping_patience=values.early_stopping_patience,
                          seed=values.seed, deterministic=values.deterministic))


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    from wide_deep.run import run_training

    def train():
        config = config_from_flags(flags.FLAGS)
        if config.distribution != "multi_worker":
            run_training(config, log=lambda msg: print(msg, flush=True))
            return
        strategy = multi_worker_strategy()
        import tensorflow as tf
        try:
            run_training(config, log=lambda msg: print(msg, flush=True), strategy=strategy)
        except (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError) as err:
            lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [""]
            reason = next((line for line in lines if any(w in line for w in ("unhealthy", "aborted", "reset"))), lines[0])
            print(f"error: another worker of the cluster stopped ({type(err).__name__}: {reason[:300]}). "
                  f"MultiWorkerMirroredStrategy cannot go on without it; rerun the same command on every worker to "
                  f"resume from the newest checkpoint all of them hold.", file=sys.stderr)
            sys.exit(1)
    run_reporting_user_errors(train)


def multi_worker_strategy():
    """MultiWorkerMirroredStrategy from TF_CONFIG; created before any other TensorFlow op, as it must be."""
    import json
    import os
    from feature_columns.errors import UserError
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise UserError("--distribution=multi_worker needs the TF_CONFIG environment variable (cluster and task; see README)")
    try:
        cluster = json.loads(raw)
        workers = cluster["cluster"]["worker"]
        task = cluster["task"]
        assert task["type"] == "worker" and 0 <= int(task["index"]) < len(workers)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise UserError(f'TF_CONFIG must look like {{"cluster": {{"worker": ["host:port", ...]}}, "task": {{"type": "worker", '
                        f'"index": 0}}}}; got {raw!r}') from None
    import tensorflow as tf
    return tf.distribute.MultiWorkerMirroredStrategy()


def run() -> None:
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
