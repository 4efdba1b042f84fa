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

from feature_columns.errors import DataError, SpecError, data_row, first_line
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
        for field in ("column", "start", "end", "date_format", "numerator", "denominator", "default"):
            value = getattr(self, field)
            if value is not None and not isinstance(value, str):
                raise SpecError(f"derived column '{self.name}': {field} must be text, got {value!r}")
        if self.name in self.sources:
            raise SpecError(f"derived column '{self.name}' is computed from itself")

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


def computation_order(derived: tuple[DerivedColumn, ...]) -> tuple[DerivedColumn, ...]:
    """The derived columns in an order that computes each after the derived columns it is computed from; a
    SpecError naming the circle when some are computed from each other."""
    by_name = {d.name: d for d in derived}
    ordered: list[DerivedColumn] = []
    state: dict[str, str] = {}  # name → "visiting" | "done"

    def visit(column: DerivedColumn, path: tuple[str, ...]) -> None:
        if state.get(column.name) == "done":
            return
        if state.get(column.name) == "visiting":
            circle = " → ".join((*path[path.index(column.name) :], column.name))
            raise SpecError(f"derived columns are computed from each other in a circle: {circle}")
        state[column.name] = "visiting"
        for name in column.sources:
            if name in by_name:
                visit(by_name[name], (*path, column.name))
        state[column.name] = "done"
        ordered.append(column)

    for column in derived:
        visit(column, ())
    return tuple(ordered)


def add_derived(
    derived: tuple[DerivedColumn, ...], frame: pd.DataFrame, source: str, row_offset: int = 0, replace: bool = False
):
    """`frame` with the derived columns added (a copy). A column of the frame named like a derived column is a
    DataError (it would be silently replaced), unless `replace` (a REST request may send derived values)."""
    if not derived:
        return frame
    present = [d.name for d in derived if d.name in frame.columns]
    if present and not replace:
        raise DataError(
            f"{source}: column(s) {present} of the data are also derived columns of the spec, which would replace "
            f"them; rename the derived column(s) or drop them from the data"
        )
    missing = sorted({s for d in derived for s in d.sources if s not in frame.columns} - {d.name for d in derived})
    if missing:
        raise DataError(
            f"{source}: column(s) {missing} that derived columns are computed from are missing "
            f"(found: {list(frame.columns)[:30]})"
        )
    out = frame.copy()
    for column in computation_order(derived):
        out[column.name] = _compute(column, out, source, row_offset)
    return out


def _compute(column: DerivedColumn, frame: pd.DataFrame, source: str, row_offset: int):
    if column.kind in ("months_between", "days_between"):
        (start, start_zoned), (end, end_zoned) = (
            _dates(frame[c], c, column, source, row_offset) for c in (column.start, column.end)
        )
        if start_zoned != end_zoned:
            with_zone, without = (column.start, column.end) if start_zoned else (column.end, column.start)
            raise DataError(
                f"{source}: derived column '{column.name}': '{with_zone}' holds dates with a time zone and "
                f"'{without}' dates without one; give both in one form"
            )
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


ZONED = r"(?:Z|[+-]\d{2}:?\d{2})$"  # an ISO 8601 date-time's zone designator


def _dates(values: pd.Series, name: str, column: DerivedColumn, source: str, row_offset: int) -> pd.Series:
    """A date column parsed; dates with a time zone become UTC (without it), so that every value of a column is
    one kind of instant. A column mixing dates with and without a time zone is a DataError naming the row."""
    if pd.api.types.is_datetime64_any_dtype(values):
        zoned = getattr(values.dtype, "tz", None) is not None
        return (values.dt.tz_convert(None) if zoned else values), zoned
    text = values.astype("string").str.strip()
    blank = text.isna() | (text == "")
    zone = text.str.contains(ZONED, regex=True).fillna(False).to_numpy(dtype=bool) & ~blank.to_numpy(dtype=bool)
    present = np.flatnonzero(~blank.to_numpy(dtype=bool))
    zoned = bool(present.size) and bool(zone[present[0]])
    odd = present[zone[present] != zoned]
    if odd.size:
        first = int(odd[0])
        raise DataError(
            f"{source}: column '{name}' (for derived column '{column.name}') {data_row(first + row_offset)} holds "
            f"{values.iloc[first]!r}, a date {'without' if zoned else 'with'} a time zone, where "
            f"{data_row(int(present[0]) + row_offset)} has {'one' if zoned else 'none'}; give every date in one form"
        )
    try:
        parsed = pd.to_datetime(text.where(~blank), format=column.date_format or "mixed", errors="coerce", utc=zoned)
    except (ValueError, TypeError) as err:  # e.g. a date_format whose zones pandas cannot put on one axis
        raise DataError(
            f"{source}: column '{name}' (for derived column '{column.name}') cannot be read as dates: {first_line(err)}"
        ) from None
    bad = np.flatnonzero((parsed.isna() & ~blank).to_numpy())
    if bad.size:
        first = int(bad[0])
        expected = f"format {column.date_format!r}" if column.date_format else "a date (e.g. 2015-03-01)"
        raise DataError(
            f"{source}: column '{name}' (for derived column '{column.name}') {data_row(first + row_offset)} holds "
            f"{values.iloc[first]!r} ({bad.size} such value(s) in all); expected {expected} or an empty cell"
        )
    return (parsed.dt.tz_convert(None) if zoned else parsed), zoned
