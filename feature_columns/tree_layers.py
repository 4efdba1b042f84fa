"""The trees of `feature_columns.trees` inside the model: ordinary TensorFlow ops, so the exported
SavedModel needs neither LightGBM nor Python to score. Kept apart from the arrays so that reading
a fitted state (a report, a scorecard) does not import TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from feature_columns.trees import MISSING_KINDS, ZERO_THRESHOLD, Trees


def float32_at_most(values: np.ndarray) -> np.ndarray:
    """The largest float32 at most each float64 value."""
    rounded = values.astype(np.float32)
    too_big = rounded.astype(np.float64) > values
    rounded[too_big] = np.nextafter(rounded[too_big], np.float32(-np.inf))
    return rounded


ZERO_THRESHOLD_32 = float(float32_at_most(np.array([ZERO_THRESHOLD]))[0])


class TreeLeaves(keras.layers.Layer):
    """The leaf each tree sends each row to: a [B, F] matrix of float32 values → [B, T] int64 leaf indices.

    Two vectorised steps instead of a walk level by level (the GEMM strategy of Hummingbird,
    Nakandala et al. 2020): first every split of every tree is decided at once ([B, T, S]
    booleans, 1 = the row goes left); then, per tree, a [S, L] matrix holds +1 where a leaf lies
    left of a split and -1 where it lies right, so `decisions @ paths` equals a leaf's number of
    left turns exactly when the row reaches that leaf. The cost no longer grows with the depth.
    """

    def __init__(self, trees: Trees, **kwargs):
        super().__init__(**kwargs)
        self.trees = trees
        n_trees = len(trees.trees)
        splits = max([len(t.feature) for t in trees.trees] + [1])
        leaves = max([t.num_leaves for t in trees.trees] + [1])
        codes = [c for t in trees.trees for cats in t.categories for c in cats]
        self.words = max(1, (max(codes, default=0) // 32) + 1)
        self.has_categorical = bool(codes)

        def table(values, fill, dtype):
            out = np.full((n_trees, splits), fill, dtype=dtype)
            for i, t in enumerate(trees.trees):
                row = values(t)
                out[i, : len(row)] = row
            return out.reshape(-1)

        self._feature = tf.constant(table(lambda t: t.feature, 0, "int32"))
        # The inputs are float32 values (or small integer codes), so `x <= t` for a float64 threshold t
        # equals `x <= t32` for the largest float32 t32 <= t: the decisions run in float32, exactly.
        self._threshold = tf.constant(float32_at_most(table(lambda t: t.threshold, 0.0, "float64")))
        self._default_left = tf.constant(table(lambda t: t.default_left, False, "bool"))
        self._missing = tf.constant(table(lambda t: [MISSING_KINDS.index(m) for m in t.missing], 0, "int32"))
        self._is_categorical = tf.constant(table(lambda t: [bool(c) for c in t.categories], False, "bool"))
        bits = np.zeros((n_trees * splits, self.words), dtype="int64")
        for i, t in enumerate(trees.trees):
            for node, cats in enumerate(t.categories):
                for c in cats:
                    bits[i * splits + node, c // 32] |= 1 << (c % 32)
        self._bits = tf.constant(bits.reshape(-1))
        self._split_index = tf.constant(np.arange(n_trees * splits, dtype="int64") * self.words)
        paths = np.zeros((n_trees, splits, leaves), dtype="float32")
        left_turns = np.full((n_trees, leaves), -1.0, dtype="float32")  # padding leaves are never reached
        for i, t in enumerate(trees.trees):
            for leaf, path in enumerate(t.paths()):
                left_turns[i, leaf] = sum(went_left for _, went_left in path)
                for node, went_left in path:
                    paths[i, node, leaf] = 1.0 if went_left else -1.0
        self._paths = tf.constant(paths)
        self._left_turns = tf.constant(left_turns)
        self.shape_splits = (n_trees, splits)

    def call(self, x):
        value = tf.gather(tf.cast(x, tf.float32), self._feature, axis=1)  # [B, T·S]
        is_nan = tf.math.is_nan(value)
        numeric = tf.where(is_nan & (self._missing != 2), tf.zeros_like(value), value)
        to_default = ((self._missing == 1) & (tf.abs(numeric) <= ZERO_THRESHOLD_32)) | ((self._missing == 2) & is_nan)
        go_left = tf.where(to_default, self._default_left, numeric <= self._threshold)
        if self.has_categorical:
            listed = ~is_nan & (value >= 0) & (value < 32 * self.words)
            code = tf.cast(tf.where(listed, value, tf.zeros_like(value)), tf.int64)
            word = tf.gather(self._bits, self._split_index + code // 32)
            category_left = listed & (tf.bitwise.bitwise_and(tf.bitwise.right_shift(word, code % 32), 1) == 1)
            go_left = tf.where(self._is_categorical, category_left, go_left)
        decisions = tf.reshape(tf.cast(go_left, tf.float32), [-1, *self.shape_splits])  # [B, T, S]
        reached = tf.einsum("bts,tsl->btl", decisions, self._paths) == self._left_turns
        return tf.argmax(tf.cast(reached, tf.int32), axis=2, output_type=tf.int64)


class TreeInputs(keras.layers.Layer):
    """The [B, F] float32 matrix the trees read, from one tensor per tree feature (every value is a raw
    float32 input or a small integer code, so float32 holds it exactly).

    `kinds[j]` is "vocabulary" (a StringLookup index: index − 1, the out-of-vocabulary index 0 → NaN),
    "hash" (a hash bucket, as it is) or "number" (a raw float input, NaN when missing).
    """

    def __init__(self, kinds: list[str], **kwargs):
        super().__init__(**kwargs)
        self.kinds = list(kinds)

    def call(self, parts):
        columns = []
        for kind, part in zip(self.kinds, parts):
            value = tf.cast(part, tf.float32)
            if kind == "vocabulary":
                value = tf.where(value > 0, value - 1.0, tf.fill(tf.shape(value), tf.constant(np.nan, tf.float32)))
            columns.append(value)
        return tf.stack(columns, axis=1)
