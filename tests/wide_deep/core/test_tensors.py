"""Encoded splits walked in chunks."""

import numpy as np
import tensorflow as tf

from wide_deep.core import tensors


def test_chunks_cover_every_row_once_in_order():
    features = {"a": tf.range(10), "b": tf.reshape(tf.range(20), (10, 2))}
    parts = list(tensors.chunks(features, 4))
    assert [tensors.row_count(p) for p in parts] == [4, 4, 2] and tensors.row_count(features) == 10
    np.testing.assert_array_equal(np.concatenate([p["a"].numpy() for p in parts]), np.arange(10))
    assert parts[-1]["b"].shape == (2, 2)
    split = tensors.EncodedSplit(features, np.zeros(10))
    assert len(split) == 10
