"""Sharded input read through tf.data: the same rows as a plain read, equal shares, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import DataError
from tests.conftest import PROJECT_ROOT, quiet


@pytest.fixture
def german_shards(tmp_path):
    frame = pd.read_csv(PROJECT_ROOT / "data/german/germancredit.csv")
    for k, size in enumerate((200, 150, 150, 100)):
        start = sum((200, 150, 150, 100)[:k])
        frame.iloc[start : start + size].to_parquet(tmp_path / f"train-{k}.parquet", index=False)
    frame.iloc[600:800].to_csv(tmp_path / "valid.csv", index=False)
    frame.iloc[800:].to_parquet(tmp_path / "test.parquet", index=False)
    return tmp_path, frame


def test_sharded_read_equals_a_plain_read_and_workers_get_equal_shares(german_shards, german_spec):
    from wide_deep.data.shards import ShardOptions, load_sharded, read_files

    path, frame = german_shards
    files = sorted(str(p) for p in path.glob("train-*.parquet"))
    pd.testing.assert_frame_equal(read_files(files), frame.iloc[:600].reset_index(drop=True), check_dtype=False)
    args = (german_spec, str(path / "train-*.parquet"), str(path / "valid.csv"), str(path / "test.parquet"))
    whole = load_sharded(*args, log=quiet)
    assert [len(whole.splits[k]) for k in ("train", "valid", "test")] == [600, 200, 200]
    assert len(whole.fit_arrays["credit_amount"]) == 600 and whole.reference is whole.splits["train"]
    assert whole.training.kind == "sharded" and whole.training.rows_per_epoch == 600
    shares = [load_sharded(*args, ShardOptions(num_workers=2, worker_index=k, fit_shards=1), log=quiet) for k in (0, 1)]
    # worker 0 gets files 0 and 2 (350 rows), worker 1 files 1 and 3 (250): both train on 250
    assert [len(s.splits["train"]) for s in shares] == [250, 250]
    assert [s.training.rows_per_epoch for s in shares] == [500, 500]
    np.testing.assert_array_equal(
        shares[0].splits["train"].arrays["credit_amount"][:200], frame["credit_amount"].iloc[:200]
    )
    assert all(len(s.fit_arrays["credit_amount"]) == 200 for s in shares)  # fitted on the first file only, by both
    np.testing.assert_array_equal(shares[0].splits["valid"].labels, shares[1].splits["valid"].labels)


def test_sharded_input_errors(german_shards, german_spec):
    from wide_deep.data.shards import ShardOptions, load_sharded

    path, _ = german_shards
    spec = german_spec
    with pytest.raises(DataError, match="no file matches"):
        load_sharded(spec, str(path / "nothing-*.parquet"), str(path / "valid.csv"), str(path / "test.parquet"))
    with pytest.raises(DataError, match="needs --valid_data and --test_data"):
        load_sharded(spec, str(path / "train-*.parquet"), None, None)
    with pytest.raises(DataError, match="5 workers"):
        load_sharded(
            spec,
            str(path / "train-*.parquet"),
            str(path / "valid.csv"),
            str(path / "test.parquet"),
            ShardOptions(num_workers=5),
        )


def _stream_values(stream, epoch, batch_size=32):
    import tensorflow as tf

    dataset = stream.dataset(
        lambda features: {"amount": tf.identity(features["credit_amount"])}, batch_size, seed=1, epoch=epoch
    )
    batches = [(x["amount"].numpy(), y.numpy()) for x, y in dataset]
    return (
        np.concatenate([b[0] for b in batches]),
        np.concatenate([b[1] for b in batches]),
        [len(b[1]) for b in batches],
    )


def test_a_streamed_epoch_is_every_row_once_in_a_seeded_order(german_shards, german_spec):
    from wide_deep.data.shards import TrainStream, expand

    path, frame = german_shards
    spec = german_spec
    files = expand(str(path / "train-*.parquet"), "train")
    stream = TrainStream(spec, files, rows=600, total_rows=600, negative=None, shuffle_window=64)  # 10 windows
    amounts, labels, sizes = _stream_values(stream, epoch=1)
    np.testing.assert_array_equal(np.sort(amounts), np.sort(frame["credit_amount"].iloc[:600].to_numpy("float32")))
    assert labels.mean() == pytest.approx((frame["creditability"].iloc[:600] == "bad").mean())
    assert sizes == [32] * 18 + [24]  # full batches and one tail: no row dropped
    again, _, _ = _stream_values(stream, epoch=1)
    np.testing.assert_array_equal(amounts, again)  # (seed, epoch) fixes the order: resume replays it
    other, _, _ = _stream_values(stream, epoch=2)
    assert not np.array_equal(amounts, other) and np.array_equal(np.sort(amounts), np.sort(other))
    part = TrainStream(spec, files, rows=250, total_rows=500, negative=None, shuffle_window=64)
    assert len(_stream_values(part, epoch=1)[0]) == 250  # a worker stops at the smallest worker's share


def test_a_bad_row_in_a_streamed_file_names_file_and_row(german_shards, german_spec, tmp_path, monkeypatch):
    from wide_deep.data import shards
    from wide_deep.data.shards import TrainStream

    monkeypatch.setattr(shards, "STREAM_READ_ROWS", 30)  # the bad row is in the file's second read batch
    path, frame = german_shards
    bad = frame.iloc[:100].copy()
    bad["credit_amount"] = bad["credit_amount"].astype(str)
    bad.loc[bad.index[40], "credit_amount"] = "lots"
    bad.to_parquet(tmp_path / "bad.parquet", index=False)
    stream = TrainStream(
        german_spec, [str(path / "train-0.parquet"), str(tmp_path / "bad.parquet")], rows=300, total_rows=300
    )
    with pytest.raises(Exception):  # noqa: B017 - TensorFlow wraps it; the DataError itself is kept below
        _stream_values(stream, epoch=1)
    with pytest.raises(
        DataError,
        match=r"bad.parquet: column 'credit_amount' is numeric in the spec but data row 40 "
        r"\(line 42 of a CSV file\) holds 'lots'",
    ):
        stream.reraise_data_error()


def test_streaming_needs_fitting_files_and_aggregated_features(german_shards, german_spec, small_sme, sme_spec):
    from wide_deep.data.shards import ShardOptions, load_sharded

    path, _ = german_shards
    spec = german_spec
    with pytest.raises(DataError, match="--streaming needs --fit_shards"):
        load_sharded(
            spec,
            str(path / "train-*.parquet"),
            str(path / "valid.csv"),
            str(path / "test.parquet"),
            ShardOptions(streaming=True),
        )
    raw = str(small_sme / "applications.parquet")
    with pytest.raises(DataError, match="already hold the aggregated transaction features.*make shards"):
        load_sharded(sme_spec, raw, raw, raw, ShardOptions(streaming=True, fit_shards=1))


def test_written_shards_hold_the_training_split_and_stream_deterministically(small_sme, sme_spec, tmp_path):
    from wide_deep.core.config import TrainConfig
    from wide_deep.data.dataset import load_dataset
    from wide_deep.data.shards import write_shards
    from wide_deep.evidence.metrics import auc
    from wide_deep.record.config import RunConfig
    from wide_deep.run.prepared import prepare_data
    from wide_deep.run.training import train_and_evaluate

    out = tmp_path / "shards"
    sizes = write_shards(sme_spec, small_sme / "applications.parquet", out, num_shards=3, split_seed=42, log=quiet)
    whole = load_dataset(
        sme_spec, small_sme / "applications.parquet", split_seed=42, log=quiet, truth_path=small_sme / "truth.parquet"
    )
    assert sizes == {k: len(v) for k, v in whole.splits.items()}
    shard_files = sorted(out.glob("train-*-of-00003.parquet"))
    assert len(shard_files) == 3 and (out / "metadata.json").exists() and (out / "truth.parquet").exists()
    shards = pd.concat([pd.read_parquet(f) for f in shard_files])
    train = whole.splits["train"]
    assert sorted(shards["enterprise_id"]) == sorted(train.ids)
    by_id = pd.Series(train.arrays["txn_total_amount"], index=train.ids)
    np.testing.assert_allclose(
        shards["txn_total_amount"].to_numpy(), by_id[shards["enterprise_id"]].to_numpy(), rtol=1e-6
    )

    def streamed_run(name):
        config = RunConfig(
            dataset="sme",
            train_data=str(out / "train-*.parquet"),
            valid_data=str(out / "valid.parquet"),
            test_data=str(out / "test.parquet"),
            fit_shards=1,
            streaming=True,
            shuffle_window=512,
            model_dir=str(tmp_path / name),
            export=False,
            evidence=False,
            train=TrainConfig(epochs=3, learning_rate=1e-3, early_stopping_patience=0),
        )
        data = prepare_data(config, log=quiet)
        assert "train" not in data.splits and data.training.is_streamed
        return train_and_evaluate(config, data, log=quiet)

    first, second = streamed_run("a"), streamed_run("b")
    assert first["n_train"] == sizes["train"] and first["n_fit"] == len(pd.read_parquet(shard_files[0]))
    for key in ("auc", "log_loss", "threshold", "f1"):
        assert first[key] == second[key], key
    assert first["auc"] > 0.6
    test = whole.splits["test"]  # the same test rows, so the same true-probability AUC
    assert first["oracle_auc"] == pytest.approx(auc(test.labels, test.oracle))
