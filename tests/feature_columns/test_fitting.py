import numpy as np
import pytest

from feature_columns import DataError
import pandas as pd

from feature_columns.fitting import (bucket_indices, canonical_category, cardinality, fit_state, load_state,
                                     prepare_frame, quality_report, save_state)


def test_canonical_category_unifies_numbers_and_missing():
    assert canonical_category(3) == canonical_category(3.0) == canonical_category("3") == "3"
    assert canonical_category(float("nan")) == canonical_category(None) == ""
    assert canonical_category(-1) == "-1" and canonical_category(2.5) == "2.5"


def test_fit_uses_only_the_given_split(toy_spec, toy_frame):
    arrays = prepare_frame(toy_spec, toy_frame)
    train = {k: v[:200] for k, v in arrays.items()}
    train["city"] = np.where(train["city"] == "c", "a", train["city"]).astype(object)  # 'c' unseen in train
    state = fit_state(toy_spec, train)
    assert "c" not in state["city"]["vocabulary"]
    assert state["amount"]["median"] == pytest.approx(np.nanmedian(train["amount"]))
    assert len(state["amount"]["edges"]) == 5
    assert state["age"]["boundaries"] == [30.0, 40.0, 50.0]
    assert cardinality(state["age"]) == 5  # 4 buckets + missing
    report = quality_report(toy_spec, state, arrays)
    assert report["city"]["unseen_to_oov"] == int((toy_frame["city"] == "c").sum())
    assert report["amount"]["missing_imputed"] == int(toy_frame["amount"].isna().sum())


def test_state_round_trips(toy_spec, toy_frame, tmp_path):
    state = fit_state(toy_spec, prepare_frame(toy_spec, toy_frame))
    save_state(state, tmp_path / "s.json")
    assert load_state(tmp_path / "s.json") == state


def test_text_in_numeric_column_names_column_and_row(toy_spec, toy_frame):
    frame = toy_frame.astype({"amount": object})
    frame.loc[5, "amount"] = "12,5 EUR"
    with pytest.raises(DataError, match=r"column 'amount'.*row 5.*'12,5 EUR'"):
        prepare_frame(toy_spec, frame)


def test_missing_column_is_named(toy_spec, toy_frame):
    with pytest.raises(DataError, match=r"\['tier'\]"):
        prepare_frame(toy_spec, toy_frame.drop(columns=["tier"]))


def test_infinite_value_is_rejected(toy_spec, toy_frame):
    frame = toy_frame.copy()
    frame.loc[3, "age"] = np.inf
    with pytest.raises(DataError, match="'age' row 3 is inf"):
        prepare_frame(toy_spec, frame)


def test_bucket_indices_edges_and_missing():
    idx = bucket_indices(np.array([0, 30, 35, 50, 99, np.nan]), [30, 40, 50])
    assert idx.tolist() == [0, 1, 1, 3, 3, 4]


def test_vectorised_canonicalisation_matches_the_scalar_rule():
    from feature_columns.fitting import canonical_categories
    columns = [pd.Series([1, -2, 30]), pd.Series([1.0, np.nan, 2.5, -0.0, 1e20]), pd.Series(["a", "nan", "", "b c"]),
               pd.Series(["x", None, 3, 4.0, np.nan], dtype=object), pd.Series([True, False]),
               pd.Series(["q", None], dtype="string"), pd.Series([1, None], dtype="Int64"), pd.Series([True, None], dtype=object)]
    for column in columns:
        expected = [canonical_category(v) for v in column.to_numpy(dtype=object)]
        assert canonical_categories(column).tolist() == expected, column.tolist()
