"""Fit a spec's state on the training split: vocabularies, medians, statistics, bin edges.

The fitted state is plain JSON so it can sit in the `model_dir` beside the spec, and the
same state builds the Keras layers for training, evaluation and the exported model.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feature_columns.columns import BucketizedColumn, CategoricalColumn, CrossedColumn, NumericColumn
from feature_columns.errors import DataError
from feature_columns.spec import FeatureSpec

CROSS_SEPARATOR = "\x1f"
MISSING_CATEGORY = ""
STATE_VERSION = 1


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


_MISSING_TEXT = ("nan", "NaN", "<NA>", "None")


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
        whole = present & (np.floor(numbers) == numbers) & (np.abs(numbers) < 2.0 ** 53)  # exact as int64
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


def prepare_frame(spec: FeatureSpec, frame: pd.DataFrame, source: str = "data", row_offset: int = 0) -> dict[str, np.ndarray]:
    """Raw columns → the arrays the model takes: str (object) for categoricals, float32 for numerics.

    Raises DataError naming the column and row for a missing column or text in a numeric column
    (rows counted from `row_offset`: a streamed batch's position in its file).
    """
    missing = [c for c in spec.raw_feature_names if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: column(s) {missing} named in the spec are missing (found: {list(frame.columns)[:30]})")
    arrays: dict[str, np.ndarray] = {}
    for col in spec.input_columns:
        values = frame[col.name]
        if isinstance(col, CategoricalColumn):
            arrays[col.name] = canonical_categories(values)
        else:
            arrays[col.name] = _to_float(values, col.name, source, row_offset)
    return arrays


def _to_float(values: pd.Series, name: str, source: str, row_offset: int = 0) -> np.ndarray:
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
            raise DataError(f"{source}: column '{name}' is numeric in the spec but row {first + row_offset} holds "
                            f"{values.iloc[first]!r} "
                            f"({bad.size} non-numeric value(s) in all); expected a number or an empty cell")
    out = numeric.to_numpy(dtype="float64")
    infinite = np.isinf(out)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise DataError(f"{source}: column '{name}' row {first + row_offset} is {out[first]}; expected a finite number or an "
                        f"empty cell")
    return out.astype("float32")


def cross_values(arrays: dict[str, np.ndarray], cross: CrossedColumn, state: dict[str, Any]) -> np.ndarray:
    """Joined key strings of a cross, exactly as the in-model layer builds them."""
    parts = []
    for key in cross.keys:
        values = arrays[key]
        if key in state and "boundaries" in state[key]:
            values = bucket_indices(values, state[key]["boundaries"]).astype(str)
        parts.append(values.astype(str))
    joined = parts[0].astype(object)
    for part in parts[1:]:
        joined = joined + CROSS_SEPARATOR + part.astype(object)
    return joined


def bucket_indices(values: np.ndarray, boundaries) -> np.ndarray:
    """Bucket i holds boundaries[i-1] <= x < boundaries[i]; missing values get bucket len(boundaries)+1."""
    values = np.asarray(values, dtype="float32")
    idx = np.searchsorted(np.asarray(boundaries, dtype="float32"), values, side="right")
    return np.where(np.isnan(values), len(boundaries) + 1, idx).astype("int64")


def _vocabulary(values: np.ndarray, min_frequency: int, max_tokens: int | None) -> list[str]:
    counts = Counter(v for v in values if v != MISSING_CATEGORY)
    ranked = sorted(((n, v) for v, n in counts.items() if n >= min_frequency), key=lambda t: (-t[0], t[1]))
    if max_tokens is not None:
        ranked = ranked[:max_tokens]
    return [v for _, v in ranked]


def _numeric_state(values: np.ndarray, col: NumericColumn) -> dict[str, Any]:
    present = values[~np.isnan(values)].astype("float64")
    if present.size == 0:
        raise DataError(f"training split: numeric column '{col.name}' has no non-missing values")
    median = float(np.median(present))
    transformed = np.sign(present) * np.log1p(np.abs(present)) if col.encoding == "log1p_zscore" else present
    std = float(transformed.std())
    state = {"median": median, "mean": float(transformed.mean()), "std": std if std > 0 else 1.0,
             "missing_rate": float(np.isnan(values).mean())}
    if col.encoding in ("ple", "quantile"):
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, col.bins + 1)))
        if edges.size < 2:
            edges = np.array([edges[0], edges[0] + 1.0])
        state["edges"] = [float(e) for e in edges]
    return state


def _bucket_boundaries(values: np.ndarray, col: BucketizedColumn) -> list[float]:
    if col.boundaries is not None:
        return list(col.boundaries)
    present = values[~np.isnan(values)].astype("float64")
    if present.size == 0:
        raise DataError(f"training split: bucketized column '{col.name}' has no non-missing values")
    inner = np.quantile(present, np.linspace(0.0, 1.0, col.num_buckets + 1)[1:-1])
    return [float(b) for b in np.unique(inner)]


def fit_state(spec: FeatureSpec, train: dict[str, np.ndarray]) -> dict[str, Any]:
    """Learn everything data-dependent from the training split only."""
    state: dict[str, Any] = {}
    for col in spec.input_columns:
        values = train[col.name]
        if isinstance(col, CategoricalColumn):
            if col.hash_buckets is not None:
                state[col.name] = {"hash_buckets": col.hash_buckets}
            elif col.vocabulary is not None:
                state[col.name] = {"vocabulary": list(col.vocabulary)}
            else:
                vocab = _vocabulary(values, col.min_frequency, col.max_tokens)
                if not vocab:
                    raise DataError(f"training split: categorical column '{col.name}' has no value seen {col.min_frequency}+ times")
                state[col.name] = {"vocabulary": vocab}
        elif isinstance(col, NumericColumn):
            state[col.name] = _numeric_state(values, col)
        elif isinstance(col, BucketizedColumn):
            state[col.name] = {"boundaries": _bucket_boundaries(values, col),
                               "missing_rate": float(np.isnan(values).mean())}
    for cross in spec.crosses:
        if cross.hash_buckets is not None:
            state[cross.name] = {"hash_buckets": cross.hash_buckets}
        else:
            state[cross.name] = {"vocabulary": _vocabulary(cross_values(train, cross, state), cross.min_frequency, None)}
    return state


def cardinality(state_entry: dict[str, Any]) -> int:
    """Number of indices a categorical-like column produces, including the OOV/missing bucket."""
    if "hash_buckets" in state_entry:
        return int(state_entry["hash_buckets"])
    if "vocabulary" in state_entry:
        return len(state_entry["vocabulary"]) + 1
    return len(state_entry["boundaries"]) + 2


def quality_report(spec: FeatureSpec, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, dict[str, int]]:
    """Counts of imputed numerics and out-of-vocabulary categoricals: nothing is dropped silently."""
    report: dict[str, dict[str, int]] = {}
    for col in spec.columns:
        entry = state[col.name]
        if isinstance(col, (NumericColumn, BucketizedColumn)):
            n_missing = int(np.isnan(arrays[col.name]).sum())
            if n_missing:
                report[col.name] = {"missing_imputed" if isinstance(col, NumericColumn) else "missing_bucket": n_missing}
        elif "vocabulary" in entry:
            values = arrays[col.name] if isinstance(col, CategoricalColumn) else cross_values(arrays, col, state)
            known = set(entry["vocabulary"])
            missing = int(sum(1 for v in values if v == MISSING_CATEGORY)) if isinstance(col, CategoricalColumn) else 0
            oov = int(sum(1 for v in values if v not in known)) - missing
            counts = {k: v for k, v in (("missing_to_oov", missing), ("unseen_to_oov", oov)) if v}
            if counts:
                report[col.name] = counts
    return report


def save_state(state: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps({"version": STATE_VERSION, "columns": state}, indent=1))


def load_state(path: str | Path) -> dict[str, Any]:
    data = json.loads(Path(path).read_text())
    if data.get("version") != STATE_VERSION:
        raise DataError(f"{path}: preprocessing state version {data.get('version')} is not {STATE_VERSION}")
    return data["columns"]
