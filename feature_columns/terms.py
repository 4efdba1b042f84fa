"""A GA2M's trees compiled into readable terms: one points table per feature or pair of features (no TensorFlow).

When every tree of a GBDT reads one feature, or one named pair (`wide_deep.core.gbdt`, `--gbdt_terms=pairs`),
the ensemble is an additive model of one- and two-feature functions, as an Explainable Boosting Machine is. The
trees of one term add up to a step function over the term's features that changes only at the trees' own split
points, so it is exactly a table: each numeric feature cut at the float32 thresholds its trees use (plus a cell
for missing), each categorical feature's codes grouped by the way its splits send them. `Terms` holds those
tables, and is what the model scores with (`tree_layers.TermCells`: a bucketize and a gather per term, instead
of walking hundreds of trees) and what the scorecard shows: a characteristic per term, whose attributes are the
cells of its table, named by their ranges (`PAY_0 in (0.5, 1.5] and LIMIT_BAL <= 5e+04`).

`Terms` answers what the model, the blend, the scorecard and the reason codes ask of `Trees` (`trees`,
`columns`, `categorical`, `blend`, `leaf_labels`, `feature_shares`), so a term is a wide column as a tree is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Axis:
    """One feature of a term. Numeric: cells (b[i-1], b[i]] for the float32 `boundaries`, one above the last, and
    one for a missing value. Categorical: `classes[code]` is the cell of vocabulary position `code`; a code beyond
    them, or a missing one, is in cell `classes[-1]`."""

    feature: int
    boundaries: tuple[float, ...] = ()
    classes: tuple[int, ...] | None = None

    @property
    def is_categorical(self) -> bool:
        return self.classes is not None

    @property
    def cells(self) -> int:
        return max(self.classes) + 1 if self.is_categorical else len(self.boundaries) + 2

    def cell_names(self, column: str, names: list[str] | None) -> list[str]:
        """A readable condition per cell: `column` with its codes' names (`names[code]`) or ranges."""
        if self.is_categorical:
            listed: list[list[str]] = [[] for _ in range(self.cells)]
            for code, cell in enumerate(self.classes[:-1]):
                listed[cell].append(names[code] if names and code < len(names) else f"code {code}")
            listed[self.classes[-1]].append("missing or unseen")
            return [f"{column} in {{{', '.join(values)}}}" for values in listed]
        edges = [f"{b:.6g}" for b in self.boundaries]
        if not edges:
            return [f"{column} present", f"{column} missing"]
        ranges = [f"{column} <= {edges[0]}"]
        ranges += [f"{column} in ({low}, {high}]" for low, high in zip(edges, edges[1:])]
        return [*ranges, f"{column} > {edges[-1]}", f"{column} missing"]

    def to_json(self) -> dict[str, Any]:
        if self.is_categorical:
            return {"feature": self.feature, "classes": list(self.classes)}
        return {"feature": self.feature, "boundaries": [float(b) for b in self.boundaries]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Axis:
        classes = data.get("classes")
        return cls(
            int(data["feature"]),
            tuple(float(b) for b in data.get("boundaries", ())),
            None if classes is None else tuple(int(c) for c in classes),
        )


@dataclasses.dataclass(frozen=True)
class Term:
    """One feature's or one pair's table: `values[cell]`, cells in row-major order of the axes."""

    axes: tuple[Axis, ...]
    values: tuple[float, ...]

    @property
    def feature(self) -> tuple[int, ...]:
        """The features it reads (as a `Tree`'s split features are read)."""
        return tuple(a.feature for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.cells for a in self.axes)

    @property
    def leaf_values(self) -> tuple[float, ...]:
        return self.values

    @property
    def num_leaves(self) -> int:
        return len(self.values)


@dataclasses.dataclass(frozen=True)
class Terms:
    """A GA2M's compiled terms over the GBDT's input matrix. Raw score = Σ terms' values at each row's cells."""

    json_key = "terms"
    scorecard_type = "boosted term"  # the scorecard's type of a term's characteristic
    noun = "terms"  # what the run's log calls them
    columns: tuple[str, ...]
    categorical: tuple[bool, ...]
    trees: tuple[Term, ...]  # named as `Trees.trees`: one wide column each
    blend: tuple[float, float, float] | None = None
    source_trees: int = 0  # how many boosted trees were compiled into the terms

    def to_json(self) -> dict[str, Any]:
        return {
            "terms": {
                "columns": list(self.columns),
                "categorical": list(self.categorical),
                "source_trees": self.source_trees,
                "terms": [
                    {"axes": [a.to_json() for a in t.axes], "values": [float(v) for v in t.values]} for t in self.trees
                ],
                **({"blend": list(self.blend)} if self.blend is not None else {}),
            }
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Terms:
        data = data["terms"]
        terms = tuple(
            Term(tuple(Axis.from_json(a) for a in t["axes"]), tuple(float(v) for v in t["values"]))
            for t in data["terms"]
        )
        blend = tuple(float(v) for v in data["blend"]) if data.get("blend") is not None else None
        return cls(
            tuple(data["columns"]),
            tuple(bool(c) for c in data["categorical"]),
            terms,
            blend,
            int(data.get("source_trees", 0)),
        )

    def term_name(self, term: int) -> str:
        return " × ".join(self.columns[f] for f in self.trees[term].feature)

    def leaf_labels(self, term: int, categories: dict[str, list[str]] | None = None) -> list[str]:
        """A readable condition for every cell of a term (`categories[column][code]` names a categorical column's
        codes)."""
        categories = categories or {}
        names = [
            a.cell_names(self.columns[a.feature], categories.get(self.columns[a.feature]))
            for a in self.trees[term].axes
        ]
        labels = names[0]
        for more in names[1:]:
            labels = [f"{first} and {second}" for first in labels for second in more]
        return labels

    def feature_shares(self) -> np.ndarray:
        """[total cells, features]: how each cell's value divides among the term's features (rows sum to 1). A
        pair's cell is shared in proportion to how far each feature's marginal (the table's mean along the other
        feature) moves from the table's mean; equally when neither moves."""
        rows = []
        for term in self.trees:
            share = np.zeros((term.num_leaves, len(self.columns)))
            if len(term.axes) == 1:
                share[:, term.feature[0]] = 1.0
            else:
                table = np.asarray(term.values).reshape(term.shape)
                first = np.abs(table.mean(axis=1) - table.mean())[:, None] * np.ones(term.shape)
                second = np.abs(table.mean(axis=0) - table.mean())[None, :] * np.ones(term.shape)
                total = first + second
                even = total <= 0
                share[:, term.feature[0]] = np.where(even, 0.5, first / np.where(even, 1, total)).reshape(-1)
                share[:, term.feature[1]] = np.where(even, 0.5, second / np.where(even, 1, total)).reshape(-1)
            rows.append(share)
        return np.concatenate(rows or [np.zeros((0, len(self.columns)))]).astype("float32")
