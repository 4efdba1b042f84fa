"""Train, evaluate and export a Wide & Deep model: `python -m experiments.train --flagfile=...`.

Flags are defined in one function and turned into one RunConfig; see README for examples.
"""

from __future__ import annotations

import sys

from absl import flags

from experiments.cli import console_script, main_running


def define_flags(preset: str = "accurate", include_protected: bool = False) -> None:
    """Every training flag; `preset` and `include_protected` are the defaults of those flags (the drivers of the
    paper's studies reproduce its setup: "paper", with the protected columns in the model as the paper had them)."""
    from wide_deep.record.config import SETTING_RULES

    _define_data_flags(preset)
    _define_model_flags(include_protected)
    _define_tree_flags()
    _define_training_flags()
    _define_output_flags()
    for name, (check, expected) in SETTING_RULES.items():
        flags.register_validator(name, check, message=f"--{name} must be {expected}")
    flags.register_validator(
        "cutoff", _valid_cutoff, message="--cutoff must be f1, probability:P, score:S or approval:R"
    )
    flags.register_validator(
        "hidden_units",
        lambda units: all(u.strip().isdigit() and int(u) > 0 for u in units),
        message="--hidden_units must be positive integers, e.g. 256,128,64",
    )


def _define_data_flags(preset: str) -> None:
    """The preset, then where the data comes from and how it is read and split."""
    from wide_deep.record.config import PRESETS

    flags.DEFINE_enum(
        "preset",
        preset,
        list(PRESETS),
        "Defaults of the flags marked (preset): 'accurate' (warm-started wide branch, GBDT wide columns, "
        "Adam 1e-3, early stopping; see README) or 'paper' (the paper's Table 1: Adam 1e-4, 50 epochs)",
    )
    flags.DEFINE_string(
        "dataset", "sme", "sme | taiwan | german, or a path to a CSV/Parquet file (then --spec is required)"
    )
    flags.DEFINE_string(
        "train_data",
        None,
        "Data file to read instead of the dataset's default; a glob "
        "(e.g. 'data/big/train-*.parquet') reads sharded training files, each worker its own share",
    )
    flags.DEFINE_string("valid_data", None, "With sharded --train_data: the validation file(s), read by every worker")
    flags.DEFINE_string("test_data", None, "With sharded --train_data: the test file(s), read by every worker")
    flags.DEFINE_integer(
        "fit_shards", 0, "Sharded input: fit the preprocessing on the first N training files (0: all)", lower_bound=0
    )
    flags.DEFINE_boolean(
        "streaming",
        False,
        "Sharded input: read the training files again every epoch through tf.data "
        "instead of holding them in memory (needs --fit_shards)",
    )
    flags.DEFINE_integer(
        "shuffle_window",
        65_536,
        "With --streaming: rows shuffled together (each window in a seeded random order)",
        lower_bound=1,
    )
    flags.DEFINE_boolean(
        "evidence",
        True,
        "Compute the credit-risk evidence (scorecard, reason codes, fairness, stability) after training",
    )
    flags.DEFINE_string("spec", None, "Feature spec YAML (default: data/specs/<dataset>.yaml)")
    flags.DEFINE_integer("seed", 42, "Seed for initialisation and shuffling")
    flags.DEFINE_integer("split_seed", 42, "Seed of the stratified 60/20/20 split")
    flags.DEFINE_enum(
        "split",
        "random",
        ["random", "time"],
        "60/20/20 split design: random (stratified, --split_seed) or time (out of time: the earliest 60 % of the "
        "applications by the spec's date column train, the next 20 % validate, the latest 20 % test)",
    )
    flags.DEFINE_integer("num_enterprises", 129_880, "Synthetic SME enterprises to generate when data/sme is absent")
    flags.DEFINE_integer("data_seed", 2024, "Seed of the synthetic SME generator")
    flags.DEFINE_boolean("deterministic", True, "Deterministic TensorFlow ops (same seed and flags → same metrics)")


def _define_model_flags(include_protected: bool) -> None:
    """What the model is: its branches, columns, extras (warm start, trees, ensembles, sequences) and fusion."""
    flags.DEFINE_enum("model_type", "wide_deep", ["wide", "deep", "wide_deep"], "Which branches the model has")
    flags.DEFINE_boolean("use_crosses", True, "Include the spec's crossed columns")
    flags.DEFINE_boolean(
        "include_protected",
        include_protected,
        "Keep columns marked `protected: true` (and crosses on them) in the "
        "model, as the paper did; by default they are used only for the fairness report",
    )
    flags.DEFINE_enum(
        "warm_start",
        None,
        ["none", "logistic"],
        "(preset) logistic: the wide branch starts as a "
        "logistic regression with C chosen on validation, kept unless training beats it",
    )
    flags.DEFINE_enum(
        "scorecard",
        None,
        ["declared", "full"],
        "(preset) full: every input feature has a readable characteristic in the wide branch (numeric columns as "
        "bins; their deep part stays); declared: the spec's routes as written (the paper)",
    )
    flags.DEFINE_integer(
        "pairs",
        None,
        "(preset) At most this many pairs of features the additive scorecard misses, found on the data (FAST, "
        "cross-fitted on train) and added to the wide branch as named two-feature characteristics (0: none)",
    )
    flags.DEFINE_enum(
        "numeric_encoding",
        "spec",
        ["spec", "quantile", "ple", "zscore", "log1p_zscore"],
        "How numbers are encoded: spec (each column's own encoding) or one encoding for every numeric column (ple: "
        "piecewise-linear embeddings, Gorishniy et al. 2022)",
    )
    flags.DEFINE_float(
        "min_readable_share",
        None,
        "(preset) The share of the logit's variance the readable characteristics must carry on validation: the "
        "opaque part (deep term, trees over more than two features) is scaled down until they do (0: no floor)",
    )
    flags.DEFINE_integer(
        "ensemble_seeds",
        1,
        "K > 1: train K members with seeds seed..seed+K-1 and export one model averaging their logits",
    )
    flags.DEFINE_enum(
        "sequences",
        None,
        ["auto", "aggregates", "both", "sequence"],
        "(preset) What the deep branch sees of the spec's `sequences:`: auto (both, when the spec declares any), "
        "aggregates (none: the paper's model), both (the sequences through a tower beside the aggregates), sequence "
        "(in place of the deep-only aggregates)",
    )
    flags.DEFINE_enum("sequence_tower", "gru", ["gru", "tcn"], "The tower over each sequence: GRU or TCN")
    flags.DEFINE_integer("sequence_units", 16, "Width of the sequence tower", lower_bound=1)
    flags.DEFINE_enum(
        "fusion",
        "sum",
        ["sum", "gate", "attention"],
        "How the branches meet: sum of logits (the paper), or per-applicant weights from a learned gate or attention",
    )
    flags.DEFINE_list("hidden_units", ["256", "128", "64"], "Deep branch layer sizes")
    flags.DEFINE_float("dropout", 0.0, "Dropout after each hidden layer")
    flags.DEFINE_boolean("batch_norm", False, "Batch normalisation in the deep branch")
    flags.DEFINE_float("l2_wide", 0.0, "L2 penalty on wide weights")
    flags.DEFINE_float("l2_deep", 0.0, "L2 penalty on deep kernels")


def _define_tree_flags() -> None:
    """The GBDT wide branch: whether LightGBM is fitted, what one tree may read, and what its blend must add."""
    flags.DEFINE_boolean(
        "wide_gbdt",
        None,
        "(preset) LightGBM trees (tuned on validation) as wide columns, blended in on validation after training",
    )
    flags.DEFINE_enum(
        "gbdt_terms",
        None,
        ["free", "pairs"],
        "(preset) With --wide_gbdt, what one tree may read: free (any features; the trees are opaque) or pairs (one "
        "feature, or one of the pairs FAST ranks first: a GA2M compiled into readable one- and two-feature tables)",
    )
    flags.DEFINE_float(
        "min_tree_gain",
        None,
        "(preset) With --wide_gbdt: the validation AUC the trees' blend must add to the trained network for the "
        "trees to be kept (otherwise they leave the model); 0 keeps any blend that does not lower it",
    )
    flags.DEFINE_float(
        "min_network_gain_se",
        None,
        "(preset) With --warm_start=logistic: the trained network is kept only when its validation AUC gain over "
        "the scorecard it started from is at least this many standard errors of that gain (DeLong); otherwise "
        "the model is that scorecard (0: keep the best epoch, whatever its gain)",
    )
    flags.DEFINE_boolean(
        "refit_scorecard",
        None,
        "(preset) With --warm_start=logistic: once validation has chosen the model, refit its wide columns on the "
        "training and validation rows together (the chosen C; the network and trees as they are). The test split "
        "stays unseen; validation figures after it are partly in-sample",
    )


def _define_training_flags() -> None:
    """How the model is trained: epochs, step budget, batch, optimizers and learning rates, early stopping, seed."""
    flags.DEFINE_integer("epochs", None, "(preset) Maximum training epochs (early stopping usually ends sooner)")
    flags.DEFINE_integer(
        "min_steps", None, "(preset) Small data: allow at least this many optimizer steps, raising the epoch limit"
    )
    flags.DEFINE_integer("batch_size", 256, "Training batch size")
    flags.DEFINE_float(
        "learning_rate", None, "(preset) Learning rate (deep branch, and wide unless --wide_learning_rate)"
    )
    flags.DEFINE_float("wide_learning_rate", None, "Learning rate of the wide branch's optimizer")
    flags.DEFINE_enum("wide_optimizer", "adam", ["adam", "adagrad", "ftrl", "sgd"], "Optimizer of the wide branch")
    flags.DEFINE_enum("deep_optimizer", "adam", ["adam", "adagrad", "ftrl", "sgd"], "Optimizer of the deep branch")
    flags.DEFINE_integer(
        "early_stopping_patience", None, "(preset) Stop after this many epochs without a validation AUC gain (0: never)"
    )


def _define_output_flags() -> None:
    """What a run produces: the model_dir, calibration, scorecard scaling, cut-off, evidence, export, distribution."""
    flags.DEFINE_string(
        "model_dir", "runs/default", "Checkpoints, summaries, metrics and exports go here; rerun to resume"
    )
    flags.DEFINE_enum(
        "calibration",
        "none",
        ["none", "platt", "isotonic"],
        "Calibrate probabilities on the validation split; the calibrator is part of the export",
    )
    flags.DEFINE_float("base_score", 600.0, "Scorecard: the score at --base_odds (higher score = lower risk)")
    flags.DEFINE_float("base_odds", 50.0, "Scorecard: good:bad odds at --base_score")
    flags.DEFINE_float("pdo", 20.0, "Scorecard: points to double the good:bad odds")
    flags.DEFINE_string(
        "cutoff",
        "f1",
        "The decision's cut-off, stored in the export: f1 (maximise F1 on validation), probability:P (decline at "
        "P or above), score:S (decline at S points or below) or approval:R (approve the share R of validation)",
    )
    flags.DEFINE_boolean("export", True, "Export a SavedModel at the end")
    flags.DEFINE_integer(
        "keep_exports", 5, "Export versions kept in model_dir/export/ (the newest; 0: all)", lower_bound=0
    )
    flags.DEFINE_enum(
        "distribution",
        "default",
        ["default", "multi_worker"],
        "multi_worker: tf.distribute.MultiWorkerMirroredStrategy, cluster from the TF_CONFIG variable "
        "(run the same command on every worker)",
    )


def _valid_cutoff(rule: str) -> bool:
    from feature_columns.errors import UserError
    from wide_deep.evidence.metrics import parse_cutoff

    try:
        parse_cutoff(rule)
    except UserError:
        return False
    return True


def config_from_flags(values: flags.FlagValues):
    """One RunConfig from the flags (the only place flags become configuration); a flag left unset takes its
    value from --preset."""
    from experiments.cli import from_flags
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.record.config import PRESETS, RunConfig, preset_defaults

    given = {name for name in PRESETS[values.preset] if getattr(values, name) is not None}
    model, train = preset_defaults(values.preset, given)
    return from_flags(
        RunConfig,
        values,
        scorecard=(values.base_score, values.base_odds, values.pdo),
        model=from_flags(ModelConfig, values, hidden_units=tuple(int(u) for u in values.hidden_units), **model),
        train=from_flags(TrainConfig, values, **train),
    )


def train() -> None:
    from wide_deep.core import cluster
    from wide_deep.run.pipeline import run_training

    config = config_from_flags(flags.FLAGS)
    if config.distribution != "multi_worker":
        run_training(config, log=lambda msg: print(msg, flush=True))
        return
    strategy = cluster.multi_worker_strategy()
    try:
        run_training(config, log=lambda msg: print(msg, flush=True), strategy=strategy)
    except cluster.peer_failures() as err:
        print(f"error: {cluster.describe_peer_failure(err)}", file=sys.stderr)
        sys.exit(1)


main = main_running(train)


run = console_script(define_flags, main)


if __name__ == "__main__":
    run()
