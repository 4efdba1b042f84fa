"""Log sequences: known answers, the window rule, and training-time = scoring-time values."""

import numpy as np
import pandas as pd
import pytest

from feature_columns import DataError
from feature_columns.kinds.sequence import SequenceColumn, log_column_name, parse_sequence
from feature_columns.spec import FeatureSpec, TransactionSpec
from tests.conftest import toy_transactions
from wide_deep.data.dataset import add_transaction_features
from wide_deep.data.sequences import bin_transactions

TX = toy_transactions(21)
CHANNELS = ["inflow_amount", "outflow_amount", "inflow_count", "count", "mean_log_amount"]


def weekly() -> SequenceColumn:
    return parse_sequence({"name": "w", "bin_days": 7, "channels": CHANNELS}, "test: sequences[0]", TX.window_days)


def day(d: float):
    return pd.Timestamp("2024-04-10") - pd.Timedelta(days=d)


def apps() -> pd.DataFrame:
    return pd.DataFrame({"eid": [2, 1, 3], "as_of": pd.to_datetime(["2024-04-10"] * 3)})


def log() -> pd.DataFrame:
    rows = [
        (1, day(20.5), 100.0, "in"),
        (1, day(15), 300.0, "out"),
        (1, day(1), 200.0, "in"),
        (1, day(0.5), 50.0, "out"),
        (1, day(25), 999.0, "in"),  # outside the 21-day window
        (2, day(0), 10.0, "in"),  # on the as-of date: the newest bin
        (9, day(5), 10.0, "in"),
    ]  # unknown id
    return pd.DataFrame(rows, columns=["eid", "ts", "amt", "dir"])


def as_array(frame: pd.DataFrame, seq: SequenceColumn) -> np.ndarray:
    return frame[list(seq.source_columns)].to_numpy().reshape(len(frame), seq.steps, len(seq.channels))


def test_known_answers():
    seq = weekly()
    values = as_array(bin_transactions(log(), apps(), TX, "eid", [seq]), seq)
    assert values.shape == (3, 3, 5)
    enterprise_1 = values[1]  # rows follow the applications' order: eid 2, 1, 3
    np.testing.assert_allclose(enterprise_1[0, :4], [100, 300, 1, 2])  # 14–21 days back: the oldest bin
    np.testing.assert_allclose(enterprise_1[1, :4], 0)  # 7–14 days back: nothing
    np.testing.assert_allclose(enterprise_1[2, :4], [200, 50, 1, 2])  # the newest bin
    assert enterprise_1[2, 4] == pytest.approx((np.log(200) + np.log(50)) / 2)
    np.testing.assert_allclose(values[0, 2, :4], [10, 0, 1, 1])
    np.testing.assert_allclose(values[2, :, :4], 0)  # no transactions: zero flows in every bin
    assert np.isnan(values[2, :, 4]).all() and np.isnan(enterprise_1[1, 4])  # an empty bin has no mean log amount
    assert enterprise_1[0, 4] == pytest.approx((np.log(100) + np.log(300)) / 2)


def test_scoring_time_equals_training_time(tmp_path):
    """A sequence computed for one applicant from its own transactions (scoring) equals the one computed for all
    applicants from the log file (training)."""
    seq = weekly()
    log().to_parquet(tmp_path / "log.parquet")
    training = bin_transactions(str(tmp_path / "log.parquet"), apps(), TX, "eid", [seq])
    for row in range(3):
        applicant = apps().iloc[[row]].reset_index(drop=True)
        own = log()[log()["eid"] == applicant["eid"][0]]
        scoring = bin_transactions(own, applicant, TX, "eid", [seq])
        pd.testing.assert_frame_equal(scoring, training.iloc[[row]].reset_index(drop=True))


def test_added_with_the_aggregates_and_missing_direction_named():
    spec = FeatureSpec.from_dict(
        {
            "label": "y",
            "id": "eid",
            "transactions": {
                "path": "tx",
                "id_column": "eid",
                "timestamp_column": "ts",
                "amount_column": "amt",
                "direction_column": "dir",
                "as_of_column": "as_of",
                "window_days": 21,
            },
            "columns": [{"name": "txn_count", "type": "numeric"}],
            "sequences": [{"name": "w", "bin_days": 7}],
        }
    )
    frame, report = add_transaction_features(spec, apps(), log(), "test")
    assert log_column_name("w", "inflow_amount", 2) in frame.columns and "txn_count" in frame.columns
    assert frame.loc[1, log_column_name("w", "inflow_amount", 2)] == 200.0
    undirected = TransactionSpec(**{**TX.__dict__, "direction_column": None})
    with pytest.raises(DataError, match="direction_column"):
        bin_transactions(log(), apps(), undirected, "eid", [weekly()])
