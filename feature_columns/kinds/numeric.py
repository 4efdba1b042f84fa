"""Numeric columns: real values, imputed with the training median and encoded for the branch they feed.

Missing values take the training median, plus a missing indicator when the training split had missing values
in the column. Encodings: `quantile` (default: the training split's empirical CDF, piecewise linear between
`num_bins` quantiles, in [0, 1]: rank-based, so outliers cannot dominate); `zscore`; `log1p_zscore` (signed
log1p, then z-score: heavy-tailed amounts); `ple`, piecewise-linear encoding over quantile bins (Gorishniy et
al. 2022): one input per bin, more expressive, a wider (slower) deep input. `num_bins` defaults to 32 for
quantile, 8 for ple.

In the wide branch (`route: wide` or `both`) a numeric column is, by its `wide_encoding`, either a slope per unit
of its encoding (`linear`, the paper's wide inputs) or a scorecard characteristic of bins (`bins`): at most
`wide_bins` ranges of roughly equal training counts (missing values in a bin of their own), each an attribute
with its own weight and points, as a credit modeller's binned characteristic. Its segment of the wide table is
`ordered` (ranges lowest first, missing last), so the wide branch's penalty falls on the steps between adjacent
ranges (`wide_deep.core.warm_start.step_basis`, `wide_deep.core.model.StepL2`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from feature_columns.errors import SpecError
from feature_columns.kinds.base import (
    ROUTES,
    Builder,
    Column,
    check_choice,
    check_positive_int,
    checked_meanings,
    require_values,
)
from feature_columns.kinds.bucketized import Buckets, bucket_indices
from feature_columns.names import safe_name
from feature_columns.values import signed_log1p

NUMERIC_ENCODINGS = ("zscore", "log1p_zscore", "quantile", "ple")
DEFAULT_NUMERIC_ENCODING = "quantile"
DEFAULT_BINS = {"ple": 8, "quantile": 32}
WIDE_ENCODINGS = ("linear", "bins")
DEFAULT_WIDE_BINS = 10


@dataclasses.dataclass(frozen=True)
class NumericStats:
    json_key = "median"
    median: float
    mean: float
    std: float
    missing_rate: float = 0.0
    edges: tuple[float, ...] | None = None  # quantile and ple encodings: strictly increasing bin edges
    wide_boundaries: tuple[float, ...] | None = None  # a binned wide characteristic: its inner bin boundaries

    def to_json(self) -> dict[str, Any]:
        out = {"median": self.median, "mean": self.mean, "std": self.std, "missing_rate": self.missing_rate}
        if self.edges is not None:
            out["edges"] = list(self.edges)
        if self.wide_boundaries is not None:
            out["wide_boundaries"] = list(self.wide_boundaries)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericStats:
        edges = data.get("edges")
        return cls(
            float(data["median"]),
            float(data["mean"]),
            float(data["std"]),
            float(data.get("missing_rate", 0.0)),
            None if edges is None else tuple(float(e) for e in edges),
            None if data.get("wide_boundaries") is None else tuple(float(b) for b in data["wide_boundaries"]),
        )

    @property
    def wide_buckets(self) -> Buckets:
        """The binned wide characteristic as buckets (bucket i: boundaries[i-1] <= x < boundaries[i]; missing last)."""
        return Buckets(self.wide_boundaries or (), self.missing_rate)


@dataclasses.dataclass(frozen=True)
class NumericColumn(Column):
    """A real-valued column (see the module docstring)."""

    kind = "numeric"
    entries = (NumericStats,)

    name: str
    encoding: str = DEFAULT_NUMERIC_ENCODING
    num_bins: int | None = None
    route: str = "deep"
    protected: bool = False
    group_boundaries: tuple[float, ...] | None = None  # fairness groups of a protected column (default: median)
    wide_encoding: str = "linear"  # in the wide branch: a slope per unit of `encoding`, or a binned characteristic
    wide_bins: int | None = None  # a binned characteristic's bins at most (DEFAULT_WIDE_BINS), missing apart
    meanings: tuple[tuple[str, str], ...] | None = None  # what its codes stand for (fairness group labels)

    def __post_init__(self):
        object.__setattr__(self, "meanings", checked_meanings(self.name, self.meanings))
        check_choice(self.name, "route", self.route, ROUTES)
        check_choice(self.name, "encoding", self.encoding, NUMERIC_ENCODINGS)
        check_choice(self.name, "wide_encoding", self.wide_encoding, WIDE_ENCODINGS)
        check_positive_int(self.name, "num_bins", self.num_bins)
        check_positive_int(self.name, "wide_bins", self.wide_bins)
        if self.group_boundaries is not None:
            bounds = tuple(float(b) for b in self.group_boundaries)
            if not bounds or list(bounds) != sorted(set(bounds)):
                raise SpecError(f"column '{self.name}': group_boundaries must be strictly increasing numbers")
            object.__setattr__(self, "group_boundaries", bounds)

    @property
    def bins(self) -> int:
        return self.num_bins or DEFAULT_BINS.get(self.encoding, 8)

    @property
    def binned(self) -> bool:
        """Its wide part is a binned characteristic (a segment of the wide table), not a slope."""
        return self.wide_encoding == "bins" and self.route in ("wide", "both")

    def numbers_encoded(self, encoding: str) -> NumericColumn:
        check_choice(self.name, "encoding", encoding, NUMERIC_ENCODINGS)
        return self if encoding == self.encoding else dataclasses.replace(self, encoding=encoding, num_bins=None)

    def in_scorecard(self) -> NumericColumn:
        """In a full scorecard a numeric column's wide part is a binned characteristic (the deep part stays)."""
        return dataclasses.replace(self, route="both" if self.route == "deep" else self.route, wide_encoding="bins")

    @property
    def crossable(self) -> bool:  # a binned column's bins can be crossed, as a bucketized column's buckets
        return self.wide_encoding == "bins"

    @property
    def scorecard_type(self) -> str:
        return "numeric (binned)"

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> NumericStats:
        values = arrays[self.name]
        present = require_values(values, f"numeric column '{self.name}'")
        median = float(np.median(present))
        transformed = signed_log1p(present) if self.encoding == "log1p_zscore" else present
        std = float(transformed.std())
        edges = None
        if self.encoding in ("ple", "quantile"):
            found = np.unique(np.quantile(present, np.linspace(0.0, 1.0, self.bins + 1)))
            if found.size < 2:
                found = np.array([found[0], found[0] + 1.0])
            edges = tuple(float(e) for e in found)
        # always fitted (a full scorecard bins every numeric column of the model, whatever the spec declares)
        wide_boundaries = quantile_boundaries(present, self.wide_bins or DEFAULT_WIDE_BINS)
        return NumericStats(
            median,
            float(transformed.mean()),
            std if std > 0 else 1.0,
            float(np.isnan(values).mean()),
            edges,
            wide_boundaries,
        )

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        missing = int(np.isnan(arrays[self.name]).sum())
        return {"missing_imputed": missing} if missing else {}

    def compile_index(self, builder: Builder):
        """A binned column's bin index (for its wide characteristic and crosses); None for the others."""
        if not self.crossable:
            return None
        from feature_columns import layers

        boundaries = builder.entry(self.name).wide_boundaries
        return layers.Bucketize(boundaries, name=f"bin_{safe_name(self.name)}")(builder.input(self.name))

    def compile(self, builder: Builder) -> None:
        from feature_columns import layers

        entry = builder.entry(self.name)
        stats = entry.to_json()
        for branch in ("wide", "deep"):
            if self.route not in (branch, "both"):
                continue
            if branch == "wide" and self.binned:
                builder.add_wide_ids(self.name, builder.index(self.name), entry.wide_buckets.cardinality, ordered=True)
                continue
            encoder = layers.NumericEncoder(self.encoding, stats, name=f"encode_{branch}_{safe_name(self.name)}")
            builder.add_numeric(branch, encoder, builder.input(self.name), encoder.feature_names(self.name))

    def cross_values(self, values: np.ndarray, entry: NumericStats) -> np.ndarray:
        """What a cross joins of a binned column: its bin index, as text."""
        return bucket_indices(values, entry.wide_boundaries).astype(str)

    def cross_part(self, builder: Builder):
        return builder.index(self.name)

    def attribute_labels(self, entry: NumericStats) -> list[str]:
        return entry.wide_buckets.labels()


def quantile_boundaries(present: np.ndarray, bins: int) -> tuple[float, ...]:
    """At most `bins` ranges of roughly equal counts of the training values `present`: their inner boundaries,
    each halfway between two neighbouring distinct values (a tie is never split; a few distinct values give a
    bin each)."""
    distinct = np.unique(present)
    if distinct.size <= bins:
        return tuple(float(b) for b in (distinct[1:] + distinct[:-1]) / 2)
    cuts = np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="inverted_cdf")
    position = np.unique(np.searchsorted(distinct, cuts, side="right"))
    position = position[(position > 0) & (position < distinct.size)]
    return tuple(float(b) for b in (distinct[position] + distinct[position - 1]) / 2)
