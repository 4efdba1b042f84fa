"""The one CSV/Parquet reader and writer: same rows either way, fixed-size batches, atomic output, named errors."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from feature_columns import DataError
from feature_columns.spec import TransactionSpec
from wide_deep.data.sources import (
    TableWriter,
    column_names,
    duckdb_scan,
    is_parquet,
    read_table,
    record_batches,
    row_count,
    transactions_path,
    write_atomically,
    write_frame,
)


@pytest.fixture
def frame():
    return pd.DataFrame({"id": range(2500), "city": ["a", "b"] * 1250, "amount": [1.5] * 2500})


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.PQ"])
def test_csv_and_parquet_read_the_same_rows(frame, tmp_path, name):
    path = tmp_path / name
    write_frame(frame, path)
    assert is_parquet(path) == (name != "t.csv")
    pd.testing.assert_frame_equal(read_table(path), frame)
    assert row_count(path) == 2500 and column_names(path) == ["id", "city", "amount"]
    sizes = [b.num_rows for b in record_batches(path, 1000)]
    assert sizes == [1000, 1000, 500]
    batches = pd.concat([b.to_pandas() for b in record_batches(path, 700)], ignore_index=True)
    pd.testing.assert_frame_equal(batches, frame)


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
    (tmp_path / "header.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="no rows"):
        read_table(tmp_path / "header.csv")
    (tmp_path / "fake.parquet").write_text("not parquet at all")
    with pytest.raises(DataError, match="could not be read"):
        read_table(tmp_path / "fake.parquet")
    with pytest.raises(DataError, match="could not be read"):
        list(record_batches(tmp_path / "fake.parquet", 10))


def test_a_table_writer_publishes_only_a_complete_file(tmp_path):
    table = pa.table({"x": [1, 2, 3]})
    with TableWriter(tmp_path / "out.parquet") as writer:
        writer.write(table)
        writer.write(table)
        assert not (tmp_path / "out.parquet").exists()  # still under its temporary name
    assert read_table(tmp_path / "out.parquet")["x"].tolist() == [1, 2, 3, 1, 2, 3]
    with pytest.raises(RuntimeError), TableWriter(tmp_path / "out.parquet") as writer:
        writer.write(pa.table({"x": [9]}))
        raise RuntimeError("scoring failed half way")
    assert read_table(tmp_path / "out.parquet")["x"].tolist() == [1, 2, 3, 1, 2, 3]  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_atomic_text_and_the_transaction_log_path(tmp_path):
    write_atomically(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}" and len(list(tmp_path.iterdir())) == 1
    spec = TransactionSpec(path="transactions")
    assert transactions_path(spec, tmp_path / "apps.parquet") == tmp_path / "transactions"
    assert transactions_path(spec, tmp_path / "apps.parquet", "/elsewhere/log.csv").as_posix() == "/elsewhere/log.csv"
    assert transactions_path(TransactionSpec(path="/abs/tx"), tmp_path / "a.csv").as_posix() == "/abs/tx"


def test_duckdb_reads_files_globs_and_folders(tmp_path):
    write_frame(pd.DataFrame({"x": [1]}), tmp_path / "part-0.parquet")
    assert duckdb_scan(tmp_path, "log") == f"read_parquet('{tmp_path}/*.parquet')"
    assert duckdb_scan(tmp_path / "part-*.parquet", "log").startswith("read_parquet(")
    (tmp_path / "t.csv").write_text("x\n1\n")
    assert duckdb_scan(tmp_path / "t.csv", "log").startswith("read_csv_auto(")
    with pytest.raises(DataError, match="log: .*nothing.csv does not exist"):
        duckdb_scan(tmp_path / "nothing.csv", "log")


CSV_MISTAKES = {
    "a short line": ("a,b,y\n1,2,0\n3,1\n4,5,1\n", "line 3 has 2 field(s); the header has 3"),
    "a long line": ("a,b,y\n1,2,0\n3,1,1,9\n", "line 3 has 4 field(s); the header has 3"),
    "a repeated column": ("a,b,a\n1,2,3\n", "column 'a' appears twice in the header (columns 1 and 3)"),
    "whitespace only": ("   \n  \n", "the first line holds no column names"),
    "latin-1 text": ("a,b,y\n1,x,0\n2,caf\xe9,1\n".encode("latin-1"), "line 3 is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(CSV_MISTAKES))
def test_csv_mistakes_name_the_file_line(tmp_path, case):
    content, message = CSV_MISTAKES[case]
    path = tmp_path / "data.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_table(path)
    with pytest.raises(DataError, match=r"line|header|column"):
        list(record_batches(path, 1000))


def test_a_bad_number_after_the_first_block_names_its_line(tmp_path):
    lines = ["id,amount"] + [f"{i},{i * 1.5}" for i in range(120_000)]
    lines[100_001] = "100000,lots"
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 100002: column 'amount' holds 'lots'"):
        list(record_batches(tmp_path / "big.csv", 50_000, numeric=("amount",)))
    lines[100_001] = "100000,2.5e3"  # a float after many integers: typed as float64, so it is fine
    (tmp_path / "big.csv").write_text("\n".join(lines) + "\n")
    assert sum(b.num_rows for b in record_batches(tmp_path / "big.csv", 50_000, numeric=("amount",))) == 120_000


def test_a_parquet_file_with_a_repeated_column_is_refused(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table([[1], [2]], names=["a", "a"]), tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="column 'a' appears twice"):
        read_table(tmp_path / "dup.parquet")


def test_outputs_that_would_destroy_an_input_or_cannot_be_written_are_refused(tmp_path):
    from feature_columns.errors import UserError
    from wide_deep.data.sources import check_output

    source = tmp_path / "in.csv"
    source.write_text("a\n1\n")
    (tmp_path / "link.csv").symlink_to(source)
    (tmp_path / "a_file").write_text("x")
    cases = {
        "": "path is empty",
        str(source): "is the input",
        str(tmp_path / "link.csv"): "is the input",
        str(tmp_path / "sub" / ".." / "in.csv"): "is the input",
        str(tmp_path): "is a directory",
        str(tmp_path / "a_file" / "out.csv"): "a_file is a file, not a folder",
    }
    for path, message in cases.items():
        with pytest.raises(UserError, match=message):
            check_output(path, "--output", inputs=[source])
    made = check_output(tmp_path / "new" / "deeper" / "out.csv", "--output", inputs=[source])
    assert made.parent.is_dir()
