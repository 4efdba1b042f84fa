"""`infer_spec`: a starter spec whose every decision can be checked, with leaks and protected attributes flagged."""

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError, FeatureSpec
from feature_columns.kinds.bucketized import BucketizedColumn
from feature_columns.kinds.categorical import CategoricalColumn
from feature_columns.kinds.numeric import NumericColumn
from feature_columns.spec import load_spec_yaml
from wide_deep.data.inference import infer_spec


def loans(n: int = 1000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    bad = rng.random(n) < 0.2
    return pd.DataFrame(
        {
            "loan_id": np.arange(n) + 1000,
            "loan_status": np.where(bad, "Charged Off", "Fully Paid"),
            "amount": rng.lognormal(8, 1, n).round(2),
            "open_accounts": rng.integers(0, 6, n),
            "region": rng.choice(["north", "south", "east", "west", "NO"], n),
            "merchant": [f"m{i}" for i in rng.integers(0, 5000, n)],
            "gender": rng.choice(["f", "m"], n),
            "constant": 7,
            "nearly_empty": np.where(np.arange(n) < 10, 1.0, np.nan),
            "issue_d": pd.date_range("2015-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
            "recoveries": np.where(bad, rng.uniform(10, 500, n), 0.0),
            "total_paid": rng.uniform(0, 1, n),
        }
    )


def test_a_starter_spec_says_what_it_decided():
    inferred = infer_spec(loans(), label="loan_status", name="loans")
    spec = inferred.spec
    assert spec.name == "loans" and spec.id_column == "loan_id"
    assert spec.label.positive == ("Charged Off",) and spec.label.negative == ("Fully Paid",)  # the rarer value
    columns = {c.name: c for c in spec.columns}
    assert isinstance(columns["amount"], NumericColumn)
    assert isinstance(columns["open_accounts"], BucketizedColumn) and columns["open_accounts"].boundaries == (
        1,
        2,
        3,
        4,
        5,
    )
    assert isinstance(columns["region"], CategoricalColumn) and columns["region"].hash_buckets is None
    assert columns["merchant"].hash_buckets is not None  # high cardinality
    assert columns["gender"].protected
    assert {"constant", "nearly_empty", "issue_d", "recoveries"}.isdisjoint(columns)
    assert "total_paid" in columns  # a leak-like name alone is flagged, not dropped
    text = inferred.text
    assert "# - {name: recoveries" in text and "POSSIBLE LEAK: alone it separates the label" in text
    assert "CHECK:" in text.split("total_paid")[1].splitlines()[0]
    assert "# constant: constant" in text and "nearly_empty: 99% missing" in text and "issue_d: dates" in text
    assert any("recoveries" in w for w in inferred.warnings) and any("total_paid" in w for w in inferred.warnings)
    assert FeatureSpec.from_dict(load_spec_yaml(text)) == spec  # the file reads back as the same spec


def test_the_label_is_found_or_asked_for():
    frame = loans().rename(columns={"loan_status": "default"})
    assert infer_spec(frame).spec.label.column == "default"
    with pytest.raises(DataError, match="name it"):
        infer_spec(loans())
    with pytest.raises(DataError, match="label column 'region' has 5 distinct value"):
        infer_spec(loans(), label="region")
    with_gaps = loans().astype({"loan_status": object})
    with_gaps.loc[[3, 7], "loan_status"] = None
    inferred = infer_spec(with_gaps, label="loan_status")
    assert inferred.spec.label.missing == "drop" and "2 row(s) of the sample have no label" in inferred.text


def test_a_column_that_ranks_the_label_too_well_is_named_with_its_auc():
    """Data, not only names: a column whose AUC alone is beyond application data's gets a CHECK note with the
    figure; payment totals are named like outcome fields; a count is bucketized, codes are categories."""
    frame = loans()
    rng = np.random.default_rng(1)
    bad = frame["loan_status"] == "Charged Off"
    frame["term_months"] = np.where(bad, rng.choice([12, 24, 36], len(frame)), 36)  # truncated at charge-off
    frame["total_pymnt"] = rng.uniform(0, 1, len(frame))
    frame["grade_code"] = rng.integers(1, 6, len(frame))
    inferred = infer_spec(frame, label="loan_status")
    line = next(x for x in inferred.text.splitlines() if "name: term_months" in x)
    assert "CHECK: alone it reaches AUC 0.8" in line
    assert "CHECK:" in next(x for x in inferred.text.splitlines() if "name: total_pymnt" in x)
    columns = {c.name: c for c in inferred.spec.columns}
    assert isinstance(columns["grade_code"], CategoricalColumn)
    assert isinstance(columns["open_accounts"], BucketizedColumn)
