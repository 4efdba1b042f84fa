"""Reason-code tables: the default one, a user's file over it (checked row by row), reasons of one applicant."""

import pytest

from feature_columns.errors import UserError
from wide_deep.serving.reasons import ReasonCodes, default_text

FEATURES = ["city", "txn_count", "city_x_industry_primary"]


def test_the_default_table_and_an_applicants_reasons():
    table = ReasonCodes.default(FEATURES)
    assert [table.code_of(f) for f in FEATURES] == ["R01", "R02", "R03"]
    assert default_text("city_x_industry_primary") == "City together with industry primary raised the estimated risk"
    reasons = table.reasons(["txn_count", "city", "city_x_industry_primary"], [0.4, 0.1, -0.2])
    assert [r["code"] for r in reasons] == ["R02", "R01"]  # only what raised the risk
    assert reasons[0] == {
        "code": "R02",
        "feature": "txn_count",
        "text": "Txn count raised the estimated risk",
        "contribution": 0.4,
    }


def test_a_users_file_replaces_rows_and_bad_rows_are_named(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code,feature,text\nT7,txn_count,Few transactions in the last six months\n")
    table = ReasonCodes.read(path, FEATURES)
    assert table.code_of("txn_count") == "T7" and table.code_of("city") == "R01"
    table.write(tmp_path / "again.csv")
    assert ReasonCodes.read(tmp_path / "again.csv", FEATURES).by_feature == table.by_feature
    for text, message in (
        ("code,feature\nT1,city\n", "expected the columns"),
        ("code,feature,text\nT1,shoe_size,Big feet\n", "line 2: 'shoe_size' is not a feature"),
        ("code,feature,text\nT1,city,\n", "line 2 \\('city'\\) needs a code and a text"),
        ("code,feature,text\nT1,city,a\nT2,city,b\n", "line 3 \\('city'\\) repeats that feature"),
        ("code,feature,text\nT1,city," + "x" * 1_000_000 + "\n", "is not a CSV table: field larger than field limit"),
        ("code,feature,text\nT1,city," + "x" * 5_000 + "\n", "a text at most 500"),
        ("code,feature,text\n" + "T" * 30 + ",city,Far\n", "a code has at most 20 characters"),
    ):
        path.write_text(text)
        with pytest.raises(UserError, match=message):
            ReasonCodes.read(path, FEATURES)
