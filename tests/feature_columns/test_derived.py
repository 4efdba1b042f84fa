"""Derived columns: each kind's values, missing values kept missing, bad input named, the spec's checks."""

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError, FeatureSpec, SpecError
from feature_columns.derived import DerivedColumn, add_derived
from feature_columns.inputs import prepare_frame


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opened": ["Mar-1995", "Jan-2010", None, "Dec-2014"],
            "issued": ["Dec-2015", "Jan-2010", "Jun-2015", "Jan-2015"],
            "first": ["2015-01-31", "2015-03-01", "2016-02-01", ""],
            "second": ["2015-03-01", "2015-03-01", "2016-03-15", "2016-01-01"],
            "naics": [541110, 722511, np.nan, 44],
            "franchise": [0, 1, 31245, np.nan],
            "debt": [100.0, 50.0, 1.0, np.nan],
            "income": [400.0, 0.0, 4.0, 10.0],
            "y": [0, 1, 0, 1],
        }
    )


DERIVED = (
    DerivedColumn("credit_months", "months_between", start="opened", end="issued", date_format="%b-%Y"),
    DerivedColumn("gap_days", "days_between", start="first", end="second"),
    DerivedColumn("gap_months", "months_between", start="first", end="second"),
    DerivedColumn("naics_2", "prefix", column="naics", length=2),
    DerivedColumn("is_franchise", "map", column="franchise", values={"0": "no", "1": "no"}, default="yes"),
    DerivedColumn("debt_to_income", "ratio", numerator="debt", denominator="income"),
)


def test_each_kind_computes_its_values_and_keeps_missing_values_missing():
    out = add_derived(DERIVED, frame(), "loans.csv")
    np.testing.assert_allclose(out["credit_months"], [249.0, 0.0, np.nan, 1.0])
    np.testing.assert_allclose(out["gap_days"], [29.0, 0.0, 43.0, np.nan])
    np.testing.assert_allclose(out["gap_months"], [2 - 30 / (365.25 / 12), 0.0, 1 + 14 / (365.25 / 12), np.nan])
    assert out["naics_2"].tolist() == ["54", "72", "", "44"]  # codes read as categories: 541110 → "54"
    assert out["is_franchise"].tolist() == ["no", "no", "yes", ""]
    np.testing.assert_allclose(out["debt_to_income"], [0.25, np.nan, 0.25, np.nan])  # / 0 and missing: missing
    assert list(frame().columns) == list(out.columns)[: len(frame().columns)]  # the input frame is not changed


def test_bad_and_missing_sources_are_named():
    bad = frame().assign(issued=["Dec-2015", "2010-13-45", "Jun-2015", "Jan-2015"])
    with pytest.raises(
        DataError, match=r"column 'issued' \(for derived column 'credit_months'\) data row 1 .*'2010-13-45'"
    ):
        add_derived(DERIVED, bad, "loans.csv")
    with pytest.raises(DataError, match=r"column\(s\) \['income'\] that derived columns are computed from"):
        add_derived(DERIVED, frame().drop(columns=["income"]), "loans.csv")


def test_the_spec_declares_checks_and_round_trips_derived_columns():
    data = {
        "label": "y",
        "derived": [d.to_dict() for d in DERIVED],
        "columns": [
            {"name": "credit_months", "type": "numeric"},
            {"name": "naics_2", "type": "categorical"},
            {"name": "is_franchise", "type": "categorical"},
            {"name": "debt_to_income", "type": "bucketized", "boundaries": [0.1, 0.5]},
        ],
    }
    spec = FeatureSpec.from_dict(data)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec and spec.for_model("wide_deep", True).derived == spec.derived
    arrays = prepare_frame(spec, frame())  # computes them: the data holds only the sources
    assert arrays["naics_2"].tolist() == ["54", "72", "", "44"] and arrays["credit_months"].dtype == np.float32
    wrong = dict(data, columns=[{"name": "naics_2", "type": "numeric"}])
    with pytest.raises(SpecError, match="'naics_2' is numeric but its derived values \\(prefix\\) make it categorical"):
        FeatureSpec.from_dict(wrong)
    leak = dict(data, derived=[{"name": "z", "kind": "ratio", "numerator": "y", "denominator": "income"}])
    with pytest.raises(SpecError, match="computed from the label 'y'"):
        FeatureSpec.from_dict(leak)
    with pytest.raises(SpecError, match="kind='eval' is not one of"):
        FeatureSpec.from_dict(dict(data, derived=[{"name": "z", "kind": "eval", "column": "x"}]))
    with pytest.raises(SpecError, match="needs length"):
        FeatureSpec.from_dict(dict(data, derived=[{"name": "z", "kind": "prefix", "column": "naics"}]))


def test_derived_columns_computed_from_derived_ones_and_circles():
    """A derived column may be computed from another (in any declared order); itself or a circle is refused."""
    chained = (
        DerivedColumn("debt_to_income_code", "prefix", column="debt_to_income", length=3),
        DerivedColumn("debt_to_income", "ratio", numerator="debt", denominator="income"),
    )
    assert add_derived(chained, frame(), "loans.csv")["debt_to_income_code"].tolist() == ["0.2", "", "0.2", ""]
    with pytest.raises(SpecError, match="'x' is computed from itself"):
        DerivedColumn("x", "prefix", column="x", length=2)
    circle = {
        "label": "y",
        "derived": [
            {"name": "a", "kind": "prefix", "column": "b", "length": 2},
            {"name": "b", "kind": "prefix", "column": "c", "length": 2},
            {"name": "c", "kind": "prefix", "column": "a", "length": 2},
        ],
        "columns": [{"name": "a", "type": "categorical"}],
    }
    with pytest.raises(SpecError, match="in a circle: a → b → c → a"):
        FeatureSpec.from_dict(circle)
    with pytest.raises(SpecError, match="date_format must be text, got 5"):
        DerivedColumn("m", "months_between", start="opened", end="issued", date_format=5)


def test_a_data_column_named_like_a_derived_column_is_refused():
    with pytest.raises(DataError, match=r"column\(s\) \['naics_2'\] of the data are also derived columns"):
        add_derived(DERIVED, frame().assign(naics_2="99"), "loans.csv")
    replaced = add_derived(DERIVED, frame().assign(naics_2="99"), "request", replace=True)
    assert replaced["naics_2"].tolist() == ["54", "72", "", "44"]


def test_dates_with_time_zones_are_one_instant_or_a_named_error():
    gap = (DerivedColumn("gap", "days_between", start="first", end="second"),)
    zoned = pd.DataFrame(
        {"first": ["2024-01-01T00:00:00+02:00", "2024-01-01T00:00:00Z"], "second": ["2024-01-02T00:00:00Z"] * 2}
    )
    np.testing.assert_allclose(add_derived(gap, zoned, "x.csv")["gap"], [1 + 2 / 24, 1.0])  # both as UTC instants
    mixed = pd.DataFrame({"first": ["2024-01-01", "2024-01-01T00:00:00+02:00"], "second": ["2024-01-02"] * 2})
    with pytest.raises(
        DataError, match=r"column 'first' .*data row 1 .*holds .2024-01-01T00:00:00\+02:00., a date with"
    ):
        add_derived(gap, mixed, "x.csv")
    aware_start = pd.DataFrame({"first": ["2024-01-01T00:00:00Z"], "second": ["2024-01-02"]})
    with pytest.raises(DataError, match="'first' holds dates with a time zone and 'second' dates without one"):
        add_derived(gap, aware_start, "x.csv")
