"""Encoded splits: the preprocessor's output tensors for every row of a split, and how to walk them in chunks.

A split is encoded once per run (the fitted preprocessing is deterministic and has no
trained state) and the same tensors serve training, evaluation and the evidence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import tensorflow as tf


def row_count(features: dict[str, tf.Tensor]) -> int:
    return int(next(iter(features.values())).shape[0])


def chunks(features: dict[str, tf.Tensor], size: int) -> Iterator[dict[str, tf.Tensor]]:
    """Consecutive row blocks of at most `size` rows."""
    for start in range(0, row_count(features), size):
        yield {k: v[start : start + size] for k, v in features.items()}


@dataclasses.dataclass(frozen=True)
class EncodedSplit:
    """The core model's inputs for one split, and its 0/1 labels."""

    features: dict[str, tf.Tensor]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)
