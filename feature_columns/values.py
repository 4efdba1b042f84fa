"""The raw-value contract: how a raw cell becomes the value a model input takes.

Every path that feeds a model (training, batch scoring, REST, the tf.data streams) reads cells
through these functions, so a value cannot be read one way in training and another at serving
time:

- text-valued inputs are strings: `canonical_category` (3, 3.0 and "3" are all "3"; missing is "");
- every other raw input is float32, NaN meaning missing; text that is not a number is a
  `DataError` naming the column and row (`numeric_values`).

Each column kind says which of the two it reads (`feature_columns.kinds`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, data_row

MISSING_CATEGORY = ""
CROSS_SEPARATOR = "\x1f"
_MISSING_TEXT = ("nan", "NaN", "<NA>", "None")
FLOAT32_MAX = float(np.finfo(np.float32).max)


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
    too_large = np.abs(out) > FLOAT32_MAX  # also catches ±inf; NaN compares False
    if too_large.any():
        first = int(np.flatnonzero(too_large)[0])
        raise DataError(
            f"{source}: column '{name}' {data_row(first + row_offset)} is {out[first]}; expected a finite number "
            f"within ±{FLOAT32_MAX:.3g} (the model computes in float32) or an empty cell"
        )
    return out.astype("float32")


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x) · log(1 + |x|): heavy-tailed amounts on a scale an MLP or a tower can use (`layers.signed_log1p` is
    the same in the graph)."""
    return np.sign(values) * np.log1p(np.abs(values))
