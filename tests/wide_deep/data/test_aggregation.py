import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError
from feature_columns.spec import TRANSACTION_FEATURES as FEATURES
from feature_columns.spec import TransactionSpec
from tests.conftest import toy_transactions
from wide_deep.data.aggregation import aggregate_transactions

SPEC = toy_transactions(100)


def _apps():
    return pd.DataFrame({"eid": [1, 2, 3], "as_of": pd.to_datetime(["2024-04-10"] * 3)})


def day(d):
    return pd.Timestamp("2024-04-10") - pd.Timedelta(days=d)


def _tx():
    rows = [
        (1, day(90), 100.0, "in"),
        (1, day(50), 300.0, "out"),
        (1, day(10), 200.0, "in"),
        (1, day(200), 999.0, "in"),  # outside the window
        (2, day(5), 50.0, "in"),
        (9, day(5), 10.0, "in"),
    ]  # unknown id
    return pd.DataFrame(rows, columns=["eid", "ts", "amt", "dir"])


def test_known_answers():
    features, report = aggregate_transactions(_tx(), _apps(), SPEC, "eid")
    assert list(features.columns) == ["eid", *FEATURES]
    f = features.set_index("eid")
    assert f.loc[1, "txn_count"] == 3 and f.loc[1, "txn_total_amount"] == 600
    assert f.loc[1, "txn_daily_avg_amount"] == pytest.approx(6.0)
    assert f.loc[1, "txn_amount_variance"] == pytest.approx(np.var([100, 300, 200], ddof=1))
    assert f.loc[1, "txn_longest_gap_days"] == pytest.approx(40.0)  # between day 90 and day 50
    assert f.loc[1, "txn_days_since_last"] == pytest.approx(10.0)
    assert f.loc[1, "txn_inflow_share"] == pytest.approx(2 / 3)
    assert f.loc[1, "txn_net_flow_ratio"] == pytest.approx(0.0)
    assert f.loc[1, "txn_count_trend"] == pytest.approx((2 * 1 - 3) / 3)  # one of three in the recent half
    assert f.loc[2, "txn_longest_gap_days"] == pytest.approx(95.0)  # window start to its only transaction
    assert f.loc[3, "txn_count"] == 0 and f.loc[3, "txn_longest_gap_days"] == 100
    assert np.isnan(f.loc[3, "txn_amount_cv"])  # undefined → missing, imputed later
    assert report.rows_outside_window == 1 and report.rows_unknown_id == 1
    assert report.enterprises_without_transactions == 1 and report.rows_in_window == 4


def test_generated_log_lies_inside_the_aggregation_window(small_sme):
    apps = pd.read_parquet(small_sme / "applications.parquet")
    _, report = aggregate_transactions(
        small_sme / "transactions", apps, TransactionSpec(path="transactions"), "enterprise_id"
    )
    assert report.rows_outside_window == 0 and report.rows_unknown_id == 0
    assert report.rows_in_window == len(pd.read_parquet(small_sme / "transactions"))


def test_frame_and_parquet_paths_agree(small_sme):
    """Scoring (a DataFrame of raw transactions) and training (the Parquet log) use the same query."""
    apps = pd.read_parquet(small_sme / "applications.parquet").head(50)
    spec = TransactionSpec(path="transactions")
    from_files, _ = aggregate_transactions(small_sme / "transactions", apps, spec, "enterprise_id")
    raw = pd.read_parquet(small_sme / "transactions")
    raw = raw[raw["enterprise_id"].isin(apps["enterprise_id"])]
    from_frame, _ = aggregate_transactions(raw, apps, spec, "enterprise_id")
    pd.testing.assert_frame_equal(from_files, from_frame, check_dtype=False)


def test_bad_transaction_inputs_are_named(tmp_path):
    with pytest.raises(DataError, match=r"column\(s\) \['amt'\] are missing"):
        aggregate_transactions(_tx().drop(columns=["amt"]), _apps(), SPEC, "eid")
    bad = _apps().astype({"as_of": object})
    bad.loc[1, "as_of"] = "someday"
    with pytest.raises(DataError, match="'as_of' data row 1 .* is not a date"):
        aggregate_transactions(_tx(), bad, SPEC, "eid")
    with pytest.raises(DataError, match="no \\*.parquet files"):
        aggregate_transactions(tmp_path, _apps(), SPEC, "eid")
    with pytest.raises(DataError, match="absent.parquet does not exist"):
        aggregate_transactions(tmp_path / "absent.parquet", _apps(), SPEC, "eid")
    _tx().to_csv(tmp_path / "log.csv", index=False)  # a CSV log is read by DuckDB's CSV reader
    features, report = aggregate_transactions(tmp_path / "log.csv", _apps(), SPEC, "eid")
    assert report.rows_in_window == 4 and features["txn_count"].tolist() == [3, 1, 0]
    assert "4 transactions" in report.summary()


def test_a_log_in_id_and_time_order_and_a_shuffled_one_give_the_same_features(small_sme, monkeypatch):
    """Stored by id and time, a log is aggregated in one streamed pass; out of order it takes the SQL window.
    Both must agree, with ids running across the pass's chunks (made 2,048 rows here), some
    transactions outside the window and some with ids that are not among the applications."""
    from wide_deep.data import aggregation

    monkeypatch.setattr(aggregation, "SCAN_VECTORS", 1)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    spec = TransactionSpec(path="transactions", window_days=120)  # the generator writes 180 days: some fall outside
    raw = pd.read_parquet(small_sme / "transactions")
    apps = apps[apps["enterprise_id"] % 10 != 3]  # their transactions have unknown ids
    ordered = raw.sort_values(["enterprise_id", "timestamp"], kind="stable").reset_index(drop=True)
    shuffled = raw.sample(frac=1.0, random_state=0).reset_index(drop=True)
    fast, fast_report = aggregate_transactions(ordered, apps, spec, "enterprise_id")
    window, window_report = aggregate_transactions(shuffled, apps, spec, "enterprise_id")
    assert fast_report == window_report
    assert fast_report.rows_outside_window > 0 and fast_report.rows_unknown_id > 0
    pd.testing.assert_frame_equal(fast, window, check_exact=False, rtol=1e-9)
    assert (fast["txn_active_day_ratio"] > 0).any() and fast["txn_longest_gap_days"].notna().all()
