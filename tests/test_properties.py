"""Property tests: whatever a user hands the spec parser, the derived columns or the file readers, the answer is
a value or one named error (SpecError / DataError / UserError), never another exception."""

import string
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feature_columns import FeatureSpec, SpecError, UserError
from feature_columns.derived import DerivedColumn, add_derived
from wide_deep.data.sources import column_names, read_table, record_batches

# small budgets: these run in `make test` on every commit
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

NAMES = st.sampled_from(["y", "id", "city", "amount", "when", "x", "", "1", "a b", "é"]) | st.text(max_size=6)
SCALARS = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8)
FIELD_VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(st.text(max_size=4), SCALARS, max_size=2)
COLUMN_FIELDS = st.sampled_from(
    ["name", "type", "encoding", "route", "vocabulary", "hash_bucket_size", "boundaries", "dimension", "keys",
     "kind", "start", "end", "column", "length", "values", "default", "numerator", "denominator", "date_format",
     "protected", "missing", "num_buckets", "window_days", "bins"]
)  # fmt: skip
TYPES = st.sampled_from(
    ["categorical", "numeric", "bucketized", "boolean", "hashed", "embedding", "sequence", "date", "text", 3, None]
)


@st.composite
def columns(draw):
    column = draw(st.dictionaries(COLUMN_FIELDS, FIELD_VALUES, max_size=4))
    if draw(st.booleans()):
        column["name"] = draw(NAMES)
    if draw(st.booleans()):
        column["type"] = draw(TYPES)
    return column


@st.composite
def spec_dicts(draw):
    data = {}
    if draw(st.booleans()):
        data["label"] = draw(NAMES | st.dictionaries(st.sampled_from(["name", "positive", "negative"]), FIELD_VALUES))
    for section in ("columns", "crosses", "derived", "wide", "deep"):
        if draw(st.booleans()):
            data[section] = draw(st.lists(columns(), max_size=4) | FIELD_VALUES)
    if draw(st.booleans()):
        data[draw(st.sampled_from(["id", "transactions", "protected", "colour"]))] = draw(FIELD_VALUES)
    return data


@FAST
@given(spec_dicts())
def test_any_spec_mapping_parses_or_names_what_is_wrong(data):
    try:
        spec = FeatureSpec.from_dict(data, source="fuzz.yaml")
    except SpecError as error:
        assert str(error).strip()
        return
    assert FeatureSpec.from_dict(spec.to_dict()) == spec  # what parses round-trips


@FAST
@given(st.text(alphabet=string.printable + "éλ\u00a0", max_size=200))
def test_any_spec_file_loads_or_is_refused_as_a_spec_error(tmp_path_factory, text):
    path = Path(tmp_path_factory.mktemp("spec")) / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        FeatureSpec.from_yaml(path)
    except SpecError as error:
        assert "spec" in str(error)


DATES = (
    st.none()
    | st.sampled_from(["", "NaT", "2015-01-31", "Mar-1995", "2015-03-01T10:00:00+02:00", "2015-03-01 00:00:00Z"])
    | st.dates().map(str)
    | st.datetimes(timezones=st.none() | st.timezones()).map(str)
    | st.text(max_size=12)
    | st.integers(-(10**12), 10**12)
    | st.floats()
)
DERIVED = (
    DerivedColumn("gap_days", "days_between", start="first", end="second"),
    DerivedColumn("gap_months", "months_between", start="first", end="second"),
    DerivedColumn("named_months", "months_between", start="first", end="second", date_format="%b-%Y"),
    DerivedColumn("ratio", "ratio", numerator="first_number", denominator="second_number"),
    DerivedColumn("prefix", "prefix", column="second", length=3),
)


@FAST
@given(
    st.lists(st.tuples(DATES, DATES, SCALARS, SCALARS), min_size=1, max_size=6),
    st.sampled_from(DERIVED),
)
def test_derived_columns_on_any_values_compute_or_name_the_bad_row(rows, column):
    frame = pd.DataFrame(rows, columns=["first", "second", "first_number", "second_number"])
    try:
        out = add_derived((column,), frame, "fuzz.csv")
    except UserError as error:
        assert "fuzz.csv" in str(error) or column.name in str(error)
        return
    values = out[column.name]
    assert len(values) == len(frame)
    if column.kind != "prefix":
        assert np.isfinite(values.dropna().astype(float)).all()


CSV_TEXT = st.lists(
    st.lists(st.sampled_from(["a", "1", "2.5", "", '"', "x,y", "\n", "é", "\x00", "NaN", "-1e308", " "]), max_size=4),
    max_size=6,
).map(lambda rows: "\n".join(",".join(cells) for cells in rows))


@FAST
@given(st.binary(max_size=300) | CSV_TEXT.map(str.encode))
def test_any_bytes_as_a_csv_read_or_named(tmp_path_factory, raw):
    path = Path(tmp_path_factory.mktemp("csv")) / "input.csv"
    path.write_bytes(raw)
    for read in (read_table, column_names, lambda p: list(record_batches(p, 4))):
        try:
            read(path)
        except UserError as error:
            assert "input.csv" in str(error) or "column" in str(error)


@FAST
@given(st.binary(max_size=300))
def test_any_bytes_as_a_parquet_file_read_or_named(tmp_path_factory, raw):
    path = Path(tmp_path_factory.mktemp("parquet")) / "input.parquet"
    path.write_bytes(raw)
    try:
        read_table(path)
    except UserError as error:
        assert "input.parquet" in str(error)
