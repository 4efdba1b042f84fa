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


def test_tensorflows_retracing_warning_is_dropped_for_the_encoder_only():
    """Each Encoder traces its own function (once per first block, once for any size): TensorFlow's warning about
    that code is dropped; the same warning about any other function still reaches the user."""
    import logging

    import tensorflow as tf

    import wide_deep.core.tensors  # noqa: F401  (installs the filter)

    logger = tf.get_logger()

    def record(function: str) -> logging.LogRecord:
        message = f"5 out of the last 8 calls to <function {function} at 0x7f> triggered tf.function retracing."
        return logger.makeRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)

    assert not logger.filter(record("Encoder.__init__.<locals>.<lambda>"))
    assert logger.filter(record("my_training_step"))
