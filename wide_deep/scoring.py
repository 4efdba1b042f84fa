"""Batch scoring with an exported SavedModel, streamed in record batches (bounded memory).

The rows go through the same canonicalisation (and, for specs with a transactions block,
the same DuckDB aggregation) as in training, then through the export's `serving_default`
signature: what is scored is exactly what is deployed.
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import tensorflow as tf

from feature_columns.errors import DataError, UserError
from feature_columns.fitting import prepare_frame
from feature_columns.spec import FeatureSpec
from wide_deep.aggregation import FEATURES, aggregate_transactions
from wide_deep.export import SIDECAR_DIR, latest_export
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


def prefetch(iterator, depth: int = 1):
    """Yield from `iterator` while a worker thread computes up to `depth` items ahead (errors are re-raised here)."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(("done", None))
        except BaseException as error:  # handed to the consumer, which raises it
            items.put(("error", error))

    worker = threading.Thread(target=produce, name="scoring-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = items.get()
            if kind == "error":
                raise item
            if kind == "done":
                return
            yield item
    finally:
        stop.set()


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


class Scorer:
    """The newest export of a `model_dir` with its spec: raw applications (plus raw transactions) → scores.

    Feature preparation is the training code (`aggregate_transactions`, `prepare_frame`), so
    a score computed here for one applicant equals the batch pipeline's score for that row.
    """

    def __init__(self, model_dir: str | Path):
        model_dir = Path(model_dir)
        self.export = latest_export(model_dir)
        if self.export is None:
            raise UserError(f"{model_dir} has no export (model_dir/export/<version>/); train with --export first")
        sidecar = self.export / SIDECAR_DIR / "spec.yaml"
        self.spec = FeatureSpec.from_yaml(sidecar if sidecar.exists() else model_dir / "spec.yaml")
        self.signatures = tf.saved_model.load(str(self.export)).signatures
        self.signature = self.signatures["serving_default"]

    def features(self, applications: pd.DataFrame, transactions=None, source: str = "applications") -> pd.DataFrame:
        """Applications with the transaction features added (when the spec has a transactions block and
        they are not already there); `transactions` is a log path or a DataFrame of raw transactions."""
        if self.spec.transactions is None or set(FEATURES) <= set(applications.columns):
            return applications
        if transactions is None:
            raise DataError(f"{source}: the spec aggregates raw transactions, but no transactions were given "
                            f"(and the columns {sorted(FEATURES)[:3]}... are not in the input)")
        features, _ = aggregate_transactions(transactions, applications, self.spec.transactions, self.spec.id_column)
        return applications.reset_index(drop=True).join(features.drop(columns=[self.spec.id_column]))

    def score_frame(self, frame: pd.DataFrame, transactions=None, source: str = "applications") -> dict[str, np.ndarray]:
        """probability, decision and unseen_categories for every row of `frame`."""
        return self.score_arrays(prepare_frame(self.spec, self.features(frame, transactions, source), source))

    def score_arrays(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The same for rows already prepared by `prepare_frame`."""
        return {k: v.numpy() for k, v in self.signature(**to_tensors(arrays)).items()}

    def score_applicant(self, application: dict, transactions: pd.DataFrame | None = None) -> dict:
        """One applicant (a dict of raw fields) with its raw transactions → probability, decision, features."""
        frame = pd.DataFrame([application])
        features = self.features(frame, transactions, "application")
        out = self.score_frame(features, source="application")
        unseen = out["unseen_categories"][0].decode() if "unseen_categories" in out else ""
        return {"probability": float(out["probability"][0]), "decision": int(out["decision"][0]),
                "unseen_categories": [n for n in unseen.split(",") if n],
                "features": {c: features[c].iloc[0] for c in features.columns}}


def score_file(model_dir: str | Path, input_path: str | Path, output_path: str | Path, batch_rows: int = 100_000,
               transactions: str | Path | None = None, log=print, reasons: int = 0) -> dict:
    """Score every row of `input_path` into `output_path` (id, probability, decision, unseen_categories);
    with `reasons` > 0 also reason_i / reason_i_contribution for the top reasons (the export's
    `serving_explain` signature). Returns counts and rows/s."""
    input_path, output_path = Path(input_path), Path(output_path)
    scorer = Scorer(model_dir)
    spec = scorer.spec
    signature = scorer.signature
    if reasons:
        if "serving_explain" not in scorer.signatures:
            raise UserError(f"{scorer.export} has no serving_explain signature (exported before reason codes); retrain")
        signature = scorer.signatures["serving_explain"]
    tx_source = None
    if spec.transactions is not None:
        tx_source = Path(transactions) if transactions else input_path.parent / spec.transactions.path
    def prepared():  # runs one batch ahead of the model, on a worker thread
        offset = 0
        for batch in _batches(input_path, batch_rows):
            frame = batch.to_pandas()
            source = f"{input_path} (batch from row {offset})"
            arrays = prepare_frame(spec, scorer.features(frame, tx_source, source), source)
            ids = frame[spec.id_column].to_numpy() if spec.id_column and spec.id_column in frame.columns else None
            yield ids, to_tensors(arrays)
            offset += len(frame)

    writer, rows, start = _Writer(output_path), 0, time.perf_counter()
    try:
        for ids, tensors in prefetch(prepared()):
            out = signature(**tensors)
            columns = {} if ids is None else {spec.id_column: pa.array(ids)}
            columns["probability"] = pa.array(out["probability"].numpy().astype("float64"))
            columns["decision"] = pa.array(out["decision"].numpy())
            if "unseen_categories" in out:
                columns["unseen_categories"] = pa.array(out["unseen_categories"].numpy(), type=pa.binary()).cast(pa.string())
            if reasons:
                names = out["reason_features"].numpy()[:, :reasons]
                values = out["reason_contributions"].numpy()[:, :reasons].astype("float64")
                for i in range(names.shape[1]):
                    keep = values[:, i] > 0  # only features that raised the risk are reasons
                    columns[f"reason_{i + 1}"] = pa.array(np.where(keep, names[:, i], b""), type=pa.binary()).cast(pa.string())
                    columns[f"reason_{i + 1}_contribution"] = pa.array(np.where(keep, values[:, i], 0.0))
            writer.write(pa.table(columns))
            rows += len(columns["probability"])
    finally:
        writer.close()
    seconds = time.perf_counter() - start
    if rows == 0:
        raise DataError(f"input file {input_path} has no rows")
    log(f"scored {rows:,} rows with {scorer.export} into {output_path} in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    return {"rows": rows, "seconds": seconds, "rows_per_sec": rows / seconds, "export": str(scorer.export)}


def batch_probabilities(path: str | Path) -> np.ndarray:
    """Read back the probability column of a scored file (tests and tools)."""
    path = Path(path)
    table = pq.read_table(path) if path.suffix.lower() in (".parquet", ".pq") else pacsv.read_csv(path)
    return table.column("probability").to_numpy()


def example_rows(model_dir: str | Path, applications: str | Path, n: int) -> tuple[pd.DataFrame, list[dict]]:
    """The first `n` applications with their transaction features: the frame, and the rows as the
    JSON objects a REST client sends (tests and the serving benchmark)."""
    import json
    scorer, applications = Scorer(model_dir), Path(applications)
    apps = pd.read_parquet(applications).head(n) if applications.suffix == ".parquet" else pd.read_csv(applications, nrows=n)
    tx = applications.parent / scorer.spec.transactions.path if scorer.spec.transactions else None
    frame = scorer.features(apps, tx)
    names = [c.name for c in scorer.spec.input_columns]
    return frame, json.loads(frame[names].to_json(orient="records"))
