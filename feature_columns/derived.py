"""Derived columns: a small, safe set of computations a spec can declare instead of pandas code.

    derived:
      - {name: credit_age_months, kind: months_between, start: earliest_cr_line, end: issue_d}
      - {name: naics_2, kind: prefix, column: naics, length: 2}
      - {name: is_franchise, kind: map, column: franchise_code, values: {'0': 'no', '1': 'no'}, default: 'yes'}
      - {name: debt_to_income, kind: ratio, numerator: debt, denominator: income}

A derived column is then used by name in `columns` like any other. `add_derived` computes them
from the raw columns; `prepare_frame` calls it, so training, batch scoring, the Python scorer and
the REST server (which completes each request with it) compute the same values. Nothing is
evaluated: each kind is one fixed computation.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, SpecError, data_row
from feature_columns.values import canonical_categories, numeric_values

DAYS_PER_MONTH = 365.25 / 12
# kind → (its fields that name source columns, its other required fields, whether its values are numbers)
KINDS = {
    "months_between": (("start", "end"), (), True),
    "days_between": (("start", "end"), (), True),
    "prefix": (("column",), ("length",), False),
    "map": (("column",), ("values",), False),
    "ratio": (("numerator", "denominator"), (), True),
}


@dataclasses.dataclass(frozen=True)
class DerivedColumn:
    """One derived column: `kind` and the fields it needs (see the module docstring)."""

    name: str
    kind: str
    column: str | None = None  # prefix, map: the source column
    start: str | None = None  # months_between, days_between: the earlier date column
    end: str | None = None  # ... and the later one
    date_format: str | None = None  # strptime format of both dates (None: ISO 8601 and what pandas recognises)
    length: int | None = None  # prefix: characters kept
    values: tuple[tuple[str, str], ...] | None = None  # map: value → mapped value
    default: str | None = None  # map: the value of anything not listed (None: kept as it is)
    numerator: str | None = None  # ratio
    denominator: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SpecError(f"derived column '{self.name}': kind={self.kind!r} is not one of {list(KINDS)}")
        sources, required, _ = KINDS[self.kind]
        absent = [f for f in (*sources, *required) if getattr(self, f) is None]
        if absent:
            raise SpecError(f"derived column '{self.name}' ({self.kind}) needs {', '.join(absent)}")
        if self.kind == "prefix" and (
            not isinstance(self.length, int) or isinstance(self.length, bool) or self.length < 1
        ):
            raise SpecError(f"derived column '{self.name}': length must be a positive integer, got {self.length!r}")
        if isinstance(self.values, dict):
            object.__setattr__(self, "values", tuple((str(k), str(v)) for k, v in self.values.items()))

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(getattr(self, f) for f in KINDS[self.kind][0])

    @property
    def numeric(self) -> bool:
        return KINDS[self.kind][2]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in ("name", "kind") and value is not None:
                out[field.name] = dict(value) if field.name == "values" else value
        return out

    @classmethod
    def from_dict(cls, entry, where: str) -> DerivedColumn:
        if not isinstance(entry, dict) or not entry.get("name"):
            raise SpecError(f"{where}: expected a mapping with a name and a kind, got {entry!r}")
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(entry) - allowed
        if unknown:
            raise SpecError(
                f"{where} ('{entry['name']}'): unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
            )
        if "values" in entry and not isinstance(entry["values"], dict):
            raise SpecError(f"{where} ('{entry['name']}'): values must be a mapping, got {entry['values']!r}")
        return cls(**entry)


def add_derived(derived: tuple[DerivedColumn, ...], frame: pd.DataFrame, source: str, row_offset: int = 0):
    """`frame` with the derived columns added (a copy; the frame's own columns of those names are replaced)."""
    if not derived:
        return frame
    missing = sorted({s for d in derived for s in d.sources if s not in frame.columns} - {d.name for d in derived})
    if missing:
        raise DataError(
            f"{source}: column(s) {missing} that derived columns are computed from are missing "
            f"(found: {list(frame.columns)[:30]})"
        )
    out = frame.copy()
    for column in derived:
        out[column.name] = _compute(column, out, source, row_offset)
    return out


def _compute(column: DerivedColumn, frame: pd.DataFrame, source: str, row_offset: int):
    if column.kind in ("months_between", "days_between"):
        start, end = (_dates(frame[c], c, column, source, row_offset) for c in (column.start, column.end))
        days = (end - start).dt.total_seconds().to_numpy() / 86400
        if column.kind == "days_between":
            return days
        whole = (end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
        return whole.to_numpy(dtype="float64") + (end.dt.day - start.dt.day).to_numpy(dtype="float64") / DAYS_PER_MONTH
    if column.kind == "ratio":
        numerator = numeric_values(frame[column.numerator], column.numerator, source, row_offset).astype("float64")
        denominator = numeric_values(frame[column.denominator], column.denominator, source, row_offset).astype(
            "float64"
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = numerator / denominator
        return np.where(np.isfinite(ratio), ratio, np.nan)  # a zero denominator: missing
    values = canonical_categories(frame[column.column])
    present = values != ""
    if column.kind == "prefix":
        out = values.copy()
        out[present] = [v[: column.length] for v in values[present]]
        return out
    mapping = dict(column.values)
    out = values.copy()
    out[present] = [mapping.get(v, v if column.default is None else column.default) for v in values[present]]
    return out


def _dates(values: pd.Series, name: str, column: DerivedColumn, source: str, row_offset: int) -> pd.Series:
    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    parsed = pd.to_datetime(text.where(~blank), format=column.date_format or "mixed", errors="coerce")
    bad = np.flatnonzero((parsed.isna() & ~blank).to_numpy())
    if bad.size:
        first = int(bad[0])
        expected = f"format {column.date_format!r}" if column.date_format else "a date (e.g. 2015-03-01)"
        raise DataError(
            f"{source}: column '{name}' (for derived column '{column.name}') {data_row(first + row_offset)} holds "
            f"{values.iloc[first]!r} ({bad.size} such value(s) in all); expected {expected} or an empty cell"
        )
    return parsed
