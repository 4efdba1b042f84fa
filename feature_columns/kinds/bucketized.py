"""Bucketized columns: a numeric column cut into buckets at explicit boundaries or quantiles of the training split.

Missing values get a bucket of their own. In the wide branch each bucket has one weight (a scorecard
characteristic); in the deep branch the bucket is embedded; a cross joins the bucket index.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from feature_columns.errors import SpecError
from feature_columns.kinds.base import Builder, IndexedColumn, check_positive_int, require_values
from feature_columns.names import safe_name


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Bucket i holds boundaries[i-1] <= x < boundaries[i]; missing values get bucket len(boundaries) + 1."""

    json_key = "boundaries"
    boundaries: tuple[float, ...]
    missing_rate: float = 0.0

    @property
    def cardinality(self) -> int:
        return len(self.boundaries) + 2

    def to_json(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "missing_rate": self.missing_rate}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Buckets:
        return cls(tuple(float(b) for b in data["boundaries"]), float(data.get("missing_rate", 0.0)))

    def labels(self) -> list[str]:
        """A readable label per bucket: `< a`, `[a, b)`, ..., `>= z`, `(missing)`."""
        bounds = [float(b) for b in self.boundaries]
        if not bounds:
            return ["all values", "all values", "(missing)"]
        return (
            [f"< {bounds[0]:g}"]
            + [f"[{a:g}, {b:g})" for a, b in zip(bounds[:-1], bounds[1:])]
            + [f">= {bounds[-1]:g}", "(missing)"]
        )


def bucket_indices(values: np.ndarray, boundaries) -> np.ndarray:
    """Bucket i holds boundaries[i-1] <= x < boundaries[i]; missing values get bucket len(boundaries)+1."""
    values = np.asarray(values, dtype="float32")
    idx = np.searchsorted(np.asarray(boundaries, dtype="float32"), values, side="right")
    return np.where(np.isnan(values), len(boundaries) + 1, idx).astype("int64")


@dataclasses.dataclass(frozen=True)
class BucketizedColumn(IndexedColumn):
    """A numeric column cut into buckets: explicit boundaries, or quantiles of the training split."""

    kind = "bucketized"
    crossable = True
    entries = (Buckets,)
    scorecard_type = "bucketized"

    name: str
    boundaries: tuple[float, ...] | None = None
    num_buckets: int = 10
    route: str = "wide"
    deep_encoding: str = "embedding"
    embedding_dim: int | None = None
    protected: bool = False

    def __post_init__(self):
        self.check_indexed()
        check_positive_int(self.name, "num_buckets", self.num_buckets, allow_none=False)
        if self.boundaries is not None:
            bounds = tuple(float(b) for b in self.boundaries)
            if any(not math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
                raise SpecError(
                    f"column '{self.name}': boundaries must be finite and strictly increasing, "
                    f"got {list(self.boundaries)}"
                )
            object.__setattr__(self, "boundaries", bounds)

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> Buckets:
        values = arrays[self.name]
        if self.boundaries is not None:
            return Buckets(tuple(self.boundaries), float(np.isnan(values).mean()))
        present = require_values(values, f"bucketized column '{self.name}'")
        inner = np.quantile(present, np.linspace(0.0, 1.0, self.num_buckets + 1)[1:-1])
        return Buckets(tuple(float(b) for b in np.unique(inner)), float(np.isnan(values).mean()))

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        missing = int(np.isnan(arrays[self.name]).sum())
        return {"missing_bucket": missing} if missing else {}

    def cross_values(self, values: np.ndarray, entry: Buckets) -> np.ndarray:
        """What a cross joins of this column: its bucket index, as text."""
        return bucket_indices(values, entry.boundaries).astype(str)

    def compile_index(self, builder: Builder):
        from feature_columns import layers

        boundaries = builder.entry(self.name).boundaries
        return layers.Bucketize(boundaries, name=f"bucketize_{safe_name(self.name)}")(builder.input(self.name))

    def cross_part(self, builder: Builder):
        return builder.index(self.name)

    def attribute_labels(self, entry: Buckets) -> list[str]:
        return entry.labels()
