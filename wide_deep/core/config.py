"""The model's and the trainer's configs: plain dataclasses, cheap to import, part of a RunConfig."""

from __future__ import annotations

import dataclasses

OPTIMIZERS = ("adam", "adagrad", "ftrl", "sgd")
WARM_STARTS = ("none", "logistic")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    model_type: str = "wide_deep"
    hidden_units: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.0
    batch_norm: bool = False
    l2_wide: float = 0.0
    l2_deep: float = 0.0
    initial_bias: float = 0.0
    # "logistic": the wide branch starts as a logistic regression tuned on validation, the deep output at zero
    warm_start: str = "none"
    wide_gbdt: bool = False  # the leaves of LightGBM trees (tuned on validation) as wide columns
    # what one GBDT tree may read: "free" (any features: opaque) or "pairs" (one feature, or one FAST-ranked pair)
    gbdt_terms: str = "free"
    # K > 1: K members trained with seeds seed..seed+K-1, merged into one model whose logit is their mean
    ensemble_seeds: int = 1
    # what the deep branch sees of the spec's sequences: "auto" (all of them, beside the aggregates, when the spec
    # declares any), "aggregates" (none: the paper's model), "both", or "sequence" (the sequences in place of the
    # deep-only columns summarising the same data)
    sequences: str = "auto"
    sequence_tower: str = "gru"  # the tower over each sequence input: "gru" or "tcn" (dilated causal convolutions)
    sequence_units: int = 16  # the tower's width: a handful of channels per step needs few units
    fusion: str = "sum"  # "sum" (the paper), "gate" or "attention": per-applicant weights of the two branches
    # which input features have a readable characteristic in the wide branch: "declared" (the spec's routes, the
    # paper) or "full" (every one; numeric columns as bins)
    scorecard: str = "declared"
    # at most this many pairs of features the additive scorecard misses, proposed on the data as crosses (FAST)
    pairs: int = 0
    # the validation AUC the GBDT's blend must add to the trained network for the trees to be kept (their cost: a
    # score carried by opaque trees, slower scoring, a larger export)
    min_tree_gain: float = 0.0
    # how many standard errors (DeLong, on validation) the trained network's AUC gain over the scorecard it started
    # from (the warm start) must reach for the network to be kept; below it the model is that scorecard (0: any)
    min_network_gain_se: float = 0.0
    # once validation has chosen the model, refit its wide columns on the training and validation rows together
    # (the warm start's C; the rest of the model fixed): the selected scorecard fitted on all the development data
    refit_scorecard: bool = False
    # the readable share the model keeps on validation: its opaque part (deep term, trees over more than two
    # features) is scaled down until the readable characteristics carry at least this much of the logit (0: any)
    min_readable_share: float = 0.0
    # how the deep branch encodes numbers: "spec" (each column's own encoding) or one for all (e.g. "ple")
    numeric_encoding: str = "spec"

    def sequences_for(self, declared: bool, tower_pays: bool | None = None) -> str:
        """`sequences` as routing takes it (`FeatureSpec.for_model`), for a spec that `declared` sequences or not:
        `auto` is `both` when it did, the model has a deep branch, it is not an ensemble (which merges MLP members
        only) and the run's probe did not find that the tower does not pay (`tower_pays`: None before the probe,
        then its verdict, `wide_deep.core.sequence_probe`); otherwise `aggregates`. The one place `auto` is
        resolved."""
        if self.sequences != "auto":
            return self.sequences
        if tower_pays is False:
            return "aggregates"
        return "both" if declared and self.model_type != "wide" and self.ensemble_seeds == 1 else "aggregates"

    def __post_init__(self):
        from feature_columns.errors import UserError

        if self.fusion != "sum" and self.model_type != "wide_deep":
            raise UserError(
                f"--fusion={self.fusion} weighs the wide and the deep branch; --model_type="
                f"{self.model_type} has only one"
            )
        if self.ensemble_seeds > 1 and (self.fusion != "sum" or self.sequences in ("both", "sequence")):
            raise UserError(
                "--ensemble_seeds > 1 merges MLP members only; it cannot be combined with --fusion or "
                "--sequences (train single models, or use --fusion=sum --sequences=aggregates)"
            )


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50
    batch_size: int = 256
    learning_rate: float = 1e-4
    wide_learning_rate: float | None = None  # None: same as learning_rate
    wide_optimizer: str = "adam"
    deep_optimizer: str = "adam"
    early_stopping_patience: int = 5
    seed: int = 42
    eval_batch_size: int = 16384
    deterministic: bool = True
    min_steps: int = 0  # small data: allow at least this many optimizer steps (raises the epoch limit)
