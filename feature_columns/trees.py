"""Gradient-boosted trees as wide columns: the fitted ensemble as plain arrays (no TensorFlow here).

The GBDT + LR recipe (He et al. 2014, "Practical lessons from predicting clicks on ads at
Facebook"): each tree's leaf is a categorical wide column, one weight per leaf. The trees are
fitted by LightGBM (`wide_deep.core.gbdt`), flattened here into node arrays (`Trees`, saved in
the fitted state as JSON), and evaluated inside the model by `tree_layers.TreeLeaves`: a vectorised walk
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

import numpy as np

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


@dataclasses.dataclass(frozen=True)
class Trees:
    """A fitted GBDT: the model inputs its features read, and its trees. Raw score = Σ leaf values."""

    json_key = "trees"
    scorecard_type = "gbdt tree"  # the scorecard's type of a tree's characteristic
    noun = "trees"  # what the run's log calls them
    columns: tuple[str, ...]
    categorical: tuple[bool, ...]
    trees: tuple[Tree, ...]
    # the blend a run kept (a · model + b · trees + c), None while undecided or when the trees did not pay
    blend: tuple[float, float, float] | None = None

    @property
    def cardinality(self) -> int:
        return sum(t.num_leaves for t in self.trees)

    def to_json(self) -> dict[str, Any]:
        return {
            "trees": {
                "columns": list(self.columns),
                "categorical": list(self.categorical),
                "trees": [{f.name: _listed(getattr(t, f.name)) for f in dataclasses.fields(Tree)} for t in self.trees],
                **({"blend": list(self.blend)} if self.blend is not None else {}),
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
        blend = tuple(float(v) for v in data["blend"]) if data.get("blend") is not None else None
        return cls(tuple(data["columns"]), tuple(bool(c) for c in data["categorical"]), tuple(trees), blend)

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
