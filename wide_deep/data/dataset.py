"""A labelled table read against its spec, and its seeded 60/20/20 split.

`labelled_rows` is the one way a raw frame becomes model rows (labels, ids, the transaction
features, the prepared arrays, the rejected flags); the in-memory loader here and the
sharded loader (`wide_deep.data.shards`) both use it. Every user mistake becomes a
`DataError` naming the column, row or value; nothing is dropped silently (the report counts
what was imputed or excluded).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from feature_columns.errors import DataError, UserError, data_row, data_rows
from feature_columns.inputs import prepare_frame
from feature_columns.spec import TRANSACTION_FEATURES, FeatureSpec
from feature_columns.values import canonical_categories, canonical_category
from wide_deep.data.aggregation import aggregate_transactions
from wide_deep.data.sequences import bin_transactions, log_sequence_columns
from wide_deep.data.sources import read_table, transactions_path
from wide_deep.data.training_input import TrainingInput

SPLITS = ("train", "valid", "test")


@dataclasses.dataclass
class Split:
    """Rows of one split: the prepared model inputs, the 0/1 labels, and what evidence needs beside them."""

    arrays: dict[str, np.ndarray]
    labels: np.ndarray
    ids: np.ndarray | None = None
    oracle: np.ndarray | None = None  # the synthetic data's true default probability
    # the same without what the protected columns add (the best a model that leaves them out can do)
    oracle_permitted: np.ndarray | None = None
    rejected: np.ndarray | None = None  # the label spec's rejected_column, when the data has it
    dates: np.ndarray | None = None  # application dates (datetime64), read for an out-of-time split

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> Split:
        def pick(values):
            return None if values is None else values[index]

        return Split(
            {k: v[index] for k, v in self.arrays.items()},
            self.labels[index],
            pick(self.ids),
            pick(self.oracle),
            pick(self.oracle_permitted),
            pick(self.rejected),
            pick(self.dates),
        )

    @staticmethod
    def concatenate(parts: list[Split]) -> Split:
        def join(values):
            return None if any(v is None for v in values) else np.concatenate(values)

        return Split(
            {k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].arrays},
            np.concatenate([p.labels for p in parts]),
            join([p.ids for p in parts]),
            join([p.oracle for p in parts]),
            join([p.oracle_permitted for p in parts]),
            join([p.rejected for p in parts]),
            join([p.dates for p in parts]),
        )


@dataclasses.dataclass
class LoadedData:
    """What a loader hands the pipeline: the splits, the rows to fit the preprocessing on, and how
    training reads its rows.

    `splits` holds "valid" and "test", and "train" whenever the training rows are held in memory
    (in memory, or this worker's share of sharded files). `reference` is the training sample the
    evidence compares with: the train split, or the fitting files when training is streamed.
    """

    splits: dict[str, Split]
    fit_arrays: dict[str, np.ndarray]
    reference: Split
    training: TrainingInput
    report: dict[str, Any]

    def limited(self, seed: int, **limits: int) -> LoadedData:
        """A seeded random subset of at most `limits[split]` rows per split (quick runs and tests)."""
        self.training.require_held("limiting the rows")
        rng = np.random.default_rng(seed)
        splits = dict(self.splits)
        for name, limit in limits.items():
            if len(splits[name]) > limit:
                splits[name] = splits[name].take(np.sort(rng.choice(len(splits[name]), limit, replace=False)))
        return dataclasses.replace(
            self, splits=splits, reference=splits["train"], training=TrainingInput.in_memory(len(splits["train"]))
        )


UNLABELLED = -1  # encode_labels' value for a row whose label is empty (with `label.missing: drop`)


def encode_labels(
    frame: pd.DataFrame,
    spec: FeatureSpec,
    source: str,
    negative: set[str] | None = None,
    require_both_classes: bool = True,
    row_offset: int = 0,
) -> np.ndarray:
    """Raw label values → 0/1 using the spec's positive (and optional negative) values; with the spec's
    `label.missing: drop`, UNLABELLED (-1) for an empty label (the callers drop those rows, see `labelled`).

    Without `negative` in the spec, the one value besides the positive ones is the negative
    class. A streamed batch passes the `negative` values found in the fitting files and
    `require_both_classes=False` (one batch may hold a single class).
    """
    column = spec.label.column
    if column not in frame.columns:
        raise DataError(f"{source}: label column '{column}' is missing (found: {list(frame.columns)[:30]})")
    raw = frame[column].to_numpy(dtype=object)
    values = canonical_categories(frame[column])
    is_empty = values == ""
    if is_empty.any() and spec.label.missing != "drop":
        empty = np.flatnonzero(is_empty)
        raise DataError(
            f"{source}: label column '{column}' is empty in {empty.size} row(s), first at "
            f"{data_row(int(empty[0]) + row_offset)}; add `missing: drop` under label in the spec to "
            f"leave such rows out"
        )
    values = np.where(is_empty, None, values)
    positive = {canonical_category(v) for v in spec.label.positive}
    if spec.label.negative is not None:
        negative = {canonical_category(v) for v in spec.label.negative}
    elif negative is None:
        negative = set(np.unique(values[~is_empty])) - positive
        if len(negative) > 1:
            raise DataError(
                f"{source}: label column '{column}' has values {sorted(negative)} besides the positive "
                f"{sorted(positive)}; list the non-default value(s) under label.negative in the spec"
            )
    unknown = ~np.isin(values, list(positive | negative)) & ~is_empty
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise DataError(
            f"{source}: label column '{column}' {data_row(row + row_offset)} has value {raw[row]!r}; expected "
            f"one of positive {sorted(positive)} or negative {sorted(negative)}"
        )
    labels = np.where(is_empty, UNLABELLED, np.isin(values, list(positive))).astype("int64")
    known = labels[~is_empty]
    if require_both_classes and (known.size == 0 or known.min() == known.max()):
        kind = "no labelled row" if known.size == 0 else "default" if known[0] else "non-default"
        raise DataError(
            f"{source}: label column '{column}' has only one class ({kind}, {known.size} rows); need "
            f"both defaults and non-defaults to train"
        )
    return labels


def labelled(labels: np.ndarray) -> np.ndarray | None:
    """The positions of the rows that have a label, or None when every row has one."""
    return np.flatnonzero(labels != UNLABELLED) if (labels == UNLABELLED).any() else None


def negative_label_values(frame: pd.DataFrame, spec: FeatureSpec) -> set[str] | None:
    """The negative label values later batches may hold: the spec's (None), or those found in `frame`."""
    if spec.label.negative is not None:
        return None
    positive = {canonical_category(v) for v in spec.label.positive}
    return set(canonical_categories(frame[spec.label.column])) - positive - {""}  # "": an empty label


def check_ids(frame: pd.DataFrame, spec: FeatureSpec, source: str) -> np.ndarray | None:
    if not spec.id_column:
        return None
    if spec.id_column not in frame.columns:
        raise DataError(f"{source}: id column '{spec.id_column}' is missing (found: {list(frame.columns)[:30]})")
    ids = frame[spec.id_column]
    missing = ids.isna().to_numpy()
    if missing.any():
        raise DataError(
            f"{source}: id column '{spec.id_column}' is empty in {int(missing.sum()):,} of {len(ids):,} "
            f"row(s), first at {data_rows(np.flatnonzero(missing)[:5])}; every row needs an id"
        )
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        first = ids[duplicated].iloc[0]
        first = first.item() if hasattr(first, "item") else first
        rows = np.flatnonzero((ids == first).to_numpy())[:5]
        raise DataError(
            f"{source}: id column '{spec.id_column}' repeats id {first!r} ({data_rows(rows)}); "
            f"{int(ids.duplicated().sum())} duplicate row(s) in all; ids must be unique"
        )
    return ids.to_numpy()


def needs_transactions(spec: FeatureSpec, columns) -> bool:
    """Whether data with these columns must have transaction features computed from a raw log: the spec
    has a transactions block and the data lacks some aggregated feature or log-sequence column."""
    return spec.transactions is not None and not set(transaction_columns(spec)) <= set(columns)


def transaction_columns(spec: FeatureSpec) -> list[str]:
    """The columns the spec's transactions block adds to the data: the aggregates and the log sequences."""
    return list(TRANSACTION_FEATURES) + log_sequence_columns(spec) if spec.transactions is not None else []


def add_transaction_features(spec: FeatureSpec, frame: pd.DataFrame, transactions, source: str, engine=None):
    """(`frame` with the aggregated transaction features and log sequences, the aggregation report or None).

    Nothing to do when the spec has no transactions block or the frame already holds every
    column it adds (e.g. files written by `make shards`). `transactions` is a log path or a
    DataFrame of raw transactions; `engine` runs the transaction SQL (default: DuckDB here).
    """
    if not needs_transactions(spec, frame.columns):
        return frame, None
    if not spec.id_column:
        raise DataError(f"{source}: the spec has a transactions block, so it needs an 'id' column to join on")
    if transactions is None:
        raise DataError(
            f"{source}: the spec aggregates raw transactions, but no transactions were given "
            f"(and the columns {sorted(TRANSACTION_FEATURES)[:3]}... are not in the input)"
        )
    features, report = aggregate_transactions(transactions, frame, spec.transactions, spec.id_column, engine)
    features = features.drop(columns=[spec.id_column])
    if spec.log_sequences:
        binned = bin_transactions(transactions, frame, spec.transactions, spec.id_column, spec.log_sequences, engine)
        features = pd.concat([features, binned], axis=1)
    clash = [c for c in features.columns if c in frame.columns]
    if clash:
        raise DataError(
            f"{source}: column(s) {clash[:5]} exist in the data and are also computed from the transaction log"
        )
    return pd.concat([frame.reset_index(drop=True), features], axis=1), report


def application_dates(frame: pd.DataFrame, column: str, source: str) -> np.ndarray:
    """The column's values as datetime64 (timezone dropped); a DataError names the column and the first row that is
    missing or not a date."""
    if column not in frame.columns:
        raise DataError(
            f"{source}: the date column '{column}' (an out-of-time split orders by it) is missing (found: "
            f"{list(frame.columns)[:30]})"
        )
    dates = pd.to_datetime(frame[column], errors="coerce", utc=True)
    bad = dates.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: date column '{column}' {data_row(row)} has {frame[column].iloc[row]!r}, not a date; an "
            f"out-of-time split needs every row's date"
        )
    return dates.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def labelled_rows(spec: FeatureSpec, frame: pd.DataFrame, source: str, transactions=None, date_column=None):
    """(the frame's rows as a `Split`, the transaction aggregation report or None): labels, ids, the
    transaction features, the prepared arrays and the rejected flags, in that order of checking; with
    `date_column`, each row's date too."""
    labels = encode_labels(frame, spec, source)
    ids = check_ids(frame, spec, source)
    dates = application_dates(frame, date_column, source) if date_column else None
    frame, aggregation = add_transaction_features(spec, frame, transactions, source)
    arrays = prepare_frame(spec, frame, source)  # every row checked, so messages give the file's row numbers
    rejected = None
    if spec.label.rejected_column and spec.label.rejected_column in frame.columns:
        rejected = frame[spec.label.rejected_column].fillna(False).astype(bool).to_numpy()
    rows = Split(arrays, labels, ids, rejected=rejected, dates=dates)
    keep = labelled(labels)
    return (rows if keep is None else rows.take(keep)), aggregation


ORACLE_COLUMNS = {"oracle": "true_prob", "oracle_permitted": "true_prob_without_protected"}


def attach_oracle(rows: Split, truth_path, id_column: str | None) -> Split:
    """`rows` with the generator's true default probabilities for their ids (synthetic data only; a truth file
    from an older generator has no `true_prob_without_protected`, and that field stays None)."""
    if truth_path is None or not Path(truth_path).exists() or rows.ids is None:
        return rows
    truth = pd.read_parquet(truth_path)
    position = pd.Index(truth[id_column]).get_indexer(rows.ids)
    if (position < 0).any():
        missing = rows.ids[int(np.flatnonzero(position < 0)[0])]
        raise DataError(f"{truth_path}: has no true probability for id {missing!r}")
    for field, column in ORACLE_COLUMNS.items():
        if column in truth.columns:
            setattr(rows, field, truth[column].to_numpy()[position])
    return rows


def stratified_split(labels: np.ndarray, seed: int, fractions=(0.6, 0.2, 0.2)) -> dict[str, np.ndarray]:
    """Seeded, stratified train/valid/test indices (sorted, so row order inside a split is stable)."""
    index = np.arange(len(labels))
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 5:
        raise DataError(
            f"need at least 5 rows of each class to split 60/20/20; got {counts[0]} non-defaults and "
            f"{counts[1]} defaults"
        )
    train, rest = train_test_split(index, train_size=fractions[0], stratify=labels, random_state=seed)
    valid, test = train_test_split(
        rest, train_size=fractions[1] / (fractions[1] + fractions[2]), stratify=labels[rest], random_state=seed
    )
    return {"train": np.sort(train), "valid": np.sort(valid), "test": np.sort(test)}


def time_split(dates: np.ndarray, labels: np.ndarray, fractions=(0.6, 0.2, 0.2)) -> dict[str, np.ndarray]:
    """Out-of-time train/valid/test indices: the earliest rows train, the next validate, the latest test, cut at
    `fractions` of the rows, each cut moved back to the first row of its date so that one date stays in one split."""
    order = np.argsort(dates, kind="stable")
    ordered = dates[order]
    cuts = []
    for share in np.cumsum(fractions)[:-1]:
        at = int(round(share * len(dates)))
        cuts.append(int(np.searchsorted(ordered, ordered[min(at, len(dates) - 1)], side="left")) if at else 0)
    parts = dict(zip(("train", "valid", "test"), np.split(order, cuts)))
    for name, index in parts.items():
        counts = np.bincount(labels[index], minlength=2)
        if counts.min() < 5:
            raise DataError(
                f"an out-of-time split needs at least 5 rows of each class in every split; the {name} split "
                f"({len(index)} rows) has {counts[0]} non-defaults and {counts[1]} defaults"
            )
    return {name: np.sort(index) for name, index in parts.items()}


def split_periods(dates: np.ndarray, splits: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Each split's first and last date (ISO), for the run's record and the report."""
    return {
        name: [
            str(np.datetime_as_string(dates[index].min(), unit="D")),
            str(np.datetime_as_string(dates[index].max(), unit="D")),
        ]
        for name, index in splits.items()
    }


def read_labelled_file(
    spec: FeatureSpec, data: str | Path | pd.DataFrame, truth_path=None, log=print, date_column=None
):
    """(all rows of one file, or of a DataFrame, as a `Split`, its report): read, validated, with the
    transaction features (a DataFrame's transaction log path is relative to the working folder); with
    `date_column`, each row's date."""
    in_memory = isinstance(data, pd.DataFrame)
    source = "the DataFrame" if in_memory else str(data)
    data_path = Path.cwd() / "DataFrame" if in_memory else data
    tx = transactions_path(spec.transactions, data_path) if spec.transactions is not None else None
    log(f"reading {source}" + (f" and aggregating the transactions in {tx}" if tx is not None else ""))
    frame = data if in_memory else read_table(data_path)
    rows, aggregation = labelled_rows(spec, frame, source, tx, date_column)
    report: dict[str, Any] = {"rows": int(len(frame)), "positive_rate": float(rows.labels.mean())}
    if len(rows) < len(frame):
        report["unlabelled_rows_dropped"] = len(frame) - len(rows)
        log(f"{source}: {len(frame) - len(rows):,} row(s) without a label left out (label.missing: drop)")
    if aggregation is not None:
        report["transactions"] = dataclasses.asdict(aggregation)
        log(aggregation.summary())
    return attach_oracle(rows, truth_path, spec.id_column), report


def load_dataset(
    spec: FeatureSpec,
    data: str | Path | pd.DataFrame,
    split_seed: int = 42,
    truth_path=None,
    log=print,
    split: str = "random",
) -> LoadedData:
    """Read and validate `data` (a file or a DataFrame), add aggregated transaction features, label and split
    60/20/20: at random, stratified (`split="random"`), or out of time (`"time"`: by the spec's date column)."""
    date_column = spec.split_date_column if split == "time" else None
    if split == "time" and date_column is None:
        raise UserError(
            "--split=time orders the applications by date: name their date column in the spec (date: <column>), "
            "or use a spec whose transactions block has an as_of_column"
        )
    rows, report = read_labelled_file(spec, data, truth_path, log, date_column)
    if split == "time":
        index = time_split(rows.dates, rows.labels)
        report["split"] = {"design": "time", "date_column": date_column, "periods": split_periods(rows.dates, index)}
        periods = report["split"]["periods"]
        log(
            f"out-of-time split on {date_column}: "
            + "; ".join(f"{name} {first} to {last}" for name, (first, last) in periods.items())
        )
    else:
        index = stratified_split(rows.labels, split_seed)
        report["split"] = {"design": "random", "seed": split_seed}
    splits = {name: rows.take(i) for name, i in index.items()}
    train = splits["train"]
    return LoadedData(splits, train.arrays, train, TrainingInput.in_memory(len(train)), report)
