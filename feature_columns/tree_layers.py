"""The trees of `feature_columns.trees` inside the model: ordinary TensorFlow ops, so the exported
SavedModel needs neither LightGBM nor Python to score. Kept apart from the arrays so that reading
a fitted state (a report, a scorecard) does not import TensorFlow."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from feature_columns.terms import Terms
from feature_columns.trees import MISSING_KINDS, ZERO_THRESHOLD, Trees


def float32_at_most(values: np.ndarray) -> np.ndarray:
    """The largest float32 at most each float64 value (±inf beyond float32's range)."""
    with np.errstate(over="ignore"):  # a threshold beyond float32's range becomes ±inf, as intended
        rounded = values.astype(np.float32)
    too_big = rounded.astype(np.float64) > values
    rounded[too_big] = np.nextafter(rounded[too_big], np.float32(-np.inf))
    return rounded


LEAF_TABLE_LIMIT = 1 << 24  # leaf-table entries (trees × 2^splits, one byte each) beyond which the matmul is used
DECISIONS_PER_BLOCK = 1 << 22  # split decisions held at once (rows × splits of all trees)
ZERO_THRESHOLD_32 = float(float32_at_most(np.array([ZERO_THRESHOLD]))[0])


def leaf_table(trees, splits: int) -> np.ndarray:
    """[T, 2^splits] int8: for each tree, the leaf reached when bit s of the column index is split s's
    decision (1 = left); bits of splits a tree does not have are ignored."""
    number = np.arange(1 << splits)
    table = np.zeros((len(trees), 1 << splits), dtype=np.int8)
    for i, tree in enumerate(trees):
        for leaf, path in enumerate(tree.paths()):
            reached = np.ones(len(number), dtype=bool)
            for node, went_left in path:
                reached &= ((number >> node) & 1) == int(went_left)
            table[i, reached] = leaf
    return table


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class TreeLeaves(keras.layers.Layer):
    """The leaf each tree sends each row to: a [B, F] matrix of float32 values → [B, T] int64 leaf indices.

    Two vectorised steps instead of a walk level by level, so the cost does not grow with the
    depth: first every split of every tree is decided at once ([B, T, S] booleans, 1 = the row
    goes left); then each tree's leaf is looked up in a table indexed by its decisions read as a
    binary number, or, for trees with too many splits for such a table, found by the GEMM
    strategy of Hummingbird (Nakandala et al. 2020): a per-tree [S, L] matrix holds +1 where a
    leaf lies left of a split and -1 where it lies right, so `decisions @ paths` equals a leaf's
    number of left turns exactly when the row reaches that leaf.
    """

    def __init__(self, trees: Trees, **kwargs):
        super().__init__(**kwargs)
        self.trees = trees
        n_trees = len(trees.trees)
        splits = max([len(t.feature) for t in trees.trees] + [1])
        leaves = max([t.num_leaves for t in trees.trees] + [1])
        listed_codes = [c for t in trees.trees for cats in t.categories for c in cats]
        self.has_categorical = bool(listed_codes)
        self.codes = max(listed_codes, default=-1) + 2  # every listed code, and one for "unlisted"

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
        # categorical splits grouped by the feature they read (one row gather per feature, below)
        self.categorical_splits = np.flatnonzero(categorical)
        self.categorical_splits = self.categorical_splits[np.argsort(feature[self.categorical_splits], kind="stable")]
        self._numeric_column = tf.constant(
            version[self.numeric_splits] * len(trees.columns) + feature[self.numeric_splits]
        )
        # The inputs are float32 values (or small integer codes), so `x <= t` for a float64 threshold t
        # equals `x <= t32` for the largest float32 t32 <= t: the decisions run in float32, exactly.
        threshold = float32_at_most(table(lambda t: t.threshold, 0.0, "float64"))
        self._numeric_threshold = tf.constant(threshold[self.numeric_splits])
        # A categorical split reads its feature's code (NaN, negative or beyond every listed code → the
        # "unlisted" code). For each categorical feature a [codes, its splits] table holds which
        # splits send each code left, so one row gather decides all of them.
        flat_categories = [cats for t in trees.trees for cats in list(t.categories) + [()] * (splits - len(t.feature))]
        self.category_tables = []
        for f in np.unique(feature[self.categorical_splits]):
            on_feature = self.categorical_splits[feature[self.categorical_splits] == f]
            goes_left = np.zeros((self.codes, len(on_feature)), dtype=bool)
            for column, split in enumerate(on_feature):
                goes_left[list(flat_categories[split]), column] = True
            self.category_tables.append((int(f), tf.constant(goes_left)))
        order = np.concatenate([self.numeric_splits, self.categorical_splits])
        self._restore = tf.constant(np.argsort(order, kind="stable")) if self.has_categorical else None
        if n_trees << splits <= LEAF_TABLE_LIMIT:
            # Few splits per tree: a row's decisions in a tree, read as a binary number, index a table of
            # that tree's leaf for every combination of decisions (2^S entries per tree).
            self._leaf_table = tf.constant(leaf_table(trees.trees, splits).reshape(-1))
            self._bit_value = tf.constant((2.0 ** np.arange(splits)).astype("float32"))
            self._tree_offset = tf.constant(np.arange(n_trees, dtype="int32") << splits)
        else:
            self._leaf_table = None
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

    def get_config(self) -> dict:
        return {**super().get_config(), "trees": self.trees.to_json()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(Trees.from_json(config.pop("trees")), **config)

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

        if x.shape[0] is not None:  # a known batch size picks its path now (a constant tf.cond confuses grappler)
            return self._leaves(x) if x.shape[0] <= self.block_rows else in_blocks()
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
            listed = ~is_nan & (x >= 0) & (x < self.codes - 1)
            code = tf.cast(tf.where(listed, x, tf.fill(tf.shape(x), float(self.codes - 1))), tf.int32)  # [B, F]
            category_left = [tf.gather(table, code[:, f]) for f, table in self.category_tables]
            go_left = tf.gather(tf.concat([go_left, *category_left], axis=1), self._restore, axis=1)
        decisions = tf.reshape(tf.cast(go_left, tf.float32), [-1, *self.shape_splits])  # [B, T, S]
        if self._leaf_table is not None:
            number = tf.cast(tf.linalg.matvec(decisions, self._bit_value), tf.int32)  # exact: below 2^24
            return tf.cast(tf.gather(self._leaf_table, self._tree_offset + number), tf.int64)
        # one [B, S] @ [S, L] product per tree (a batched matmul over trees beat the equivalent einsum)
        reached = tf.linalg.matmul(tf.transpose(decisions, [1, 0, 2]), self._paths) == self._left_turns[:, None, :]
        reached = tf.transpose(tf.cast(reached, tf.float32), [1, 0, 2])  # a float transpose (see TermCells.call)
        return tf.argmax(reached, axis=2, output_type=tf.int64)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class TreeInputs(keras.layers.Layer):
    """The [B, F] float32 matrix the trees read, from one tensor per tree feature (every value is a raw
    float32 input or a small integer code, so float32 holds it exactly).

    `kinds[j]` is "vocabulary" (a StringLookup index: index − 1, the out-of-vocabulary index 0 → NaN),
    "hash" (a hash bucket, as it is) or "number" (a raw float input, NaN when missing).
    """

    def __init__(self, kinds: list[str], **kwargs):
        super().__init__(**kwargs)
        self.kinds = list(kinds)

    def get_config(self) -> dict:
        return {**super().get_config(), "kinds": self.kinds}

    def call(self, parts):
        columns = []
        for kind, part in zip(self.kinds, parts):
            value = tf.cast(part, tf.float32)
            if kind == "vocabulary":
                value = tf.where(value > 0, value - 1.0, tf.fill(tf.shape(value), tf.constant(np.nan, tf.float32)))
            columns.append(value)
        return tf.stack(columns, axis=1)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class TermCells(keras.layers.Layer):
    """The cell of each compiled term (`feature_columns.terms`) each row falls in: a [B, F] matrix of float32
    values (as `TreeInputs` builds it) → [B, T] int64 cell indices, in a handful of ops however many terms.

    Every numeric axis of every term at once: one `searchsorted` of the rows' values in the axes' boundaries
    (padded with +inf; a value equal to a boundary is in the cell below it, as a tree's `x <= t` sends it left),
    a missing value in the axis's last cell. Every categorical axis at once: one gather from the axes' class
    tables laid end to end. A pair's cell is then first × size of second + second.
    """

    def __init__(self, terms: Terms, **kwargs):
        super().__init__(**kwargs)
        self.terms = terms
        axes = [axis for term in terms.trees for axis in term.axes]
        if max([t.num_leaves for t in terms.trees] + [0]) >= 1 << 24:
            raise ValueError("a term of 2^24 cells or more: its cell numbers would not be exact in float32")
        numeric = [k for k, a in enumerate(axes) if not a.is_categorical]
        categorical = [k for k, a in enumerate(axes) if a.is_categorical]
        widest = max([len(axes[k].boundaries) for k in numeric] + [1])
        bounds = np.full((len(numeric), widest), np.inf, "float32")
        for row, k in enumerate(numeric):
            bounds[row, : len(axes[k].boundaries)] = axes[k].boundaries
        self._numeric = (
            tf.constant([axes[k].feature for k in numeric], tf.int32),
            tf.constant(bounds),
            tf.constant([axes[k].cells - 1 for k in numeric], tf.int32),
        )
        tables = [np.asarray(axes[k].classes, "int32") for k in categorical]
        offsets = np.cumsum([0] + [len(t) for t in tables])[:-1]
        self._categorical = (
            tf.constant([axes[k].feature for k in categorical], tf.int32),
            tf.constant(np.concatenate(tables or [np.zeros(0, "int32")])),
            tf.constant(offsets.astype("int32")),
            tf.constant([len(t) - 1 for t in tables], tf.float32),
        )
        # where each axis's cells lie in [numeric axes; categorical axes; a row of zeros] (the zeros: a single's)
        row = np.empty(len(axes) + 1, "int32")
        row[numeric + categorical + [len(axes)]] = np.arange(len(axes) + 1)
        first, second, size = [], [], []
        position = 0
        for term in terms.trees:
            first.append(row[position])
            second.append(row[position + 1] if len(term.axes) == 2 else row[len(axes)])
            size.append(term.axes[1].cells if len(term.axes) == 2 else 1)
            position += len(term.axes)
        self._first, self._second = tf.constant(first, tf.int32), tf.constant(second, tf.int32)
        self._size = tf.constant(size, tf.int32)  # int32 throughout (twice as fast as int64), int64 out

    def get_config(self) -> dict:
        return {**super().get_config(), "terms": self.terms.to_json()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(Terms.from_json(config.pop("terms")), **config)

    def call(self, x):
        """In the [axes, rows] layout throughout (row gathers of contiguous memory), transposed once at the end."""
        columns = tf.transpose(tf.cast(x, tf.float32))  # [F, B]
        features, bounds, last = self._numeric
        values = tf.gather(columns, features)  # [N, B]
        below = tf.searchsorted(bounds, values, side="left", out_type=tf.int32)
        numeric = tf.where(tf.math.is_nan(values), last[:, None], below)
        features, classes, offsets, unlisted = self._categorical
        codes = tf.gather(columns, features)  # [C, B]
        listed = ~tf.math.is_nan(codes) & (codes >= 0) & (codes < unlisted[:, None])
        code = tf.cast(tf.where(listed, codes, tf.broadcast_to(unlisted[:, None], tf.shape(codes))), tf.int32)
        categorical = tf.gather(classes, code + offsets[:, None])
        zeros = tf.zeros_like(numeric[:1])
        cells = tf.concat([numeric, categorical, zeros], axis=0)  # [A + 1, B]
        terms = tf.gather(cells, self._first) * self._size[:, None] + tf.gather(cells, self._second)
        # transposed as float32 (exact: cells < 2^24): oneDNN's transpose refuses integers on CPUs without AVX-512
        # and says so on stderr in an E line
        return tf.cast(tf.transpose(tf.cast(terms, tf.float32)), tf.int64)  # [B, T]
