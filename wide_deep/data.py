"""Load a dataset described by a spec: read, validate, aggregate transactions, label, split.

Every user mistake becomes a `DataError` naming the column, row or value; nothing is
dropped silently (the returned report counts what was imputed or excluded).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from feature_columns.errors import DataError
from feature_columns.fitting import canonical_categories, canonical_category, prepare_frame
from feature_columns.spec import FeatureSpec
from wide_deep.aggregation import aggregate_transactions

SPLITS = ("train", "valid", "test")


@dataclasses.dataclass
class Dataset:
    """A labelled table, its model inputs as arrays, and the seeded 60/20/20 split."""
    spec: FeatureSpec
    arrays: dict[str, np.ndarray]
    labels: np.ndarray
    split_indices: dict[str, np.ndarray]
    ids: np.ndarray | None = None
    oracle: np.ndarray | None = None
    rejected: np.ndarray | None = None      # the label spec's rejected_column, when the data has it
    report: dict[str, Any] = dataclasses.field(default_factory=dict)

    def split(self, name: str) -> tuple[dict[str, np.ndarray], np.ndarray]:
        idx = self.split_indices[name]
        return {k: v[idx] for k, v in self.arrays.items()}, self.labels[idx]

    def limit_rows(self, seed: int, **limits: int) -> None:
        """Keep a seeded random subset of at most `limits[split]` rows per split (quick runs and tests)."""
        rng = np.random.default_rng(seed)
        for name, limit in limits.items():
            idx = self.split_indices[name]
            if len(idx) > limit:
                self.split_indices[name] = np.sort(rng.choice(idx, limit, replace=False))

    def oracle_for(self, name: str) -> np.ndarray | None:
        return None if self.oracle is None else self.oracle[self.split_indices[name]]


def read_table(path: str | Path) -> pd.DataFrame:
    """CSV or Parquet → DataFrame, with clear errors for a missing or empty file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"data file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"data file {path} is empty")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError) as err:
        raise DataError(f"data file {path} could not be read: {err}") from None
    if frame.empty:
        raise DataError(f"data file {path} has a header but no rows")
    return frame


def encode_labels(frame: pd.DataFrame, spec: FeatureSpec, source: str, negative: set[str] | None = None,
                  require_both_classes: bool = True, row_offset: int = 0) -> np.ndarray:
    """Raw label values → 0/1 using the spec's positive (and optional negative) values.

    Without `negative` in the spec, the one value besides the positive ones is the negative
    class. A streamed batch passes the `negative` values found in the fitting files and
    `require_both_classes=False` (one batch may hold a single class).
    """
    column = spec.label.column
    if column not in frame.columns:
        raise DataError(f"{source}: label column '{column}' is missing (found: {list(frame.columns)[:30]})")
    raw = frame[column].to_numpy(dtype=object)
    values = canonical_categories(frame[column])
    empty = np.flatnonzero(values == "")
    if empty.size:
        raise DataError(f"{source}: label column '{column}' is empty in {empty.size} row(s), first at row {int(empty[0]) + row_offset}")
    positive = {canonical_category(v) for v in spec.label.positive}
    if spec.label.negative is not None:
        negative = {canonical_category(v) for v in spec.label.negative}
    elif negative is None:
        negative = set(np.unique(values)) - positive
        if len(negative) > 1:
            raise DataError(f"{source}: label column '{column}' has values {sorted(negative)} besides the positive "
                            f"{sorted(positive)}; list the non-default value(s) under label.negative in the spec")
    unknown = ~np.isin(values, list(positive | negative))
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(f"{source}: label column '{column}' row {row + row_offset} has value {raw[row]!r}; expected one of "
                        f"positive {sorted(positive)} or negative {sorted(negative)}")
    labels = np.isin(values, list(positive)).astype("int64")
    if require_both_classes and labels.min() == labels.max():
        raise DataError(f"{source}: label column '{column}' has only one class ({'default' if labels[0] else 'non-default'}, "
                        f"{len(labels)} rows); need both defaults and non-defaults to train")
    return labels


def check_ids(frame: pd.DataFrame, spec: FeatureSpec, source: str) -> np.ndarray | None:
    if not spec.id_column:
        return None
    if spec.id_column not in frame.columns:
        raise DataError(f"{source}: id column '{spec.id_column}' is missing (found: {list(frame.columns)[:30]})")
    ids = frame[spec.id_column]
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        first = ids[duplicated].iloc[0]
        first = first.item() if hasattr(first, "item") else first
        rows = np.flatnonzero((ids == first).to_numpy())[:5].tolist()
        raise DataError(f"{source}: id column '{spec.id_column}' repeats id {first!r} (rows {rows}); "
                        f"{int(ids.duplicated().sum())} duplicate row(s) in all; ids must be unique")
    return ids.to_numpy()


def read_oracle(truth_path, ids: np.ndarray | None, id_column: str | None) -> np.ndarray | None:
    """The generator's true default probability for each id (synthetic data only), else None."""
    if truth_path is None or not Path(truth_path).exists() or ids is None:
        return None
    truth = pd.read_parquet(truth_path)
    position = pd.Index(truth[id_column]).get_indexer(ids)
    if (position < 0).any():
        raise DataError(f"{truth_path}: has no true probability for id {ids[int(np.flatnonzero(position < 0)[0])]!r}")
    return truth["true_prob"].to_numpy()[position]


def stratified_split(labels: np.ndarray, seed: int, fractions=(0.6, 0.2, 0.2)) -> dict[str, np.ndarray]:
    """Seeded, stratified train/valid/test indices (sorted, so row order inside a split is stable)."""
    index = np.arange(len(labels))
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 5:
        raise DataError(f"need at least 5 rows of each class to split 60/20/20; got {counts[0]} non-defaults and {counts[1]} defaults")
    train, rest = train_test_split(index, train_size=fractions[0], stratify=labels, random_state=seed)
    valid, test = train_test_split(rest, train_size=fractions[1] / (fractions[1] + fractions[2]),
                                   stratify=labels[rest], random_state=seed)
    return {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}


def load_dataset(spec: FeatureSpec, data_path: str | Path, split_seed: int = 42,
                 truth_path: str | Path | None = None, log=print) -> Dataset:
    """Read and validate `data_path`, add aggregated transaction features, label and split."""
    source = str(data_path)
    frame = read_table(data_path)
    labels = encode_labels(frame, spec, source)
    ids = check_ids(frame, spec, source)
    report: dict[str, Any] = {"rows": int(len(frame)), "positive_rate": float(labels.mean())}
    if spec.transactions is not None:
        if ids is None:
            raise DataError(f"{source}: the spec has a transactions block, so it needs an 'id' column to join on")
        tx_path = Path(spec.transactions.path)
        if not tx_path.is_absolute():
            tx_path = Path(data_path).parent / tx_path
        features, agg = aggregate_transactions(tx_path, frame, spec.transactions, spec.id_column)
        clash = [c for c in features.columns if c != spec.id_column and c in frame.columns]
        if clash:
            raise DataError(f"{source}: column(s) {clash} exist in the data and are also produced by the transaction aggregation")
        frame = pd.concat([frame.reset_index(drop=True), features.drop(columns=[spec.id_column])], axis=1)
        report["transactions"] = dataclasses.asdict(agg)
        log(f"aggregated {agg.rows_in_window:,} transactions ({agg.rows_outside_window:,} outside the window and "
            f"{agg.rows_unknown_id:,} with unknown ids excluded; {agg.enterprises_without_transactions:,} enterprises without any)")
    arrays = prepare_frame(spec, frame, source)
    oracle = read_oracle(truth_path, ids, spec.id_column)
    rejected = None
    if spec.label.rejected_column and spec.label.rejected_column in frame.columns:
        rejected = frame[spec.label.rejected_column].fillna(False).astype(bool).to_numpy()
    return Dataset(spec=spec, arrays=arrays, labels=labels, split_indices=stratified_split(labels, split_seed),
                   ids=ids, oracle=oracle, report=report, rejected=rejected)
