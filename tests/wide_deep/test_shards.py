"""Sharded input read through tf.data: the same rows as a plain read, equal shares, clear errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import DataError
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def german_shards(tmp_path):
    frame = pd.read_csv(PROJECT_ROOT / "data/german/germancredit.csv")
    for k, size in enumerate((200, 150, 150, 100)):
        start = sum((200, 150, 150, 100)[:k])
        frame.iloc[start:start + size].to_parquet(tmp_path / f"train-{k}.parquet", index=False)
    frame.iloc[600:800].to_csv(tmp_path / "valid.csv", index=False)
    frame.iloc[800:].to_parquet(tmp_path / "test.parquet", index=False)
    return tmp_path, frame


def test_sharded_read_equals_a_plain_read_and_workers_get_equal_shares(german_shards):
    from feature_columns import FeatureSpec
    from wide_deep.shards import load_sharded, read_files
    path, frame = german_shards
    files = sorted(str(p) for p in path.glob("train-*.parquet"))
    pd.testing.assert_frame_equal(read_files(files), frame.iloc[:600].reset_index(drop=True), check_dtype=False)
    spec = FeatureSpec.from_yaml(PROJECT_ROOT / "data/specs/german.yaml")
    args = (spec, str(path / "train-*.parquet"), str(path / "valid.csv"), str(path / "test.parquet"))
    whole, fit_arrays = load_sharded(*args, log=lambda *_: None)
    assert [len(whole.split_indices[k]) for k in ("train", "valid", "test")] == [600, 200, 200]
    assert len(fit_arrays["credit_amount"]) == 600
    shares = [load_sharded(*args, num_workers=2, worker_index=k, fit_shards=1, log=lambda *_: None) for k in (0, 1)]
    # worker 0 gets files 0 and 2 (350 rows), worker 1 files 1 and 3 (250): both train on 250
    assert [len(s.split_indices["train"]) for s, _ in shares] == [250, 250]
    np.testing.assert_array_equal(shares[0][0].arrays["credit_amount"][:200], frame["credit_amount"].iloc[:200])
    assert all(len(fit["credit_amount"]) == 200 for _, fit in shares)   # fitted on the first file only, by both
    np.testing.assert_array_equal(shares[0][0].split("valid")[1], shares[1][0].split("valid")[1])


def test_sharded_input_errors(german_shards):
    from feature_columns import FeatureSpec
    from wide_deep.shards import load_sharded
    path, _ = german_shards
    spec = FeatureSpec.from_yaml(PROJECT_ROOT / "data/specs/german.yaml")
    with pytest.raises(DataError, match="no file matches"):
        load_sharded(spec, str(path / "nothing-*.parquet"), str(path / "valid.csv"), str(path / "test.parquet"))
    with pytest.raises(DataError, match="needs --valid_data and --test_data"):
        load_sharded(spec, str(path / "train-*.parquet"), None, None)
    with pytest.raises(DataError, match="5 workers"):
        load_sharded(spec, str(path / "train-*.parquet"), str(path / "valid.csv"), str(path / "test.parquet"), num_workers=5)
