"""Gradient-boosted trees as wide columns: the fitted ensemble as plain arrays, and its traversal in TensorFlow.

The GBDT + LR recipe (He et al. 2014, "Practical lessons from predicting clicks on ads at
Facebook"): each tree's leaf is a categorical wide column, one weight per leaf. The trees are
fitted by LightGBM (`wide_deep.core.gbdt`), flattened here into node arrays (`Trees`, saved in
the fitted state as JSON), and evaluated inside the model by `TreeLeaves`: a vectorised walk
of all trees at once, level by level, with gathers; ordinary TensorFlow ops, so the exported
SavedModel needs neither LightGBM nor Python to score.

The trees read one float64 matrix built from the raw inputs by `tree_inputs`: a categorical
column's vocabulary position (its StringLookup index − 1; out-of-vocabulary and missing are
NaN) or its hash bucket; a numeric or bucketized column's raw value (NaN when missing). The
same function builds LightGBM's training matrix, so the trees see in the graph exactly what
they were fitted on. Decisions follow LightGBM's: a numeric split sends `x <= threshold` left,
with its missing-value rule (NaN, or zero, to the default side; without one, NaN counts as
0); a categorical split sends the listed categories left and NaN or unlisted ones right.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

MISSING_KINDS = ("None", "Zero", "NaN")
ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold


@dataclasses.dataclass(frozen=True)
class Tree:
    """One tree: internal nodes 0..n-1 (children >= 0 are nodes, < 0 are ~leaf), and its leaves' values."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]  # numeric splits (0 for categorical ones, which use `categories`)
    categories: tuple[tuple[int, ...], ...]  # categorical splits: the codes that go left (empty for numeric)
    default_left: tuple[bool, ...]
    missing: tuple[str, ...]  # "None" | "Zero" | "NaN"
    left: tuple[int, ...]
    right: tuple[int, ...]
    node_value: tuple[float, ...]  # LightGBM's expected output at each internal node (for attribution)
    leaf_values: tuple[float, ...]

    @property
    def num_leaves(self) -> int:
        return len(self.leaf_values)

    def paths(self) -> list[list[tuple[int, bool]]]:
        """For each leaf, the (node, went left) steps from the root."""
        out: list[list[tuple[int, bool]]] = [[] for _ in self.leaf_values]
        if not self.feature:
            return out
        stack = [(0, [])]
        while stack:
            node, path = stack.pop()
            for child, went_left in ((self.left[node], True), (self.right[node], False)):
                step = [*path, (node, went_left)]
                if child < 0:
                    out[~child] = step
                else:
                    stack.append((child, step))
        return out

    def depth(self) -> int:
        return max((len(p) for p in self.paths()), default=0)


@dataclasses.dataclass(frozen=True)
class Trees:
    """A fitted GBDT: the model inputs its features read, and its trees. Raw score = Σ leaf values."""

    columns: tuple[str, ...]
    categorical: tuple[bool, ...]
    trees: tuple[Tree, ...]

    @property
    def cardinality(self) -> int:
        return sum(t.num_leaves for t in self.trees)

    def to_json(self) -> dict[str, Any]:
        return {
            "trees": {
                "columns": list(self.columns),
                "categorical": list(self.categorical),
                "trees": [{f.name: _listed(getattr(t, f.name)) for f in dataclasses.fields(Tree)} for t in self.trees],
            }
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trees:
        data = data["trees"]
        trees = []
        for t in data["trees"]:
            values = {f.name: t[f.name] for f in dataclasses.fields(Tree)}
            values["categories"] = tuple(tuple(int(c) for c in cats) for cats in values["categories"])
            values["threshold"] = tuple(float(v) for v in values["threshold"])
            trees.append(Tree(**{k: v if k in ("categories", "threshold") else tuple(v) for k, v in values.items()}))
        return cls(tuple(data["columns"]), tuple(bool(c) for c in data["categorical"]), tuple(trees))

    @classmethod
    def from_lightgbm(cls, booster, columns: list[str], categorical: list[bool]) -> Trees:
        """Flatten a trained LightGBM booster (binary objective) into node arrays."""
        trees = []
        for info in booster.dump_model()["tree_info"]:
            nodes, leaves = _flatten(info["tree_structure"])
            categorical_split = [n["decision_type"] == "==" for n in nodes]
            trees.append(
                Tree(
                    feature=tuple(int(n["split_feature"]) for n in nodes),
                    threshold=tuple(0.0 if c else float(n["threshold"]) for n, c in zip(nodes, categorical_split)),
                    categories=tuple(
                        tuple(int(v) for v in str(n["threshold"]).split("||")) if c else ()
                        for n, c in zip(nodes, categorical_split)
                    ),
                    default_left=tuple(bool(n["default_left"]) for n in nodes),
                    missing=tuple(str(n["missing_type"]) for n in nodes),
                    left=tuple(n["_left"] for n in nodes),
                    right=tuple(n["_right"] for n in nodes),
                    node_value=tuple(float(n["internal_value"]) for n in nodes),
                    leaf_values=tuple(leaves[i] for i in range(len(leaves))),
                )
            )
        return cls(tuple(columns), tuple(categorical), tuple(trees))

    def leaf_labels(self, tree: int, categories: dict[str, list[str]] | None = None) -> list[str]:
        """A readable rule for every leaf of a tree: the conditions on its path. `categories[column][code]` names
        a categorical column's codes (its vocabulary positions); without it the codes are shown."""
        t = self.trees[tree]
        categories = categories or {}
        labels = []
        for path in t.paths():
            conditions = []
            for node, went_left in path:
                name = self.columns[t.feature[node]]
                if t.categories[node]:
                    names = categories.get(name)
                    values = (
                        ", ".join(names[c] if c < len(names) else f"code {c}" for c in t.categories[node])
                        if names
                        else "codes " + ",".join(str(c) for c in t.categories[node])
                    )
                    conditions.append(f"{name} {'in' if went_left else 'not in'} {{{values}}}")
                else:
                    conditions.append(f"{name} {'<=' if went_left else '>'} {t.threshold[node]:.6g}")
            labels.append(" and ".join(conditions) or "all rows")
        return labels

    def feature_shares(self) -> np.ndarray:
        """[total leaves, features]: how each leaf's output divides among the features on its path, in
        proportion to how much each split moved LightGBM's expected output (rows sum to 1)."""
        rows = []
        for t in self.trees:
            for path in t.paths():
                share = np.zeros(len(self.columns))
                for node, went_left in path:
                    child = t.left[node] if went_left else t.right[node]
                    after = t.leaf_values[~child] if child < 0 else t.node_value[child]
                    share[t.feature[node]] += abs(after - t.node_value[node])
                if share.sum() > 0:
                    share /= share.sum()
                elif path:
                    share[t.feature[path[0][0]]] = 1.0
                rows.append(share)
        return np.asarray(rows, dtype="float32").reshape(-1, len(self.columns))


def _flatten(root: dict) -> tuple[list[dict], dict[int, float]]:
    """LightGBM's nested tree dump → internal nodes in visiting order (children as node index or ~leaf), and the
    leaf values by leaf index."""
    nodes: list[dict] = []
    leaves: dict[int, float] = {}
    if "leaf_index" not in root:
        stack = [(root, None, None)]
        while stack:
            node, parent, side = stack.pop()
            if "leaf_index" in node:
                leaves[int(node["leaf_index"])] = float(node["leaf_value"])
                reference = ~int(node["leaf_index"])
            else:
                reference = len(nodes)
                nodes.append(node)
                stack.append((node["right_child"], node, "_right"))
                stack.append((node["left_child"], node, "_left"))
            if parent is not None:
                parent[side] = reference
    else:  # a tree of a single leaf
        leaves[0] = float(root.get("leaf_value", 0.0))
    return nodes, leaves


def _listed(value):
    return [_listed(v) for v in value] if isinstance(value, tuple) else value


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
