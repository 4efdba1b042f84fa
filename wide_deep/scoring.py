"""Batch scoring with an exported SavedModel, streamed in record batches (bounded memory).

The rows go through the same canonicalisation (and, for specs with a transactions block,
the same DuckDB aggregation) as in training, then through the export's `serving_default`
signature: what is scored is exactly what is deployed.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import tensorflow as tf

from feature_columns.errors import DataError, UserError
from feature_columns.fitting import prepare_frame
from feature_columns.spec import FeatureSpec
from wide_deep.aggregation import FEATURES, aggregate_transactions
from wide_deep.export import latest_export
from wide_deep.trainer import to_tensors


def _batches(path: Path, batch_rows: int):
    if not path.exists():
        raise DataError(f"input file {path} does not exist")
    if path.stat().st_size == 0:
        raise DataError(f"input file {path} is empty")
    if path.suffix.lower() in (".parquet", ".pq"):
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        return
    reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24))
    pending = []
    for batch in reader:
        pending.append(batch)
        if sum(b.num_rows for b in pending) >= batch_rows:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0] if len(pending) > 1 else pending[0]
            pending = []
    if pending:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


class _Writer:
    def __init__(self, path: Path):
        self.path, self.writer = path, None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = (pq.ParquetWriter(self.path, table.schema) if self.path.suffix.lower() in (".parquet", ".pq")
                           else pacsv.CSVWriter(self.path, table.schema))
        self.writer.write_table(table)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def score_file(model_dir: str | Path, input_path: str | Path, output_path: str | Path, batch_rows: int = 100_000,
               transactions: str | Path | None = None, log=print) -> dict:
    """Score every row of `input_path` into `output_path` (id, probability, decision); returns counts and rows/s."""
    model_dir, input_path, output_path = Path(model_dir), Path(input_path), Path(output_path)
    export = latest_export(model_dir)
    if export is None:
        raise UserError(f"{model_dir} has no export (model_dir/export/<version>/); train with --export first")
    spec = FeatureSpec.from_yaml(model_dir / "spec.yaml")
    signature = tf.saved_model.load(str(export)).signatures["serving_default"]
    tx_source = None
    if spec.transactions is not None:
        tx_source = Path(transactions) if transactions else input_path.parent / spec.transactions.path
    writer, rows, start = _Writer(output_path), 0, time.perf_counter()
    try:
        for batch in _batches(input_path, batch_rows):
            frame = batch.to_pandas()
            source = f"{input_path} (batch from row {rows})"
            if tx_source is not None and not set(FEATURES) <= set(frame.columns):
                features, _ = aggregate_transactions(tx_source, frame, spec.transactions, spec.id_column)
                frame = frame.join(features.drop(columns=[spec.id_column]))
            arrays = prepare_frame(spec, frame, source)
            out = signature(**to_tensors(arrays))
            columns = {}
            if spec.id_column and spec.id_column in frame.columns:
                columns[spec.id_column] = pa.array(frame[spec.id_column].to_numpy())
            columns["probability"] = pa.array(out["probability"].numpy().astype("float64"))
            columns["decision"] = pa.array(out["decision"].numpy())
            writer.write(pa.table(columns))
            rows += len(frame)
    finally:
        writer.close()
    seconds = time.perf_counter() - start
    if rows == 0:
        raise DataError(f"input file {input_path} has no rows")
    log(f"scored {rows:,} rows with {export} into {output_path} in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    return {"rows": rows, "seconds": seconds, "rows_per_sec": rows / seconds, "export": str(export)}


def batch_probabilities(path: str | Path) -> np.ndarray:
    """Read back the probability column of a scored file (tests and tools)."""
    path = Path(path)
    table = pq.read_table(path) if path.suffix.lower() in (".parquet", ".pq") else pacsv.read_csv(path)
    return table.column("probability").to_numpy()
