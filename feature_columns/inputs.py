"""The raw-value contract: how a raw cell becomes the value a model input takes.

Every path that feeds a model (training, batch scoring, REST, the tf.data streams) goes
through these functions, so a value cannot be read one way in training and another at
serving time:

- categorical columns are strings: `canonical_category` (3, 3.0 and "3" are all "3";
  missing is "");
- every other raw column is float32, NaN meaning missing; text that is not a number is a
  `DataError` naming the column and row;
- `raw_dtype` is the one dtype rule (tf.string for categoricals, tf.float32 otherwise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from feature_columns.columns import CategoricalColumn, Column
from feature_columns.derived import add_derived
from feature_columns.errors import DataError, data_row
from feature_columns.sequences import SequenceColumn

MISSING_CATEGORY = ""
CROSS_SEPARATOR = "\x1f"
_MISSING_TEXT = ("nan", "NaN", "<NA>", "None")


def raw_dtype(column: Column) -> str:
    """The dtype of a raw model input: "string" for categorical columns, "float32" for all others."""
    return "string" if isinstance(column, CategoricalColumn) else "float32"


def canonical_category(value) -> str:
    """The string a categorical value is looked up by: 3, 3.0 and '3' all become '3'; missing becomes ''."""
    if value is None:
        return MISSING_CATEGORY
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return MISSING_CATEGORY
        if float(value).is_integer():
            return str(int(value))
    if isinstance(value, (bool, np.bool_)):
        return str(value).lower()
    text = str(value)
    return MISSING_CATEGORY if text in _MISSING_TEXT else text


def canonical_categories(values: pd.Series) -> np.ndarray:
    """`canonical_category` for a whole column, vectorised by dtype (the same strings, element for element)."""
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return np.where(values.to_numpy(dtype=bool), "true", "false").astype(object)
    if pd.api.types.is_integer_dtype(values) and not values.isna().any():
        return values.astype("int64").astype(str).to_numpy(dtype=object)
    if pd.api.types.is_float_dtype(values):
        numbers = values.to_numpy(dtype="float64")
        out = np.full(numbers.shape, MISSING_CATEGORY, dtype=object)
        present = ~np.isnan(numbers)
        whole = present & (np.floor(numbers) == numbers) & (np.abs(numbers) < 2.0**53)  # exact as int64
        out[whole] = numbers[whole].astype("int64").astype(str)
        rest = present & ~whole
        out[rest] = [canonical_category(float(v)) for v in numbers[rest]]
        return out
    if isinstance(values.dtype, pd.StringDtype):  # text, or NA: vectorised
        out = values.to_numpy(dtype=object, na_value=MISSING_CATEGORY)
        out[values.isin(_MISSING_TEXT).to_numpy(dtype=bool, na_value=False)] = MISSING_CATEGORY
        return out
    if values.dtype == object:
        raw = values.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(raw, skipna=False) == "string":  # the common case: plain text
            out = raw.copy()
            out[pd.Series(raw).isin(_MISSING_TEXT).to_numpy()] = MISSING_CATEGORY
            return out
    return np.array([canonical_category(v) for v in values.to_numpy(dtype=object)], dtype=object)


def numeric_values(values: pd.Series, name: str, source: str, row_offset: int = 0) -> np.ndarray:
    """A numeric column as float32 (NaN = missing); text that is not a number or an infinity is a DataError.

    Rows in messages are counted from `row_offset` (a streamed batch's position in its file).
    """
    if pd.api.types.is_bool_dtype(values):
        values = values.astype("float64")
    if pd.api.types.is_numeric_dtype(values):
        numeric = values.astype("float64")
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        failed = np.flatnonzero((numeric.isna() & values.notna()).to_numpy())
        # only cells that failed to parse are stringified; blank text counts as missing
        bad = failed[values.iloc[failed].astype(str).str.strip().to_numpy() != ""]
        if bad.size:
            first = int(bad[0])
            raise DataError(
                f"{source}: column '{name}' is numeric in the spec but {data_row(first + row_offset)} holds "
                f"{values.iloc[first]!r} ({bad.size} non-numeric value(s) in all); expected a number or an empty cell"
            )
    out = numeric.to_numpy(dtype="float64")
    infinite = np.isinf(out)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise DataError(
            f"{source}: column '{name}' {data_row(first + row_offset)} is {out[first]}; expected a finite number or an "
            f"empty cell"
        )
    return out.astype("float32")


def prepare_frame(spec, frame: pd.DataFrame, source: str = "data", row_offset: int = 0) -> dict[str, np.ndarray]:
    """Raw columns → the arrays the model takes: str (object) for categoricals, float32 for numerics.

    Raises DataError naming the column and row for a missing column or text in a numeric column
    (rows counted from `row_offset`: a streamed batch's position in its file).
    """
    frame = add_derived(spec.derived, frame, source, row_offset)
    needed = [name for col in spec.input_columns for name in data_columns(col)]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column(s) {missing[:20]} named in the spec are missing (found: {list(frame.columns)[:30]})"
        )
    arrays: dict[str, np.ndarray] = {}
    for col in spec.input_columns:
        if isinstance(col, SequenceColumn):
            steps = [numeric_values(frame[name], name, source, row_offset) for name in col.source_columns]
            arrays[col.name] = np.stack(steps, axis=1).reshape(len(frame), col.steps, len(col.channels))
        elif isinstance(col, CategoricalColumn):
            arrays[col.name] = canonical_categories(frame[col.name])
        else:
            arrays[col.name] = numeric_values(frame[col.name], col.name, source, row_offset)
    return arrays


def data_columns(column: Column) -> tuple[str, ...]:
    """The data columns a model input is read from: its own, or a sequence's step columns."""
    return column.source_columns if isinstance(column, SequenceColumn) else (column.name,)


def input_shape(column: Column) -> tuple[int, ...]:
    """A raw model input's shape per row: () for a column, (steps, channels) for a sequence."""
    return (column.steps, len(column.channels)) if isinstance(column, SequenceColumn) else ()


def to_tensors(arrays: dict[str, np.ndarray]) -> dict:
    """Prepared arrays → tensors: object arrays (categoricals) as tf.string, the rest as they are (float32)."""
    import tensorflow as tf

    return {k: tf.constant(v.tolist(), tf.string) if v.dtype == object else tf.constant(v) for k, v in arrays.items()}
