"""Encoded splits: the preprocessor's output tensors for every row of a split, and how to walk them in chunks.

A split is encoded once per run (the fitted preprocessing is deterministic and has no
trained state) and the same tensors serve training, evaluation and the evidence.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from feature_columns.fitting import FittedState
from feature_columns.inputs import to_tensors
from feature_columns.preprocessor import build_preprocessor
from feature_columns.spec import ModelSpec


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


class _OwnRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning about the Encoder's own function: a run builds
    an Encoder per preprocessing (the network's, the trees' or terms', the evidence's), and each traces once for
    its first block and once more for blocks of any size, by design; the warning asked the user to rewrite code
    they do not own."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Encoder.__init__.<locals>" not in record.getMessage()


if not any(isinstance(f, _OwnRetracing) for f in tf.get_logger().filters):
    tf.get_logger().addFilter(_OwnRetracing())


class Encoder:
    """The fitted preprocessing of one ModelSpec as a Keras model (`preprocessor`, `layout`), and the encoding
    of whole splits through it in batches. The model, the warm start and the evidence all use one Encoder, so
    every split is encoded once."""

    def __init__(self, spec: ModelSpec, state: FittedState, batch_size: int = 16384):
        self.spec, self.state, self.batch_size = spec, state, batch_size
        self.preprocessor, self.layout = build_preprocessor(spec, state)
        self._encode_fn = tf.function(lambda features: self.preprocessor(features), reduce_retracing=True)

    def __call__(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """Encode raw feature tensors (traced once per input shape; used inside tf.data pipelines)."""
        return self._encode_fn(features)

    def encode(self, arrays: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        """Run the fitted preprocessing over a split in blocks of `batch_size` rows, giving the core's inputs.
        (Blocks are sliced from the whole tensors: a tf.data `from_tensor_slices(...).batch` pass costs
        per row and column, more than the preprocessing itself.)"""
        inputs = {c.name: arrays[c.name] for c in self.spec.input_columns}  # the data may hold more columns
        parts = [self._encode_fn(block) for block in chunks(to_tensors(inputs), self.batch_size)]
        return {k: tf.concat([p[k] for p in parts], axis=0) for k in parts[0]}

    def encode_split(self, arrays: dict[str, np.ndarray], labels: np.ndarray) -> EncodedSplit:
        return EncodedSplit(self.encode(arrays), labels)
