"""Batch scoring on Apache Spark: `make predict ENGINE=spark INPUT=loans.parquet OUTPUT=scores.parquet`.

The applications' transaction features are computed from the raw log by the transaction SQL on
Spark (`wide_deep.data.spark_engine`) and joined to them there, then every partition of
applications is scored by the export itself (`PartitionScorer`: the SavedModel loaded once per
Python worker, the same preparation and output columns as the local scorer), so Spark's scores
equal `make predict`'s. `make monitor ENGINE=spark` counts each partition the same way
(`PartitionMonitor`, `population_on_spark`).

The output is a Parquet folder committed the way Spark jobs are read: the job writes into a
hidden staging folder beside the output (Spark's own `_SUCCESS` marks it complete) and only a
complete folder is renamed into place; a failed job leaves no output and no staging folder.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feature_columns.errors import UserError
from feature_columns.inputs import prepare_frame, to_tensors
from wide_deep.data.sources import check_readable
from wide_deep.data.spark_engine import SparkEngine, applications_with_features, spark_errors
from wide_deep.evidence.population import PopulationCounts
from wide_deep.record.model_dir import refuse_inside_runs
from wide_deep.serving.saved_model import LoadedExport
from wide_deep.serving.scoring import ScoreOptions, Scorer, explained, scored_columns

SUCCESS_FILE = "_SUCCESS"
ROW_COLUMN = "__application_row"  # a unique key per application: its features are joined on it


@functools.cache
def worker_export(path: str) -> LoadedExport:
    """The export, loaded once per Python worker process (Spark reuses its workers across tasks)."""
    from wide_deep.core.startup import quiet_tensorflow_import

    quiet_tensorflow_import()
    return LoadedExport(path)


@dataclasses.dataclass(frozen=True)
class PartitionScorer:
    """Scores Arrow batches of prepared applications where Spark runs them (pickled to the executors)."""

    export_path: str
    input_name: str
    options: ScoreOptions
    decline_at: float | None
    schema: pa.Schema  # of the output (the first row's, scored on the driver): every batch is cast to it

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        export = worker_export(self.export_path)
        signature, codes = explained(export, self.options.reasons, self.options.reason_codes)
        id_column = export.spec.id_column
        for batch in batches:
            frame = batch.to_pandas()
            for start in range(0, len(frame), self.options.batch_rows):
                part = frame.iloc[start : start + self.options.batch_rows].drop(columns=[ROW_COLUMN])
                first = f" from {id_column} {part[id_column].iloc[0]}" if id_column in part.columns else ""
                where = f"{self.input_name} (a batch of {len(part)} rows{first})"
                columns = scored_columns(export, signature, codes, part, where, self.options.reasons, self.decline_at)
                yield pa.RecordBatch.from_pydict(columns, schema=self.schema)


def check_folder_output(path: str | Path, inputs) -> Path:
    """A Parquet output folder that is safe to write: named *.parquet, not one of the inputs nor inside one."""
    path = Path(path)
    if path.suffix.lower() != ".parquet":
        raise UserError(
            f"output {path}: Spark writes a Parquet folder; name it *.parquet (got {path.suffix or 'none'})"
        )
    target = os.path.realpath(path)
    for source in inputs:
        if source is not None and os.path.realpath(source) in (target, *map(str, Path(target).parents)):
            raise UserError(f"output {path} would overwrite the input {source}; choose another folder")
    if path.exists() and not (path / SUCCESS_FILE).exists():
        raise UserError(f"output {path} exists and is not a finished Spark output (no {SUCCESS_FILE}); move it away")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def commit(staging: Path, output: Path) -> None:
    """Move a complete staging folder into place; a previous finished output is replaced, never merged."""
    if not (staging / SUCCESS_FILE).exists():
        raise UserError(f"the Spark job finished without {SUCCESS_FILE} in {staging}; nothing was written")
    retired = output.with_name(f".{output.name}.old-{uuid.uuid4().hex[:8]}")
    if output.exists():
        output.rename(retired)
    staging.rename(output)
    shutil.rmtree(retired, ignore_errors=True)


def score_file_on_spark(
    model_dir: str | Path,
    input_path: str | Path,
    output_path: str | Path,
    options: ScoreOptions = ScoreOptions(),
    transactions: str | Path | None = None,
    engine: SparkEngine = SparkEngine(),
    log=print,
) -> dict:
    """Score every row of `input_path` on Spark into the Parquet folder `output_path` (the columns of
    `score_file`), committed only when every row is scored. The applications, their transaction features and
    their scores stay distributed: only the first row is scored here, for the output's schema. Returns counts and
    rows/s."""
    check_readable(input_path, "input file")
    scorer = Scorer(model_dir, log)
    log_folder = scorer.transactions_for(input_path, transactions)
    refuse_inside_runs(output_path, "output folder")
    output = check_folder_output(output_path, [input_path, transactions, log_folder])
    decline_at = scorer.export.decline_at(options.cutoff) if options.cutoff is not None else None
    start = time.perf_counter()
    staging = output.with_name(f".{output.name}.staging-{uuid.uuid4().hex[:8]}")
    try:
        with spark_errors(f"input file {input_path}"):
            applications = applications_with_features(engine, input_path, scorer.spec, log_folder, ROW_COLUMN)
            head = applications.limit(1).toArrow().to_pandas()
            schema = pa.Table.from_pydict(_first_row_columns(scorer, head, options, decline_at)).schema
            from pyspark.sql.pandas.types import from_arrow_schema

            scored = applications.mapInArrow(
                PartitionScorer(str(scorer.export.path), str(input_path), options, decline_at, schema),
                from_arrow_schema(schema),
            )
            scored.write.parquet(str(staging))
        rows = sum(pq.ParquetFile(part).metadata.num_rows for part in staging.glob("*.parquet"))
        commit(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - start
    log(
        f"scored {rows:,} rows on Spark with {scorer.export.path} into {output} in {seconds:.1f} s "
        f"({rows / seconds:,.0f} rows/s)"
    )
    return {"rows": rows, "seconds": seconds, "rows_per_sec": rows / seconds, "export": str(scorer.export.path)}


def _first_row_columns(scorer: Scorer, head, options: ScoreOptions, decline_at) -> dict:
    """The output columns of the input's first row, scored here: the schema Spark's job declares."""
    if head.empty:
        raise UserError("input file has no rows")
    signature, codes = explained(scorer.export, options.reasons, options.reason_codes)
    first = head.drop(columns=[ROW_COLUMN])
    return scored_columns(
        scorer.export, signature, codes, first, "input file (its first row)", options.reasons, decline_at
    )


@dataclasses.dataclass(frozen=True)
class PartitionMonitor:
    """Reduces each partition of applications to `PopulationCounts` (one JSON row) and, when the input holds the
    label column, passes on every row's label and probability for the back-test."""

    export_path: str
    input_name: str
    baseline: dict
    threshold: float
    label_column: str | None
    schema: pa.Schema  # of the output: counts (JSON text), label (the input's type), probability
    batch_rows: int = 100_000

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        export = worker_export(self.export_path)
        counts = None
        for batch in batches:
            frame = batch.to_pandas()
            for start in range(0, len(frame), self.batch_rows):
                part = frame.iloc[start : start + self.batch_rows]
                arrays = prepare_frame(export.spec, part.drop(columns=[ROW_COLUMN]), f"{self.input_name} (a batch)")
                scores = export.call(export.signature, to_tensors(arrays))["probability"].numpy().astype("float64")
                batch_counts = PopulationCounts.of(self.baseline, scores, arrays, self.threshold)
                counts = batch_counts if counts is None else counts.merge(batch_counts)
                if self.label_column is not None:
                    yield self._rows(None, part[self.label_column].to_numpy(), scores)
        if counts is not None:
            yield self._rows(json.dumps(dataclasses.asdict(counts)), [None], [None])

    def _rows(self, counts, labels, scores) -> pa.RecordBatch:
        empty = [None] * len(scores)
        columns = {"counts": [counts] * len(scores), "label": labels if self.label_column else empty}
        return pa.RecordBatch.from_pydict({**columns, "probability": scores}, schema=self.schema)


def population_on_spark(scorer: Scorer, baseline: dict, threshold: float, input_path, log_path, engine: SparkEngine):
    """(the counts of the input's applications, a frame of their labels or None, their probabilities or None),
    scored and counted on Spark: only the counts of each partition (and, for a labelled input, each row's label and
    probability for the back-test) come back to the driver."""
    from pyspark.sql.pandas.types import from_arrow_schema

    spec = scorer.spec
    with spark_errors(f"input file {input_path}"):
        applications = applications_with_features(engine, input_path, spec, log_path, ROW_COLUMN)
        label = spec.label.column if spec.label.column in applications.columns else None
        label_type = applications.select(label).limit(0).toArrow().schema.field(0).type if label else pa.string()
        schema = pa.schema([("counts", pa.string()), ("label", label_type), ("probability", pa.float64())])
        monitor = PartitionMonitor(str(scorer.export.path), str(input_path), baseline, threshold, label, schema)
        rows = applications.mapInArrow(monitor, from_arrow_schema(schema)).toArrow()
    parts = [PopulationCounts(**json.loads(c)) for c in rows.column("counts").to_pylist() if c is not None]
    if not parts:
        raise UserError(f"input file {input_path} has no rows")
    counts = parts[0]
    for part in parts[1:]:
        counts = counts.merge(part)
    if label is None:
        return counts, None, None
    scored = rows.filter(pc.is_null(rows.column("counts"))).to_pandas()
    return counts, scored.rename(columns={"label": label}), scored["probability"].to_numpy()
