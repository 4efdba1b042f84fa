"""Numeric columns: real values, imputed with the training median and encoded for the branch they feed.

Missing values take the training median, plus a missing indicator when the training split had missing values
in the column. Encodings: `quantile` (default: the training split's empirical CDF, piecewise linear between
`num_bins` quantiles, in [0, 1]: rank-based, so outliers cannot dominate); `zscore`; `log1p_zscore` (signed
log1p, then z-score: heavy-tailed amounts); `ple`, piecewise-linear encoding over quantile bins (Gorishniy et
al. 2022): one input per bin, more expressive, a wider (slower) deep input. `num_bins` defaults to 32 for
quantile, 8 for ple. In the wide branch a numeric column is a slope per unit of its encoding.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from feature_columns.errors import SpecError
from feature_columns.kinds.base import ROUTES, Builder, Column, check_choice, check_positive_int, require_values
from feature_columns.names import safe_name
from feature_columns.values import signed_log1p

NUMERIC_ENCODINGS = ("zscore", "log1p_zscore", "quantile", "ple")
DEFAULT_NUMERIC_ENCODING = "quantile"
DEFAULT_BINS = {"ple": 8, "quantile": 32}


@dataclasses.dataclass(frozen=True)
class NumericStats:
    json_key = "median"
    median: float
    mean: float
    std: float
    missing_rate: float = 0.0
    edges: tuple[float, ...] | None = None  # quantile and ple encodings: strictly increasing bin edges

    def to_json(self) -> dict[str, Any]:
        out = {"median": self.median, "mean": self.mean, "std": self.std, "missing_rate": self.missing_rate}
        if self.edges is not None:
            out["edges"] = list(self.edges)
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
        )


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

    def __post_init__(self):
        check_choice(self.name, "route", self.route, ROUTES)
        check_choice(self.name, "encoding", self.encoding, NUMERIC_ENCODINGS)
        check_positive_int(self.name, "num_bins", self.num_bins)
        if self.group_boundaries is not None:
            bounds = tuple(float(b) for b in self.group_boundaries)
            if not bounds or list(bounds) != sorted(set(bounds)):
                raise SpecError(f"column '{self.name}': group_boundaries must be strictly increasing numbers")
            object.__setattr__(self, "group_boundaries", bounds)

    @property
    def bins(self) -> int:
        return self.num_bins or DEFAULT_BINS.get(self.encoding, 8)

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
        return NumericStats(
            median, float(transformed.mean()), std if std > 0 else 1.0, float(np.isnan(values).mean()), edges
        )

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        missing = int(np.isnan(arrays[self.name]).sum())
        return {"missing_imputed": missing} if missing else {}

    def compile(self, builder: Builder) -> None:
        from feature_columns import layers

        stats = builder.entry(self.name).to_json()
        for branch in ("wide", "deep"):
            if self.route in (branch, "both"):
                encoder = layers.NumericEncoder(self.encoding, stats, name=f"encode_{branch}_{safe_name(self.name)}")
                builder.add_numeric(branch, encoder, builder.input(self.name), encoder.feature_names(self.name))
