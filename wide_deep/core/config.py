"""The model's and the trainer's configs: plain dataclasses, cheap to import, part of a RunConfig."""

from __future__ import annotations

import dataclasses

OPTIMIZERS = ("adam", "adagrad", "ftrl", "sgd")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    model_type: str = "wide_deep"
    hidden_units: tuple[int, ...] = (256, 128, 64)
    dropout: float = 0.0
    batch_norm: bool = False
    l2_wide: float = 0.0
    l2_deep: float = 0.0
    initial_bias: float = 0.0


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
