"""The one reader and writer of tabular files: CSV or Parquet, chosen by the file suffix.

Every module that reads or writes a data file goes through here, so the suffix rule, the
error messages and the atomic write live in one place:

- `read_table`: a whole file as a DataFrame (clear errors for a missing, empty or unreadable file);
- `record_batches`: a file as Arrow record batches of a fixed row count (bounded memory);
- `scan_csv`: a CSV file's structure checked line by line (unique header, field counts, UTF-8),
  so a mistake is reported by its file line instead of being silently mended or renamed;
- `check_output`, `make_folder`: refuse an output that would overwrite an input, or cannot be written;
- `row_count`, `column_names`: read from the Parquet footer or the CSV header;
- `write_atomically`: a text file (JSON, Markdown, HTML) written whole or not at all;
- `TableWriter`: Arrow tables appended to a CSV or Parquet file that appears under its name only
  when complete (written to a temporary name, renamed into place on success, removed on failure);
- `transactions_path`: where a spec's raw transaction log is, relative to the data file;
- `duckdb_scan`: the DuckDB table function that reads a file, a glob or a folder of Parquet files.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from feature_columns.errors import DataError, UserError, first_line

PARQUET_SUFFIXES = (".parquet", ".pq")
TABLE_SUFFIXES = (".csv", *PARQUET_SUFFIXES)  # the formats TableWriter writes


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def check_readable(path: str | Path, what: str = "data file") -> Path:
    """The path, after checking that it is an existing, non-empty file (a DataError otherwise)."""
    if not str(path).strip():
        raise DataError(f"the {what} path is empty; name a CSV or Parquet file")
    path = Path(path)
    if not path.exists():
        if any(ch in str(path) for ch in "*?["):
            raise DataError(
                f"{what} {path} matches no file (a glob reads sharded training files: --train_data=GLOB with "
                f"--valid_data and --test_data)"
            )
        raise DataError(f"{what} {path} does not exist")
    if path.is_dir():
        raise DataError(f"{what} {path} is a directory; expected a CSV or Parquet file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} {path} is empty")
    return path


def check_output(path: str | Path, what: str, inputs=(), suffixes: tuple[str, ...] | None = None) -> Path:
    """An output path that is safe to write: not empty, not a directory, not one of `inputs` nor inside a folder
    that is one (symlinks resolved: a scores file in the transaction log's folder would be read as part of the
    log), ending in one of `suffixes` (when given: the format follows the suffix), in a folder that exists or can
    be made, on a writable file system. A UserError otherwise."""
    if not str(path).strip():
        raise UserError(f"the {what} path is empty; name the file to write")
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory; name a file inside it")
    target = os.path.realpath(path)
    for source in inputs:
        if source is None or not str(source).strip():
            continue
        folder = os.path.realpath(source)
        if folder == target:
            raise UserError(
                f"{what} {path} is the input {source}: writing it would destroy the input; choose another file"
            )
        if os.path.isdir(folder) and target.startswith(folder.rstrip(os.sep) + os.sep):
            raise UserError(
                f"{what} {path} is inside the input folder {source}: every file there is read as input; write it "
                f"elsewhere"
            )
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UserError(
            f"{what} {path}: the file format follows its suffix; name a {' or '.join(suffixes)} file "
            f"(got {path.suffix or 'no suffix'})"
        )
    make_folder(path.parent, f"the folder of {what} {path}")
    if not os.access(path.parent, os.W_OK):
        raise UserError(f"cannot write {what} {path}: its folder is not writable")
    return path


def make_folder(folder: str | Path, what: str) -> Path:
    """Create `folder` (and its parents) unless it exists; a UserError naming the obstacle when it cannot be."""
    folder = Path(folder)
    for parent in [folder, *folder.parents]:
        if parent.exists() and not parent.is_dir():
            raise UserError(f"{what} cannot be created: {parent} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{what} cannot be created: {err.strerror} ({err.filename or folder})") from None
    return folder


def check_columns(names: list[str], path) -> None:
    """A header must name its columns, each once: a repeated name would be silently renamed or shadowed."""
    if not names or not any(name.strip() for name in names):
        raise DataError(f"{path}: the first line holds no column names; expected a header line")
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in seen:
            raise DataError(
                f"{path}: column '{name}' appears twice in the header (columns {seen[name]} and "
                f"{position}); rename one of them"
            )
        seen[name] = position


def scan_csv(path: str | Path, numeric: tuple[str, ...] = ()) -> None:
    """Check a CSV file's structure line by line: a header with unique names, the header's number of fields
    on every line, UTF-8 text, and numbers (or empty cells) in the `numeric` columns.

    The first problem is a DataError naming the file line (the header is line 1); blank lines are allowed.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None) or []
            check_columns(header, path)
            positions = [header.index(name) for name in numeric if name in header]
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DataError(
                        f"{path}: line {reader.line_num} has {len(row)} field(s); the header has {len(header)}"
                    )
                for j in positions:
                    if row[j].strip() and not _is_number(row[j]):
                        raise DataError(
                            f"{path}: line {reader.line_num}: column '{header[j]}' holds {row[j]!r}; "
                            f"expected a number or an empty cell"
                        )
    except UnicodeDecodeError:
        with open(path, "rb") as raw:
            line = _first_invalid_utf8(raw)
        raise DataError(f"{path}: line {line} is not UTF-8 text; save the file as UTF-8") from None
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num} cannot be parsed as CSV: {err}") from None


def _first_invalid_utf8(raw) -> int | None:
    """The 1-based line of the first byte sequence that is not UTF-8, or None."""
    decoder, line = codecs.getincrementaldecoder("utf-8")(), 1
    while chunk := raw.read(1 << 20):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as err:
            return line + chunk.count(b"\n", 0, max(err.start, 0))
        line += chunk.count(b"\n")
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_table(path: str | Path, what: str = "data file") -> pd.DataFrame:
    """CSV or Parquet → DataFrame, with clear errors for a missing, empty, ragged or unreadable file."""
    path = check_readable(path, what)
    try:
        if is_parquet(path):
            check_columns(pq.read_schema(path).names, path)
            frame = pd.read_parquet(path)
        else:
            scan_csv(path)
            frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, OSError, ValueError, pa.ArrowException) as err:
        raise DataError(f"{what} {path} could not be read: {err}") from None
    if frame.empty:
        raise DataError(f"{what} {path} has a header but no rows")
    return frame


def record_batches(path: str | Path, rows: int, what: str = "data file", numeric: tuple[str, ...] = ()):
    """The file as Arrow record batches of `rows` rows (the last one shorter), read lazily.

    CSV columns named in `numeric` are read as float64 (not inferred from the first block, so a
    later "2.5" in a column that began with integers is fine). Any CSV problem is a DataError
    naming the file line (found by `scan_csv`, on the error path only).
    """
    path = check_readable(path, what)
    try:
        if is_parquet(path):
            check_columns(pq.read_schema(path).names, path)
            yield from pq.ParquetFile(path).iter_batches(batch_size=rows)
            return
        check_columns(column_names(path), path)
        block = max(1 << 20, min(rows * 256, 1 << 26))
        types = {name: pa.float64() for name in numeric}
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block),
            convert_options=pacsv.ConvertOptions(column_types=types),
        )
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
    except pa.ArrowInvalid as err:
        if not is_parquet(path):
            scan_csv(path, numeric)  # names the line when it finds the problem
        raise DataError(
            f"{what} {path} could not be read: {first_line(err, 300)} (the column types of a CSV file are "
            f"inferred from its first block; a column that changes type later needs another format)"
        ) from None
    except OSError as err:
        raise DataError(f"{what} {path} could not be read: {err}") from None


def row_count(path: str | Path) -> int:
    if is_parquet(path):
        return pq.ParquetFile(path).metadata.num_rows
    return pacsv.read_csv(path).num_rows


def column_names(path: str | Path) -> list[str]:
    if is_parquet(path):
        return pq.read_schema(path).names
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError:
        raise DataError(f"{path}: line 1 is not UTF-8 text; save the file as UTF-8") from None
    except csv.Error as err:  # e.g. a column name longer than the csv module's field limit (128 KiB)
        raise DataError(f"{path}: line 1 (the header) cannot be parsed as CSV: {err}") from None


@contextlib.contextmanager
def atomic_target(path: str | Path, suffix: str = ""):
    """The temporary path to write `path`'s content at; renamed into place when the block ends without an error
    (the file is whole or absent, never half). `suffix`: an ending the writer needs (`.keras`)."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}{suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_atomically(path: str | Path, text: str) -> None:
    """Write a text file under a temporary name and rename it into place: it is whole or absent, never half."""
    with atomic_target(path) as partial:
        partial.write_text(text)


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


def is_uri(path: str | Path | None) -> bool:
    """A storage URI (hdfs://, s3a://, ...) that only Spark reads: kept as text, never made a local Path."""
    return path is not None and "://" in str(path)


def transactions_path(transactions, data_path: str | Path, override: str | Path | None = None) -> Path | str:
    """The raw transaction log of a spec's `transactions` block: `override` when given (a storage URI stays as
    it is, for Spark), else the spec's `path`, which is relative to the folder of the data file unless it is
    absolute."""
    if override:
        return str(override) if is_uri(override) else Path(override)
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
