"""Sharded training input: file globs read through tf.data, each worker reading its own shard.

`--train_data='data/big/train-*.parquet' --valid_data=... --test_data=...` gives the splits as
files (the usual layout at scale, instead of the 60/20/20 split of one file). The train files
are sorted and dealt to workers round-robin (worker k reads files k, k+W, ...); each worker
reads its files with a parallel `tf.data` interleave of per-file readers (Arrow record
batches, so column types are exactly what a single-file read gives). Every worker reads the
validation and test files whole, so every worker computes the same validation AUC and the
early-stopping decisions stay in lockstep.

Two things every worker must agree on without reading all the data:
- the number of training steps: Parquet footers (or a CSV row count) give every file's row
  count, so each worker truncates its shard to the smallest worker's row count;
- the fitted preprocessing: fitted on the first `fit_shards` training files (0 = all of them),
  which every worker reads. Only training files are ever used for fitting.
"""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from feature_columns.errors import DataError
from feature_columns.fitting import prepare_frame
from feature_columns.spec import FeatureSpec
from wide_deep.aggregation import aggregate_transactions
from wide_deep.data import Dataset, check_ids, encode_labels

READ_BATCH_ROWS = 65_536


def is_glob(path) -> bool:
    return path is not None and any(ch in str(path) for ch in "*?[")


def expand(pattern: str, what: str) -> list[str]:
    files = sorted(glob.glob(str(pattern))) if is_glob(pattern) else [str(pattern)]
    missing = [f for f in files if not Path(f).is_file()]
    if not files or missing:
        raise DataError(f"{what}: no file matches {pattern!r}" if not files else f"{what}: {missing[0]} does not exist")
    return files


def row_count(path: str) -> int:
    if path.endswith((".parquet", ".pq")):
        return pq.ParquetFile(path).metadata.num_rows
    return pacsv.read_csv(path).num_rows


def _record_batches(path: bytes):
    """One file as serialized Arrow record batches (the tf.data reader's unit of work)."""
    path = path.decode()
    batches = pq.ParquetFile(path).iter_batches(READ_BATCH_ROWS) if path.endswith((".parquet", ".pq")) else \
        pacsv.open_csv(path)
    for batch in batches:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        yield sink.getvalue().to_pybytes()


def read_files(files: list[str], parallel: int = 4) -> pd.DataFrame:
    """Read `files` through tf.data: a deterministic parallel interleave of per-file readers."""
    import tensorflow as tf
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.Dataset.from_generator(_record_batches, args=(path,),
                                                    output_signature=tf.TensorSpec([], tf.string)),
        cycle_length=min(parallel, len(files)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    tables = [pa.ipc.open_stream(blob.numpy()).read_all() for blob in dataset]
    if not tables:
        raise DataError(f"{files[0]}: the files hold no rows")
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DataError(f"the shard files do not share one schema ({files[0]} ...): {err}") from None


def _with_transactions(spec: FeatureSpec, frame: pd.DataFrame, first_file: str) -> pd.DataFrame:
    from wide_deep.aggregation import FEATURES
    if spec.transactions is None or set(FEATURES) <= set(frame.columns):
        return frame
    tx = Path(spec.transactions.path)
    tx = tx if tx.is_absolute() else Path(first_file).parent / tx
    features, _ = aggregate_transactions(tx, frame, spec.transactions, spec.id_column)
    return pd.concat([frame.reset_index(drop=True), features.drop(columns=[spec.id_column])], axis=1)


def load_sharded(spec: FeatureSpec, train: str, valid: str, test: str, num_workers: int = 1, worker_index: int = 0,
                 fit_shards: int = 0, log=print) -> tuple[Dataset, dict]:
    """(this worker's Dataset with train/valid/test split_indices, the arrays to fit preprocessing on)."""
    if not valid or not test:
        raise DataError("a sharded --train_data needs --valid_data and --test_data (files or globs) as well")
    files = expand(train, "--train_data")
    if len(files) < num_workers:
        raise DataError(f"--train_data matches {len(files)} file(s) but there are {num_workers} workers; "
                        f"each worker needs at least one")
    mine = files[worker_index::num_workers]
    per_worker = [sum(row_count(f) for f in files[k::num_workers]) for k in range(num_workers)]
    common = min(per_worker)
    frames = {"train": read_files(mine).iloc[:common].reset_index(drop=True),
              "valid": read_files(expand(valid, "--valid_data")), "test": read_files(expand(test, "--test_data"))}
    dropped = per_worker[worker_index] - common
    log(f"worker {worker_index + 1}/{num_workers}: read {len(mine)} of {len(files)} training shard files through "
        f"tf.data ({common:,} rows" + (f"; {dropped:,} dropped to match the smallest worker's shard" if dropped else "") + ")")
    arrays, labels, ids, rejected, index, start = {}, [], [], [], {}, 0
    for name, frame in frames.items():
        source = f"--{name}_data"
        labels.append(encode_labels(frame, spec, source))
        ids.append(check_ids(frame, spec, source))
        frame = _with_transactions(spec, frame, files[0])
        part = prepare_frame(spec, frame, source)
        for key, values in part.items():
            arrays.setdefault(key, []).append(values)
        column = spec.label.rejected_column
        rejected.append(frame[column].fillna(False).astype(bool).to_numpy() if column and column in frame.columns else None)
        index[name] = np.arange(start, start + len(frame))
        start += len(frame)
    fit_files = files if fit_shards <= 0 else files[:fit_shards]
    fit_frame = frames["train"] if fit_files == mine and num_workers == 1 else read_files(fit_files)
    fit_arrays = prepare_frame(spec, _with_transactions(spec, fit_frame, files[0]), "--train_data (fitting)")
    dataset = Dataset(spec=spec, arrays={k: np.concatenate(v) for k, v in arrays.items()}, labels=np.concatenate(labels),
                      split_indices=index, ids=None if any(i is None for i in ids) else np.concatenate(ids),
                      report={"rows": int(start), "train_files": len(files), "train_files_read": len(mine),
                              "fit_files": len(fit_files)},
                      rejected=None if any(r is None for r in rejected) else np.concatenate(rejected))
    return dataset, fit_arrays
