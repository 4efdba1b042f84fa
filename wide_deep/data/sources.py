"""The one reader and writer of tabular files: CSV or Parquet, chosen by the file suffix.

Every module that reads or writes a data file goes through here, so the suffix rule, the
error messages and the atomic write live in one place:

- `read_table`: a whole file as a DataFrame (clear errors for a missing, empty or unreadable file);
- `record_batches`: a file as Arrow record batches of a fixed row count (bounded memory);
- `row_count`, `column_names`: read from the Parquet footer or the CSV header;
- `write_atomically`: a text file (JSON, Markdown, HTML) written whole or not at all;
- `TableWriter`: Arrow tables appended to a CSV or Parquet file that appears under its name only
  when complete (written to a temporary name, renamed into place on success, removed on failure);
- `transactions_path`: where a spec's raw transaction log is, relative to the data file;
- `duckdb_scan`: the DuckDB table function that reads a file, a glob or a folder of Parquet files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from feature_columns.errors import DataError

PARQUET_SUFFIXES = (".parquet", ".pq")


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def check_readable(path: str | Path, what: str = "data file") -> Path:
    """The path, after checking that it is an existing, non-empty file (a DataError otherwise)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if path.is_dir():
        raise DataError(f"{what} {path} is a directory; expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {path} is empty")
    return path


def read_table(path: str | Path, what: str = "data file") -> pd.DataFrame:
    """CSV or Parquet → DataFrame, with clear errors for a missing, empty or unreadable file."""
    path = check_readable(path, what)
    try:
        frame = pd.read_parquet(path) if is_parquet(path) else pd.read_csv(path, low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"{what} {path} could not be read: {err}") from None
    if frame.empty:
        raise DataError(f"{what} {path} has a header but no rows")
    return frame


def record_batches(path: str | Path, rows: int, what: str = "data file"):
    """The file as Arrow record batches of `rows` rows (the last one shorter), read lazily."""
    path = check_readable(path, what)
    try:
        if is_parquet(path):
            yield from pq.ParquetFile(path).iter_batches(batch_size=rows)
            return
        block = max(1 << 20, min(rows * 256, 1 << 26))
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=block))
        pending, count = [], 0
        for batch in reader:
            pending.append(batch)
            count += batch.num_rows
            while count >= rows:
                table = pa.Table.from_batches(pending).combine_chunks()
                yield table.slice(0, rows).to_batches()[0]
                rest = table.slice(rows)
                pending, count = rest.to_batches(), rest.num_rows
        if count:
            yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{what} {path} could not be read: {err}") from None


def row_count(path: str | Path) -> int:
    if is_parquet(path):
        return pq.ParquetFile(path).metadata.num_rows
    return pacsv.read_csv(path).num_rows


def column_names(path: str | Path) -> list[str]:
    if is_parquet(path):
        return pq.read_schema(path).names
    return pacsv.open_csv(path).schema.names


def write_atomically(path: str | Path, text: str) -> None:
    """Write a text file under a temporary name and rename it into place: it is whole or absent, never half."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_frame(frame: pd.DataFrame, path: str | Path) -> None:
    """One DataFrame to a CSV or Parquet file, atomically."""
    with TableWriter(path) as writer:
        writer.write(pa.Table.from_pandas(frame, preserve_index=False))


class TableWriter:
    """Append Arrow tables to `path` (CSV or Parquet by suffix); the file appears only when closed cleanly.

    Use as a context manager: on an exception the partial file is removed and `path` is untouched.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial-{os.getpid()}")
        self.writer = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = (
                pq.ParquetWriter(self.partial, table.schema)
                if is_parquet(self.path)
                else pacsv.CSVWriter(self.partial, table.schema)
            )
        self.writer.write_table(table)

    def commit(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
            os.replace(self.partial, self.path)

    def discard(self) -> None:
        if self.writer is not None:
            try:
                self.writer.close()
            finally:
                self.writer = None
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def transactions_path(transactions, data_path: str | Path, override: str | Path | None = None) -> Path:
    """The raw transaction log of a spec's `transactions` block: `override` when given, else the
    spec's `path`, which is relative to the folder of the data file unless it is absolute."""
    if override:
        return Path(override)
    path = Path(transactions.path)
    return path if path.is_absolute() else Path(data_path).parent / path


def duckdb_scan(path: str | Path, what: str) -> str:
    """The DuckDB table function reading `path`: a CSV or Parquet file, a glob, or a folder of Parquet files."""
    path = Path(path)
    if path.is_dir():
        if not any(path.glob("*.parquet")):
            raise DataError(f"{what}: no *.parquet files in {path}")
        pattern = str(path / "*.parquet")
    else:
        if not any(ch in str(path) for ch in "*?[") and not path.exists():
            raise DataError(f"{what}: {path} does not exist")
        pattern = str(path)
    quoted = pattern.replace("'", "''")
    csv = pattern.lower().endswith((".csv", ".csv.gz"))
    return f"read_csv_auto('{quoted}')" if csv else f"read_parquet('{quoted}')"
