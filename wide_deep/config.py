"""One config object per run: absl flags → RunConfig → builder functions (no globals)."""
from __future__ import annotations

import dataclasses
from typing import Any

from wide_deep.model import ModelConfig
from wide_deep.trainer import TrainConfig


@dataclasses.dataclass(frozen=True)
class RunConfig:
    dataset: str = "sme"
    train_data: str | None = None       # None: the dataset's default file; a glob reads sharded files (wide_deep.shards)
    valid_data: str | None = None       # with sharded train_data: the validation and test files (or globs)
    test_data: str | None = None
    fit_shards: int = 0                 # sharded input: fit preprocessing on the first N train files (0: all)
    streaming: bool = False             # sharded input: read the train files every epoch instead of holding them
    shuffle_window: int = 65_536        # streaming: rows shuffled together (a seeded permutation per window)
    spec: str | None = None             # None: the dataset's default spec
    model_dir: str = "runs/default"
    use_crosses: bool = True
    include_protected: bool = False     # keep `protected: true` columns in the model (the paper's setup)
    calibration: str = "none"           # none | platt | isotonic, fitted on validation, carried in the export
    scorecard: tuple = (600.0, 50.0, 20.0)  # base score, base good:bad odds, points to double the odds
    split_seed: int = 42
    num_enterprises: int = 129_880      # synthetic SME data size when it must be generated
    data_seed: int = 2024
    export: bool = True
    evidence: bool = True               # credit-risk evidence after training (off: metrics only)
    distribution: str = "default"       # default (one process) | multi_worker (MultiWorkerMirroredStrategy, TF_CONFIG)
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def model_shaping(self) -> dict[str, Any]:
        """The parts that must match for a rerun to resume from the same model_dir's checkpoints."""
        d = self.to_dict()
        keep_train = {k: d["train"][k] for k in ("batch_size", "seed", "wide_optimizer", "deep_optimizer", "deterministic")}
        return {"dataset": d["dataset"], "train_data": d["train_data"], "valid_data": d["valid_data"],
                "test_data": d["test_data"], "fit_shards": d["fit_shards"],
                "streaming": d["streaming"], "shuffle_window": d["shuffle_window"], "spec": d["spec"], "use_crosses": d["use_crosses"],
                "include_protected": d["include_protected"],
                "split_seed": d["split_seed"], "model": d["model"], "train": keep_train}
