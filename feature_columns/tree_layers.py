"""The trees of `feature_columns.trees` inside the model: ordinary TensorFlow ops, so the exported
SavedModel needs neither LightGBM nor Python to score. Kept apart from the arrays so that reading
a fitted state (a report, a scorecard) does not import TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from feature_columns.trees import MISSING_KINDS, ZERO_THRESHOLD, Trees


class TreeLeaves(keras.layers.Layer):
    """The leaf each tree sends each row to: a [B, F] float64 matrix → [B, T] int64 leaf indices."""

    def __init__(self, trees: Trees, **kwargs):
        super().__init__(**kwargs)
        self.trees = trees
        n_trees = len(trees.trees)
        width = max([len(t.feature) for t in trees.trees] + [1])
        self.width = width
        self.depth = max([t.depth() for t in trees.trees] + [0])
        codes = [c for t in trees.trees for cats in t.categories for c in cats]
        self.words = max(1, (max(codes, default=0) // 32) + 1)

        def table(values, fill, dtype):
            out = np.full((n_trees, width), fill, dtype=dtype)
            for i, t in enumerate(trees.trees):
                row = values(t)
                out[i, : len(row)] = row
            return out.reshape(-1)

        self._feature = tf.constant(table(lambda t: t.feature, 0, "int32"))
        self._threshold = tf.constant(table(lambda t: t.threshold, 0.0, "float64"))
        self._default_left = tf.constant(table(lambda t: t.default_left, False, "bool"))
        self._missing = tf.constant(table(lambda t: [MISSING_KINDS.index(m) for m in t.missing], 0, "int32"))
        self._left = tf.constant(table(lambda t: t.left, -1, "int32"))
        self._right = tf.constant(table(lambda t: t.right, -1, "int32"))
        self._is_categorical = tf.constant(table(lambda t: [bool(c) for c in t.categories], False, "bool"))
        bits = np.zeros((n_trees * width, self.words), dtype="int64")
        for i, t in enumerate(trees.trees):
            for node, cats in enumerate(t.categories):
                for c in cats:
                    bits[i * width + node, c // 32] |= 1 << (c % 32)
        self._bits = tf.constant(bits.reshape(-1))
        self._root = tf.constant([0 if t.feature else -1 for t in trees.trees], tf.int32)
        self._tree_base = tf.constant(np.arange(n_trees, dtype="int32") * width)

    def call(self, x):
        x = tf.cast(x, tf.float64)
        node = tf.tile(self._root[None, :], [tf.shape(x)[0], 1])  # [B, T]
        for _ in range(self.depth):
            active = node >= 0
            flat = self._tree_base[None, :] + tf.maximum(node, 0)
            value = tf.gather(x, tf.gather(self._feature, flat), batch_dims=1)
            missing_kind = tf.gather(self._missing, flat)
            is_nan = tf.math.is_nan(value)
            numeric = tf.where(is_nan & (missing_kind != 2), tf.zeros_like(value), value)
            to_default = ((missing_kind == 1) & (tf.abs(numeric) <= ZERO_THRESHOLD)) | ((missing_kind == 2) & is_nan)
            numeric_left = tf.where(
                to_default, tf.gather(self._default_left, flat), numeric <= tf.gather(self._threshold, flat)
            )
            listed = ~is_nan & (value >= 0) & (value < 32 * self.words)
            code = tf.cast(tf.where(listed, value, tf.zeros_like(value)), tf.int64)
            word = tf.gather(self._bits, tf.cast(flat, tf.int64) * self.words + code // 32)
            category_left = listed & (tf.bitwise.bitwise_and(tf.bitwise.right_shift(word, code % 32), 1) == 1)
            go_left = tf.where(tf.gather(self._is_categorical, flat), category_left, numeric_left)
            child = tf.where(go_left, tf.gather(self._left, flat), tf.gather(self._right, flat))
            node = tf.where(active, child, node)
        return tf.cast(-node - 1, tf.int64)


class TreeInputs(keras.layers.Layer):
    """The [B, F] float64 matrix the trees read, from one tensor per tree feature.

    `kinds[j]` is "vocabulary" (a StringLookup index: index − 1, the out-of-vocabulary index 0 → NaN),
    "hash" (a hash bucket, as it is) or "number" (a raw float input, NaN when missing).
    """

    def __init__(self, kinds: list[str], **kwargs):
        super().__init__(**kwargs)
        self.kinds = list(kinds)

    def call(self, parts):
        columns = []
        for kind, part in zip(self.kinds, parts):
            value = tf.cast(part, tf.float64)
            if kind == "vocabulary":
                value = tf.where(value > 0, value - 1.0, tf.fill(tf.shape(value), tf.constant(np.nan, tf.float64)))
            columns.append(value)
        return tf.stack(columns, axis=1)
