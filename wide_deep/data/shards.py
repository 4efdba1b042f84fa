"""Sharded training input: file globs read through tf.data, each worker reading its own shard.

`--train_data='data/big/train-*.parquet' --valid_data=... --test_data=...` gives the splits as
files (the usual layout at scale, instead of the 60/20/20 split of one file). The train files
are sorted and dealt to workers round-robin (worker k reads files k, k+W, ...); each worker
reads its files with a parallel `tf.data` interleave of per-file readers (Arrow record
batches, so column types are exactly what a single-file read gives). Every worker reads the
validation and test files whole, so every worker computes the same validation AUC and the
early-stopping decisions stay in lockstep.

With `streaming=True` the training files are not held in memory at all: every epoch reads
them again (`TrainStream.dataset`: files in a seeded per-epoch order, a parallel interleave of
readers, the fitted preprocessing as a `map`, seeded shuffles of fixed-size windows, batches), so
memory is bounded by the shuffle window, the fitting files and the validation and test files, whatever
the size of the training data.

Two things every worker must agree on without reading all the data:
- the number of training steps: Parquet footers (or a CSV row count) give every file's row
  count, so each worker truncates its shard to the smallest worker's row count;
- the fitted preprocessing: fitted on the first `fit_shards` training files (0 = all of them),
  which every worker reads. Only training files are ever used for fitting.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from feature_columns.errors import DataError
from feature_columns.inputs import prepare_frame
from feature_columns.spec import FeatureSpec
from wide_deep.data.dataset import (
    LoadedData,
    Split,
    add_transaction_features,
    attach_oracle,
    check_ids,
    encode_labels,
    labelled,
    labelled_rows,
    needs_transactions,
    negative_label_values,
    stratified_split,
)
from wide_deep.data.sources import (
    column_names,
    read_table,
    record_batches,
    row_count,
    transactions_path,
    write_frame,
)
from wide_deep.data.synthetic import METADATA_FILE, TRUTH_FILE
from wide_deep.data.training_input import TrainingInput

READ_BATCH_ROWS = 65_536
STREAM_READ_ROWS = 32_768  # rows per read (and per preprocessing call) when streaming
SHARDS_FILE = "shards.json"  # what `write_shards` wrote: source, split seed, shard count, rows


def is_glob(path) -> bool:
    return path is not None and any(ch in str(path) for ch in "*?[")


def expand(pattern: str, what: str) -> list[str]:
    files = sorted(glob.glob(str(pattern))) if is_glob(pattern) else [str(pattern)]
    missing = [f for f in files if not Path(f).is_file()]
    if not files or missing:
        raise DataError(f"{what}: no file matches {pattern!r}" if not files else f"{what}: {missing[0]} does not exist")
    return files


def _record_batches(path: bytes):
    """One file as serialized Arrow record batches (the tf.data reader's unit of work)."""
    for batch in record_batches(path.decode(), READ_BATCH_ROWS):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        yield sink.getvalue().to_pybytes()


def read_files(files: list[str], parallel: int = 4) -> pd.DataFrame:
    """Read `files` through tf.data: a deterministic parallel interleave of per-file readers."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        lambda path: tf.data.Dataset.from_generator(
            _record_batches, args=(path,), output_signature=tf.TensorSpec([], tf.string)
        ),
        cycle_length=min(parallel, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    tables = [pa.ipc.open_stream(blob.numpy()).read_all() for blob in dataset]
    if not tables:
        raise DataError(f"{files[0]}: the files hold no rows")
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise DataError(f"the shard files do not share one schema ({files[0]} ...): {err}") from None


def _rows(spec: FeatureSpec, frame: pd.DataFrame, source: str, first_file: str, truth) -> Split:
    """Labelled rows of a frame read from shard files (transactions joined relative to the first train file)."""
    tx = transactions_path(spec.transactions, first_file) if spec.transactions is not None else None
    rows, _ = labelled_rows(spec, frame, source, tx)
    return attach_oracle(rows, truth, spec.id_column)


@dataclasses.dataclass(frozen=True)
class ShardOptions:
    """How one worker reads sharded training files: its place among the workers, how many files the preprocessing
    is fitted on (0: all), and whether the training files are streamed every epoch instead of held."""

    num_workers: int = 1
    worker_index: int = 0
    fit_shards: int = 0
    streaming: bool = False
    shuffle_window: int = 65_536


def load_sharded(
    spec: FeatureSpec, train: str, valid: str, test: str, options: ShardOptions = ShardOptions(), truth=None, log=print
) -> LoadedData:
    """This worker's splits, the rows to fit the preprocessing on, and its training input (held share or stream).

    Streaming, no train split is held: the stream reads this worker's training files every epoch,
    and the fitting files are the evidence's training reference.
    """
    files = _checked_files(spec, train, valid, test, options)
    workers, index = options.num_workers, options.worker_index
    mine = files[index::workers]
    per_worker = [sum(row_count(f) for f in files[k::workers]) for k in range(workers)]
    common = min(per_worker)
    fit_files = files if options.fit_shards <= 0 else files[: options.fit_shards]
    if options.streaming:
        train_frame = read_files(fit_files)
        what = f"streams {len(mine)} of {len(files)} training shard files through tf.data every epoch"
    else:
        train_frame = read_files(mine).iloc[:common].reset_index(drop=True)
        what = f"read {len(mine)} of {len(files)} training shard files through tf.data"
    frames = {
        "train": train_frame,
        "valid": read_files(expand(valid, "--valid_data")),
        "test": read_files(expand(test, "--test_data")),
    }
    dropped = per_worker[index] - common
    log(
        f"worker {index + 1}/{workers}: {what} ({common:,} rows"
        + (f"; {dropped:,} dropped to match the smallest worker's shard" if dropped else "")
        + ")"
        + (
            f"; preprocessing fitted on {len(fit_files)} file(s), {len(train_frame):,} rows"
            if options.streaming
            else ""
        )
    )
    sources = {
        "train": "--train_data (fitting files)" if options.streaming else "--train_data",
        "valid": "--valid_data",
        "test": "--test_data",
    }
    splits = {name: _rows(spec, frame, sources[name], files[0], truth) for name, frame in frames.items()}
    report = {
        "rows": int(sum(len(s) for s in splits.values())),
        "train_files": len(files),
        "train_files_read": len(mine),
        "fit_files": len(fit_files),
        "train_rows_all_workers": common * workers,
        "streaming": options.streaming,
    }
    if options.streaming:
        fitting = splits.pop("train")
        negative = negative_label_values(frames["train"], spec)
        stream = TrainStream(spec, mine, common, common * workers, negative, options.shuffle_window)
        return LoadedData(splits, fitting.arrays, fitting, TrainingInput.streamed(stream), report)
    if fit_files == mine and workers == 1:
        fit_arrays = splits["train"].arrays
    else:
        tx = transactions_path(spec.transactions, files[0]) if spec.transactions is not None else None
        fit_frame, _ = add_transaction_features(spec, read_files(fit_files), tx, "--train_data (fitting)")
        fit_arrays = prepare_frame(spec, fit_frame, "--train_data (fitting)")
    return LoadedData(splits, fit_arrays, splits["train"], TrainingInput.sharded(common, workers), report)


def _checked_files(spec: FeatureSpec, train: str, valid: str, test: str, options: ShardOptions) -> list[str]:
    """The training files, after the checks that need no reading: the split files given, a file per worker,
    streaming with fitting files and with files that already hold the transaction features."""
    files = expand(train, "--train_data")
    if not valid or not test:
        raise DataError("a sharded --train_data needs --valid_data and --test_data (files or globs) as well")
    if len(files) < options.num_workers:
        raise DataError(
            f"--train_data matches {len(files)} file(s) but there are {options.num_workers} workers; "
            f"each worker needs at least one"
        )
    if options.streaming and options.fit_shards <= 0:
        raise DataError(
            "--streaming needs --fit_shards=N: the preprocessing is fitted on the first N training files, "
            "which are read into memory (all of them would defeat streaming)"
        )
    if options.streaming and needs_transactions(spec, column_names(files[0])):
        raise DataError(
            f"--streaming reads training files that already hold the aggregated transaction features; "
            f"{files[0]} has none (write them with `make shards`)"
        )
    return files


@dataclasses.dataclass
class TrainStream:
    """This worker's training files, read again every epoch instead of held in memory.

    Rows are validated and canonicalised by the same `prepare_frame` as an in-memory read,
    one record batch at a time; a `DataError` raised inside the tf.data reader is kept in
    `errors` so the trainer can report it as the user mistake it is.
    """

    spec: FeatureSpec
    files: list[str]
    rows: int  # rows this worker trains per epoch (the smallest worker's share)
    total_rows: int  # rows trained per epoch by all workers together
    negative: set[str] | None = None  # the negative label values (None: the spec lists them)
    shuffle_window: int = 65_536  # rows shuffled together (a seeded permutation per window)
    errors: list = dataclasses.field(default_factory=list)

    def _prepared_batches(self, path: bytes):
        path, start = path.decode(), 0
        for batch in record_batches(path, STREAM_READ_ROWS):
            frame = batch.to_pandas()
            try:
                labels = encode_labels(
                    frame, self.spec, path, self.negative, require_both_classes=False, row_offset=start
                )
                arrays = prepare_frame(self.spec, frame, path, row_offset=start)
            except DataError as err:
                self.errors.append(err)
                raise
            start += len(frame)
            keep = labelled(labels)
            if keep is not None:
                arrays, labels = {name: values[keep] for name, values in arrays.items()}, labels[keep]
            yield arrays, labels.astype("float32")

    def dataset(self, encode, batch_size: int, seed: int, epoch, parallel: int = 4):
        """One epoch: every row of this worker's share once, in an order fixed by (seed, epoch).

        `epoch` may be a tensor, so a `tf.function` can build the pipeline once for all epochs.
        """
        import tensorflow as tf

        signature = (
            {c.name: tf.TensorSpec([None, *c.input_shape], c.raw_dtype) for c in self.spec.input_columns},
            tf.TensorSpec([None], tf.float32),
        )
        epoch_seed = seed * 1_000_003 + epoch
        files = tf.data.Dataset.from_tensor_slices(self.files)
        if len(self.files) > 1:
            files = files.shuffle(len(self.files), seed=epoch_seed)
        rows = files.interleave(
            lambda path: tf.data.Dataset.from_generator(
                self._prepared_batches, args=(path,), output_signature=signature
            ),
            cycle_length=min(parallel, len(self.files)),
            num_parallel_calls=min(parallel, len(self.files)),
            deterministic=True,
        )
        # one vectorised preprocessing call per read batch; a parallel map would be run sequentially
        # anyway under op determinism (the lookups are stateful)
        blocks = rows.prefetch(2).map(lambda features, labels: (encode(features), labels))
        window, limit = self.shuffle_window, self.rows

        def shuffle_window(index, block):
            """Window `index` of the epoch: cut at this worker's row count, then in a seeded random order."""
            features, labels = block
            keep = tf.clip_by_value(limit - index * window, 0, tf.shape(labels, out_type=tf.int64)[0])
            order = tf.random.experimental.stateless_shuffle(
                tf.range(keep), seed=tf.stack([tf.cast(epoch_seed, tf.int64), index])
            )
            return {k: tf.gather(v, order) for k, v in features.items()}, tf.gather(labels, order)

        # fixed-size windows shuffled whole, then cut into batches: ~1.6x the rows/s of an
        # element-wise shuffle buffer of the same size (measured), with the same mixing span
        return (
            blocks.rebatch(window)
            .enumerate()
            .map(shuffle_window)
            .filter(lambda _, labels: tf.size(labels) > 0)
            .rebatch(batch_size)
            .prefetch(4)
        )  # fixed buffers (not AUTOTUNE): memory must not grow with the data

    def reraise_data_error(self) -> None:
        if self.errors:
            raise self.errors[0]


def write_shards(
    spec: FeatureSpec,
    data_path: str | Path,
    output_dir: str | Path,
    num_shards: int,
    split_seed: int = 42,
    log=print,
    engine=None,
) -> dict[str, int]:
    """One data file (+ its transaction log) → train shards, valid and test files that stream.

    The transaction features are aggregated once (by `engine`: DuckDB with bounded memory by
    default, or Spark) and written next to the raw columns, so training never touches the log
    again. The split is the stratified 60/20/20 split training uses for one file (same
    `split_seed`, same rows); training rows are dealt to the shards in a seeded random order, so
    every shard is a random sample.
    """
    if num_shards < 1:
        raise DataError(f"--num_shards must be at least 1, got {num_shards}")
    frame = read_table(data_path)
    labels = encode_labels(frame, spec, str(data_path))
    check_ids(frame, spec, str(data_path))
    tx = transactions_path(spec.transactions, data_path) if spec.transactions is not None else None
    frame, _ = add_transaction_features(spec, frame, tx, str(data_path), engine)
    keep = labelled(labels)
    if keep is not None:
        frame, labels = frame.iloc[keep].reset_index(drop=True), labels[keep]
    split = stratified_split(labels, split_seed)
    if num_shards > len(split["train"]):
        raise DataError(f"--num_shards={num_shards} is more than the {len(split['train'])} training rows")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    for old in output_dir.glob("train-*.parquet"):
        old.unlink()  # a previous run with another shard count must not leave files the glob would pick up
    order = np.random.default_rng(split_seed).permutation(split["train"])
    for k, part in enumerate(np.array_split(order, num_shards)):
        write_frame(frame.iloc[np.sort(part)], output_dir / f"train-{k:05d}-of-{num_shards:05d}.parquet")
    for name in ("valid", "test"):
        write_frame(frame.iloc[split[name]], output_dir / f"{name}.parquet")
    for sidecar in (METADATA_FILE, TRUTH_FILE):  # the label definition; the synthetic data's true probabilities
        if (Path(data_path).parent / sidecar).exists():
            shutil.copy(Path(data_path).parent / sidecar, output_dir / sidecar)
    sizes = {name: int(len(idx)) for name, idx in split.items()}
    (output_dir / SHARDS_FILE).write_text(
        json.dumps(
            {"source": str(data_path), "split_seed": split_seed, "num_shards": num_shards, "rows": sizes}, indent=1
        )
    )
    log(
        f"wrote {num_shards} training shard(s) ({sizes['train']:,} rows), valid ({sizes['valid']:,}) and test "
        f"({sizes['test']:,})" + (" with the transaction features" if spec.transactions else "") + f" to {output_dir}"
    )
    return sizes
