"""One config object per run: absl flags → RunConfig → builder functions (no globals).

A RunConfig round-trips through JSON (`to_dict` / `from_dict`), which is how a run's
`model_dir` remembers how it was trained.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from wide_deep.core.config import ModelConfig, TrainConfig

# the values of the settings a --preset decides: "accurate" (make train) and the paper's Table 1 ("paper")
PRESETS = {
    "accurate": {
        "learning_rate": 1e-3,
        "epochs": 100,
        "early_stopping_patience": 10,
        "min_steps": 2000,
        "warm_start": "logistic",
        "wide_gbdt": True,
        "gbdt_terms": "pairs",
        "scorecard": "full",
        "pairs": 10,
        "min_tree_gain": 0.001,
        "min_network_gain_se": 1.0,
        "refit_scorecard": True,
        "min_readable_share": 0.8,
        "sequences": "auto",
    },
    "paper": {
        "learning_rate": 1e-4,
        "epochs": 50,
        "early_stopping_patience": 5,
        "min_steps": 0,
        "warm_start": "none",
        "wide_gbdt": False,
        "gbdt_terms": "free",
        "scorecard": "declared",
        "pairs": 0,
        "min_tree_gain": 0.0,
        "min_network_gain_se": 0.0,
        "refit_scorecard": False,
        "min_readable_share": 0.0,
        "sequences": "aggregates",
    },
}
MODEL_PRESET_FIELDS = (
    "warm_start",
    "wide_gbdt",
    "gbdt_terms",
    "scorecard",
    "pairs",
    "min_tree_gain",
    "min_network_gain_se",
    "refit_scorecard",
    "min_readable_share",
    "sequences",
)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    dataset: str = "sme"
    train_data: str | None = None  # None: the dataset's default file; a glob reads sharded files (data.shards)
    valid_data: str | None = None  # with sharded train_data: the validation and test files (or globs)
    test_data: str | None = None
    fit_shards: int = 0  # sharded input: fit preprocessing on the first N train files (0: all)
    streaming: bool = False  # sharded input: read the train files every epoch instead of holding them
    shuffle_window: int = 65_536  # streaming: rows shuffled together (a seeded permutation per window)
    spec: str | None = None  # None: the dataset's default spec
    model_dir: str = "runs/default"
    use_crosses: bool = True
    include_protected: bool = False  # keep `protected: true` columns in the model (the paper's setup)
    calibration: str = "none"  # none | platt | isotonic, fitted on validation, carried in the export
    scorecard: tuple = (600.0, 50.0, 20.0)  # base score, base good:bad odds, points to double the odds
    cutoff: str = "f1"  # the decision's cut-off: f1 | probability:P | score:S | approval:R (on validation)
    split_seed: int = 42
    split: str = "random"  # random (stratified 60/20/20 by split_seed) | time (earliest train, latest test)
    num_enterprises: int = 129_880  # synthetic SME data size when it must be generated
    data_seed: int = 2024
    export: bool = True
    keep_exports: int = 5  # export versions kept in model_dir/export/ (the newest; 0: all)
    evidence: bool = True  # credit-risk evidence after training (off: metrics only)
    distribution: str = "default"  # default (one process) | multi_worker (MultiWorkerMirroredStrategy, TF_CONFIG)
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    @property
    def sharded(self) -> bool:
        """The splits come from files (a train glob, explicit valid/test files, or streaming)."""
        from wide_deep.data.shards import is_glob

        return is_glob(self.train_data) or bool(self.valid_data or self.test_data or self.streaming)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The inverse of `to_dict` (tuples restored); keys this version does not know are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k not in ("model", "train")}
        if "scorecard" in values:
            values["scorecard"] = tuple(values["scorecard"])
        model = {
            k: v for k, v in data.get("model", {}).items() if k in {f.name for f in dataclasses.fields(ModelConfig)}
        }
        if "hidden_units" in model:
            model["hidden_units"] = tuple(model["hidden_units"])
        train = {
            k: v for k, v in data.get("train", {}).items() if k in {f.name for f in dataclasses.fields(TrainConfig)}
        }
        return cls(**values, model=ModelConfig(**model), train=TrainConfig(**train))

    def route(self, spec, state: dict | None = None):
        """The dataset's FeatureSpec routed for this run's network (`FeatureSpec.for_model`), with the crosses the
        run proposed and its choice of sequence tower when `state` (its fitted state) records them. The network
        never holds a GBDT's trees: they are blended in after training (`wide_deep.core.blend`)."""
        from feature_columns.fitting import PROPOSED_CROSSES, SEQUENCE_CHOICE

        model, choice = self.model, (state or {}).get(SEQUENCE_CHOICE)
        routed = spec.for_model(
            model.model_type,
            self.use_crosses,
            self.include_protected,
            sequences=model.sequences_for(bool(spec.sequences), None if choice is None else choice.use_sequences),
            scorecard=model.scorecard,
            numeric_encoding=model.numeric_encoding,
        )
        proposed = (state or {}).get(PROPOSED_CROSSES)
        return routed if proposed is None else routed.with_crosses(proposed.crosses)

    def model_shaping(self) -> dict[str, Any]:
        """The parts that must match for a rerun to resume from the same model_dir's checkpoints."""
        d = self.to_dict()
        keep_train = {
            k: d["train"][k] for k in ("batch_size", "seed", "wide_optimizer", "deep_optimizer", "deterministic")
        }
        keys = (
            "dataset",
            "train_data",
            "valid_data",
            "test_data",
            "fit_shards",
            "streaming",
            "shuffle_window",
            "spec",
            "use_crosses",
            "include_protected",
            "split_seed",
            "split",
            "model",
        )
        return {**{k: d[k] for k in keys}, "train": keep_train}


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


SEED_RANGE = (0, 2**32 - 1)  # what NumPy, scikit-learn and TensorFlow all accept as a seed
# setting (named as its flag) → (check, what it must be): values that would crash or misbehave later are refused
# before any work, by the CLI (as flag validators) and the Python API (`check_settings`)
SETTING_RULES = {
    "epochs": (lambda v: v is None or v >= 1, "at least 1"),
    "min_steps": (lambda v: v is None or v >= 0, "0 or more"),
    "batch_size": (lambda v: v >= 1, "at least 1"),
    "learning_rate": (lambda v: v is None or (_finite(v) and v > 0), "a finite number above 0"),
    "wide_learning_rate": (lambda v: v is None or (_finite(v) and v > 0), "a finite number above 0 (or unset)"),
    "dropout": (lambda v: _finite(v) and 0 <= v < 1, "in [0, 1)"),
    "l2_wide": (lambda v: _finite(v) and v >= 0, "a finite number, 0 or more"),
    "l2_deep": (lambda v: _finite(v) and v >= 0, "a finite number, 0 or more"),
    "early_stopping_patience": (lambda v: v is None or v >= 0, "0 (never stop early) or more"),
    "seed": (lambda v: SEED_RANGE[0] <= v <= SEED_RANGE[1], f"an integer from 0 to {SEED_RANGE[1]}"),
    "split_seed": (lambda v: SEED_RANGE[0] <= v <= SEED_RANGE[1], f"an integer from 0 to {SEED_RANGE[1]}"),
    "data_seed": (lambda v: SEED_RANGE[0] <= v <= SEED_RANGE[1], f"an integer from 0 to {SEED_RANGE[1]}"),
    "base_score": (_finite, "a finite number"),
    "base_odds": (lambda v: _finite(v) and v > 0, "a finite number above 0"),
    "pdo": (lambda v: _finite(v) and v > 0, "a finite number above 0"),
    "num_enterprises": (lambda v: v >= 100, "at least 100"),
    "ensemble_seeds": (lambda v: 1 <= v <= 100, "from 1 to 100"),
    "pairs": (lambda v: v is None or 0 <= v <= 100, "from 0 to 100"),
    "min_tree_gain": (lambda v: v is None or (_finite(v) and 0 <= v <= 1), "a number from 0 to 1"),
    "min_readable_share": (lambda v: v is None or (_finite(v) and 0 <= v <= 1), "a number from 0 to 1"),
    "min_network_gain_se": (lambda v: v is None or (_finite(v) and v >= 0), "a finite number, 0 or more"),
}


def check_settings(settings: dict[str, Any]) -> None:
    """A UserError naming the first setting (by its flag's name) whose value `SETTING_RULES` refuses."""
    from feature_columns.errors import UserError

    for name, value in settings.items():
        check, expected = SETTING_RULES.get(name, (None, None))
        try:
            ok = check is None or bool(check(value))
        except TypeError:
            ok = False
        if not ok:
            raise UserError(f"{name}={value!r}: --{name} must be {expected}")


def flat_settings(settings: dict) -> dict:
    """A config's dict (`RunConfig.to_dict`, or its saved parts) with the nested model and train settings lifted to
    the top, each under its flag's name."""
    out = {}
    for key, value in settings.items():
        out.update(flat_settings(value) if isinstance(value, dict) else {key: value})
    return out


def preset_defaults(name: str, given: set[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model settings, training settings) that preset `name` decides: those of its settings not `given`. An
    explicit `epochs` is honoured as given: it sets `min_steps` to 0 unless that is given too."""
    values = {key: value for key, value in PRESETS[name].items() if key not in given}
    if "epochs" in given and "min_steps" not in given:
        values["min_steps"] = 0
    model = {k: v for k, v in values.items() if k in MODEL_PRESET_FIELDS}
    return model, {k: v for k, v in values.items() if k not in model}


def with_preset(config: RunConfig, name: str, **keep) -> RunConfig:
    """`config` with the model and training settings of preset `name` (fields named in `keep` as given)."""
    values = {**PRESETS[name], **keep}
    model = {k: v for k, v in values.items() if k in MODEL_PRESET_FIELDS}
    train = {k: v for k, v in values.items() if k not in MODEL_PRESET_FIELDS}
    return dataclasses.replace(
        config, model=dataclasses.replace(config.model, **model), train=dataclasses.replace(config.train, **train)
    )
