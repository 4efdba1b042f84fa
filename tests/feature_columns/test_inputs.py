"""The raw-value contract: canonical categories, numeric parsing with named errors, the dtype rule."""

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError, categorical_column_with_vocabulary_list, numeric_column
from feature_columns.inputs import prepare_frame, to_tensors
from feature_columns.values import canonical_categories, canonical_category


def test_canonical_category_unifies_numbers_and_missing():
    assert canonical_category(3) == canonical_category(3.0) == canonical_category("3") == "3"
    assert canonical_category(float("nan")) == canonical_category(None) == canonical_category("NaN") == ""
    assert canonical_category(-1) == "-1" and canonical_category(2.5) == "2.5" and canonical_category(True) == "true"


def test_vectorised_canonicalisation_matches_the_scalar_rule():
    columns = [
        pd.Series([1, -2, 30]),
        pd.Series([1.0, np.nan, 2.5, -0.0, 1e20]),
        pd.Series(["a", "nan", "", "b c"]),
        pd.Series(["x", None, 3, 4.0, np.nan], dtype=object),
        pd.Series([True, False]),
        pd.Series(["q", None], dtype="string"),
        pd.Series([1, None], dtype="Int64"),
        pd.Series([True, None], dtype=object),
    ]
    for column in columns:
        expected = [canonical_category(v) for v in column.to_numpy(dtype=object)]
        assert canonical_categories(column).tolist() == expected, column.tolist()


def test_prepare_frame_gives_strings_and_float32(toy_spec, toy_frame):
    arrays = prepare_frame(toy_spec, toy_frame)
    assert arrays["tier"].dtype == object and set(arrays["tier"]) == {"1", "2", "3"}
    assert arrays["amount"].dtype == np.float32 and np.isnan(arrays["amount"][0])
    tensors = to_tensors(arrays)
    assert tensors["tier"].dtype.name == "string" and tensors["amount"].dtype.name == "float32"


def test_the_dtype_rule():
    assert categorical_column_with_vocabulary_list("c", ["a"]).raw_dtype == "string"
    assert numeric_column("x").raw_dtype == "float32"


def test_text_in_numeric_column_names_column_and_row(toy_spec, toy_frame):
    frame = toy_frame.astype({"amount": object})
    frame.loc[5, "amount"] = "12,5 EUR"
    frame.loc[9, "amount"] = "  "  # blank text is a missing value, not an error
    with pytest.raises(DataError, match=r"column 'amount'.*row 5.*'12,5 EUR' \(1 non-numeric"):
        prepare_frame(toy_spec, frame)


def test_missing_column_is_named(toy_spec, toy_frame):
    with pytest.raises(DataError, match=r"\['tier'\]"):
        prepare_frame(toy_spec, toy_frame.drop(columns=["tier"]))


def test_infinite_value_is_rejected_and_rows_count_from_the_offset(toy_spec, toy_frame):
    frame = toy_frame.copy()
    frame.loc[3, "age"] = np.inf
    with pytest.raises(DataError, match=r"'age' data row 3 \(line 5 of a CSV file\) is inf"):
        prepare_frame(toy_spec, frame)
    with pytest.raises(DataError, match="'age' data row 103 .* is inf"):
        prepare_frame(toy_spec, frame, row_offset=100)


def test_a_value_beyond_float32_is_rejected_not_turned_into_infinity(toy_spec, toy_frame):
    frame = toy_frame.copy()
    frame["age"] = frame["age"].astype("float64")
    frame.loc[2, "age"] = -1e39
    with pytest.raises(DataError, match=r"'age' data row 2 .* is -1e\+39; expected a finite number within"):
        prepare_frame(toy_spec, frame)
