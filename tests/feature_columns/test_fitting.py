"""Fitting on the training split: typed state entries, their JSON form, crosses, buckets and the quality report."""

import json

import numpy as np
import pytest

from feature_columns import DataError, FeatureSpec
from feature_columns.fitting import fit_state, load_state, quality_report, save_state
from feature_columns.inputs import prepare_frame
from feature_columns.kinds import entry_from_json
from feature_columns.kinds.base import HashBuckets, Vocabulary
from feature_columns.kinds.bucketized import Buckets, bucket_indices
from feature_columns.kinds.numeric import NumericStats


def test_out_of_vocabulary_counts_say_why(toy_spec, toy_frame):
    """Rare values pooled on the fitting rows are not 'unseen'; values outside a listed vocabulary are 'unlisted'."""
    data = toy_spec.to_dict()
    counts = toy_frame["city"].value_counts()
    data["columns"][0]["min_frequency"] = int(counts.iloc[0])  # only the most frequent city keeps its own index
    pooled = int(counts[counts < counts.iloc[0]].sum())
    data["columns"][1]["vocabulary"] = ["1"]
    spec = FeatureSpec.from_dict(data)
    arrays = prepare_frame(spec, toy_frame)
    state = fit_state(spec, arrays)
    on_fit = quality_report(spec, state, arrays, fitted_here=True)
    elsewhere = quality_report(spec, state, arrays)
    assert pooled and on_fit["city"] == {"rare_to_oov": pooled} and elsewhere["city"] == {"unseen_to_oov": pooled}
    unlisted = int((toy_frame["tier"] != 1).sum())
    assert unlisted and on_fit["tier"] == elsewhere["tier"] == {"unlisted_to_oov": unlisted}


def test_fit_uses_only_the_given_split(toy_spec, toy_frame):
    arrays = prepare_frame(toy_spec, toy_frame)
    train = {k: v[:200] for k, v in arrays.items()}
    train["city"] = np.where(train["city"] == "c", "a", train["city"]).astype(object)  # 'c' unseen in train
    state = fit_state(toy_spec, train)
    assert isinstance(state["city"], Vocabulary) and "c" not in state["city"].values
    assert isinstance(state["amount"], NumericStats)
    assert state["amount"].median == pytest.approx(np.nanmedian(train["amount"]))
    assert len(state["amount"].edges) == 5
    assert state["age"] == Buckets((30.0, 40.0, 50.0), state["age"].missing_rate)
    assert state["age"].cardinality == 5  # 4 buckets + missing
    assert state["city_x_tier"].cardinality == len(state["city_x_tier"].values) + 1
    report = quality_report(toy_spec, state, arrays)
    assert report["city"]["unseen_to_oov"] == int((toy_frame["city"] == "c").sum())
    assert report["amount"]["missing_imputed"] == int(toy_frame["amount"].isna().sum())


def test_state_round_trips_and_keeps_its_json_format(toy_spec, toy_frame, tmp_path):
    state = fit_state(toy_spec, prepare_frame(toy_spec, toy_frame))
    save_state(state, tmp_path / "s.json")
    assert load_state(tmp_path / "s.json") == state
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["version"] == 1
    assert list(saved["columns"]["amount"]) == ["median", "mean", "std", "missing_rate", "edges", "wide_boundaries"]
    assert saved["columns"]["age"] == {"boundaries": [30.0, 40.0, 50.0], "missing_rate": 0.0}
    assert set(saved["columns"]["city"]) == {"vocabulary"}


def test_each_entry_kind_is_read_back_from_its_keys():
    assert entry_from_json("h", {"hash_buckets": 7}) == HashBuckets(7) and HashBuckets(7).cardinality == 7
    assert entry_from_json("v", {"vocabulary": ["a"]}) == Vocabulary(("a",))
    assert entry_from_json("n", {"median": 1, "mean": 2, "std": 3, "missing_rate": 0}).edges is None
    with pytest.raises(DataError, match="column 'x' is not recognised"):
        entry_from_json("x", {"something": 1})


def test_a_column_without_training_values_is_an_error(toy_spec, toy_frame):
    arrays = prepare_frame(toy_spec, toy_frame)
    arrays["amount"] = np.full(len(toy_frame), np.nan, dtype="float32")
    with pytest.raises(DataError, match="numeric column 'amount' has no non-missing values"):
        fit_state(toy_spec, arrays)


def test_bucket_indices_edges_and_missing():
    idx = bucket_indices(np.array([0, 30, 35, 50, 99, np.nan]), [30, 40, 50])
    assert idx.tolist() == [0, 1, 1, 3, 3, 4]
