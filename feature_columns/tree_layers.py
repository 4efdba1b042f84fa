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


DECISIONS_PER_BLOCK = 1 << 22  # split decisions held at once (rows × splits of all trees)
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

        feature = table(lambda t: t.feature, 0, "int64")
        missing = table(lambda t: [MISSING_KINDS.index(m) for m in t.missing], 0, "int64")
        default_left = table(lambda t: t.default_left, False, "bool")
        categorical = table(lambda t: [bool(c) for c in t.categories], False, "bool")
        # A numeric split reads one of five versions of its feature in which LightGBM's missing-value
        # rule is already applied (a value sent to the default side becomes -inf or +inf), so that
        # deciding it is one comparison: 0 = NaN as 0; 1/2 = NaN → -inf/+inf; 3/4 = NaN or zero → -inf/+inf.
        version = np.select(
            [missing == 0, missing == 2, missing == 1], [0, np.where(default_left, 1, 2), np.where(default_left, 3, 4)]
        )
        self.numeric_splits = np.flatnonzero(~categorical)
        self.categorical_splits = np.flatnonzero(categorical)
        self._numeric_column = tf.constant(
            version[self.numeric_splits] * len(trees.columns) + feature[self.numeric_splits]
        )
        # The inputs are float32 values (or small integer codes), so `x <= t` for a float64 threshold t
        # equals `x <= t32` for the largest float32 t32 <= t: the decisions run in float32, exactly.
        threshold = float32_at_most(table(lambda t: t.threshold, 0.0, "float64"))
        self._numeric_threshold = tf.constant(threshold[self.numeric_splits])
        self._categorical_feature = tf.constant(feature[self.categorical_splits])
        bits = np.zeros((len(self.categorical_splits), self.words), dtype="int64")
        flat_categories = [cats for t in trees.trees for cats in list(t.categories) + [()] * (splits - len(t.feature))]
        for row, split in enumerate(self.categorical_splits):
            for c in flat_categories[split]:
                bits[row, c // 32] |= 1 << (c % 32)
        self._bits = tf.constant(bits.reshape(-1))
        self._bit_row = tf.constant(np.arange(len(self.categorical_splits), dtype="int64") * self.words)
        order = np.concatenate([self.numeric_splits, self.categorical_splits])
        self._restore = tf.constant(np.argsort(order, kind="stable")) if self.has_categorical else None
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
        self.block_rows = max(256, DECISIONS_PER_BLOCK // (n_trees * splits))

    def call(self, x):
        """Rows in blocks of `block_rows`, so that the [rows, T·S] decision tensors stay near 16 MB however
        large the batch (a 100,000-row scoring batch would otherwise hold several gigabytes)."""
        x = tf.cast(x, tf.float32)
        rows, width = tf.shape(x)[0], tf.shape(x)[1]

        def in_blocks():
            padded = tf.pad(x, [[0, (-rows) % self.block_rows], [0, 0]])
            blocks = tf.reshape(padded, [-1, self.block_rows, width])
            leaves = tf.map_fn(self._leaves, blocks, fn_output_signature=tf.int64, parallel_iterations=1)
            return tf.reshape(leaves, [-1, self.shape_splits[0]])[:rows]

        return tf.cond(rows <= self.block_rows, lambda: self._leaves(x), in_blocks)

    def _leaves(self, x):
        is_nan = tf.math.is_nan(x)
        as_zero = tf.where(is_nan, tf.zeros_like(x), x)
        to_zero_side = tf.abs(as_zero) <= ZERO_THRESHOLD_32
        low, high = tf.fill(tf.shape(x), -np.inf), tf.fill(tf.shape(x), np.inf)
        versions = tf.concat(
            [as_zero, tf.where(is_nan, low, x), tf.where(is_nan, high, x)]
            + [tf.where(to_zero_side, low, as_zero), tf.where(to_zero_side, high, as_zero)],
            axis=1,
        )  # [B, 5F]
        go_left = tf.gather(versions, self._numeric_column, axis=1) <= self._numeric_threshold
        if self.has_categorical:
            value = tf.gather(x, self._categorical_feature, axis=1)
            listed = ~tf.math.is_nan(value) & (value >= 0) & (value < 32 * self.words)
            code = tf.cast(tf.where(listed, value, tf.zeros_like(value)), tf.int64)
            word = tf.gather(self._bits, self._bit_row + code // 32)
            category_left = listed & (tf.bitwise.bitwise_and(tf.bitwise.right_shift(word, code % 32), 1) == 1)
            go_left = tf.gather(tf.concat([go_left, category_left], axis=1), self._restore, axis=1)
        decisions = tf.reshape(tf.cast(go_left, tf.float32), [-1, *self.shape_splits])  # [B, T, S]
        # one [B, S] @ [S, L] product per tree (a batched matmul over trees beat the equivalent einsum)
        reached = tf.linalg.matmul(tf.transpose(decisions, [1, 0, 2]), self._paths) == self._left_turns[:, None, :]
        return tf.transpose(tf.argmax(tf.cast(reached, tf.int32), axis=2, output_type=tf.int64))


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
