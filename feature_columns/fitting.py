"""Fit a spec's state on the training split: vocabularies, medians, statistics, bin edges.

The fitted state maps each column to one typed entry:

- `Vocabulary`  a categorical column or cross with a fitted or given vocabulary;
- `HashBuckets` a categorical column or cross hashed into a fixed number of buckets;
- `NumericStats` a numeric column's median, mean, std, missing rate (and quantile edges);
- `Buckets`     a bucketized column's boundaries;
- `Trees`       (under the key `GBDT`) the gradient-boosted trees of a GBDT wide branch.

It is saved as plain JSON (`save_state`/`load_state`; the format is unchanged since version
1) beside the spec, and the same state builds the Keras layers for training, evaluation and
the exported model.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from feature_columns.columns import BucketizedColumn, CategoricalColumn, CrossedColumn, NumericColumn
from feature_columns.errors import DataError
from feature_columns.inputs import CROSS_SEPARATOR, MISSING_CATEGORY
from feature_columns.sequences import SequenceColumn
from feature_columns.trees import Trees

STATE_VERSION = 1
GBDT = "__gbdt__"  # the state key of the gradient-boosted trees of a model with a GBDT wide branch


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Index 0 is the out-of-vocabulary (and missing) bucket; value i is index i + 1."""

    values: tuple[str, ...]

    @property
    def cardinality(self) -> int:
        return len(self.values) + 1

    def to_json(self) -> dict[str, Any]:
        return {"vocabulary": list(self.values)}


@dataclasses.dataclass(frozen=True)
class HashBuckets:
    count: int

    @property
    def cardinality(self) -> int:
        return int(self.count)

    def to_json(self) -> dict[str, Any]:
        return {"hash_buckets": self.count}


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Bucket i holds boundaries[i-1] <= x < boundaries[i]; missing values get bucket len(boundaries) + 1."""

    boundaries: tuple[float, ...]
    missing_rate: float = 0.0

    @property
    def cardinality(self) -> int:
        return len(self.boundaries) + 2

    def to_json(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "missing_rate": self.missing_rate}


@dataclasses.dataclass(frozen=True)
class NumericStats:
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


@dataclasses.dataclass(frozen=True)
class SequenceStats:
    """Per channel of a sequence: the training split's mean and std of its observed cells (after the
    signed log1p of `log_scaled` channels), and the share of masked (all-missing) steps."""

    channel_mean: tuple[float, ...]
    channel_std: tuple[float, ...]
    masked_rate: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_mean": list(self.channel_mean),
            "channel_std": list(self.channel_std),
            "masked_rate": self.masked_rate,
        }


FittedEntry = Vocabulary | HashBuckets | Buckets | NumericStats | Trees | SequenceStats
FittedState = dict[str, FittedEntry]
IndexedEntry = (Vocabulary, HashBuckets, Buckets)  # entries whose column becomes one integer index per row


def entry_from_json(name: str, data: dict[str, Any]) -> FittedEntry:
    """The typed entry a saved column state describes (the JSON has no kind field: its keys tell)."""
    if "vocabulary" in data:
        return Vocabulary(tuple(data["vocabulary"]))
    if "hash_buckets" in data:
        return HashBuckets(int(data["hash_buckets"]))
    if "boundaries" in data:
        return Buckets(tuple(float(b) for b in data["boundaries"]), float(data.get("missing_rate", 0.0)))
    if "trees" in data:
        return Trees.from_json(data)
    if "channel_mean" in data:
        return SequenceStats(
            tuple(float(v) for v in data["channel_mean"]),
            tuple(float(v) for v in data["channel_std"]),
            float(data.get("masked_rate", 0.0)),
        )
    if "median" in data:
        edges = data.get("edges")
        return NumericStats(
            float(data["median"]),
            float(data["mean"]),
            float(data["std"]),
            float(data.get("missing_rate", 0.0)),
            None if edges is None else tuple(float(e) for e in edges),
        )
    raise DataError(f"preprocessing state of column '{name}' is not recognised: {sorted(data)}")


def bucket_indices(values: np.ndarray, boundaries) -> np.ndarray:
    """Bucket i holds boundaries[i-1] <= x < boundaries[i]; missing values get bucket len(boundaries)+1."""
    values = np.asarray(values, dtype="float32")
    idx = np.searchsorted(np.asarray(boundaries, dtype="float32"), values, side="right")
    return np.where(np.isnan(values), len(boundaries) + 1, idx).astype("int64")


def cross_values(arrays: dict[str, np.ndarray], cross: CrossedColumn, state: FittedState) -> np.ndarray:
    """Joined key strings of a cross, exactly as the in-model layer builds them."""
    parts = []
    for key in cross.keys:
        values = arrays[key]
        entry = state.get(key)
        if isinstance(entry, Buckets):
            values = bucket_indices(values, entry.boundaries).astype(str)
        parts.append(values.astype(str))
    joined = parts[0].astype(object)
    for part in parts[1:]:
        joined = joined + CROSS_SEPARATOR + part.astype(object)
    return joined


def _vocabulary(values: np.ndarray, min_frequency: int, max_tokens: int | None) -> tuple[str, ...]:
    counts = Counter(v for v in values if v != MISSING_CATEGORY)
    ranked = sorted(((n, v) for v, n in counts.items() if n >= min_frequency), key=lambda t: (-t[0], t[1]))
    if max_tokens is not None:
        ranked = ranked[:max_tokens]
    return tuple(v for _, v in ranked)


def _numeric_stats(values: np.ndarray, col: NumericColumn) -> NumericStats:
    present = values[~np.isnan(values)].astype("float64")
    if present.size == 0:
        raise DataError(f"training split: numeric column '{col.name}' has no non-missing values")
    median = float(np.median(present))
    transformed = signed_log1p(present) if col.encoding == "log1p_zscore" else present
    std = float(transformed.std())
    edges = None
    if col.encoding in ("ple", "quantile"):
        found = np.unique(np.quantile(present, np.linspace(0.0, 1.0, col.bins + 1)))
        if found.size < 2:
            found = np.array([found[0], found[0] + 1.0])
        edges = tuple(float(e) for e in found)
    return NumericStats(
        median, float(transformed.mean()), std if std > 0 else 1.0, float(np.isnan(values).mean()), edges
    )


def _bucket_boundaries(values: np.ndarray, col: BucketizedColumn) -> tuple[float, ...]:
    if col.boundaries is not None:
        return tuple(col.boundaries)
    present = values[~np.isnan(values)].astype("float64")
    if present.size == 0:
        raise DataError(f"training split: bucketized column '{col.name}' has no non-missing values")
    inner = np.quantile(present, np.linspace(0.0, 1.0, col.num_buckets + 1)[1:-1])
    return tuple(float(b) for b in np.unique(inner))


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x) · log(1 + |x|): heavy-tailed amounts on a scale an MLP or a tower can use (the graph does the same)."""
    return np.sign(values) * np.log1p(np.abs(values))


def _sequence_stats(values: np.ndarray, col: SequenceColumn) -> SequenceStats:
    """`values` [rows, steps, channels] → per-channel mean/std over observed cells (see SequenceStats)."""
    means, stds = [], []
    for c, channel in enumerate(col.channels):
        cells = values[:, :, c].astype("float64").ravel()
        cells = cells[~np.isnan(cells)]
        if cells.size == 0:
            raise DataError(f"training split: sequence '{col.name}' channel '{channel}' has no non-missing values")
        if channel in col.log_scaled:
            cells = signed_log1p(cells)
        means.append(float(cells.mean()))
        stds.append(float(cells.std()) or 1.0)
    masked = float(np.isnan(values).all(axis=2).mean())
    return SequenceStats(tuple(means), tuple(stds), masked)


def fit_state(spec, train: dict[str, np.ndarray]) -> FittedState:
    """Learn everything data-dependent from the training split only."""
    state: FittedState = {}
    for col in spec.input_columns:
        values = train[col.name]
        if isinstance(col, CategoricalColumn):
            if col.hash_buckets is not None:
                state[col.name] = HashBuckets(col.hash_buckets)
            elif col.vocabulary is not None:
                state[col.name] = Vocabulary(tuple(col.vocabulary))
            else:
                vocab = _vocabulary(values, col.min_frequency, col.max_tokens)
                if not vocab:
                    raise DataError(
                        f"training split: categorical column '{col.name}' has no value seen {col.min_frequency}+ times"
                    )
                state[col.name] = Vocabulary(vocab)
        elif isinstance(col, NumericColumn):
            state[col.name] = _numeric_stats(values, col)
        elif isinstance(col, BucketizedColumn):
            state[col.name] = Buckets(_bucket_boundaries(values, col), float(np.isnan(values).mean()))
        elif isinstance(col, SequenceColumn):
            state[col.name] = _sequence_stats(values, col)
    for cross in spec.crosses:
        if cross.hash_buckets is not None:
            state[cross.name] = HashBuckets(cross.hash_buckets)
        else:
            state[cross.name] = Vocabulary(_vocabulary(cross_values(train, cross, state), cross.min_frequency, None))
    return state


def quality_report(
    spec, state: FittedState, arrays: dict[str, np.ndarray], fitted_here: bool = False
) -> dict[str, dict[str, int]]:
    """Counts of imputed numerics and out-of-vocabulary categoricals: nothing is dropped silently.

    An out-of-vocabulary value is `unlisted_to_oov` when the spec lists the vocabulary, `rare_to_oov` on
    the rows the vocabulary was fitted on (`fitted_here`: seen fewer than `min_frequency` times) and
    `unseen_to_oov` elsewhere."""
    report: dict[str, dict[str, int]] = {}
    for col in spec.columns:
        entry = state[col.name]
        if isinstance(col, (NumericColumn, BucketizedColumn)):
            n_missing = int(np.isnan(arrays[col.name]).sum())
            if n_missing:
                key = "missing_imputed" if isinstance(col, NumericColumn) else "missing_bucket"
                report[col.name] = {key: n_missing}
        elif isinstance(entry, Vocabulary):
            categorical = isinstance(col, CategoricalColumn)
            values = arrays[col.name] if categorical else cross_values(arrays, col, state)
            known = set(entry.values)
            missing = int(sum(1 for v in values if v == MISSING_CATEGORY)) if categorical else 0
            oov = int(sum(1 for v in values if v not in known)) - missing
            oov_key = "rare_to_oov" if fitted_here else "unseen_to_oov"
            if categorical and col.vocabulary is not None:
                oov_key = "unlisted_to_oov"
            counts = {k: v for k, v in (("missing_to_oov", missing), (oov_key, oov)) if v}
            if counts:
                report[col.name] = counts
    return report


def state_to_json(state: FittedState) -> str:
    return json.dumps({"version": STATE_VERSION, "columns": {k: v.to_json() for k, v in state.items()}}, indent=1)


def state_from_json(text: str, source: str) -> FittedState:
    data = json.loads(text)
    if data.get("version") != STATE_VERSION:
        raise DataError(f"{source}: preprocessing state version {data.get('version')} is not {STATE_VERSION}")
    return {name: entry_from_json(name, entry) for name, entry in data["columns"].items()}


def save_state(state: FittedState, path: str | Path) -> None:
    Path(path).write_text(state_to_json(state))


def load_state(path: str | Path) -> FittedState:
    return state_from_json(Path(path).read_text(), str(path))
