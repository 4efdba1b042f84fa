"""Batch scoring with an exported SavedModel, streamed in record batches (bounded memory).

The rows go through the same canonicalisation (and, for specs with a transactions block,
the same DuckDB aggregation) as in training, then through the export's `serving_default`
signature: what is scored is exactly what is deployed.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from feature_columns.errors import DataError, UserError
from feature_columns.inputs import prepare_frame, to_tensors
from wide_deep.data.dataset import add_transaction_features, needs_transactions
from wide_deep.data.sources import (
    TABLE_SUFFIXES,
    TableWriter,
    check_output,
    check_readable,
    column_names,
    read_table,
    record_batches,
    transactions_path,
)
from wide_deep.evidence.strategy import band_index, band_names
from wide_deep.record.export_layout import EXPLAIN
from wide_deep.record.model_dir import ModelDir, refuse_inside_runs
from wide_deep.serving.saved_model import decision_names, load_newest, whole_points


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


class Scorer:
    """The newest export of a `model_dir`: raw applications (plus raw transactions) → scores.

    Feature preparation is the training code (`add_transaction_features`, `prepare_frame`), so
    a score computed here for one applicant equals the batch pipeline's score for that row.
    """

    def __init__(self, model_dir: str | Path, log=print):
        run = ModelDir(model_dir)
        versions = run.export_versions()
        if not versions:
            raise UserError(f"{run} has no export ({run.export_root}/<version>/); train with --export first")
        self.export = load_newest(versions, log)
        self.spec = self.export.spec
        self.signature = self.export.signature

    def features(self, applications: pd.DataFrame, transactions=None, source: str = "applications") -> pd.DataFrame:
        """Applications with the transaction features added (when the spec has a transactions block and
        they are not already there); `transactions` is a log path or a DataFrame of raw transactions."""
        return add_transaction_features(self.spec, applications, transactions, source)[0]

    def score_frame(
        self, frame: pd.DataFrame, transactions=None, source: str = "applications"
    ) -> dict[str, np.ndarray]:
        """probability, decision and unseen_categories for every row of `frame`."""
        return self.score_arrays(prepare_frame(self.spec, self.features(frame, transactions, source), source))

    def score_arrays(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The same for rows already prepared by `prepare_frame`."""
        return {k: v.numpy() for k, v in self.export.call(self.signature, to_tensors(arrays)).items()}

    def score_table(
        self, frame: pd.DataFrame, transactions=None, reasons: int = 0, source: str = "applications"
    ) -> pd.DataFrame:
        """The columns `make predict` writes (id, probability, score, decision, unseen_categories, and with
        `reasons` > 0 the top reasons), as a DataFrame in the rows' order."""
        features = self.features(frame, transactions, source)
        signature, codes = self.explained(reasons)
        return pa.table(scored_columns(self.export, signature, codes, features, source, reasons)).to_pandas()

    def explained(self, reasons: int, reason_codes: str | Path | None = None):
        return explained(self.export, reasons, reason_codes)

    def score_applicant(self, application: dict, transactions: pd.DataFrame | None = None) -> dict:
        """One applicant (a dict of raw fields) with its raw transactions → probability, decision, features."""
        frame = pd.DataFrame([application])
        features = self.features(frame, transactions, "application")
        out = self.score_frame(features, source="application")
        unseen = out["unseen_categories"][0].decode() if "unseen_categories" in out else ""
        return {
            "probability": float(out["probability"][0]),
            "decision": str(decision_names(out["decision"])[0]),
            "unseen_categories": [n for n in unseen.split(",") if n],
            "features": {c: features[c].iloc[0] for c in features.columns},
        }

    def transactions_for(self, input_path: str | Path, override=None) -> Path | None:
        """The raw transaction log of an input file (None when the spec aggregates none)."""
        if self.spec.transactions is None:
            return None
        return transactions_path(self.spec.transactions, input_path, override)


AGGREGATION_ROWS = 1_000_000


def scored_columns(
    export, signature, codes, features: pd.DataFrame, source: str, reasons: int, decline_at: float | None = None
) -> dict:
    """`output_columns` of applications whose features are complete: prepared, scored by `signature` (and its
    reason-code table `codes`, from `explained`), with their ids."""
    out = export.call(signature, to_tensors(prepare_frame(export.spec, features, source)))
    id_column = export.spec.id_column
    ids = features[id_column].to_numpy() if id_column and id_column in features.columns else None
    return output_columns(out, ids, id_column, reasons, decline_at, codes, export.model_info.get("score_bands"))


def explained(export, reasons: int, reason_codes: str | Path | None = None):
    """(the signature to call, the reason-code table or None): with `reasons` > 0, `serving_explain` and the
    export's table (a user's CSV over it); otherwise the plain signature."""
    if not reasons:
        return export.signature, None
    return export.require(EXPLAIN), export.reason_codes(reason_codes)


def output_columns(
    out: dict, ids, id_column: str | None, reasons: int, decline_at: float | None = None, codes=None, bands=None
) -> dict:
    columns = {} if ids is None else {id_column: pa.array(ids)}
    probability = out["probability"].numpy()
    columns["probability"] = pa.array(probability.astype("float64"))
    if "score" in out:  # exports written before scores were added lack it
        columns["score"] = pa.array(whole_points(out["score"].numpy()))
        columns["score_exact"] = pa.array(out["score"].numpy().astype("float64"))
    decision = out["decision"].numpy() if decline_at is None else (probability >= decline_at).astype("int64")
    columns["decision"] = pa.array(decision_names(decision), type=pa.string())
    if bands and "score" in out:  # the run's strategy-table band (exports written before bands have none)
        names = pa.array(band_names(bands), type=pa.string())
        columns["score_band"] = names.take(pa.array(band_index(out["score"].numpy(), bands)))
    if "unseen_categories" in out:
        columns["unseen_categories"] = pa.array(out["unseen_categories"].numpy(), type=pa.binary()).cast(pa.string())
    if reasons:
        names = out["reason_features"].numpy()[:, :reasons]
        values = out["reason_contributions"].numpy()[:, :reasons].astype("float64")
        for i in range(names.shape[1]):
            keep = values[:, i] > 0  # only features that raised the risk are reasons
            columns[f"reason_{i + 1}"] = pa.array(np.where(keep, names[:, i], b""), type=pa.binary()).cast(pa.string())
            if codes is not None:
                code = [codes.code_of(n.decode()) if k else "" for n, k in zip(names[:, i], keep)]
                columns[f"reason_{i + 1}_code"] = pa.array(code, type=pa.string())
            columns[f"reason_{i + 1}_contribution"] = pa.array(np.where(keep, values[:, i], 0.0))
    return columns


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """How `score_file` scores: rows per model call, the top `reasons` (0: none; the export's `serving_explain`),
    a scoring-time `cutoff` (`probability:P` or `score:S`) in place of the export's, and a user's reason-code CSV
    over the export's table."""

    batch_rows: int = 100_000
    reasons: int = 0
    cutoff: str | None = None
    reason_codes: str | Path | None = None


def score_file(
    model_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    options: ScoreOptions = ScoreOptions(),
    transactions: str | Path | None = None,
    log=print,
) -> dict:
    """Score every row of `input_path` into `output_path` (id, probability, score, decision, unseen_categories,
    and with reasons each reason's feature, code and contribution). The output appears only when every row is
    scored. Returns counts and rows/s."""
    check_readable(input_path, "input file")
    scorer = Scorer(model_dir, log)
    log_folder = scorer.transactions_for(input_path, transactions)
    refuse_inside_runs(output_path, "output file")
    output_path = check_output(output_path, "output file", [input_path, transactions, log_folder], TABLE_SUFFIXES)
    input_path = Path(input_path)
    decline_at = scorer.export.decline_at(options.cutoff) if options.cutoff is not None else None
    signature, codes = scorer.explained(options.reasons, options.reason_codes)
    id_column = scorer.spec.id_column
    rows, start = 0, time.perf_counter()
    with TableWriter(output_path) as writer:
        for ids, tensors in prefetch(_prepared_batches(scorer, input_path, options, transactions)):
            outputs = scorer.export.call(signature, tensors)
            columns = output_columns(
                outputs, ids, id_column, options.reasons, decline_at, codes, scorer.export.model_info.get("score_bands")
            )
            writer.write(pa.table(columns))
            rows += len(columns["probability"])
        if rows == 0:
            raise DataError(f"input file {input_path} has no rows")
    seconds = time.perf_counter() - start
    log(
        f"scored {rows:,} rows with {scorer.export.path} into {output_path} in {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s)"
    )
    return {"rows": rows, "seconds": seconds, "rows_per_sec": rows / seconds, "export": str(scorer.export.path)}


def _prepared_batches(scorer: Scorer, input_path: Path, options: ScoreOptions, transactions):
    """(ids, input tensors) of each batch of `input_path`, read, joined with its transactions and prepared (run a
    batch ahead of the model by `prefetch`). Raw applications are aggregated a block at a time: one pass over the
    transaction log serves AGGREGATION_ROWS applications, which are then scored `batch_rows` at a time."""
    spec = scorer.spec
    tx_source = scorer.transactions_for(input_path, transactions)
    batch_rows = options.batch_rows
    read_rows = max(batch_rows, AGGREGATION_ROWS) if needs_transactions(spec, column_names(input_path)) else batch_rows
    if options.reasons:  # integrated gradients hold steps × rows × features at once: smaller batches bound memory
        from wide_deep.evidence.explain import explain_rows

        batch_rows = min(batch_rows, explain_rows(bool(scorer.export.sequences)))
    offset = 0
    numeric = tuple(name for c in spec.input_columns if c.raw_dtype == "float32" for name in c.data_columns)
    for block in record_batches(input_path, read_rows, "input file", numeric=numeric):
        frame = scorer.features(block.to_pandas(), tx_source, f"{input_path} (rows {offset}-{offset + len(block) - 1})")
        for start in range(0, len(frame), batch_rows):
            batch = frame.iloc[start : start + batch_rows]
            arrays = prepare_frame(spec, batch, f"{input_path} (batch from row {offset + start})")
            ids = batch[spec.id_column].to_numpy() if spec.id_column and spec.id_column in batch.columns else None
            yield ids, to_tensors(arrays)
        offset += len(frame)


def batch_probabilities(path: str | Path) -> np.ndarray:
    """Read back the probability column of a scored file (tests and tools)."""
    return read_table(path, "scored file")["probability"].to_numpy()


def example_rows(model_dir: str | Path, applications: str | Path, n: int) -> tuple[pd.DataFrame, list[dict]]:
    """The first `n` applications with their transaction features: the frame, and the rows as the
    JSON objects a REST client sends (tests and the serving benchmark)."""
    scorer, applications = Scorer(model_dir), Path(applications)
    apps = read_table(applications).head(n)
    frame = scorer.features(apps, scorer.transactions_for(applications))
    sequences = scorer.spec.sequences
    names = [c.name for c in scorer.spec.input_columns if c not in sequences]
    rows = json.loads(frame[names].to_json(orient="records"))
    if sequences:  # a sequence is sent as its [steps][channels] values, null for missing
        arrays = prepare_frame(scorer.spec, frame)
        for seq in sequences:
            values = arrays[seq.name].astype(object)
            values[np.isnan(arrays[seq.name])] = None
            for row, value in zip(rows, values):
                row[seq.name] = value.tolist()
    return frame, rows
